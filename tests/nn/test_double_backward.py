"""Higher-order gradients: gradgradcheck in float64 and double backward equal to torch.nn's.

The explicit BPTT Functions answer a backward with ``create_graph=True`` by replaying their
forward as a graph (:func:`rnnkit.nn.bptt._differentiable_backward`); these tests check that on
the Functions alone, on whole layers of every backend, and against torch.nn on the same weights.
"""

import itertools

import pytest
import torch
from torch.autograd import gradgradcheck
from torch.func import functional_call

import rnnkit.nn as rnn
from rnnkit.nn import bptt
from rnnkit.nn.backend import choose_backend

from .harness import CELLS, is_lstm, random_state, run_torch, torch_module, twin

T, B, H = 4, 3, 2
SCHEDULES = [None, [3, 3, 2, 1], [2, 1, 0, 0]]  # fixed; ragged; a row of length 0 and an early end


def _t(*shape, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(*shape, generator=g, dtype=torch.float64)).requires_grad_()


# -- the Functions alone --------------------------------------------------------------------------


@pytest.mark.parametrize("batch_sizes,reverse", list(itertools.product(SCHEDULES, [False, True])))
def test_lstm_gradgradcheck(batch_sizes, reverse):
    args = (_t(T, B, 4 * H, seed=0), _t(B, H, seed=1), _t(B, H, seed=2), _t(4 * H, H, seed=3))
    assert gradgradcheck(lambda *a: bptt.LSTMRecurrence.apply(*a, batch_sizes, reverse, None), args)


@pytest.mark.parametrize("batch_sizes", SCHEDULES[1:])
def test_lstm_projection_gradgradcheck(batch_sizes):
    P = 1  # proj_size: h, h0 and w_hh's columns have P, c keeps H
    args = (_t(T, B, 4 * H, seed=0), _t(B, P, seed=1), _t(B, H, seed=2), _t(4 * H, P, seed=3), _t(P, H, seed=4))

    def f(xg, h0, c0, w_hh, w_hr):
        return bptt.LSTMRecurrence.apply(xg, h0, c0, w_hh, batch_sizes, True, w_hr)

    assert gradgradcheck(f, args)


@pytest.mark.parametrize("batch_sizes,reverse", list(itertools.product(SCHEDULES, [False, True])))
def test_gru_gradgradcheck(batch_sizes, reverse):
    args = (_t(T, B, 3 * H, seed=0), _t(B, H, seed=1), _t(3 * H, H, seed=3), _t(3 * H, seed=4))
    assert gradgradcheck(lambda x, h, w, b: bptt.GRURecurrence.apply(x, h, w, b, batch_sizes, reverse), args)


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("batch_sizes,reverse", list(itertools.product(SCHEDULES, [False, True])))
def test_rnn_gradgradcheck(batch_sizes, reverse, relu):
    # Keep relu pre-activations away from the kink at 0, where finite differences are undefined.
    xg = (_t(T, B, H, seed=0).detach() + 0.3 * torch.sign(_t(T, B, H, seed=5).detach())).requires_grad_()
    args = (xg, _t(B, H, seed=1, scale=0.1), _t(H, H, seed=3, scale=0.1))
    assert gradgradcheck(lambda *a: bptt.RNNRecurrence.apply(*a, relu, batch_sizes, reverse), args)


def test_first_order_backward_is_the_hand_written_one():
    """Without create_graph the hand-written backward runs: no graph is built from it."""
    xg, h0, w = _t(T, B, 4 * H, seed=0), _t(B, H, seed=1), _t(4 * H, H, seed=3)
    c0 = _t(B, H, seed=2)
    out, h_n, c_n = bptt.LSTMRecurrence.apply(xg, h0, c0, w, None, False, None)
    g = torch.autograd.grad(out.sum() + h_n.sum(), (xg, w))
    assert all(t.grad_fn is None for t in g)


# -- whole layers, every backend --------------------------------------------------------------------


def _layer(cell, backend, hidden_size=H, **kw):
    module = torch_module(cell, input_size=2, hidden_size=hidden_size, num_layers=2, bidirectional=True, **kw)
    return module, twin(module, backend)


