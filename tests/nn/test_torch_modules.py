"""PyTorch's own contract for its recurrent modules, run on rnnkit.nn.

torch ships, in ``torch.testing._internal.common_modules``, a ``ModuleInfo`` entry for each of
nn.RNN, LSTM, GRU, RNNCell, LSTMCell and GRUCell: sample constructor and forward inputs, and inputs
that must fail with a given exception type and message. torch's ``test/test_modules.py`` runs
them on torch.nn; here they run on rnnkit's class of the same name, on the default backend and
with each backend forced, and are checked the way test_modules checks torch.nn:

* forward: equal to torch.nn's on the same weights (float64 in training, float32 in eval), and
  an unbatched input equal to a batch of one (the samples' reference functions);
* errors: the same exception type, the message matching torch's regex;
* gradients: gradcheck and gradgradcheck in float64 through torch's own wrappers (batched
  gradients through vmap, fast mode), for all inputs and parameters together, and (gradcheck)
  for each parameter alone;
* factory kwargs (device, dtype, the meta device, ``skip_init``), non-contiguous inputs and
  output gradients, and train/eval with dropout.

Forward, errors and factory kwargs run every sample (torch's PackedSequence samples of RNN and GRU
included in forward). The slow checks run a few of a layer's samples per case (see
:func:`spread`), a fixed choice that differs per backend so that one class's four backends
together cover more of them:
3 for gradcheck, 2 for gradgradcheck, 8 for non-contiguous inputs; cells run all of theirs. CUDA
is not tested here (these machines have none).
"""

from __future__ import annotations

import copy
import random

import pytest
import torch
from torch.nn.utils.rnn import PackedSequence
from torch.utils._pytree import tree_flatten, tree_leaves, tree_unflatten

import rnnkit.nn as rnn

LAYERS = ("RNN", "LSTM", "GRU")
CELLS = ("RNNCell", "LSTMCell", "GRUCell")
FORCED = ("bptt", "native", "reference")
# (class name, backend): None is the default backend (cells have none).
CASES = [(name, None) for name in LAYERS + CELLS] + [(name, b) for name in LAYERS for b in FORCED]
IDS = [f"{name}-{backend or 'default'}" for name, backend in CASES]


def _load_torch_testing():
    """torch's ModuleInfo entries and its gradcheck wrappers. Importing torch's test utilities
    flips process-wide switches (it forbids setting ``torch.backends`` flags outside their
    context managers, and wraps TorchScript calls); put them back so that other tests in this
    process run as they would alone."""
    flags = torch.backends.disable_global_flags.__globals__  # torch.backends' own namespace
    flag = "__allow_nonbracketed_mutation_flag"
    saved = (flags[flag], torch._C.ScriptFunction.__call__, torch._C.ScriptMethod.__call__)
    try:
        from torch.testing._internal import common_modules, common_utils
    finally:
        flags[flag] = saved[0]
        torch._C.ScriptFunction.__call__, torch._C.ScriptMethod.__call__ = saved[1:]
    infos = {info.module_cls.__name__: info for info in common_modules.module_db
             if info.module_cls.__module__ == "torch.nn.modules.rnn"}
    assert set(infos) == set(LAYERS + CELLS), f"torch's ModuleInfo entries changed: {sorted(infos)}"
    return infos, common_modules.ModuleErrorEnum, common_utils.gradcheck, common_utils.gradgradcheck


INFOS, ModuleErrorEnum, gradcheck, gradgradcheck = _load_torch_testing()


# -- building modules and running samples ------------------------------------------------------


def samples(name, dtype=torch.float64, requires_grad=False, training=True, packed=True):
    """torch's sample inputs for ``name``; ``packed`` adds its PackedSequence samples (RNN, GRU)."""
    info = INFOS[name]
    return list(info.module_inputs_func(info, device="cpu", dtype=dtype, requires_grad=requires_grad,
                                        training=training, with_packed_sequence=packed))


def spread(items, k, name, backend):
    """``k`` of ``items``, a fixed choice that differs per class and backend, so that one class's
    backends check different samples (and every run the same ones)."""
    return random.Random(f"{name}-{backend}").sample(items, min(k, len(items)))


def ours(name, backend, *args, **kwargs):
    """rnnkit's module; the backend forced when one is given."""
    if backend is not None:
        kwargs = {**kwargs, "backend": backend}
    return getattr(rnn, name)(*args, **kwargs)


def pair(name, backend, sample, dtype=torch.float64):
    """torch.nn's module for a sample and rnnkit's, holding the same weights."""
    c = sample.constructor_input
    reference = getattr(torch.nn, name)(*c.args, **c.kwargs, dtype=dtype)
    module = ours(name, backend, *c.args, **c.kwargs, dtype=dtype)
    module.load_state_dict(reference.state_dict())
    return reference, module


