"""The per-step recurrent product ``x @ W^T + other`` against one weight reused T times.

A time loop multiplies a small batch by the same weight at every step. oneDNN can reorder
("pack") that weight once into its blocked layout; measured on the benchmark shapes the packed
product is 1.15-1.8x faster than ``torch.addmm`` (20 x 650 by 650 x 2600: 337 us against 603 us).
torch reaches it only through the private op ``torch.ops.mkldnn._linear_pointwise`` (what
torch.compile uses on the CPU), so it is guarded: on any other device or dtype, when the op is
missing or fails, or with ``RNNKIT_DISABLE_ONEDNN=1``, we fall back to ``torch.addmm``.
The tests run both paths against each other.
"""

from __future__ import annotations

import os

import torch


def _onednn_available() -> bool:
    if os.environ.get("RNNKIT_DISABLE_ONEDNN") == "1":
        return False
    ops = torch.ops.mkldnn
    return bool(torch.backends.mkldnn.is_available()) and all(
        hasattr(ops, name) for name in ("_linear_pointwise", "_reorder_linear_weight")
    )


_ONEDNN = _onednn_available()


class StepMatmul:
    """``y = x @ weight^T (+ bias) (+ other)`` for many small ``x`` and one fixed ``weight`` (N, K).

    Shapes: x (M, K) with any M; bias (N,) or ``None``; other (M, N); returns a new (M, N) tensor.
    """

    def __init__(self, weight: torch.Tensor, rows_hint: int, bias: torch.Tensor | None = None):
        self.weight = weight
        self.weight_t = weight.t()
        self.bias = bias
        self.packed = None
        if _ONEDNN and weight.device.type == "cpu" and weight.dtype == torch.float32:
            try:
                self.packed = torch.ops.mkldnn._reorder_linear_weight(weight.detach().contiguous(), rows_hint)
            except RuntimeError:
                self.packed = None

    def __call__(self, x: torch.Tensor, other: torch.Tensor | None = None) -> torch.Tensor:
        if self.packed is not None:
            if other is None:
                return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [None], "")
            return torch.ops.mkldnn._linear_pointwise.binary(x, other, self.packed, self.bias, "add")
        if other is None:
            return torch.mm(x, self.weight_t) if self.bias is None else torch.addmm(self.bias, x, self.weight_t)
        y = torch.addmm(other, x, self.weight_t)
        return y if self.bias is None else y.add_(self.bias)

    @property
    def uses_onednn(self) -> bool:
        return self.packed is not None