@pytest.mark.parametrize("backend", ["bptt", "auto", "reference"])  # auto runs native at this size
@pytest.mark.parametrize("cell", CELLS)
def test_layer_gradgradcheck_with_lengths(cell, backend):
    _, layer = _layer(cell, backend)
    if cell == "RNN_RELU":  # away from relu's kink (see test_rnn_gradgradcheck)
        with torch.no_grad():
            for p in layer.parameters():
                p.mul_(0.2)
    names = ["weight_hh_l0", "weight_ih_l1_reverse", "bias_hh_l1"]
    x = _t(T, B, 2, seed=7)
    state = random_state(layer, B)
    states = [s.requires_grad_() for s in (state if isinstance(state, tuple) else (state,))]
    lengths = [4, 1, 3]

    def f(x, *rest):
        chosen, hx = dict(zip(names, rest[: len(names)])), rest[len(names) :]
        hx = tuple(hx) if is_lstm(layer) else hx[0]
        out, h_n = functional_call(layer, chosen, (x, hx), {"lengths": lengths}, strict=False)
        return (out, *h_n) if is_lstm(layer) else (out, h_n)

    params = [getattr(layer, n).detach().requires_grad_() for n in names]
    # fast_mode: random projections of the Jacobians instead of all of them (the Functions'
    # full checks are above), to keep the run short.
    assert gradgradcheck(f, (x, *params, *states), fast_mode=True)


def _gradient_penalty(module, x, lengths, rnnkit: bool):
    """Gradients of ||d loss / d x||^2 with respect to every parameter (a WGAN-GP critic's term)."""
    x = x.detach().requires_grad_()
    out, _ = module(x, lengths=lengths) if rnnkit else run_torch(module, x, lengths=lengths)
    (dx,) = torch.autograd.grad(out.tanh().sum(), x, create_graph=True)
    return torch.autograd.grad(dx.pow(2).sum(), list(module.parameters()), allow_unused=True)


def _check_penalty(module, layer, lengths):
    x = torch.randn(T, B, module.input_size, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    expected = _gradient_penalty(module, x, lengths, rnnkit=False)
    actual = _gradient_penalty(layer, x, lengths, rnnkit=True)
    for (name, _), a, e in zip(module.named_parameters(), actual, expected, strict=True):
        assert a is not None, name
        torch.testing.assert_close(a, e, atol=1e-10, rtol=1e-7, msg=name)


@pytest.mark.parametrize("lengths", [None, [4, 2, 3]])
@pytest.mark.parametrize("backend", ["bptt", "auto", "native", "reference"])
@pytest.mark.parametrize("cell", CELLS)
def test_gradient_penalty_equals_torch(cell, backend, lengths):
    _check_penalty(*_layer(cell, backend), lengths)


@pytest.mark.parametrize("cell", ["GRU", "RNN_TANH"])
def test_gradient_penalty_where_auto_picks_bptt(cell):
    # GRU and RNN at hidden size >= 128 in training: auto runs our explicit BPTT.
    assert choose_backend(cell, torch.device("cpu"), True, True, 128) == "bptt"
    module = torch_module(cell, input_size=3, hidden_size=128)
    _check_penalty(module, twin(module, "auto"), [4, 2, 3])


def test_gradient_penalty_lstm_projections():
    module = torch_module("LSTM", input_size=2, hidden_size=3, proj_size=2, num_layers=2, bidirectional=True)
    _check_penalty(module, twin(module, "bptt"), [4, 2, 3])


@pytest.mark.parametrize("backend", ["bptt", "auto"])
@pytest.mark.parametrize("cell", ["LSTM", "GRU", "RNN_TANH"])
def test_hessian_vector_product_equals_torch(cell, backend):
    module, layer = _layer(cell, backend)
    x = torch.randn(T, B, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    g = torch.Generator().manual_seed(5)
    vector = [torch.randn(p.shape, dtype=p.dtype, generator=g) for p in module.parameters()]

    def hvp(m, rnnkit):
        out, _ = m(x, lengths=[4, 2, 3]) if rnnkit else run_torch(m, x, lengths=[4, 2, 3])
        params = list(m.parameters())
        grads = torch.autograd.grad(out.pow(2).sum(), params, create_graph=True)
        dot = sum((gr * v).sum() for gr, v in zip(grads, vector))
        return torch.autograd.grad(dot, params)

    for a, e in zip(hvp(layer, True), hvp(module, False), strict=True):
        torch.testing.assert_close(a, e, atol=1e-10, rtol=1e-7)


def test_cells_double_backward():
    """The single-step cells are plain autograd ops: their double backward is torch.nn's too."""
    cell_t = torch.nn.GRUCell(2, 3).double()
    cell = rnn.GRUCell(2, 3).double()
    cell.load_state_dict(cell_t.state_dict())
    x = torch.randn(4, 2, dtype=torch.float64)

    def penalty(c):
        xx = x.clone().requires_grad_()
        (dx,) = torch.autograd.grad(c(xx).sum(), xx, create_graph=True)
        return torch.autograd.grad(dx.pow(2).sum(), list(c.parameters()))

    for a, e in zip(penalty(cell), penalty(cell_t), strict=True):
        torch.testing.assert_close(a, e)
