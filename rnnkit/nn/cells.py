"""Single-step cells: the textbook equations of ``docs/equations.md``, in plain torch ops.

These are the reference: autograd differentiates them, the layers' fused path
(:mod:`rnnkit.nn.bptt`) is tested against a loop over them (the ``"reference"`` backend, which
reaches them through :mod:`rnnkit.nn.cell_types`), and they are tested against
``torch.nn.RNNCell/LSTMCell/GRUCell``. Parameter names and shapes are torch.nn's, so
``cell.load_state_dict(torch_cell.state_dict())`` works both ways.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import InputError, check_float_tensor, check_nonlinearity, check_size, check_state, check_tensor

# -- the step equations, as functions of explicit weights (layers reuse them) -----------------


def rnn_step(x, h, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """h' = phi(W_ih x + b_ih + W_hh h + b_hh). Shapes: x (B, I), h (B, H) -> (B, H)."""
    a = F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)
    return torch.tanh(a) if nonlinearity == "tanh" else torch.relu(a)


def lstm_step(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None):
    """One LSTM step (gates i, f, g, o). Shapes: x (B, I), h and c (B, H) -> (h', c').

    With a projection ``w_hr`` (P, H) (torch.nn.LSTM's ``proj_size``), h' = W_hr (o * tanh(c'))
    and h is (B, P); c stays (B, H).
    """
    gates = F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)
    i, f, g, o = gates.chunk(4, dim=-1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c_new = f * c + i * g
    h_new = o * torch.tanh(c_new)
    return (h_new if w_hr is None else F.linear(h_new, w_hr)), c_new


def gru_step(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """One GRU step (gates r, z, n; reset after the recurrent product). x (B, I), h (B, H) -> (B, H)."""
    xr, xz, xn = F.linear(x, w_ih, b_ih).chunk(3, dim=-1)
    hr, hz, hn = F.linear(h, w_hh, b_hh).chunk(3, dim=-1)
    r = torch.sigmoid(xr + hr)
    z = torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)
    return (1 - z) * n + z * h


def init_uniform(module: nn.Module) -> None:
    """torch.nn's initialisation of its recurrent cells and layers: every parameter drawn from
    U(-1/sqrt(H), 1/sqrt(H)), H = ``module.hidden_size`` (a cell of H = 0 has only empty
    parameters, so any bound does)."""
    bound = 1.0 / math.sqrt(module.hidden_size) if module.hidden_size > 0 else 0.0
    for p in module.parameters():
        nn.init.uniform_(p, -bound, bound)


# The gate block that decides how much of the state is kept, by torch.nn's mode: chunk 1 in both
# stackings, the LSTM's forget gate f (of i, f, g, o) and the GRU's update gate z (of r, z, n;
# h' = (1 - z) * n + z * h, so a positive bias keeps the state). An RNN has no such gate.
MEMORY_GATE = {"LSTM": 1, "GRU": 1}


def init_memory_bias(module: nn.Module, value: float) -> None:
    """Sets the memory gate's bias of every layer and direction of a gated layer (``module.mode``
    "LSTM" or "GRU", rnnkit's or torch.nn's) to ``value``: its slice of each ``bias_ih*`` to
    ``value`` and of each ``bias_hh*`` to 0, so their sum, the gate's bias, is ``value``. The other
    gates' biases are untouched. Jozefowicz et al. (2015) recommend a forget-gate bias of 1."""
    block, H = MEMORY_GATE[module.mode], module.hidden_size
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.startswith("bias_ih"):
                p[block * H : (block + 1) * H] = value
            elif name.startswith("bias_hh"):
                p[block * H : (block + 1) * H] = 0.0


# -- modules ------------------------------------------------------------------------------------


class _CellBase(nn.Module):
    """Parameters ``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H), ``bias_ih``/``bias_hh`` (G*H,)."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        # torch.nn's cells accept 0 for either size (empty input or state); so do ours.
        check_size("input_size", input_size, allow_zero=True)
        check_size("hidden_size", hidden_size, allow_zero=True)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        kw = {"device": device, "dtype": dtype}
        G = self.gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(G, input_size, **kw))
        self.weight_hh = nn.Parameter(torch.empty(G, hidden_size, **kw))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(G, **kw))
            self.bias_hh = nn.Parameter(torch.empty(G, **kw))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """U(-1/sqrt(H), 1/sqrt(H)) for every parameter, as torch.nn does."""
        init_uniform(self)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        return s if self.bias else s + ", bias=False"

    def __prepare_scriptable__(self):
        # torch.jit.script calls this on every submodule before compiling. TorchScript cannot
        # compile forward (torch.nn's argument checks, written with Python's introspection and
        # f-strings), so fail here with one line that says what works instead, as the layers do.
        raise RuntimeError(
            f"rnnkit.nn.{type(self).__name__} cannot be compiled by torch.jit.script; use "
            "torch.jit.trace or torch.export.export"
        )

    def init_state(self, batch_size: int, device=None, dtype=None) -> torch.Tensor:
        """Zero state for ``batch_size`` sequences: (B, H), or a pair for the LSTM."""
        p = self.weight_hh
        z = torch.zeros(batch_size, self.hidden_size, device=device or p.device, dtype=dtype or p.dtype)
        return z

    state_names: tuple[str, ...] = ("hx",)

    def _prepare(self, input, hx):
        """Validates in torch.nn's order (dimensions, sizes, then dtypes); returns (batched input,
        tuple of batched states or None, whether the input was unbatched)."""
        name = type(self).__name__
        check_tensor("input", input)  # its dtype last, as torch.nn: a size error is named first
        if input.dim() not in (1, 2):
            raise ValueError(
                f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead: {name} expects input "
                f"of shape (batch, input_size) or (input_size,); got a {input.dim()}-D tensor of shape "
                f"{tuple(input.shape)}"
            )
        if input.shape[-1] != self.input_size:
            raise InputError(f"input has {input.shape[-1]} features but input_size is {self.input_size} "
                             f"(input has inconsistent input_size: got {input.shape[-1]} expected {self.input_size})")
        unbatched = input.dim() == 1
        x = input.unsqueeze(0) if unbatched else input
        states = None
        if hx is not None:
            if len(self.state_names) > 1 and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
                raise ValueError(f"{name} expects hx to be a pair (h, c) or None")
            hx = tuple(hx) if len(self.state_names) > 1 else (hx,)
            states = tuple(self._state(n, s, x, unbatched) for n, s in zip(self.state_names, hx))
        check_float_tensor("input", input, self.weight_ih, kind=name)
        return x, states, unbatched

    def _state(self, name, s, x, unbatched):
        """One state (``name`` "hx", "hx[0]" or "hx[1]"), batched like ``x``; torch.nn's types and
        phrases: ValueError for a state that is not 1-D or 2-D, RuntimeError (InputError) for a
        batch or hidden size that differs."""
        if isinstance(s, torch.Tensor) and s.dim() not in (1, 2):
            torch_name = "hidden" if name == "hx" else name
            raise ValueError(f"{type(self).__name__}: Expected {torch_name} to be 1D or 2D, got {s.dim()}D "
                             f"instead: {name} must be (batch, hidden_size) or (hidden_size,); got shape "
                             f"{tuple(s.shape)}")
        B, H = x.shape[0], self.hidden_size
        expected = (H,) if unbatched else (B, H)
        if isinstance(s, torch.Tensor) and tuple(s.shape) != expected:
            index = 1 if name == "hx[1]" else 0
            if s.dim() == 2 and s.shape[0] != B:
                torch_says = f"Input batch size {B} doesn't match hidden{index} batch size {s.shape[0]}"
            elif s.shape[-1] != H:
                torch_says = f"hidden{index} has inconsistent hidden_size: got {s.shape[-1]}, expected {H}"
            else:
                torch_says = f"{name} is {s.dim()}-D but the input is {x.dim() - unbatched}-D"
            raise InputError(f"{name} must have shape {expected}; got {tuple(s.shape)} ({torch_says})")
        check_state(name, s, expected, x)
        return s.unsqueeze(0) if unbatched else s


class RNNCell(_CellBase):
    """Elman cell: ``h' = phi(W_ih x + b_ih + W_hh h + b_hh)``, phi = tanh or relu.

    Shape: input (B, I) or (I,); hx (B, H) or (H,), zeros when ``None``; returns h' like hx.
    """

    gates = 1

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        check_nonlinearity(nonlinearity)
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, device, dtype)

    def forward(self, input: torch.Tensor, hx: torch.Tensor | None = None) -> torch.Tensor:
        x, states, unbatched = self._prepare(input, hx)
        h = self.init_state(x.shape[0], x.device, x.dtype) if states is None else states[0]
        out = rnn_step(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, self.nonlinearity)
        return out.squeeze(0) if unbatched else out

    def step(self, x: torch.Tensor, state):
        """Cell contract: ``(x_t (B, I), state (B, H)) -> (y_t, state)`` with y_t = state."""
        h = self(x, state)
        return h, h


class LSTMCell(_CellBase):
    """LSTM cell with forget gate; gates stacked i, f, g, o as in torch.nn.LSTMCell.

    Shape: input (B, I) or (I,); hx a pair (h, c) of (B, H) or (H,), zeros when ``None``;
    returns (h', c').
    """

    gates = 4
    state_names = ("hx[0]", "hx[1]")

    def init_state(self, batch_size: int, device=None, dtype=None) -> tuple[torch.Tensor, torch.Tensor]:
        z = super().init_state(batch_size, device, dtype)
        return z, z.clone()

    def forward(self, input: torch.Tensor, hx: tuple[torch.Tensor, torch.Tensor] | None = None,
                ) -> tuple[torch.Tensor, torch.Tensor]:
        x, states, unbatched = self._prepare(input, hx)
        h, c = self.init_state(x.shape[0], x.device, x.dtype) if states is None else states
        h, c = lstm_step(x, h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return (h.squeeze(0), c.squeeze(0)) if unbatched else (h, c)

    def step(self, x: torch.Tensor, state):
        """Cell contract: ``(x_t, (h, c)) -> (h', (h', c'))``."""
        h, c = self(x, state)
        return h, (h, c)


class GRUCell(_CellBase):
    """GRU cell, gates r, z, n, reset applied after the recurrent product (as torch.nn.GRUCell).

    Shape: input (B, I) or (I,); hx (B, H) or (H,), zeros when ``None``; returns h'.
    """

    gates = 3

    def forward(self, input: torch.Tensor, hx: torch.Tensor | None = None) -> torch.Tensor:
        x, states, unbatched = self._prepare(input, hx)
        h = self.init_state(x.shape[0], x.device, x.dtype) if states is None else states[0]
        out = gru_step(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return out.squeeze(0) if unbatched else out

    def step(self, x: torch.Tensor, state):
        """Cell contract: ``(x_t (B, I), state (B, H)) -> (y_t, state)`` with y_t = state."""
        h = self(x, state)
        return h, h
