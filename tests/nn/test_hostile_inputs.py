"""What a hostile user does to a layer, against torch.nn on the same weights: changing the output
in place, every sequence empty, NaN or inf in the padding, forward-mode AD, a backend set after
construction, an empty batch's lengths. Each case failed on some backend before it was fixed."""

import math

import pytest
import torch
import torch.autograd.forward_ad as fwad

import rnnkit.nn as rnn

from .harness import CELLS, assert_same, grads, random_state, run_torch, torch_module, twin

BACKENDS = ["auto", "bptt", "native", "reference"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("varlen", [False, True])
def test_the_output_may_be_changed_in_place(cell, backend, varlen):
    # the fused path's output was a view of the state buffer its backward saves: autograd refused
    # `out += residual` or `relu_()` on it, which torch.nn allows
    ref = torch_module(cell, hidden_size=6)
    ours = twin(ref, backend)
    x = torch.randn(5, 3, 5, dtype=torch.float64)
    lengths = [5, 2, 4] if varlen else None
    results = []
    for module in (ref, ours):
        module.zero_grad()
        out, _ = run_torch(module, x, lengths=lengths) if module is ref else module(x, lengths=lengths)
        out += 1.0
        out[-1].mul_(2)
        out.relu_()
        out.sum().backward()
        results.append((out.detach(), grads(module)))
    assert_same(results[1][0], results[0][0])
    assert_same(results[1][1], results[0][1])


@pytest.mark.parametrize("backend", ["auto", "bptt", "reference"])  # native refuses empty ones (torch cannot pack them)
@pytest.mark.parametrize("cell", CELLS)
def test_every_sequence_empty(cell, backend):
    # LSTM raised StopIteration with gradients on: no step was active
    ref = torch_module(cell, hidden_size=4)
    ours = twin(ref, backend)
    x = torch.randn(3, 2, 5, dtype=torch.float64, requires_grad=True)
    hx = random_state(ref, 2)
    hx = tuple(h.requires_grad_() for h in hx) if isinstance(hx, tuple) else hx.requires_grad_()
    out, state = ours(x, hx, lengths=[0, 0])
    assert torch.equal(out, torch.zeros_like(out))
    assert_same(state, hx)  # the initial state passes through
    (out.sum() + sum(s.sum() for s in (state if isinstance(state, tuple) else (state,)))).backward()
    assert torch.equal(x.grad, torch.zeros_like(x))
    for h in (hx if isinstance(hx, tuple) else (hx,)):
        assert torch.equal(h.grad, torch.ones_like(h))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("junk", [math.nan, math.inf])
def test_nan_or_inf_in_the_padding_never_reaches_the_gradients(cell, backend, junk):
    # the input projection reads padded steps; its weight gradient made 0 * NaN = NaN there
    ref = torch_module(cell, hidden_size=6, num_layers=2, bidirectional=True)
    ours = twin(ref, backend)
    lengths = [5, 2, 4]
    x = torch.randn(5, 3, 5, dtype=torch.float64)
    clean = x.clone()
    for b, n in enumerate(lengths):
        x[n:, b] = junk  # missing values past each sequence's end
        clean[n:, b] = 0.0
    expected = []
    for module, inp in ((ref, clean), (ours, x)):
        module.zero_grad()
        inp = inp.clone().requires_grad_()
        out, state = run_torch(module, inp, lengths=lengths) if module is ref else module(inp, lengths=lengths)
        (out.sum() + sum(s.sum() for s in (state if isinstance(state, tuple) else (state,)))).backward()
        expected.append((out.detach(), grads(module, inp)))
    assert all(torch.isfinite(g).all() for g in expected[1][1])
    assert_same(expected[1][0], expected[0][0])
    assert_same(expected[1][1], expected[0][1])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", CELLS)
def test_forward_mode_ad_with_dual_tensors(cell, backend):
    # our autograd Functions have no jvp: dual tensors go through the reference loop
    ref = torch_module(cell, hidden_size=130)  # wide enough that auto picks the fused path on the CPU
    ours = twin(ref, backend).train()
    x, tangent = torch.randn(4, 2, 5, dtype=torch.float64), torch.randn(4, 2, 5, dtype=torch.float64)
    tangents = []
    for module in (ref, ours):
        with fwad.dual_level():
            out, _ = module(fwad.make_dual(x, tangent))
            tangents.append(fwad.unpack_dual(out).tangent)
    assert tangents[1] is not None
    assert_same(tangents[1], tangents[0], atol=1e-9)


def test_a_backend_set_after_construction_is_checked():
    layer = rnn.GRU(3, 4)
    layer.backend = "cudnn"
    with pytest.raises(ValueError, match="backend must be one of 'auto', 'bptt', 'native', 'reference'; got 'cudnn'"):
        layer(torch.randn(2, 1, 3))
    layer.backend = "rnnkit"  # the old name of "bptt" still works
    assert layer(torch.randn(2, 1, 3))[0].shape == (2, 1, 4)


def test_lengths_of_an_empty_batch():
    layer = rnn.LSTM(3, 4, batch_first=True)
    out, (h, c) = layer(torch.randn(0, 5, 3), lengths=[])
    assert out.shape == (0, 5, 4) and h.shape == c.shape == (1, 0, 4)
