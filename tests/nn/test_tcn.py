"""TemporalConvNet: causality, the exact receptive field, padding invariance with lengths, weight
norm, the residual projection, gradients (gradcheck in float64), bad input, state_dict round trip."""

import pytest
import torch
from torch.nn.utils import parametrize

import rnnkit.nn as rnn
from rnnkit.nn.tcn import receptive_field


def make_tcn(input_size=3, num_channels=(4, 4), kernel_size=2, dtype=torch.float64, seed=0, **kw):
    torch.manual_seed(seed)
    net = rnn.TemporalConvNet(input_size, list(num_channels), kernel_size, **kw).to(dtype)
    # Bai et al.'s N(0, 0.01) init keeps the convolutions' share of each output tiny; bolder
    # weights make a dependence on a far input visible well above rounding.
    with torch.no_grad():
        for name, p in net.named_parameters():
            if "original0" in name or (name.endswith("weight") and "downsample" not in name):
                p.mul_(30.0)
    return net.eval()


def test_exported_and_attributes():
    assert "TemporalConvNet" in rnn.__all__
    net = rnn.TemporalConvNet(3, [5, 6, 7], kernel_size=3)
    assert net.output_size == 7
    assert net.receptive_field == 1 + 2 * 2 * (2**3 - 1) == receptive_field(3, 3)
    assert "receptive_field=29" in repr(net)


def test_output_shape():
    net = make_tcn(3, (4, 6))
    assert net(torch.randn(2, 9, 3, dtype=torch.float64)).shape == (2, 9, 6)


def test_causal():
    """Changing the inputs after step t leaves the outputs up to t unchanged; step t+1 changes."""
    net = make_tcn(3, (5, 5, 5), kernel_size=3)
    x = torch.randn(2, 20, 3, dtype=torch.float64)
    for t in (0, 7, 18):
        y = x.clone()
        y[:, t + 1 :] = torch.randn_like(y[:, t + 1 :]) * 10
        a, b = net(x), net(y)
        torch.testing.assert_close(a[:, : t + 1], b[:, : t + 1], rtol=0, atol=0)
        assert (a[:, t + 1] - b[:, t + 1]).abs().max() > 1e-6


@pytest.mark.parametrize("kernel_size,levels", [(2, 1), (2, 3), (3, 2), (4, 2)])
def test_receptive_field_exact(kernel_size, levels):
    """A change exactly receptive_field - 1 steps back reaches the output at t; one further does not."""
    net = make_tcn(2, [4] * levels, kernel_size)
    R = net.receptive_field
    assert R == 1 + 2 * (kernel_size - 1) * (2**levels - 1)
    T = R + 3
    t = T - 1
    x = torch.randn(3, T, 2, dtype=torch.float64)
    base = net(x)[:, t]
    inside, outside = x.clone(), x.clone()
    inside[:, t - (R - 1)] += 5.0
    outside[:, t - R] += 5.0
    assert (net(inside)[:, t] - base).abs().max() > 1e-8
    torch.testing.assert_close(net(outside)[:, t], base, rtol=0, atol=0)


def test_lengths_padding_invariance():
    net = make_tcn(3, (4, 5), kernel_size=3)
    lengths = torch.tensor([7, 3, 0, 5])
    x = torch.randn(4, 7, 3, dtype=torch.float64)
    out = net(x, lengths=lengths)
    for b, n in enumerate(lengths.tolist()):
        if n:  # the valid steps are the row run alone, unpadded
            torch.testing.assert_close(out[b, :n], net(x[b : b + 1, :n])[0], rtol=1e-12, atol=1e-12)
        assert torch.equal(out[b, n:], torch.zeros_like(out[b, n:]))
    garbage = x.clone()
    pad = torch.arange(7).unsqueeze(0) >= lengths.unsqueeze(1)
    garbage[pad] = torch.tensor([1e30, float("inf"), float("nan")], dtype=torch.float64)
    assert torch.equal(net(garbage, lengths=lengths.tolist()), out)


def test_garbage_in_padding_leaves_gradients_finite():
    net = make_tcn(2, (3,), kernel_size=2)
    x = torch.randn(2, 5, 2, dtype=torch.float64)
    x[0, 3:] = float("nan")
    net(x, lengths=[3, 5]).sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())


def test_weight_norm_is_a_parametrization():
    net = rnn.TemporalConvNet(3, [4, 4], kernel_size=2)
    convs = [m for block in net.blocks for m in (block.conv1, block.conv2)]
    assert all(parametrize.is_parametrized(conv, "weight") for conv in convs)
    plain = rnn.TemporalConvNet(3, [4, 4], kernel_size=2, weight_norm=False)
    assert not any(parametrize.is_parametrized(m) for m in plain.modules())
    # The N(0, 0.01) initialisation survives weight norm (it did not in the reference code).
    assert 0.003 < float(convs[0].weight.detach().std()) < 0.03


