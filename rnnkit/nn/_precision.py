"""Dtype helpers for mixed precision, shared by the layers and the models."""

from __future__ import annotations

import torch


def at_least_float32(t: torch.Tensor) -> torch.Tensor:
    """``t`` in float32 when it is half precision (mixed-precision activations or logits), else
    unchanged (float32 and float64 stay as they are)."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t
