"""Helpers shared by the models."""

from __future__ import annotations

import torch
import torch.nn.functional as F

import rnnkit.nn as rnn

from ..config import CELLS
from ..nn._precision import at_least_float32  # noqa: F401  (re-exported for the tasks)

# The one table from a config's ``cell`` name to its layer; the config lists the same names.
RECURRENT_LAYERS: dict[str, type[rnn.RNNBase]] = dict(zip(CELLS, (rnn.LSTM, rnn.GRU, rnn.RNN), strict=True))


def recurrent_layer(cell: str) -> type[rnn.RNNBase]:
    """The layer class of ``cell`` (``"lstm"``, ``"gru"`` or ``"rnn"``); a ValueError otherwise."""
    if cell not in RECURRENT_LAYERS:
        raise ValueError(f"cell must be one of {', '.join(RECURRENT_LAYERS)}; got {cell!r}")
    return RECURRENT_LAYERS[cell]


def log_softmax(logits: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """Normalised log-probabilities over the last dim, computed in float32 at least (half
    precision loses the tail that sampling and beam search read).

    ``inplace``: the caller owns ``logits`` and no longer needs them; they are overwritten when
    nothing needs their graph (one (N, V) buffer less per decoding step)."""
    logits = at_least_float32(logits)
    if inplace and not logits.requires_grad:
        return torch.log_softmax(logits, -1, out=logits)
    return F.log_softmax(logits, dim=-1)
