"""Multi-layer, bidirectional recurrent layers: drop-in replacements for torch.nn.RNN/LSTM/GRU.

A layer is a loop over a cell: it holds one :class:`~rnnkit.nn.cell_types.CellType` (gate count,
state arity, reference step, fused recurrence, native kernel) and one layer x direction loop
(stacking, the reverse direction, inter-layer dropout) shared by our two paths, which differ only in
how they run one direction of one layer. A layer runs on one of the interchangeable backends of
:mod:`rnnkit.nn.backend`; all share torch.nn's parameter names, so one ``state_dict`` loads into any
of them and into torch.nn. The equations are in ``docs/equations.md``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from ._checks import (
    InputError,
    check_bool,
    check_choice,
    check_dropout,
    check_float_tensor,
    check_nonlinearity,
    check_size,
    check_state,
)
from ._layer_docs import DOC_TEMPLATE, MEMORY_ARG
from ._layer_inputs import check_lengths, check_memory_bias, check_proj_size, refuse_keywords, repack
from ._precision import at_least_float32
from .backend import (
    BACKEND_ALIASES,
    BACKENDS,
    capturing,
    choose_backend,
    export_scan,
    flatten_for_cudnn,
    forward_ad,
    native_autocast_dtypes,
    native_forward,
    probed_autocast_dtypes,
    transformed,
)
from .cell_types import CELL_TYPES
from .cells import init_memory_bias, init_uniform


class RNNBase(nn.Module):
    """Common machinery of :class:`RNN`, :class:`LSTM` and :class:`GRU` (see those)."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
        *,
        backend: str = "auto",
        memory_bias: float | None = None,
    ):
        super().__init__()
        check_dropout(dropout)  # in torch.nn's order, so that the same misuse raises the same error first
        for flag, value in (("bias", bias), ("batch_first", batch_first), ("bidirectional", bidirectional)):
            check_bool(flag, value)
        for size, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            check_size(size, value)
        if isinstance(backend, str):  # old names keep working: "rnnkit" is now "bptt"
            backend = BACKEND_ALIASES.get(backend, backend)
        check_choice("backend", backend, BACKENDS)
        check_proj_size(mode, proj_size, hidden_size)
        check_memory_bias(mode, memory_bias, bias)
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                f"dropout={dropout} has no effect with num_layers=1: dropout is applied between layers",
                stacklevel=3,
            )
        self.mode = mode  # torch.nn's attribute; the layer itself only consults cell_type
        self.cell_type = CELL_TYPES[mode]
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size, self.backend = bidirectional, proj_size, backend
        self.memory_bias = None if memory_bias is None else float(memory_bias)
        self.num_directions = 2 if bidirectional else 1
        gate_size = self.cell_type.gates * hidden_size
        out_size = proj_size or hidden_size  # h's size: the LSTM's projection shrinks h, never c
        kw = {"device": device, "dtype": dtype}
        self._flat_weights_names: list[str] = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else out_size * self.num_directions
            for direction in range(self.num_directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                shapes = {"weight_ih": (gate_size, layer_input), "weight_hh": (gate_size, out_size)}
                if bias:
                    shapes.update(bias_ih=(gate_size,), bias_hh=(gate_size,))
                if proj_size:  # torch.nn's order: weight_hr comes last in each layer and direction
                    shapes["weight_hr"] = (proj_size, hidden_size)
                for kind, shape in shapes.items():
                    self.register_parameter(kind + suffix, nn.Parameter(torch.empty(shape, **kw)))
                    self._flat_weights_names.append(kind + suffix)
        self.reset_parameters()
        self.flatten_parameters()  # built on a GPU (device="cuda")

    # -- torch.nn compatibility -------------------------------------------------------------

    def reset_parameters(self) -> None:
        """U(-1/sqrt(H), 1/sqrt(H)) for every parameter, as torch.nn does; then, with ``memory_bias``,
        the memory gate's bias set to it (:func:`~rnnkit.nn.cells.init_memory_bias`)."""
        init_uniform(self)
        if self.memory_bias is not None:
            init_memory_bias(self, self.memory_bias)

    def flatten_parameters(self) -> None:
        """On CUDA with cuDNN, makes the weights views of one contiguous buffer, as torch.nn does
        (:func:`~rnnkit.nn.backend.flatten_for_cudnn`); a no-op elsewhere. The layer calls it
        itself after construction, ``.to()``/``.cuda()``, unpickling and deepcopy."""
        flatten_for_cudnn(self)

    def _apply(self, fn, recurse=True):
        result = super()._apply(fn, recurse)  # .to(), .cuda(), .half(): new, separate tensors
        self.flatten_parameters()
        return result

    def __setstate__(self, state):
        super().__setstate__(state)  # unpickled or deep-copied: each parameter a copy of its own
        self.flatten_parameters()

    def __prepare_scriptable__(self):
        # torch.jit.script calls this on every submodule before compiling. TorchScript cannot
        # compile forward (PackedSequence or padded input, list or tensor lengths, a backend
        # chosen per call), so fail here with one line that says what works instead.
        raise RuntimeError(
            f"rnnkit.nn.{type(self).__name__} cannot be compiled by torch.jit.script; use "
            "torch.jit.trace or torch.export.export (both capture lengths= as a graph input)"
        )

    @property
    def _flat_weights(self) -> list[torch.Tensor]:
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        per = (4 if self.bias else 2) + (1 if self.proj_size else 0)
        w = self._flat_weights
        return [w[i : i + per] for i in range(0, len(w), per)]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        defaults = {"num_layers": 1, "bias": True, "batch_first": False, "dropout": 0.0,
                    "bidirectional": False, "backend": "auto", "memory_bias": None}
        for key, default in defaults.items():
            if getattr(self, key) != default:
                s += f", {key}={getattr(self, key)!r}"
        return s

    @classmethod
    def from_torch(cls, module: nn.RNNBase, *, backend: str = "auto"):
        """An rnnkit layer with ``module``'s configuration and a copy of its weights."""
        expected = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}[cls.__name__]
        if not isinstance(module, expected):
            raise ValueError(
                f"{cls.__name__}.from_torch expects a torch.nn.{cls.__name__}; got {type(module).__name__}"
            )
        kwargs = {}
        if cls is RNN:
            kwargs["nonlinearity"] = module.nonlinearity
        if cls is LSTM:
            kwargs["proj_size"] = module.proj_size
        p = next(module.parameters())
        layer = cls(module.input_size, module.hidden_size, module.num_layers, bias=module.bias,
                    batch_first=module.batch_first, dropout=module.dropout,
                    bidirectional=module.bidirectional,
                    device=p.device, dtype=p.dtype, backend=backend, **kwargs)
        layer.load_state_dict(module.state_dict())
        return layer.train(module.training)

    def to_torch(self) -> nn.RNNBase:
        """The equivalent torch.nn module, holding a copy of these weights."""
        torch_cls = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}[type(self).__name__]
        kwargs = {"nonlinearity": self.nonlinearity} if isinstance(self, RNN) else {}
        if self.proj_size:
            kwargs["proj_size"] = self.proj_size
        p = next(self.parameters())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the dropout/num_layers warning was given already
            module = torch_cls(self.input_size, self.hidden_size, self.num_layers, bias=self.bias,
                               batch_first=self.batch_first, dropout=self.dropout,
                               bidirectional=self.bidirectional, device=p.device, dtype=p.dtype, **kwargs)
        module.load_state_dict(self.state_dict())
        return module.train(self.training)

    # -- forward ------------------------------------------------------------------------------

    def forward(self, input: torch.Tensor | PackedSequence,
                hx: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None = None,
                lengths: torch.Tensor | Sequence[int] | None = None,
                ) -> tuple[torch.Tensor | PackedSequence, torch.Tensor | tuple[torch.Tensor, torch.Tensor]]:
        """See the class docstring of :class:`RNN`, :class:`LSTM` or :class:`GRU`."""
        packed = isinstance(input, PackedSequence)
        if packed:
            if lengths is not None:
                raise ValueError("pass either a PackedSequence or lengths=, not both")
            x, lengths = pad_packed_sequence(input)  # (T, B, I), original batch order
            check_float_tensor("input", x, self.weight_ih_l0)
            unbatched = False
        else:
            check_float_tensor("input", input, self.weight_ih_l0)
            if input.dim() not in (2, 3):
                layout = "(batch, seq, feature)" if self.batch_first else "(seq, batch, feature)"
                raise ValueError(
                    f"{type(self).__name__}: Expected input to be 2D or 3D, got {input.dim()}D instead: "
                    f"{type(self).__name__} expects a 3-D input {layout} or a 2-D unbatched input "
                    f"(seq, feature); got a {input.dim()}-D tensor of shape {tuple(input.shape)}"
                )
            unbatched = input.dim() == 2
            x = input.unsqueeze(1) if unbatched else (input.transpose(0, 1) if self.batch_first else input)
        if x.shape[-1] != self.input_size:
            raise InputError(f"input has {x.shape[-1]} features but input_size is {self.input_size} "
                             f"(input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                             f"got {x.shape[-1]})")
        T, B = x.shape[0], x.shape[1]
        if T == 0:  # torch.nn's contract on every backend: there is no last step to return
            raise InputError("Expected sequence length to be larger than 0 in RNN: the input has 0 time "
                             f"steps (shape {tuple((x if packed else input).shape)})")
        if lengths is not None:
            lengths = check_lengths(lengths, B, T, x.device)
            if B == 0:  # no sequence to mask (and torch cannot pack an empty batch)
                lengths = None
        autocast = torch.is_autocast_enabled(x.device.type)
        if autocast and isinstance(hx, (tuple, list)):  # mixed precision: states follow the input's dtype
            hx = tuple(s.to(x.dtype) if isinstance(s, torch.Tensor) and s.is_floating_point() else s for s in hx)
        elif autocast and isinstance(hx, torch.Tensor) and hx.is_floating_point():
            hx = hx.to(x.dtype)
        states = self._initial_state(hx, x, unbatched)

        backend = BACKEND_ALIASES.get(self.backend, self.backend)  # also when set after construction
        if backend not in BACKENDS:  # `layer.backend = ...` skips the constructor's check
            check_choice("backend", self.backend, BACKENDS)
        if capturing():
            # A captured graph (jit.trace, torch.export, ONNX) is replayed by another runtime on
            # inputs it has not seen. With lengths, the masked reference loop reads them only
            # through tensor ops, where the other paths sort, pack or pick a backend by their
            # values in Python. Without them, torch's kernel is captured as one op, as torch.nn's
            # layers are. Our fused path cannot be captured at all (an autograd Function that
            # writes with out= and in place), so an explicit backend="bptt" takes the same route
            # instead of refusing: backends compute one function with one set of weights, the
            # choice is a speed preference for eager runs, and a model built with it must still
            # export without being rebuilt (as the lengths case always did for every backend).
            if lengths is not None:
                backend = "reference"
            elif backend in ("auto", "bptt"):
                backend = "native"
        if transformed() or forward_ad():  # only the reference loop has vmap/grad/jvp rules (see transformed)
            backend = "reference"
        if backend == "auto":
            varlen = lengths is not None and bool((lengths != T).any())
            grad = self._needs_grad(x, states)
            backend = choose_backend(self.cell_type.mode, x.device, varlen, grad, self.hidden_size)
        if backend == "native" and lengths is not None and bool((lengths == 0).any()):
            if self.backend != "auto":
                raise ValueError("backend='native' needs every length >= 1 (torch cannot pack empty sequences); "
                                 "use backend='bptt' for empty sequences")
            backend = "bptt"  # ours handles empty sequences
        run = {"bptt": self._forward_bptt, "native": self._forward_native, "reference": self._forward_reference}
        if autocast and backend != "native":
            # Under torch.autocast our own recurrences stay in float32 (their explicit backward is
            # written for one dtype); mixed precision speeds up torch's native kernels and the
            # layers around the recurrence. The results then take the dtypes torch's kernel
            # would return, so that the backend never changes what a caller receives.
            full = at_least_float32
            with torch.autocast(x.device.type, enabled=False):
                output, states = run[backend](full(x), tuple(full(s) for s in states), lengths)
            dtypes = native_autocast_dtypes(self.cell_type.mode, x, bool(self.proj_size), lengths is not None)
            if x.device.type != "cpu" and not (transformed() or forward_ad() or capturing()):  # (no probe there)
                dtypes = probed_autocast_dtypes(self.cell_type, x, self._flat_weights, self.bias, self.num_layers,
                                                self.bidirectional, [s.shape[-1] for s in states], lengths is not None)
            if dtypes is not None:
                output = output.to(dtypes[0])
                states = tuple(s.to(dtype) for s, dtype in zip(states, dtypes[1:]))
        else:
            output, states = run[backend](x, states, lengths)

        if packed:
            output = repack(output, lengths, input)
        elif unbatched:
            output = output.squeeze(1)
            states = tuple(s.squeeze(1) for s in states)
        elif self.batch_first:
            output = output.transpose(0, 1)
        return output, self.cell_type.pack(states)

    def _initial_state(self, hx, x, unbatched):
        """hx as a tuple of time-major batched tensors (L*D, B, size), one per state of the cell:
        size H, except h's P = proj_size in an LSTM with projections (c keeps H)."""
        LD, B = self.num_layers * self.num_directions, x.shape[1]
        names = self.cell_type.state_names
        sizes = [self.proj_size or self.hidden_size] + [self.hidden_size] * (len(names) - 1)
        if hx is None:
            return tuple(x.new_zeros(LD, B, size) for size in sizes)
        expected = [(LD, size) if unbatched else (LD, B, size) for size in sizes]
        if len(names) == 1:
            check_state(names[0], hx, expected[0], x)
            return (hx.unsqueeze(1) if unbatched else hx,)
        if not isinstance(hx, (tuple, list)) or len(hx) != len(names):  # the LSTM's (h_0, c_0)
            raise ValueError(f"{self.cell_type.mode} expects hx to be a pair ({', '.join(names)}) or None; "
                             f"got {type(hx).__name__}")
        for name, s, shape in zip(names, hx, expected):
            check_state(name, s, shape, x)
        return tuple(s.unsqueeze(1) if unbatched else s for s in hx)

    def _needs_grad(self, x, states) -> bool:
        """Whether this call records a graph (else the fused path keeps no activations)."""
        if not torch.is_grad_enabled():
            return False
        if x.requires_grad or any(s.requires_grad for s in states):
            return True
        # own parameters first (parameters() walks submodules, ~5 us); parametrized ones live in one
        return any(p is not None and p.requires_grad for p in self._parameters.values()) or (
            bool(self._modules) and any(p.requires_grad for p in self.parameters()))

    def _direction_weights(self, layer: int, direction: int):
        """(w_ih, w_hh, b_ih, b_hh) of one layer and direction (biases ``None`` when bias=False),
        and w_hr last in an LSTM with projections."""
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        get = lambda kind: getattr(self, kind + suffix, None)  # noqa: E731
        weights = get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")
        return weights + (get("weight_hr"),) if self.proj_size else weights

    # Each path takes and returns states as tuples of (L*D, B, H) tensors, time-major (T, B, .).

    def _forward_native(self, x, states, lengths):
        return native_forward(self.cell_type, x, states, self._flat_weights, self.bias, self.num_layers,
                              self.dropout, self.training, self.bidirectional, lengths)

    def _run_layers(self, x, states, run_direction):
        """The layer x direction loop of our paths: stacking, bidirectional concat, inter-layer
        dropout, final states.

        ``run_direction(x (T, B, I), init, weights, reverse) -> (output (T, B, H), *final states)``
        runs one layer in one direction; the caller picks it once per call, so the time loop
        inside it is all that runs per step.
        """
        layer_input, finals = x, [[] for _ in states]
        for layer in range(self.num_layers):
            outs = []
            for direction in range(self.num_directions):
                idx = layer * self.num_directions + direction
                init = [s[idx] for s in states]
                weights = self._direction_weights(layer, direction)
                out, *last = run_direction(layer_input, init, weights, direction == 1)
                outs.append(out)
                for store, s in zip(finals, last):
                    store.append(s)
            layer_input = outs[0] if len(outs) == 1 else torch.cat(outs, dim=2)
            if self.dropout and self.training and layer + 1 < self.num_layers:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
        return layer_input, tuple(torch.stack(f) for f in finals)

    def _forward_bptt(self, x, states, lengths):
        """Our explicit BPTT (:mod:`rnnkit.nn.bptt`) on a batch sorted by length."""
        T, B = x.shape[0], x.shape[1]
        batch_sizes, unsort = None, None
        if lengths is not None and bool((lengths != T).any()):
            lengths_sorted, order = torch.sort(lengths, descending=True, stable=True)
            unsort = torch.empty_like(order)
            unsort[order] = torch.arange(B)
            steps = int(lengths_sorted[0])
            batch_sizes = (lengths_sorted.unsqueeze(0) > torch.arange(steps).unsqueeze(1)).sum(1).tolist()
            order_d = order.to(x.device)
            x = x.index_select(1, order_d)[:steps]
            states = tuple(s.index_select(1, order_d) for s in states)
            # Padded steps never reach a state, but the input projection reads them, and its weight
            # gradient (dxg^T x) would turn a NaN or inf there (missing values) into NaN: zero them.
            valid = torch.arange(steps).unsqueeze(1) < lengths_sorted.unsqueeze(0)
            x = x.masked_fill_(~valid.unsqueeze(2).to(x.device), 0.0)  # x is our own copy (index_select)
        grad = self._needs_grad(x, states)
        fused = self.cell_type.fused

        def run_direction(layer_input, init, weights, reverse):
            return fused(layer_input, init, weights, reverse, batch_sizes, grad)

        output, finals = self._run_layers(x, states, run_direction)
        if output.shape[0] < T:  # every sequence ended early: pad back to the input's length
            output = F.pad(output, (0, 0, 0, 0, 0, T - output.shape[0]))
        if unsort is not None:
            unsort_d = unsort.to(x.device)
            output = output.index_select(1, unsort_d)
            finals = tuple(f.index_select(1, unsort_d) for f in finals)
        return output, finals

    def _forward_reference(self, x, states, lengths):
        """A masked loop over the cell's reference step, differentiated by autograd.

        The lengths enter only through the mask, never as Python values, which is what lets
        graph capture (jit.trace, torch.export, ONNX) route here. Under torch.export the loop is
        a ``scan`` so that the time axis stays dynamic; elsewhere it is a Python loop.
        """
        T = x.shape[0]
        valid = None if lengths is None else (torch.arange(T).unsqueeze(1) < lengths.unsqueeze(0)).to(x.device)
        if valid is not None:  # a padded step's NaN or inf would reach the gradients as 0 * NaN
            x = torch.where(valid.unsqueeze(2), x, 0)
        step = self.cell_type.step
        scan = export_scan()

        def masked_step(state, x_t, valid_t, weights):
            """(state, x_t) -> (state, y_t); padded steps keep the state and output zeros."""
            y, new = step(x_t, state, weights)
            if valid_t is not None:
                m = valid_t.unsqueeze(1)
                new = tuple(torch.where(m, n, s) for n, s in zip(new, state))
                y = torch.where(m, new[0], torch.zeros_like(new[0]))
            return new, y

        def run_direction(layer_input, init, weights, reverse):
            if scan is not None:
                xs = (layer_input,) if valid is None else (layer_input, valid)
                # scan refuses aliased inputs: on a GPU the weights are views of cuDNN's flat buffer
                weights = tuple(None if w is None else w.clone() for w in weights)

                def body(state, xs_t):
                    state, y = masked_step(state, xs_t[0], xs_t[1] if len(xs_t) > 1 else None, weights)
                    # scan refuses a step whose output aliases its carry (y is h unmasked)
                    return state, (y.clone() if valid is None else y)
                # clone: a view into the (L*D, B, H) states has a storage offset of a multiple
                # of B, which scan's tracing would guard on, specialising the batch size
                state, output = scan(body, tuple(s.clone() for s in init), xs, reverse=reverse)
                return output, *state
            state, steps = tuple(init), [None] * T
            for t in (range(T - 1, -1, -1) if reverse else range(T)):
                state, steps[t] = masked_step(state, layer_input[t], None if valid is None else valid[t], weights)
            return torch.stack(steps), *state

        return self._run_layers(x, states, run_direction)


