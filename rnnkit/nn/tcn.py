"""Temporal convolutional network (Bai, Kolter & Koltun 2018, "An Empirical Evaluation of Generic
Convolutional and Recurrent Networks for Sequence Modeling").

A stack of residual blocks; block ``i`` holds two dilated causal convolutions (dilation ``2**i``),
each followed by ReLU and dropout, plus the block's input (through a 1x1 convolution when the
widths differ), then ReLU. Causal means the input is padded on the left only, by
``(kernel_size - 1) * dilation``: the output at step t reads steps t, t - d, ..., never a later one,
so padding after a sequence's end never reaches its valid outputs and a language model built on it
can decode step by step from a window of its last ``receptive_field`` inputs.

Batch-first, like rnnkit's recurrent layers: (B, T, C).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm as _weight_norm

from ._checks import InputError, check_bool, check_dropout, check_float_tensor, check_size


def receptive_field(kernel_size: int, levels: int) -> int:
    """Steps one output sees: 1 + 2 (k - 1)(2**levels - 1) (two convolutions per level)."""
    return 1 + 2 * (kernel_size - 1) * (2**levels - 1)


class CausalConv1d(nn.Conv1d):
    """A ``Conv1d`` padded on the left only, by ``(kernel_size - 1) * dilation``: (B, C, T) -> (B, C', T)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1):
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation)
        self.left = (kernel_size - 1) * dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (self.left, 0)))


