"""Which implementation runs a layer: our explicit BPTT, torch's fused kernel, or the cell loop.

* ``"bptt"``: :mod:`rnnkit.nn.bptt`, our forward and backward through time. Its former name
  ``"rnnkit"`` is still accepted by the layers, as an alias (see ``BACKEND_ALIASES``).
* ``"native"``: torch's own fused kernel (``torch._VF``, what torch.nn.LSTM calls: oneDNN on the
  CPU, cuDNN on the GPU), with packed sequences for variable lengths.
* ``"reference"``: a Python loop over the cells' steps (:mod:`rnnkit.nn.cells`) differentiated by
  autograd. Slow; it is the independent reference the fast paths are tested against.
* ``"auto"``: whichever of the first two ``benchmarks/bench_layers.py`` measured faster for the
  configuration (the table below).
"""

from __future__ import annotations

import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

BACKENDS = ("auto", "bptt", "native", "reference")

# Old names that the layers still accept and normalise; code written for them keeps working.
BACKEND_ALIASES = {"rnnkit": "bptt"}


# Below this hidden size the per-step cost is call overhead, where torch's C++ loops win
# (bench_layers, GRU/RNN B64 T50 8->64: bptt/torch 0.97-1.29 training, 1.9 inference).
SMALL_HIDDEN = 128


def choose_backend(mode: str, device: torch.device, variable_lengths: bool, needs_grad: bool,
                   hidden_size: int = SMALL_HIDDEN) -> str:
    """The faster backend for a configuration, as ``benchmarks/bench_layers.py`` measured it.

    On the GPU cuDNN's fused kernels win everywhere. On the CPU (2 cores, torch 2.13; the
    README's speed table has the figures): torch's LSTM runs oneDNN's fused RNN primitive, which
    a Python time loop does not beat on fixed-length batches; torch's GRU and vanilla RNN have no
    fused CPU kernel, and packed sequences fall back to a slow path in training, so ours wins
    there. Without gradients (inference) torch's kernels win except for fixed-length GRU and RNN,
    and for small hidden sizes torch's loops win throughout.
    """
    if device.type != "cpu" or hidden_size < SMALL_HIDDEN:
        return "native"
    if mode == "LSTM":
        return "bptt" if variable_lengths and needs_grad else "native"
    return "bptt" if needs_grad or not variable_lengths else "native"


def native_forward(cell, x, states, flat_weights, has_bias, num_layers, dropout, training, bidirectional, lengths):
    """torch's fused kernel (``cell.native``, a :class:`~rnnkit.nn.cell_types.CellType`'s) on a
    time-major padded batch.

    Shapes: x (T, B, I); states a tuple of (L*D, B, H), one per state of the cell; lengths (B,) on
    the CPU or ``None``. Returns output (T, B, D*H) with zeros at padded steps and the tuple of
    final states.
    """
    fn = cell.native
    if lengths is None:
        out, *state = fn(x, cell.pack(states), flat_weights, has_bias, num_layers, dropout, training,
                         bidirectional, False)
    else:
        packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
        order, unorder = packed.sorted_indices, packed.unsorted_indices
        hx_sorted = cell.pack(tuple(s.index_select(1, order) for s in states))
        data, *state = fn(
            packed.data, packed.batch_sizes, hx_sorted, flat_weights, has_bias, num_layers, dropout, training,
            bidirectional,
        )
        out, _ = pad_packed_sequence(
            PackedSequence(data, packed.batch_sizes, order, unorder), total_length=x.shape[0]
        )
        state = [s.index_select(1, unorder) for s in state]
    return out, tuple(state)
