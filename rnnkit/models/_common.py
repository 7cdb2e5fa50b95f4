"""Helpers shared by the models."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import rnnkit.nn as rnn

from ..config import CELLS
from ..nn._precision import at_least_float32  # noqa: F401  (re-exported for the tasks)
from ..nn.tcn import receptive_field

# The one table from a config's ``cell`` name to its layer; the config lists the same names.
RECURRENT_LAYERS: dict[str, type[rnn.RNNBase]] = dict(zip(CELLS, (rnn.LSTM, rnn.GRU, rnn.RNN), strict=True))


def recurrent_layer(cell: str) -> type[rnn.RNNBase]:
    """The layer class of ``cell`` (``"lstm"``, ``"gru"`` or ``"rnn"``); a ValueError otherwise."""
    if cell not in RECURRENT_LAYERS:
        raise ValueError(f"cell must be one of {', '.join(RECURRENT_LAYERS)}; got {cell!r}")
    return RECURRENT_LAYERS[cell]


# Inputs one output of a tcn cell may read: past it, the dilations (2**i for block i) make a padding
# no memory holds, so a larger --num-layers or --kernel-size is a typo.
MAX_RECEPTIVE_FIELD = 2**20


def temporal_conv_net(input_size: int, hidden_size: int, num_layers: int, kernel_size: int,
                      dropout: float) -> rnn.TemporalConvNet:
    """The ``tcn`` cell: ``num_layers`` residual blocks of ``hidden_size`` channels, convolutions
    ``kernel_size`` wide; a ValueError when its receptive field passes :data:`MAX_RECEPTIVE_FIELD`."""
    if isinstance(num_layers, int) and isinstance(kernel_size, int) and num_layers > 0 and kernel_size > 0:
        reach = receptive_field(kernel_size, num_layers)
        if reach > MAX_RECEPTIVE_FIELD:
            raise ValueError(f"a tcn of {num_layers} blocks of kernel size {kernel_size} reads {reach} steps back, "
                             f"more than {MAX_RECEPTIVE_FIELD}; use fewer --num-layers or a smaller --kernel-size")
    return rnn.TemporalConvNet(input_size, [hidden_size] * num_layers, kernel_size, dropout)


def output_head(embedding: nn.Embedding, hidden_size: int, vocab_size: int,
                tie_weights: bool) -> tuple[nn.Linear | None, nn.Linear]:
    """A language model's ``(projection, head)``: the head maps features to ``vocab_size`` logits;
    with ``tie_weights`` it shares ``embedding``'s weight (Press & Wolf 2017), and a projection
    (None otherwise) first brings ``hidden_size`` features to the embedding's size when they differ."""
    embedding_size = embedding.embedding_dim
    projection = nn.Linear(hidden_size, embedding_size) if tie_weights and hidden_size != embedding_size else None
    head = nn.Linear(embedding_size if tie_weights else hidden_size, vocab_size)
    if tie_weights:
        head.weight = embedding.weight
    return projection, head


def log_softmax(logits: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """Normalised log-probabilities over the last dim, computed in float32 at least (half
    precision loses the tail that sampling and beam search read).

    ``inplace``: the caller owns ``logits`` and no longer needs them; they are overwritten when
    nothing needs their graph (one (N, V) buffer less per decoding step)."""
    logits = at_least_float32(logits)
    if inplace and not logits.requires_grad:
        return torch.log_softmax(logits, -1, out=logits)
    return F.log_softmax(logits, dim=-1)