def tensors(output) -> list[torch.Tensor]:
    """The tensors of a module's output: a PackedSequence by its data."""
    if isinstance(output, PackedSequence):
        return [output.data]
    return [t for t in tree_leaves(output) if isinstance(t, torch.Tensor)]


def assert_outputs_equal(actual, expected, dtype):
    tol = {"atol": 1e-10, "rtol": 1e-7} if dtype == torch.float64 else {}
    a, e = tensors(actual), tensors(expected)
    assert len(a) == len(e), f"{len(a)} output tensors, torch.nn gives {len(e)}"
    for x, y in zip(a, e):
        torch.testing.assert_close(x, y, **tol)


def describe(name, sample) -> str:
    c, f = sample.constructor_input, sample.forward_input
    shapes = [tuple(t.shape) for t in tensors(f.args)]
    return f"{name}(*{c.args}, **{c.kwargs}) on {'packed ' if isinstance(f.args[0], PackedSequence) else ''}{shapes}"


class Failures:
    """Collects the failing samples of one test, so that one run reports all of them."""

    def __init__(self):
        self.lines: list[str] = []

    def check(self, what: str, fn) -> None:
        try:
            fn()
        except Exception as err:  # noqa: BLE001 - every failure is reported, by type
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            self.lines.append(f"{what}: {type(err).__name__}: {first[:300]}")

    def assert_none(self) -> None:
        assert not self.lines, f"{len(self.lines)} failing:\n" + "\n".join(self.lines)


# -- forward ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,backend", CASES, ids=IDS)
def test_forward_matches_torch(name, backend):
    failures = Failures()
    for dtype, training in ((torch.float64, True), (torch.float32, False)):
        for sample in samples(name, dtype, training=training):

            def run(sample=sample, dtype=dtype, training=training):
                reference, module = pair(name, backend, sample, dtype)
                reference.train(training), module.train(training)
                args = sample.forward_input.args
                out = module(*copy.deepcopy(args))
                assert_outputs_equal(out, reference(*copy.deepcopy(args)), dtype)
                if sample.reference_fn is not None and not isinstance(args[0], PackedSequence):
                    # an unbatched input gives what a batch of one gives
                    assert_outputs_equal(out, sample.reference_fn(module, *args), dtype)

            failures.check(f"{describe(name, sample)} {dtype} training={training}", run)
    failures.assert_none()


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,backend", CASES, ids=IDS)
def test_errors_match_torch(name, backend):
    info, failures = INFOS[name], Failures()
    for dtype in (torch.float32, torch.float64):  # the dtype-mismatch sample depends on the dtype
        for error in info.module_error_inputs_func(info, device="cpu", dtype=dtype, requires_grad=False,
                                                   training=True):
            sample = error.module_error_input
            c = sample.constructor_input

            def run(error=error, sample=sample, c=c):
                with pytest.raises(error.error_type, match=error.error_regex):
                    module = ours(name, backend, *c.args, **c.kwargs)
                    if error.error_on == ModuleErrorEnum.FORWARD_ERROR:
                        module(*sample.forward_input.args, **sample.forward_input.kwargs)

            failures.check(f"{name}(*{c.args}, **{c.kwargs}) -> {error.error_type.__name__}"
                           f"({error.error_regex!r})", run)
    failures.assert_none()


# -- gradients -------------------------------------------------------------------------------------


def check_gradients(check, module, sample, each_parameter=True) -> None:
    """``check`` (torch's gradcheck or gradgradcheck wrapper) of the module's outputs with respect
    to its inputs and every parameter together, then (``each_parameter``) to its inputs and each
    parameter alone, the others frozen, as torch's test_modules does."""
    params = tuple(module.parameters())
    flat, spec = tree_flatten((sample.forward_input.args, params))

    def fn(*flat_inputs):
        args, _ = tree_unflatten(list(flat_inputs), spec)  # the parameters are the module's own
        return tuple(tensors(module(*args)))

    assert check(fn, flat), "total derivative"
    if not each_parameter:
        return
    for p in params:
        p.requires_grad_(False)
    try:
        for name, p in module.named_parameters():
            p.requires_grad_(True)
            assert check(fn, flat), f"partial derivative in {name}"
            p.requires_grad_(False)
    finally:
        for p in params:
            p.requires_grad_(True)


def _gradient_samples(name, backend, k):
    found = samples(name, torch.float64, requires_grad=True, packed=False)
    return found if name in CELLS else spread(found, k, name, backend)


@pytest.mark.parametrize("name,backend", CASES, ids=IDS)
def test_gradcheck(name, backend):
    failures = Failures()
    for sample in _gradient_samples(name, backend, k=3):
        failures.check(describe(name, sample),
                       lambda sample=sample: check_gradients(gradcheck, pair(name, backend, sample)[1], sample))
    failures.assert_none()


@pytest.mark.parametrize("name,backend", CASES, ids=IDS)
def test_gradgradcheck(name, backend):
    failures = Failures()
    for sample in _gradient_samples(name, backend, k=2):
        # the total derivative only: one parameter at a time is gradcheck's (first order) concern
        failures.check(describe(name, sample), lambda sample=sample: check_gradients(
            gradgradcheck, pair(name, backend, sample)[1], sample, each_parameter=False))
    failures.assert_none()


