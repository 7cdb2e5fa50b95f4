"""Cells against torch.nn's cells, and their step contract."""

import pytest
import torch

import rnnkit.nn as rnn

PAIRS = [
    (rnn.RNNCell, torch.nn.RNNCell, {"nonlinearity": "tanh"}),
    (rnn.RNNCell, torch.nn.RNNCell, {"nonlinearity": "relu"}),
    (rnn.LSTMCell, torch.nn.LSTMCell, {}),
    (rnn.GRUCell, torch.nn.GRUCell, {}),
]


def _pair(ours_cls, torch_cls, kw, bias=True):
    torch.manual_seed(0)
    ref = torch_cls(4, 6, bias=bias, **kw).double()
    ours = ours_cls(4, 6, bias=bias, **kw).double()
    ours.load_state_dict(ref.state_dict())
    return ours, ref


@pytest.mark.parametrize("ours_cls,torch_cls,kw", PAIRS)
@pytest.mark.parametrize("bias", [True, False])
def test_cell_matches_torch_with_gradients(ours_cls, torch_cls, kw, bias):
    ours, ref = _pair(ours_cls, torch_cls, kw, bias)
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    h = torch.randn(3, 6, dtype=torch.float64)
    hx = (h, torch.randn(3, 6, dtype=torch.float64)) if ours_cls is rnn.LSTMCell else h
    a, b = ours(x, hx), ref(x, hx)
    a, b = (a if isinstance(a, tuple) else (a,)), (b if isinstance(b, tuple) else (b,))
    for u, v in zip(a, b):
        torch.testing.assert_close(u, v)
    ga = torch.autograd.grad(sum(t.sum() for t in a), [x, *ours.parameters()])
    gb = torch.autograd.grad(sum(t.sum() for t in b), [x, *ref.parameters()])
    for u, v in zip(ga, gb):
        torch.testing.assert_close(u, v)


@pytest.mark.parametrize("ours_cls,torch_cls,kw", PAIRS)
def test_cell_default_state_and_unbatched(ours_cls, torch_cls, kw):
    ours, ref = _pair(ours_cls, torch_cls, kw)
    x = torch.randn(4, dtype=torch.float64)
    a, b = ours(x), ref(x)
    a, b = (a if isinstance(a, tuple) else (a,)), (b if isinstance(b, tuple) else (b,))
    for u, v in zip(a, b):
        assert u.shape == (6,)
        torch.testing.assert_close(u, v)


def test_step_contract_returns_output_and_state():
    cell = rnn.LSTMCell(3, 5)
    state = cell.init_state(2)
    y, (h, c) = cell.step(torch.randn(2, 3), state)
    assert y is h and h.shape == (2, 5) and c.shape == (2, 5)


def test_torch_parameter_names():
    assert [n for n, _ in rnn.GRUCell(2, 3).named_parameters()] == [
        n for n, _ in torch.nn.GRUCell(2, 3).named_parameters()
    ]


@pytest.mark.parametrize(
    "make,call,match",
    [
        (lambda: rnn.GRUCell(3, 4), lambda c: c(torch.randn(2, 5)), "input has 5 features but input_size is 3"),
        (lambda: rnn.GRUCell(3, 4), lambda c: c(torch.randn(2, 2, 3)), "3-D tensor"),
        (lambda: rnn.GRUCell(3, 4), lambda c: c(torch.randn(2, 3), torch.randn(3, 4)), r"hx must have shape \(2, 4\)"),
        (lambda: rnn.LSTMCell(3, 4), lambda c: c(torch.randn(2, 3), torch.randn(2, 4)), "pair"),
        (lambda: rnn.RNNCell(3, 4), lambda c: c(torch.ones(2, 3, dtype=torch.long)), "floating-point"),
        (lambda: rnn.RNNCell(3, 4, nonlinearity="sigmoid"), None, "nonlinearity must be one of"),
        (lambda: rnn.RNNCell(-1, 4), None, "input_size must be a non-negative integer"),
    ],
)
def test_cell_bad_input(make, call, match):
    with pytest.raises(ValueError, match=match):
        cell = make()
        call(cell)