class TemporalBlock(nn.Module):
    """One residual level: two dilated causal convolutions, ReLU and dropout after each, plus the
    input (1x1-projected when ``in_channels != out_channels``), then ReLU. (B, C_in, T) -> (B, C_out, T)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int, dropout: float,
                 weight_norm: bool):
        super().__init__()
        convs = [CausalConv1d(in_channels, out_channels, kernel_size, dilation),
                 CausalConv1d(out_channels, out_channels, kernel_size, dilation)]
        # Bai et al.'s N(0, 0.01), drawn *before* weight norm splits each weight into a norm and a
        # direction. The reference code draws it after torch's old hook-based weight_norm, where it
        # is overwritten at the first forward and so has no effect (locuslab/TCN issue #1).
        for conv in convs:
            nn.init.normal_(conv.weight, 0.0, 0.01)
        if weight_norm:
            convs = [_weight_norm(conv) for conv in convs]
        self.conv1, self.conv2 = convs
        self.dropout = nn.Dropout(dropout)
        self.downsample = nn.Conv1d(in_channels, out_channels, 1) if in_channels != out_channels else None
        if self.downsample is not None:
            nn.init.normal_(self.downsample.weight, 0.0, 0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.dropout(F.relu(self.conv1(x)))
        out = self.dropout(F.relu(self.conv2(out)))
        residual = x if self.downsample is None else self.downsample(x)
        return F.relu(out + residual)


class TemporalConvNet(nn.Module):
    """Bai et al.'s generic TCN: ``len(num_channels)`` residual blocks, block i dilated by 2**i.

    Args:
        input_size: features per input step (C_in).
        num_channels: output channels of each block, e.g. ``[64] * 6``; the last is the output width.
        kernel_size: width of every convolution (Bai et al.'s default: 2).
        dropout: after each convolution's ReLU, in training.
        weight_norm: weight normalisation of the dilated convolutions (torch's parametrization).

    Attributes:
        receptive_field: inputs one output depends on, ``1 + 2 (k - 1)(2**n - 1)`` for n blocks.

    Shape:
        ``forward(x (B, T, C_in), lengths (B,) or None) -> (B, T, num_channels[-1])``. The output at
        step t depends on ``x[:, max(0, t - receptive_field + 1) : t + 1]`` only. With ``lengths``,
        steps at and after a row's length are zero in the output (as rnnkit's recurrent layers),
        and the valid steps are what the row alone, unpadded, gives; the padding's content (even
        inf or nan) never enters the arithmetic. T must be at least 1.

    A module with weight norm holds torch parametrizations, which torch pickles only through
    ``state_dict()``: save and load the state dict, not the module.
    """

    def __init__(self, input_size: int, num_channels: Sequence[int], kernel_size: int = 2, dropout: float = 0.0,
                 weight_norm: bool = True):
        super().__init__()
        check_size("input_size", input_size)
        if isinstance(num_channels, int) or not isinstance(num_channels, Sequence) or not num_channels:
            raise TypeError(f"num_channels should be a non-empty list of ints (one per block), got: {num_channels!r}")
        for i, width in enumerate(num_channels):
            check_size(f"num_channels[{i}]", width)
        check_size("kernel_size", kernel_size)
        check_dropout(dropout)
        check_bool("weight_norm", weight_norm)
        self.input_size, self.num_channels = input_size, list(num_channels)
        self.kernel_size, self.dropout, self.weight_norm = kernel_size, float(dropout), weight_norm
        widths = [input_size, *self.num_channels]
        self.blocks = nn.ModuleList(
            TemporalBlock(widths[i], widths[i + 1], kernel_size, 2**i, dropout, weight_norm)
            for i in range(len(self.num_channels)))
        self.receptive_field = receptive_field(kernel_size, len(self.num_channels))

    @property
    def output_size(self) -> int:
        return self.num_channels[-1]

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | Sequence[int] | None = None) -> torch.Tensor:
        check_float_tensor("input", x, self.blocks[0].conv1.bias, kind="TemporalConvNet")
        if x.dim() != 3 or x.shape[2] != self.input_size:
            raise InputError(f"input must have shape (batch, time, {self.input_size}); got {tuple(x.shape)}")
        if x.shape[1] == 0:
            raise InputError(f"input has 0 time steps (shape {tuple(x.shape)}); TemporalConvNet needs at least one")
        padded = None
        if lengths is not None:
            padded = ~valid_steps(lengths, x.shape[0], x.shape[1], x.device).unsqueeze(2)
            # Zeroed, not just masked at the end: inf or nan in the padding would otherwise turn
            # the masked outputs, and the weights' gradients, into nan.
            x = x.masked_fill(padded, 0.0)
        out = x.transpose(1, 2)  # Conv1d reads (B, C, T)
        for block in self.blocks:
            out = block(out)
        out = out.transpose(1, 2)
        return out if padded is None else out.masked_fill(padded, 0.0)

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.num_channels}, kernel_size={self.kernel_size}, dropout={self.dropout}, "
                f"weight_norm={self.weight_norm}, receptive_field={self.receptive_field}")


def valid_steps(lengths, batch: int, steps: int, device) -> torch.Tensor:
    """(B, T) bool: step t of row b is before ``lengths[b]``. ``lengths`` must be (B,) integers in [0, T]
    (a tensor or a list); a clear ``InputError`` otherwise."""
    try:
        lengths = torch.as_tensor(lengths)
    except (TypeError, ValueError, RuntimeError) as err:
        raise InputError(f"lengths must be a 1-D integer tensor or list of {batch} entries; got {lengths!r}") from err
    wrong_dtype = lengths.dtype.is_floating_point or lengths.is_complex() or lengths.dtype == torch.bool
    if lengths.dim() != 1 or lengths.shape[0] != batch or wrong_dtype:
        raise InputError(f"lengths must be a 1-D integer tensor of {batch} entries (one per row); "
                         f"got {lengths.dtype} of shape {tuple(lengths.shape)}")
    if not torch.compiler.is_compiling() and lengths.numel() and (int(lengths.min()) < 0 or int(lengths.max()) > steps):
        raise InputError(f"lengths must lie in [0, {steps}] (the input's time steps); got "
                         f"min {int(lengths.min())}, max {int(lengths.max())}")
    return torch.arange(steps, device=device).unsqueeze(0) < lengths.to(device).unsqueeze(1)
