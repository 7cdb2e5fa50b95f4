"""Recurrent layers and cells: drop-in replacements for torch.nn's.

``import rnnkit.nn as nn`` can replace ``import torch.nn as nn``: the names defined here are
rnnkit's (RNN, LSTM, GRU and their cells, the convolutional sequence models TemporalConvNet and
TextCNN, and ``gate_activations`` to look inside a trained cell), every other name (``Linear``, ``Module``,
``utils``, ``functional``...) is torch.nn's own.
"""

from __future__ import annotations

import torch.nn as _torch_nn

from ._checks import InputError
from ._linear_cross_entropy import linear_cross_entropy
from .attention import Attention
from .backend import BACKENDS
from .cells import GRUCell, LSTMCell, RNNCell
from .gates import GateTrace, gate_activations
from .recurrent import GRU, LSTM, RNN, RNNBase
from .tcn import TemporalConvNet
from .text_cnn import TextCNN

__all__ = ["RNN", "LSTM", "GRU", "RNNBase", "RNNCell", "LSTMCell", "GRUCell", "Attention", "BACKENDS",
           "TemporalConvNet", "TextCNN", "InputError", "linear_cross_entropy", "gate_activations", "GateTrace"]


def __getattr__(name: str):
    # Anything we do not define is torch.nn's, so switching the import is all a user does.
    try:
        return getattr(_torch_nn, name)
    except AttributeError:
        raise AttributeError(f"module 'rnnkit.nn' has no attribute {name!r}") from None