# -- factory kwargs, non-contiguous inputs, train/eval ---------------------------------------------


@pytest.mark.parametrize("name,backend", CASES, ids=IDS)
def test_factory_kwargs(name, backend):
    failures = Failures()
    for sample in samples(name, packed=False)[::2]:
        c = sample.constructor_input

        def run(c=c):
            reference = getattr(torch.nn, name)(*c.args, **c.kwargs)
            expected = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
            for device, dtype in (("cpu", torch.float32), ("cpu", torch.float64), ("meta", torch.float64)):
                module = ours(name, backend, *c.args, **c.kwargs, device=device, dtype=dtype)
                assert {k: tuple(v.shape) for k, v in module.state_dict().items()} == expected
                for p_name, p in module.named_parameters():
                    assert (p.device.type, p.dtype) == (device, dtype), f"{p_name}: {p.device} {p.dtype}"
            kwargs = c.kwargs if backend is None else {**c.kwargs, "backend": backend}
            skipped = torch.nn.utils.skip_init(getattr(rnn, name), *c.args, dtype=torch.float64, **kwargs)
            assert isinstance(skipped, getattr(rnn, name))
            assert all(p.dtype == torch.float64 for p in skipped.parameters())

        failures.check(describe(name, sample), run)
    failures.assert_none()


def non_contiguous(t: torch.Tensor) -> torch.Tensor:
    """``t``'s values in a tensor that is not contiguous (every other element of a wider one)."""
    wide = torch.stack([t.detach(), torch.full_like(t, float("nan"))], dim=-1)
    return wide[..., 0].requires_grad_(t.requires_grad)


def _outputs_and_grads(module, args, grad_outputs):
    leaves = [t for t in tree_leaves(args) if isinstance(t, torch.Tensor) and t.requires_grad]
    out = tensors(module(*args))
    wrt = leaves + list(module.parameters())
    grads = torch.autograd.grad(out, wrt, [g(o) for g, o in zip(grad_outputs, out)], allow_unused=True)
    return out, grads


@pytest.mark.parametrize("name,backend", CASES, ids=IDS)
def test_non_contiguous_inputs(name, backend):
    """Non-contiguous inputs, states and output gradients give the contiguous results, and
    torch.nn's."""
    failures = Failures()
    for sample in spread(samples(name, requires_grad=True, packed=False), 8, name, backend):

        def run(sample=sample):
            reference, module = pair(name, backend, sample)
            args = sample.forward_input.args
            g = torch.Generator().manual_seed(0)
            seeds = [torch.randn(t.shape, generator=g, dtype=t.dtype) for t in tensors(reference(*args))]
            contiguous = [lambda o, s=s: s for s in seeds]
            strided = [lambda o, s=s: non_contiguous(s) for s in seeds]
            nc_args = tuple(tree_unflatten([non_contiguous(t) if isinstance(t, torch.Tensor) else t
                                            for t in tree_flatten(args)[0]], tree_flatten(args)[1]))
            assert not all(t.is_contiguous() for t in tensors(nc_args))
            expected = _outputs_and_grads(reference, copy.deepcopy(args), contiguous)
            for a, grad_outputs in ((copy.deepcopy(args), strided), (nc_args, contiguous), (nc_args, strided)):
                out, grads = _outputs_and_grads(module, a, grad_outputs)
                assert_outputs_equal(out, expected[0], torch.float64)
                assert_outputs_equal([x for x in grads if x is not None],
                                     [x for x in expected[1] if x is not None], torch.float64)

        failures.check(describe(name, sample), run)
    failures.assert_none()


@pytest.mark.parametrize("name,backend", CASES, ids=IDS)
def test_train_and_eval(name, backend):
    """Layers apply dropout between layers in training only (torch's ``train_and_eval_differ``);
    cells have no dropout, so train and eval agree."""
    torch.manual_seed(0)
    if name in CELLS:
        module = ours(name, backend, 4, 5, dtype=torch.float64)
        x = torch.randn(3, 4, dtype=torch.float64)
        torch.testing.assert_close(module.train()(x), module.eval()(x))
        return
    reference = getattr(torch.nn, name)(4, 5, num_layers=2, dropout=0.5, dtype=torch.float64)
    module = ours(name, backend, 4, 5, num_layers=2, dropout=0.5, dtype=torch.float64)
    module.load_state_dict(reference.state_dict())
    x = torch.randn(6, 3, 4, dtype=torch.float64)
    assert_outputs_equal(module.eval()(x), reference.eval()(x), torch.float64)
    assert not module.training and module.train().training
    trained = module(x)[0]
    assert trained.shape == reference.train()(x)[0].shape
    assert not torch.allclose(trained, module.eval()(x)[0]), "dropout did not act in training"
