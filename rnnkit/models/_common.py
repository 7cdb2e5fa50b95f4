"""Helpers shared by the models."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..nn._precision import at_least_float32  # noqa: F401  (re-exported for the tasks)


def log_softmax(logits: torch.Tensor) -> torch.Tensor:
    """Normalised log-probabilities over the last dim, computed in float32 at least (half
    precision loses the tail that sampling and beam search read)."""
    return F.log_softmax(at_least_float32(logits), dim=-1)
