"""linear_cross_entropy equals F.cross_entropy(F.linear(...)) in value and gradients: exactly in
float64 (any chunking, with and without bias or smoothing), within bfloat16 rounding under
autocast, and computes no gradient where none is wanted."""

import pytest
import torch
import torch.nn.functional as F

import rnnkit.nn as rnn


def _inputs(n=23, h=7, v=13, bias=True, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n, h, generator=g, dtype=dtype, requires_grad=True)
    weight = torch.randn(v, h, generator=g, dtype=dtype, requires_grad=True)
    b = torch.randn(v, generator=g, dtype=dtype, requires_grad=True) if bias else None
    target = torch.randint(0, v, (n,), generator=g)
    return hidden, weight, b, target


@pytest.mark.parametrize("chunk_rows", [1, 5, 23, 100, None])
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("bias", [True, False])
def test_equals_linear_then_cross_entropy_in_float64(chunk_rows, smoothing, bias):
    hidden, weight, b, target = _inputs(bias=bias)
    params = [hidden, weight] + ([b] if bias else [])
    loss = rnn.linear_cross_entropy(hidden, weight, b, target, smoothing, chunk_rows=chunk_rows)
    ref = F.cross_entropy(F.linear(hidden, weight, b), target, label_smoothing=smoothing)
    assert loss.dtype == torch.float64
    torch.testing.assert_close(loss, ref, rtol=1e-12, atol=1e-12)
    for got, want in zip(torch.autograd.grad(2.5 * loss, params), torch.autograd.grad(2.5 * ref, params)):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_gradcheck():
    hidden, weight, b, target = _inputs(n=6, h=3, v=5)
    assert torch.autograd.gradcheck(lambda h, w, bb: rnn.linear_cross_entropy(h, w, bb, target, 0.2, chunk_rows=4),
                                    (hidden, weight, b))


def test_under_bfloat16_autocast_matches_the_unfused_modules():
    hidden, weight, b, target = _inputs(n=300, h=32, v=1000, dtype=torch.float32)
    params = [hidden, weight, b]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = rnn.linear_cross_entropy(hidden, weight, b, target, 0.1, chunk_rows=64)
        ref = F.cross_entropy(F.linear(hidden, weight, b).float(), target, label_smoothing=0.1)
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, ref, rtol=1e-4, atol=1e-4)  # the same bfloat16 logits either way
    for got, want in zip(torch.autograd.grad(loss, params), torch.autograd.grad(ref, params)):
        assert got.dtype == want.dtype == torch.float32
        torch.testing.assert_close(got, want, rtol=2e-2, atol=2e-4)


def test_no_gradient_work_when_none_is_wanted():
    hidden, weight, b, target = _inputs()
    ref = F.cross_entropy(F.linear(hidden, weight, b), target)
    with torch.no_grad():
        loss = rnn.linear_cross_entropy(hidden, weight, b, target)
    assert loss.grad_fn is None
    torch.testing.assert_close(loss, ref.detach())
    # only the weight wants a gradient: the others get none, the weight's is right
    loss = rnn.linear_cross_entropy(hidden.detach(), weight, None, target)
    (grad,) = torch.autograd.grad(loss, weight)
    (want,) = torch.autograd.grad(F.cross_entropy(F.linear(hidden.detach(), weight), target), weight)
    torch.testing.assert_close(grad, want)


@pytest.mark.parametrize("args,match", [
    (dict(hidden=torch.zeros(4, 3), target=torch.zeros(5, dtype=torch.long)), "need hidden"),
    (dict(hidden=torch.zeros(0, 3), target=torch.zeros(0, dtype=torch.long)), "no rows"),
    (dict(label_smoothing=1.5), "label_smoothing"),
    (dict(target=torch.tensor([0, 1, 5, 2])), r"target ids must lie in \[0, 5\)"),
])
def test_bad_input_names_the_problem(args, match):
    kwargs = dict(hidden=torch.zeros(4, 3), weight=torch.zeros(5, 3), bias=None,
                  target=torch.zeros(4, dtype=torch.long), label_smoothing=0.0) | args
    with pytest.raises(ValueError, match=match):
        rnn.linear_cross_entropy(**kwargs)


@pytest.mark.parametrize("bias", [True, False])
def test_gradients_of_gradients_equal_the_unfused_ones(bias):
    # a gradient penalty: the gradients are finished in the forward pass, so create_graph=True
    # replays the unfused loss (the scaled constants were silently wrong there, off by 0.35)
    hidden, weight, b, target = _inputs(bias=bias)
    params = [weight] + ([b] if bias else [])

    def penalised(loss_fn):
        loss = loss_fn()
        (g,) = torch.autograd.grad(loss, hidden, create_graph=True)
        return torch.autograd.grad(loss + g.pow(2).sum(), params)

    ours = penalised(lambda: rnn.linear_cross_entropy(hidden, weight, b, target, label_smoothing=0.1, chunk_rows=5))
    ref = penalised(lambda: F.cross_entropy(F.linear(hidden, weight, b), target, label_smoothing=0.1))
    for a, e in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, e, rtol=1e-10, atol=1e-12)
    assert torch.autograd.gradgradcheck(lambda h, w: rnn.linear_cross_entropy(h, w, None, target), (hidden, weight))


def test_torch_func_transforms_take_the_unfused_path():
    hidden, weight, _, target = _inputs()
    ours = torch.func.grad(lambda w: rnn.linear_cross_entropy(hidden.detach(), w, None, target))(weight.detach())
    ref = torch.func.grad(lambda w: F.cross_entropy(F.linear(hidden.detach(), w), target))(weight.detach())
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("chunk_rows", [0, -1, 2.5, True])
def test_chunk_rows_must_be_a_positive_integer(chunk_rows):
    # -1 gave loss 0 and gradients read from uninitialised memory
    hidden, weight, b, target = _inputs()
    with pytest.raises(ValueError, match="chunk_rows must be a positive integer or None"):
        rnn.linear_cross_entropy(hidden, weight, b, target, chunk_rows=chunk_rows)


def test_forward_mode_ad_takes_the_unfused_path():
    import torch.autograd.forward_ad as fwad

    hidden, weight, b, target = _inputs()
    tangent = torch.randn_like(hidden)
    jvps = []
    for loss_fn in (rnn.linear_cross_entropy, lambda h, w, b, t: F.cross_entropy(F.linear(h, w, b), t)):
        with fwad.dual_level():
            loss = loss_fn(fwad.make_dual(hidden.detach(), tangent), weight.detach(), b.detach(), target)
            jvps.append(fwad.unpack_dual(loss).tangent)
    torch.testing.assert_close(jvps[0], jvps[1], rtol=1e-12, atol=1e-14)
