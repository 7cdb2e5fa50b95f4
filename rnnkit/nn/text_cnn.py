"""Kim (2014)'s sentence CNN ("Convolutional Neural Networks for Sentence Classification"), as a
feature extractor: one convolution per window width over the word vectors, ReLU, and the maximum
of each feature map over time.

Only the convolution and max-over-time pooling are here: the embedding before it, and the dropout
and output layer after it, are the model's (as rnnkit's recurrent layers leave them out too).
Padding never matters: inputs at and after a row's length are zeroed, and the maximum is taken over
the windows that lie wholly inside the row.

Batch-first, like rnnkit's recurrent layers: (B, T, C).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import InputError, check_float_tensor, check_size
from .tcn import valid_steps


class TextCNN(nn.Module):
    """Convolutions of several window widths, each max-pooled over time: (B, T, C) -> (B, W * M).

    For each window width w: ``Conv1d(C, num_maps, w)`` without padding, ReLU, and the maximum
    over the *valid* positions, those whose window lies wholly inside the row: position p is valid
    iff ``p + w <= length``. The pooled maps of every width are concatenated in the order of
    ``windows``.

    A row shorter than w (length 0 included) has no window inside it; its one position is then
    position 0, whose window covers the row followed by zeros (for a row of length 0: zeros only,
    giving ``relu(bias)``). Inputs shorter than the widest window are padded with zeros on the
    right for that reason.

    Args:
        input_size: features per input step (C), e.g. the embedding size.
        num_maps: feature maps per window width (M; Kim's 100).
        windows: window widths (W of them; Kim's 3, 4, 5).

    Attributes:
        output_size: features of the output, ``len(windows) * num_maps``.

    Shape:
        ``forward(x (B, T, C), lengths (B,) or None) -> (B, len(windows) * num_maps)``.
        ``lengths``: valid steps of each row, integers in [0, T] (a tensor or a list); without it
        every row is T steps long. Steps at and after a row's length are ignored whatever they hold.

    Example::

        >>> import torch, rnnkit.nn as nn
        >>> cnn = nn.TextCNN(16, num_maps=8, windows=(2, 3))
        >>> cnn(torch.randn(4, 10, 16), lengths=[10, 3, 1, 7]).shape
        torch.Size([4, 16])
    """

    def __init__(self, input_size: int, num_maps: int = 100, windows: Sequence[int] = (3, 4, 5)):
        super().__init__()
        check_size("input_size", input_size)
        check_size("num_maps", num_maps)
        if isinstance(windows, (str, bytes)) or not isinstance(windows, Sequence) or not windows:
            raise TypeError(f"windows should be a non-empty list of ints (window widths), got: {windows!r}")
        for i, width in enumerate(windows):
            check_size(f"windows[{i}]", width)
        self.input_size, self.num_maps, self.windows = input_size, num_maps, tuple(windows)
        self.convs = nn.ModuleList(nn.Conv1d(input_size, num_maps, width) for width in self.windows)

    @property
    def output_size(self) -> int:
        return len(self.windows) * self.num_maps

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | Sequence[int] | None = None) -> torch.Tensor:
        check_float_tensor("input", x, self.convs[0].weight, kind="TextCNN")
        if x.dim() != 3 or x.shape[2] != self.input_size:
            raise InputError(f"input must have shape (batch, time, {self.input_size}); got {tuple(x.shape)}")
        B, T = x.shape[0], x.shape[1]
        if lengths is None:
            lengths = torch.full((B,), T, device=x.device)
        else:
            valid = valid_steps(lengths, B, T, x.device)
            x = x.masked_fill(~valid.unsqueeze(2), 0.0)  # so that no window reads padding's content
            lengths = valid.sum(1)
        x = F.pad(x.transpose(1, 2), (0, max(0, max(self.windows) - T)))  # (B, C, T'), T' >= every window
        pooled = []
        for width, conv in zip(self.windows, self.convs):
            maps = F.relu(conv(x))  # (B, M, T' - width + 1)
            last = (lengths - width).clamp(min=0)  # the last valid position; 0 for a row shorter than width
            outside = torch.arange(maps.shape[2], device=x.device).unsqueeze(0) > last.unsqueeze(1)
            pooled.append(maps.masked_fill(outside.unsqueeze(1), float("-inf")).amax(dim=2))
        return torch.cat(pooled, dim=1)

    def extra_repr(self) -> str:
        return f"{self.input_size}, num_maps={self.num_maps}, windows={self.windows}"