class RNN(RNNBase):
    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None, *,
                 backend="auto", **kwargs):
        refuse_keywords("RNN", kwargs)
        check_nonlinearity(nonlinearity)
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size,
                         num_layers, bias, batch_first, dropout, bidirectional, 0, device, dtype, backend=backend)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + ", nonlinearity='relu'"


class LSTM(RNNBase):
    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None, *, backend="auto", memory_bias=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, proj_size, device, dtype, backend=backend, memory_bias=memory_bias)


class GRU(RNNBase):
    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None, *, backend="auto", memory_bias=None, **kwargs):
        refuse_keywords("GRU", kwargs)
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, 0, device, dtype, backend=backend, memory_bias=memory_bias)


RNN.__doc__ = DOC_TEMPLATE.format(
    summary="Elman RNN: ``h_t = phi(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh)``, phi = tanh or relu.",
    name="RNN", gates=1, extra_args="\n        nonlinearity: ``\"tanh\"`` or ``\"relu\"``.",
    state_in="hx", state_in_doc="(L*D, B, H) initial state", state_out="h_n",
    state_out_doc="(L*D, B, H) final state of every layer and direction", memory_arg="")
LSTM.__doc__ = DOC_TEMPLATE.format(
    summary="LSTM with forget gate (gates i, f, g, o); see ``docs/equations.md``.",
    name="LSTM", gates=4,
    extra_args="\n        proj_size: if > 0 (and < H), project h: ``h_t = W_hr (o_t * tanh(c_t))`` with\n"
               "            ``weight_hr_l{k}`` (P, H), P = proj_size, as torch.nn.LSTM. h, the output and the\n"
               "            next layer's input then have P features (``weight_hh`` (4H, P), ``weight_ih_l{k}``\n"
               "            (4H, D*P) for k > 0); c keeps H. Read H as P below for h, h_0, h_n and output.",
    state_in="hx",
    state_in_doc="pair (h_0, c_0), each (L*D, B, H) (h_0 (L*D, B, P) with proj_size)", state_out="(h_n, c_n)",
    state_out_doc="each (L*D, B, H) (h_n (L*D, B, P) with proj_size)",
    memory_arg=MEMORY_ARG.format(gate="forget gate f (chunk 1 of i, f, g, o)",
                                  why="Jozefowicz et al. (2015) recommend 1."))
GRU.__doc__ = DOC_TEMPLATE.format(
    summary="GRU (gates r, z, n; reset after the recurrent product, as torch.nn.GRU and cuDNN).",
    name="GRU", gates=3, extra_args="", state_in="hx", state_in_doc="(L*D, B, H) initial state",
    state_out="h_n", state_out_doc="(L*D, B, H) final state of every layer and direction",
    memory_arg=MEMORY_ARG.format(gate="update gate z (chunk 1 of r, z, n)",
                                  why="As h' = (1 - z) * n + z * h, a positive bias keeps the state."))
