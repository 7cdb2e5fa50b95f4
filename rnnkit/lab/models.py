"""The networks the synthetic experiments compare: one sequence layer and a linear read-out.

Every kind reads (B, T, C) batch-first and is built to a parameter budget (:func:`build`), so a
comparison is between equally large models.
"""

from __future__ import annotations

import math

import torch
from torch import nn

import rnnkit.nn as rnn

from .common import count_parameters, match_width

# "rnn" is the tanh vanilla RNN; "rnn-relu" the ReLU one.
KINDS = ("rnn", "rnn-relu", "lstm", "gru", "tcn")
LABELS = {"rnn": "RNN (tanh)", "rnn-relu": "RNN (ReLU)", "lstm": "LSTM", "gru": "GRU", "tcn": "TCN"}


def tcn_levels(steps: int, kernel_size: int) -> int:
    """The fewest TCN blocks whose receptive field covers ``steps`` inputs."""
    return max(1, math.ceil(math.log2((steps - 1) / (2 * (kernel_size - 1)) + 1))) if steps > 1 else 1


class SequenceNet(nn.Module):
    """A sequence layer of ``kind`` (see ``KINDS``) and a linear read-out.

    Args:
        kind: ``"rnn"``, ``"rnn-relu"``, ``"lstm"``, ``"gru"`` or ``"tcn"``.
        input_size, width, output_size: features in, hidden width (TCN: channels per block), out.
        read: ``"last"`` (read the last step: (B, T, C) -> (B, output_size)) or ``"all"``
            ((B, T, C) -> (B, T, output_size)).
        steps: the sequence length the model must see across (sets the TCN's depth).
        kernel_size: the TCN's convolution width.
        memory_bias: the gated cells' memory-gate bias at initialisation (LSTM forget gate, GRU
            update gate); None keeps torch.nn's initialisation.
    """

    def __init__(self, kind: str, input_size: int, width: int, output_size: int, read: str = "last",
                 steps: int = 100, kernel_size: int = 7, memory_bias: float | None = None):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
        if read not in ("last", "all"):
            raise ValueError(f"read must be 'last' or 'all'; got {read!r}")
        self.kind, self.read = kind, read
        if kind == "tcn":
            self.layer = rnn.TemporalConvNet(input_size, [width] * tcn_levels(steps, kernel_size), kernel_size)
        elif kind in ("rnn", "rnn-relu"):
            self.layer = rnn.RNN(input_size, width, batch_first=True,
                                 nonlinearity="relu" if kind == "rnn-relu" else "tanh")
        else:
            layer = rnn.LSTM if kind == "lstm" else rnn.GRU
            extra = {} if memory_bias is None else {"memory_bias": memory_bias}
            self.layer = layer(input_size, width, batch_first=True, **extra)
        self.head = nn.Linear(width, output_size)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> the layer's outputs (B, T, width)."""
        return self.layer(x) if self.kind == "tcn" else self.layer(x)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.features(x)
        return self.head(out[:, -1] if self.read == "last" else out)


def build(kind: str, input_size: int, output_size: int, parameters: int, **kwargs) -> SequenceNet:
    """A :class:`SequenceNet` of ``kind`` whose width brings its parameter count closest to
    ``parameters`` (``kwargs`` as SequenceNet's)."""
    make = lambda w: SequenceNet(kind, input_size, w, output_size, **kwargs)
    return make(match_width(make, parameters, high=1024))


def describe(models: dict[str, nn.Module]) -> dict[str, int]:
    """``{name: parameter count}``, the ``parameters`` entry of a result."""
    return {name: count_parameters(m) for name, m in models.items()}
