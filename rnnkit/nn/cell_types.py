"""What a recurrent layer needs to know about its cell, one object per cell type.

A layer (:class:`rnnkit.nn.RNNBase`) holds one :class:`CellType` and never looks at its mode
string: the cell type owns its number of gate blocks, its state arity (1, or 2 for the LSTM's
``(h, c)``), its reference step (the textbook equations of ``docs/equations.md``, from
:mod:`rnnkit.nn.cells`), its fused forward and backward through time (:mod:`rnnkit.nn.bptt`),
including how the biases fold into the input projection, and torch's native kernel.

Weights are explicit arguments, ``(w_ih, w_hh, b_ih, b_hh)`` of one layer and direction in
torch.nn's layout (biases ``None`` without bias; an LSTM with ``proj_size`` appends ``w_hr``),
because a layer holds one set per layer and direction under torch.nn's parameter names. Inside a
layer, states are tuples of tensors (one per state, ``(h,)`` or ``(h, c)``); :meth:`CellType.pack`
turns them into the public form (a tensor, or the LSTM's pair), which is also what torch's
kernels take.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import _VF

from . import bptt
from .cells import gru_step, lstm_step, rnn_step

State = tuple[torch.Tensor, ...]
# w_ih, w_hh, b_ih, b_hh; an LSTM with projections (proj_size > 0) appends w_hr (P, H).
Weights = tuple[torch.Tensor | None, ...]


class CellType:
    """The contract of a cell type, as the layers use it.

    Attributes:
        mode: torch.nn's name for it (``"RNN_TANH"``, ``"RNN_RELU"``, ``"LSTM"``, ``"GRU"``).
        gates: gate blocks G stacked in the weights: ``weight_ih`` is (G*H, I).
        state_names: the names of the initial states in messages, one per state: ``("hx",)``
            or the LSTM's ``("h_0", "c_0")``; ``num_states`` is their number (the state arity).
        native: torch's fused multi-layer kernel (``torch._VF``), what torch.nn calls.
    """

    mode: str
    gates: int
    state_names: tuple[str, ...] = ("hx",)
    native = None

    @property
    def num_states(self) -> int:
        return len(self.state_names)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.mode!r})"

    def __reduce__(self):
        # One shared instance per mode: a pickled or deep-copied layer refers to it by name
        # (torch's _VF functions it holds are not picklable themselves).
        return cell_type, (self.mode,)

    def pack(self, states: State):
        """States in their public form: the tensor ``h``, or the LSTM's pair ``(h, c)``."""
        return states if self.num_states > 1 else states[0]

    def step(self, x_t: torch.Tensor, state: State, weights: Weights) -> tuple[torch.Tensor, State]:
        """Reference step, differentiated by autograd: ``(x_t (B, I), state) -> (y_t (B, H), state)``."""
        raise NotImplementedError

    def project(self, x: torch.Tensor, weights: Weights) -> torch.Tensor:
        """Input projection of every step at once, ``x (T, B, I) -> (T, B, G*H)``.

        Both biases fold into it (the recurrent product then needs none), as for the RNN and
        the LSTM; the GRU overrides this.
        """
        w_ih, _, b_ih, b_hh = weights[:4]
        return F.linear(x, w_ih, None if b_ih is None else b_ih + b_hh)

    def fused(self, x: torch.Tensor, init: State, weights: Weights, reverse: bool, batch_sizes, grad: bool):
        """One layer, one direction, through :mod:`rnnkit.nn.bptt`, time-major.

        Args:
            x: (T, B, I) input, batch sorted by length (longest first) when ``batch_sizes`` is set.
            init: initial states, each (B, H).
            weights: ``(w_ih, w_hh, b_ih, b_hh)``, and ``w_hr`` last for an LSTM with projections.
            reverse: run from the last step to the first.
            batch_sizes: ``None`` or active rows per step, as in a ``PackedSequence``.
            grad: record for backward (the autograd Function) or not (the forward alone,
                keeping no activations).

        Returns:
            ``(output (T, B, H), *final states (B, H))`` (h and the output (.., P) with projections).
        """
        raise NotImplementedError


class RNNCellType(CellType):
    """Elman RNN: ``h_t = phi(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh)``, phi = tanh or relu."""

    gates = 1

    def __init__(self, nonlinearity: str):
        self.nonlinearity = nonlinearity
        self.relu = nonlinearity == "relu"
        self.mode = "RNN_RELU" if self.relu else "RNN_TANH"
        self.native = _VF.rnn_relu if self.relu else _VF.rnn_tanh

    def step(self, x_t, state, weights):
        h = rnn_step(x_t, state[0], *weights, nonlinearity=self.nonlinearity)
        return h, (h,)

    def fused(self, x, init, weights, reverse, batch_sizes, grad):
        xg, w_hh = self.project(x, weights), weights[1]
        if grad:
            return bptt.RNNRecurrence.apply(xg, init[0], w_hh, self.relu, batch_sizes, reverse)
        out, h_n, _ = bptt.rnn_forward(xg, init[0], w_hh, self.relu, batch_sizes, reverse)
        return out, h_n


class LSTMCellType(CellType):
    """LSTM with forget gate, gates i, f, g, o; state ``(h, c)``."""

    mode, gates, state_names = "LSTM", 4, ("h_0", "c_0")
    native = _VF.lstm

    def step(self, x_t, state, weights):
        h, c = lstm_step(x_t, state[0], state[1], *weights)
        return h, (h, c)

    def fused(self, x, init, weights, reverse, batch_sizes, grad):
        xg, w_hh = self.project(x, weights), weights[1]
        w_hr = weights[4] if len(weights) > 4 else None  # the projection of proj_size > 0
        if grad:
            return bptt.LSTMRecurrence.apply(xg, init[0], init[1], w_hh, batch_sizes, reverse, w_hr)
        out, h_n, c_n, _ = bptt.lstm_forward(xg, init[0], init[1], w_hh, batch_sizes, reverse, keep=False,
                                             w_hr=w_hr)
        return out, h_n, c_n


class GRUCellType(CellType):
    """GRU, gates r, z, n, reset applied after the recurrent product (as torch.nn.GRU)."""

    mode, gates = "GRU", 3
    native = _VF.gru

    def step(self, x_t, state, weights):
        h = gru_step(x_t, state[0], *weights)
        return h, (h,)

    def project(self, x, weights):
        # Only b_ih folds in: b_hh's n block sits inside r * (W_hn h + b_hn), so the recurrent
        # product adds it at every step.
        w_ih, _, b_ih, _ = weights
        return F.linear(x, w_ih, b_ih)

    def fused(self, x, init, weights, reverse, batch_sizes, grad):
        xg, (_, w_hh, _, b_hh) = self.project(x, weights), weights
        if grad:
            return bptt.GRURecurrence.apply(xg, init[0], w_hh, b_hh, batch_sizes, reverse)
        out, h_n, _ = bptt.gru_forward(xg, init[0], w_hh, b_hh, batch_sizes, reverse, keep=False)
        return out, h_n


CELL_TYPES: dict[str, CellType] = {
    t.mode: t for t in (RNNCellType("tanh"), RNNCellType("relu"), LSTMCellType(), GRUCellType())
}


def cell_type(mode: str) -> CellType:
    """The cell type of a torch.nn mode string, e.g. ``cell_type("LSTM")``."""
    return CELL_TYPES[mode]