@pytest.mark.parametrize("weight_norm", [True, False])
def test_trains(weight_norm):
    """A few Adam steps on a tiny causal task, y_t = x_t + x_(t-1), beat the best constant guess."""
    torch.manual_seed(0)
    net = rnn.TemporalConvNet(1, [8, 8], kernel_size=2, weight_norm=weight_norm)
    head = torch.nn.Linear(8, 1)
    x = torch.rand(16, 12, 1)
    target = x + torch.nn.functional.pad(x, (0, 0, 1, 0))[:, :-1]
    opt = torch.optim.Adam([*net.parameters(), *head.parameters()], lr=0.05)
    losses = []
    for _ in range(40):
        loss = torch.nn.functional.mse_loss(head(net(x)), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]
    assert losses[-1] < 0.8 * float(target.var())  # so it reads the inputs, not just the mean


def test_downsample_only_when_widths_differ():
    net = rnn.TemporalConvNet(3, [3, 5, 5, 2])
    assert [block.downsample is not None for block in net.blocks] == [False, True, False, True]
    assert net.blocks[1].downsample.kernel_size == (1,)


def test_gradcheck():
    """Gradients of the input and of every parameter (through weight norm), lengths included."""
    net = make_tcn(2, (3, 2), kernel_size=2)
    names, params = zip(*net.named_parameters())

    def run(x, *values):
        return torch.func.functional_call(net, dict(zip(names, values)), (x,), {"lengths": [5, 3]})

    x = torch.randn(2, 5, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(run, (x, *(p.detach().clone().requires_grad_() for p in params)))


def test_state_dict_round_trip():
    net = make_tcn(3, (4, 6), kernel_size=3)
    fresh = rnn.TemporalConvNet(3, [4, 6], kernel_size=3).to(torch.float64).eval()
    x = torch.randn(2, 8, 3, dtype=torch.float64)
    assert not torch.equal(fresh(x), net(x))
    fresh.load_state_dict(net.state_dict())
    assert torch.equal(fresh(x), net(x))


@pytest.mark.parametrize("args,error,match", [
    ((3, []), TypeError, "non-empty list"),
    ((3, 4), TypeError, "non-empty list"),
    ((3, [4, 0]), ValueError, r"num_channels\[1\] must be greater than zero"),
    ((3, [4.0]), TypeError, r"num_channels\[0\] should be of type int"),
    ((0, [4]), ValueError, "input_size must be greater than zero"),
    ((3, [4], 0), ValueError, "kernel_size must be greater than zero"),
    ((3, [4], 2, 1.5), ValueError, "dropout"),
])
def test_constructor_errors(args, error, match):
    with pytest.raises(error, match=match):
        rnn.TemporalConvNet(*args)


@pytest.mark.parametrize("call,match", [
    (lambda m: m(torch.randn(5, 3)), r"shape \(batch, time, 3\); got \(5, 3\)"),
    (lambda m: m(torch.randn(2, 5, 4)), r"shape \(batch, time, 3\); got \(2, 5, 4\)"),
    (lambda m: m(torch.randn(2, 0, 3)), "0 time steps"),
    (lambda m: m(torch.zeros(2, 5, 3, dtype=torch.long)), "floating-point"),
    (lambda m: m(torch.randn(2, 5, 3, dtype=torch.float64)), "does not match weight dtype"),
    (lambda m: m([[1.0]]), "must be a torch.Tensor"),
    (lambda m: m(torch.randn(2, 5, 3), lengths=[5, 6]), r"lengths must lie in \[0, 5\].*max 6"),
    (lambda m: m(torch.randn(2, 5, 3), lengths=[5, -1]), r"lengths must lie in \[0, 5\].*min -1"),
    (lambda m: m(torch.randn(2, 5, 3), lengths=[5]), "1-D integer tensor of 2 entries"),
    (lambda m: m(torch.randn(2, 5, 3), lengths=torch.tensor([[5, 2]])), "1-D integer tensor of 2 entries"),
    (lambda m: m(torch.randn(2, 5, 3), lengths=torch.tensor([5.0, 2.0])), "integer"),
    (lambda m: m(torch.randn(2, 5, 3), lengths=torch.tensor([True, False])), "integer"),
    (lambda m: m(torch.randn(2, 5, 3), lengths="ab"), "lengths must be"),
])
def test_forward_errors(call, match):
    net = rnn.TemporalConvNet(3, [4])
    with pytest.raises(ValueError, match=match):
        call(net)
