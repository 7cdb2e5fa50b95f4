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
    fused CPU kernel, and packed sequences fall back to a slow path in training, so ours wins on
    variable-length training (0.53-0.91x torch's time) and is even with torch on fixed-length GRU
    and RNN training (0.94-1.07x; bench_layers.json, 2026-11-27). Without gradients (inference)
    torch's kernels win everywhere (our loop takes 1.18-1.30x torch's time on fixed-length GRU and
    RNN inference at 256 units), and for small hidden sizes torch's loops win throughout.
    """
    if device.type != "cpu" or hidden_size < SMALL_HIDDEN:
        return "native"
    if mode == "LSTM":
        return "bptt" if variable_lengths and needs_grad else "native"
    return "bptt" if needs_grad else "native"


def flatten_for_cudnn(layer) -> None:
    """Makes a layer's weights (``layer._flat_weights_names``, in torch.nn's order) views of one
    contiguous buffer laid out for cuDNN, as ``torch.nn.RNNBase.flatten_parameters`` does.

    Without it cuDNN copies every weight into such a buffer on each call (and its gradients back
    on each backward), and warns each time ("RNN module weights are not part of single contiguous
    chunk of memory"). Left alone, like torch.nn, off CUDA or without cuDNN, when the weights
    differ in dtype or device or alias each other, and when they are not plain parameters of the
    layer (a parametrization computes them anew on every access).
    """
    names = layer._flat_weights_names
    if not names or not all(isinstance(layer._parameters.get(name), torch.Tensor) for name in names):
        return
    weights = [layer._parameters[name] for name in names]
    first = weights[0]
    if not all(w.is_cuda and w.dtype == first.dtype and w.device == first.device
               and torch.backends.cudnn.is_acceptable(w) for w in weights):
        return
    if len({w.data_ptr() for w in weights}) != len(weights):
        return
    import torch.backends.cudnn.rnn as cudnn_rnn

    with torch.cuda.device_of(first), torch.no_grad():  # rewrites the parameters' data in place
        if torch._use_cudnn_rnn_flatten_weight():
            per = (4 if layer.bias else 2) + (1 if layer.proj_size else 0)
            torch._cudnn_rnn_flatten_weight(weights, per, layer.input_size,
                                            cudnn_rnn.get_cudnn_mode(layer.cell_type.mode), layer.hidden_size,
                                            layer.proj_size, layer.num_layers, layer.batch_first,
                                            bool(layer.bidirectional))


def native_forward(cell, x, states, flat_weights, has_bias, num_layers, dropout, training, bidirectional, lengths):
    """torch's fused kernel (``cell.native``, a :class:`~rnnkit.nn.cell_types.CellType`'s) on a
    time-major padded batch.

    Shapes: x (T, B, I); states a tuple of (L*D, B, H), one per state of the cell; lengths (B,) on
    the CPU or ``None``. Returns output (T, B, D*H) with zeros at padded steps and the tuple of
    final states.

    Under ``torch.compile`` the LSTM's kernel runs outside the compiled graph, as torch.nn's
    layers do (dynamo's ``allow_rnn=False``): AOT autograd cannot save the parameters that
    ``_VF.lstm`` keeps for its backward ("expected all tensors_saved_with_vc_check to be
    Tensors"). So does every kernel off the CPU, where torch.nn's refusal is our only guide. The
    CPU GRU and RNN kernels, which compile with correct gradients (tested), stay in the graph, so
    ``fullgraph=True`` keeps working for them. Eager calls pay one flag check for this.
    ``torch.export`` also sets the flag but captures every kernel as one op, as it does
    torch.nn's, so it is left to run there.
    """
    if (torch.compiler.is_compiling() and (cell.mode == "LSTM" or x.device.type != "cpu")
            and not _exporting()):
        return _native_forward_outside_graph(cell, x, states, flat_weights, has_bias, num_layers, dropout,
                                             training, bidirectional, lengths)
    return _native_forward(cell, x, states, flat_weights, has_bias, num_layers, dropout, training,
                           bidirectional, lengths)


def _native_forward(cell, x, states, flat_weights, has_bias, num_layers, dropout, training, bidirectional, lengths):
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


# torch's idiom for library code (torch.optim uses it): dynamo is imported on the first compiled
# call, not when rnnkit is imported (importing torch._dynamo takes about a second).
_native_forward_outside_graph = torch._disable_dynamo(_native_forward, recursive=True)


def native_autocast_dtypes(mode: str, x: torch.Tensor, projected: bool, packed: bool) -> tuple[torch.dtype, ...] | None:
    """The dtypes of (output, *final states) that torch's native kernel returns under autocast
    for the input ``x`` (time-major) and initial states in ``x``'s dtype (the layers cast ``hx`` so),
    fed packed when ``packed``; ``None`` where autocast leaves the layer alone (float64) or off the
    CPU (see :func:`probed_autocast_dtypes`). On the CPU:

    Autocast runs the matrix products in its low dtype; the gate arithmetic then promotes against
    the carried state (measured on torch 2.13 against torch.nn, and tested):

    * RNN: h' = phi(products) is in the low dtype;
    * GRU: h' = (1 - z) * n + z * h promotes the low dtype with h's;
    * LSTM: c' = f * c + i * g promotes likewise and h' = o * tanh(c') follows it; a projection
      makes h' a product again (low dtype). oneDNN's fused LSTM, which torch runs on unpacked,
      unprojected input where it can, returns everything in the low dtype.
    """
    if x.device.type != "cpu" or x.dtype == torch.float64:
        return None
    low = torch.get_autocast_dtype("cpu")
    carried = torch.promote_types(low, x.dtype)
    if mode != "LSTM":
        return (low, low) if mode.startswith("RNN") else (carried, carried)
    if not projected and not packed and _onednn_lstm(x):
        return low, low, low
    h = low if projected else carried
    return h, h, carried


_PROBED_DTYPES: dict[tuple, tuple[torch.dtype, ...]] = {}


def probed_autocast_dtypes(cell, x, flat_weights, has_bias, num_layers, bidirectional, state_sizes,
                           packed) -> tuple[torch.dtype, ...]:
    """Off the CPU, the dtypes of (output, *final states) that torch's native kernel returns under
    autocast, asked of the kernel itself: a step or two of zeros through the layer's weights, once
    per configuration. Its rules are torch's to change: cuDNN's autocast wrapper (ATen's
    AutocastRNN.cpp) has cast everything to float16, whatever autocast's dtype, in the versions
    read, while torch's generic CUDA path (cuDNN disabled, or an empty batch) keeps bfloat16. Call
    it with autocast on, outside torch.func's transforms and forward-mode AD (the probe is neither
    batched nor dual).

    Shapes: x (T, B, I) (only its device, dtype, I and whether B is 0 are read); ``state_sizes`` the
    size of each state (h's, then c's)."""
    empty = x.shape[1] == 0
    key = (cell.mode, x.device, x.dtype, torch.get_autocast_dtype(x.device.type), flat_weights[0].dtype,
           len(flat_weights), num_layers, bidirectional, tuple(state_sizes), packed, empty,
           torch.backends.cudnn.enabled)
    if key not in _PROBED_DTYPES:
        _PROBED_DTYPES[key] = _probe_dtypes(cell, x, flat_weights, has_bias, num_layers, bidirectional,
                                            state_sizes, packed, empty)
    return _PROBED_DTYPES[key]


def _probe_dtypes(cell, x, flat_weights, has_bias, num_layers, bidirectional, state_sizes, packed, empty):
    directions = 2 if bidirectional else 1
    # two rows of unequal lengths when packed: torch may run a packed batch of equal lengths
    # through its unpacked kernel (oneDNN's on the CPU, with other dtypes); none for an empty batch,
    # which torch keeps away from cuDNN and oneDNN (the layers never pack one)
    steps, rows = (1, 0) if empty else (2, 2) if packed else (1, 1)
    with torch.no_grad():
        step = torch.zeros(steps, rows, x.shape[-1], device=x.device, dtype=x.dtype)
        states = tuple(torch.zeros(num_layers * directions, rows, size, device=x.device, dtype=x.dtype)
                       for size in state_sizes)
        lengths = torch.tensor([2, 1]) if packed and not empty else None
        weights = [w.detach() for w in flat_weights]
        out, final = _native_forward_outside_graph(cell, step, states, weights, has_bias, num_layers, 0.0,
                                                   False, bidirectional, lengths)
    return (out.dtype, *(s.dtype for s in final))


def _onednn_lstm(x: torch.Tensor) -> bool:
    """Whether torch.nn.LSTM runs oneDNN's fused kernel on this unpacked CPU input, by ATen's own
    test (``use_mkldnn`` in ATen's RNN.cpp, on the input's dtype before autocast casts it)."""
    if not (torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled) or x.numel() == 0:
        return False
    if x.dtype == torch.float32:
        return True
    if x.dtype == torch.bfloat16:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    if x.dtype == torch.float16:  # oneDNN's half LSTM has no backward
        return not torch.is_grad_enabled() and bool(torch.ops.mkldnn._is_mkldnn_fp16_supported())
    return False


def _exporting() -> bool:
    return getattr(torch.compiler, "is_exporting", lambda: False)()  # torch >= 2.4


def capturing() -> bool:
    """Whether this call is being captured into a graph (``torch.jit.trace``, ``torch.export``,
    ONNX export) rather than run. A captured graph is replayed on inputs it has not seen, so it
    must not hold Python decisions taken on the values of its inputs (the lengths)."""
    # (ONNX export: the legacy exporter traces with torch.jit, the dynamo one exports; both are
    # seen here. torch.onnx.is_in_onnx_export() would cost 0.9 us on every eager call.)
    return torch.jit.is_tracing() or _exporting()


def export_scan():
    """torch's ``scan`` while ``torch.export`` traces (also under ``torch.onnx.export(dynamo=True)``),
    else ``None``. A scan captures the step once, so the exported graph keeps a dynamic time axis
    where a Python loop would be unrolled over the example's length. It is a prototype in torch
    (``torch._higher_order_ops``), so it is looked up here alone; without it the loop unrolls."""
    if not _exporting():
        return None
    try:
        from torch._higher_order_ops.scan import scan
    except ImportError:  # torch < 2.6
        return None
    return scan


def forward_ad() -> bool:
    """Whether forward-mode AD (``torch.autograd.forward_ad.dual_level``) is on: our autograd
    Functions have no ``jvp``, so dual tensors go through the reference loop, as under
    :func:`transformed` (``torch.func.jvp`` is a transform and is caught there)."""
    from torch.autograd import forward_ad as fwad

    return getattr(fwad, "_current_level", -1) >= 0  # private; the level of the innermost dual_level


def transformed() -> bool:
    """Whether a ``torch.func`` transform (``vmap``, ``grad``, ``jacrev``, ...) runs this call.

    Our autograd Functions have no functorch rules, and torch's fused kernels no batching rule
    (``vmap`` of ``torch.nn.RNN`` fails too), so the layers then step aside to the reference loop,
    whose plain ops every transform supports.
    """
    active = getattr(torch._C, "_are_functorch_transforms_active", None)  # private; torch >= 2.0
    return bool(active is not None and active())
