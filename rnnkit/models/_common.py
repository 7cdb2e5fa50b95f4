"""Helpers shared by the models."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def log_softmax(logits: torch.Tensor) -> torch.Tensor:
    """Normalised log-probabilities over the last dim, computed in float32 at least (half
    precision loses the tail that sampling and beam search read)."""
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    return F.log_softmax(logits, dim=-1)
