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

from ._checks import check_choice, check_float_tensor, check_positive_int, check_state

# -- the step equations, as functions of explicit weights (layers reuse them) -----------------


def rnn_step(x, h, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """h' = phi(W_ih x + b_ih + W_hh h + b_hh). Shapes: x (B, I), h (B, H) -> (B, H)."""
    a = F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)
    return torch.tanh(a) if nonlinearity == "tanh" else torch.relu(a)


def lstm_step(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step (gates i, f, g, o). Shapes: x (B, I), h and c (B, H) -> (h', c')."""
    gates = F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)
    i, f, g, o = gates.chunk(4, dim=-1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c_new = f * c + i * g
    return o * torch.tanh(c_new), c_new


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
    U(-1/sqrt(H), 1/sqrt(H)), H = ``module.hidden_size``."""
    bound = 1.0 / math.sqrt(module.hidden_size)
    for p in module.parameters():
        nn.init.uniform_(p, -bound, bound)


# -- modules ------------------------------------------------------------------------------------


class _CellBase(nn.Module):
    """Parameters ``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H), ``bias_ih``/``bias_hh`` (G*H,)."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        check_positive_int("input_size", input_size)
        check_positive_int("hidden_size", hidden_size)
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

    def init_state(self, batch_size: int, device=None, dtype=None) -> torch.Tensor:
        """Zero state for ``batch_size`` sequences: (B, H), or a pair for the LSTM."""
        p = self.weight_hh
        z = torch.zeros(batch_size, self.hidden_size, device=device or p.device, dtype=dtype or p.dtype)
        return z

    def _prepare(self, input, hx):
        """Validates; returns (batched input, hx or None, whether the input was unbatched)."""
        check_float_tensor("input", input)
        if input.dim() not in (1, 2):
            raise ValueError(
                f"{type(self).__name__} expects input of shape (batch, input_size) or (input_size,); "
                f"got a {input.dim()}-D tensor of shape {tuple(input.shape)}"
            )
        if input.shape[-1] != self.input_size:
            raise ValueError(f"input has {input.shape[-1]} features but input_size is {self.input_size}")
        unbatched = input.dim() == 1
        return (input.unsqueeze(0) if unbatched else input), unbatched

    def _state(self, name, s, x, unbatched):
        expected = (self.hidden_size,) if unbatched else (x.shape[0], self.hidden_size)
        check_state(name, s, expected, x)
        return s.unsqueeze(0) if unbatched else s


class RNNCell(_CellBase):
    """Elman cell: ``h' = phi(W_ih x + b_ih + W_hh h + b_hh)``, phi = tanh or relu.

    Shape: input (B, I) or (I,); hx (B, H) or (H,), zeros when ``None``; returns h' like hx.
    """

    gates = 1

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        check_choice("nonlinearity", nonlinearity, ("tanh", "relu"))
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, device, dtype)

    def forward(self, input: torch.Tensor, hx: torch.Tensor | None = None) -> torch.Tensor:
        x, unbatched = self._prepare(input, hx)
        h = self.init_state(x.shape[0], x.device, x.dtype) if hx is None else self._state("hx", hx, x, unbatched)
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

    def init_state(self, batch_size: int, device=None, dtype=None) -> tuple[torch.Tensor, torch.Tensor]:
        z = super().init_state(batch_size, device, dtype)
        return z, z.clone()

    def forward(self, input: torch.Tensor, hx: tuple[torch.Tensor, torch.Tensor] | None = None,
                ) -> tuple[torch.Tensor, torch.Tensor]:
        x, unbatched = self._prepare(input, hx)
        if hx is None:
            h, c = self.init_state(x.shape[0], x.device, x.dtype)
        else:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise ValueError("LSTMCell expects hx to be a pair (h, c) or None")
            h, c = self._state("hx[0]", hx[0], x, unbatched), self._state("hx[1]", hx[1], x, unbatched)
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
        x, unbatched = self._prepare(input, hx)
        h = self.init_state(x.shape[0], x.device, x.dtype) if hx is None else self._state("hx", hx, x, unbatched)
        out = gru_step(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return out.squeeze(0) if unbatched else out

    def step(self, x: torch.Tensor, state):
        """Cell contract: ``(x_t (B, I), state (B, H)) -> (y_t, state)`` with y_t = state."""
        h = self(x, state)
        return h, h
