"""Helpers shared by the models."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..nn._precision import at_least_float32  # noqa: F401  (re-exported for the tasks)


def log_softmax(logits: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """Normalised log-probabilities over the last dim, computed in float32 at least (half
    precision loses the tail that sampling and beam search read).

    ``inplace``: the caller owns ``logits`` and no longer needs them; they are overwritten when
    nothing needs their graph (one (N, V) buffer less per decoding step)."""
    logits = at_least_float32(logits)
    if inplace and not logits.requires_grad:
        return torch.log_softmax(logits, -1, out=logits)
    return F.log_softmax(logits, dim=-1)
