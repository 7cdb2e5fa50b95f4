"""Helpers shared by the models."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def at_least_float32(t: torch.Tensor) -> torch.Tensor:
    """``t`` in float32 when it is half precision (mixed-precision logits), else unchanged: losses
    and normalisations are computed at least in float32."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def log_softmax(logits: torch.Tensor) -> torch.Tensor:
    """Normalised log-probabilities over the last dim, computed in float32 at least (half
    precision loses the tail that sampling and beam search read)."""
    return F.log_softmax(at_least_float32(logits), dim=-1)
