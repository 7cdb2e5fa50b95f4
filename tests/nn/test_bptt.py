"""The explicit BPTT Functions: gradcheck in float64, and the oneDNN product against its fallback."""

import itertools

import pytest
import torch
from torch.autograd import gradcheck

from rnnkit.nn import bptt
from rnnkit.nn._step_matmul import StepMatmul

T, B, H = 5, 4, 3
SCHEDULES = [None, [4, 4, 3, 2, 1], [3, 2, 2, 0, 0]]  # fixed; ragged; rows of length 0 and an early end


def _t(*shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize("batch_sizes,reverse", list(itertools.product(SCHEDULES, [False, True])))
def test_lstm_gradcheck(batch_sizes, reverse):
    args = (_t(T, B, 4 * H, seed=0), _t(B, H, seed=1), _t(B, H, seed=2), _t(4 * H, H, seed=3))
    assert gradcheck(lambda *a: bptt.LSTMRecurrence.apply(*a, batch_sizes, reverse), args)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batch_sizes,reverse", list(itertools.product(SCHEDULES, [False, True])))
def test_gru_gradcheck(batch_sizes, reverse, bias):
    b_hh = _t(3 * H, seed=4) if bias else None
    args = (_t(T, B, 3 * H, seed=0), _t(B, H, seed=1), _t(3 * H, H, seed=3))
    assert gradcheck(lambda x, h, w: bptt.GRURecurrence.apply(x, h, w, b_hh, batch_sizes, reverse), args)
    if bias:
        assert gradcheck(lambda b: bptt.GRURecurrence.apply(*[a.detach() for a in args], b, batch_sizes, reverse),
                         (b_hh,))


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("batch_sizes,reverse", list(itertools.product(SCHEDULES, [False, True])))
def test_rnn_gradcheck(batch_sizes, reverse, relu):
    # Keep relu pre-activations away from the kink at 0, where finite differences are undefined.
    xg = (_t(T, B, H, seed=0).detach() + 0.05 * torch.sign(_t(T, B, H, seed=5).detach())).requires_grad_()
    args = (xg, _t(B, H, seed=1), (0.3 * _t(H, H, seed=3)).detach().requires_grad_())
    assert gradcheck(lambda *a: bptt.RNNRecurrence.apply(*a, relu, batch_sizes, reverse), args)


def test_padded_steps_give_zero_output_and_keep_last_state():
    xg, h0, c0 = torch.randn(T, B, 4 * H), torch.randn(B, H), torch.randn(B, H)
    w = torch.randn(4 * H, H)
    out, h_n, c_n, _ = bptt.lstm_forward(xg, h0, c0, w, [4, 4, 3, 2, 1])
    lengths = [5, 4, 3, 2]
    for b, n in enumerate(lengths):
        assert torch.all(out[n:, b] == 0)
        torch.testing.assert_close(h_n[b], out[n - 1, b])


@pytest.mark.parametrize("rows", [1, 7, 20, 33])
@pytest.mark.parametrize("bias", [False, True])
def test_step_matmul_onednn_equals_fallback(rows, bias):
    w, x, other = torch.randn(48, 16), torch.randn(rows, 16), torch.randn(rows, 48)
    b = torch.randn(48) if bias else None
    fast = StepMatmul(w, 20, b)
    slow = StepMatmul(w, 20, b)
    slow.packed = None  # the guarded fallback
    torch.testing.assert_close(fast(x), slow(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fast(x, other), slow(x, other), atol=1e-5, rtol=1e-5)
    expected = x @ w.t() + other + (b if bias else 0)
    torch.testing.assert_close(fast(x, other), expected, atol=1e-5, rtol=1e-5)


def test_onednn_is_used_on_cpu_float32_and_not_for_float64():
    if not torch.backends.mkldnn.is_available():  # an honest record of which path CI ran
        assert not StepMatmul(torch.randn(8, 4), 2).uses_onednn
        return
    assert StepMatmul(torch.randn(8, 4), 2).uses_onednn
    assert not StepMatmul(torch.randn(8, 4, dtype=torch.float64), 2).uses_onednn
