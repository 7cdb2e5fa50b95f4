"""Every step's gate activations of an rnnkit recurrent layer, for looking inside a trained cell.

:func:`gate_activations` runs the layer's own weights through the textbook equations of
``docs/equations.md`` one step at a time and keeps what each gate computed. It is a separate
function, not a flag of ``forward``: the layers' fast paths (fused BPTT, torch's kernels) never
form the gates as separate tensors, and recording them there would cost every normal call
memory and time. Here the cost is paid only by whoever asks.

The equations are the same as :mod:`rnnkit.nn.cells` (the reference the layers are tested
against); they are spelled out again because the cells return only the new state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ._layer_inputs import check_lengths
from .recurrent import RNNBase

# gate names per cell, in the order the weights stack them, then the states kept per step
GATE_NAMES = {
    "LSTM": ("input", "forget", "cell", "output", "cell_state", "hidden"),
    "GRU": ("reset", "update", "new", "hidden"),
    "RNN_TANH": ("hidden",),
    "RNN_RELU": ("hidden",),
}


class GateTrace(NamedTuple):
    """What :func:`gate_activations` returns.

    output, state: exactly what ``layer(input, hx, lengths=lengths)`` returns.
    gates: name -> (num_layers * num_directions, B, T, H) tensor; row ``l * D + d`` is layer l,
        direction d (as in torch's ``h_n``); time is batch-major (B, T) whatever ``batch_first``
        is, in input order for both directions ((L*D, T, H) for an unbatched input); steps past
        a sequence's length are NaN, so no statistic counts them by accident. Names (each
        gate after its nonlinearity):

        - LSTM: ``input``, ``forget``, ``cell`` (the candidate g, tanh), ``output``,
          ``cell_state`` (c_t), ``hidden`` (h_t; before the projection when ``proj_size > 0``);
        - GRU: ``reset``, ``update`` (z; h_t = (1 - z) n + z h_(t-1)), ``new`` (the candidate n),
          ``hidden``;
        - RNN: ``hidden``.
    """

    output: torch.Tensor
    state: torch.Tensor | tuple[torch.Tensor, torch.Tensor]
    gates: dict[str, torch.Tensor]


def _lstm(x_t, h, c, w_ih, w_hh, b_ih, b_hh, w_hr):
    i, f, g, o = (F.linear(x_t, w_ih, b_ih) + F.linear(h, w_hh, b_hh)).chunk(4, dim=-1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c = f * c + i * g
    hidden = o * torch.tanh(c)
    h = hidden if w_hr is None else F.linear(hidden, w_hr)
    return (h, c), (i, f, g, o, c, hidden)


def _gru(x_t, h, w_ih, w_hh, b_ih, b_hh):
    xr, xz, xn = F.linear(x_t, w_ih, b_ih).chunk(3, dim=-1)
    hr, hz, hn = F.linear(h, w_hh, b_hh).chunk(3, dim=-1)
    r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)
    h = (1 - z) * n + z * h
    return (h,), (r, z, n, h)


def _rnn(relu):
    def step(x_t, h, w_ih, w_hh, b_ih, b_hh):
        a = F.linear(x_t, w_ih, b_ih) + F.linear(h, w_hh, b_hh)
        h = torch.relu(a) if relu else torch.tanh(a)
        return (h,), (h,)
    return step


def gate_activations(layer: RNNBase, input: torch.Tensor, hx=None,
                     lengths: torch.Tensor | Sequence[int] | None = None) -> GateTrace:
    """Runs ``layer`` (an :class:`rnnkit.nn.RNN`, ``LSTM`` or ``GRU``) on ``input`` and returns
    its output, final state and every step's gate activations (see :class:`GateTrace`).

    Args and shapes are the layer's own: ``input`` (B, T, I) with ``batch_first=True``, else
    (T, B, I), or unbatched (T, I); ``hx`` as the layer takes it; ``lengths`` (B,) for padded
    batches (padded steps keep the state, output zeros, and read NaN in ``gates``).

    Follows the grad mode (gradients flow through the gates when enabled) and the layer's mode
    (inter-layer dropout in training mode; call ``layer.eval()`` to look at a trained model).
    Costs a Python loop over steps; the layer's normal ``forward`` is untouched by it.
    """
    if not isinstance(layer, RNNBase):
        raise TypeError(f"gate_activations needs an rnnkit.nn RNN, LSTM or GRU layer; got {type(layer).__name__} "
                        "(a torch.nn layer converts with rnnkit.nn.LSTM.from_torch(layer))")
    if isinstance(input, torch.nn.utils.rnn.PackedSequence):
        raise TypeError("gate_activations takes a padded tensor and lengths=, not a PackedSequence "
                        "(torch.nn.utils.rnn.pad_packed_sequence gives both)")
    mode = layer.cell_type.mode
    names = GATE_NAMES[mode]
    cell = {"LSTM": _lstm, "GRU": _gru, "RNN_TANH": _rnn(False), "RNN_RELU": _rnn(True)}[mode]
    record: list[tuple[torch.Tensor, ...]] = []  # per layer and direction: (T, B, H) per name

    def run_direction(layer_input, init, weights, reverse):
        T = layer_input.shape[0]
        valid = None if lengths_t is None else (torch.arange(T, device=layer_input.device).unsqueeze(1)
                                                < lengths_t.to(layer_input.device).unsqueeze(0))
        state, outs, kept = tuple(init), [None] * T, [None] * T
        w = weights if mode == "LSTM" else weights[:4]
        if mode == "LSTM" and len(w) == 4:
            w = (*w, None)
        for t in (range(T - 1, -1, -1) if reverse else range(T)):
            new, gates = cell(layer_input[t], *state, *w)
            if valid is not None:  # padded steps keep the state and output zeros, as the layer does
                m = valid[t].unsqueeze(1)
                new = tuple(torch.where(m, n, s) for n, s in zip(new, state))
                outs[t] = torch.where(m, new[0], torch.zeros_like(new[0]))
                gates = tuple(torch.where(m, g, torch.full_like(g, float("nan"))) for g in gates)
            else:
                outs[t] = new[0]
            state, kept[t] = new, gates
        record.append(tuple(torch.stack(column) for column in zip(*kept)))
        return torch.stack(outs), *state

    # The layer's own checks and errors (shapes, dtype, states, lengths), by one call of its
    # forward: a fraction of the loop below. fork_rng: that call's dropout draws must not move
    # the random stream the user's next call sees.
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        layer(input, hx, lengths=lengths)
    unbatched = input.dim() == 2
    x = input.unsqueeze(1) if unbatched else (input.transpose(0, 1) if layer.batch_first else input)
    lengths_t = None if lengths is None else check_lengths(lengths, x.shape[1], x.shape[0], x.device)
    states = layer._initial_state(hx, x, unbatched)
    output, finals = layer._run_layers(x, states, run_direction)
    # per name: (L*D, T, B, H) -> (L*D, B, T, H); unbatched input gives (L*D, T, H), as torch drops B
    gates = {name: torch.stack([r[k] for r in record]).transpose(1, 2) for k, name in enumerate(names)}
    if unbatched:
        output, finals = output.squeeze(1), tuple(s.squeeze(1) for s in finals)
        gates = {name: g.squeeze(1) for name, g in gates.items()}
    elif layer.batch_first:
        output = output.transpose(0, 1)
    return GateTrace(output, layer.cell_type.pack(finals), gates)


__all__ = ["gate_activations", "GateTrace", "GATE_NAMES"]
