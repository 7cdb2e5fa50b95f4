"""TextCNN: a brute-force float64 reference (loops over rows, windows and valid positions), padding
that never reaches the maximum, short and empty rows, gradcheck, bad input."""

import pytest
import torch

import rnnkit.nn as rnn


def make_cnn(input_size=3, num_maps=4, windows=(2, 3, 5), seed=0):
    torch.manual_seed(seed)
    return rnn.TextCNN(input_size, num_maps, windows).to(torch.float64)


@torch.no_grad()
def brute_force(cnn, x, lengths):
    """Max over positions p with p + w <= length of relu(sum_{k<w} W[:, :, k] x[p + k] + b); a row
    shorter than w has position 0 only, its window filled with zeros after the row."""
    out = torch.zeros(x.shape[0], cnn.output_size, dtype=x.dtype)
    for b, n in enumerate(lengths):
        for j, (w, conv) in enumerate(zip(cnn.windows, cnn.convs)):
            row = torch.zeros(max(n, w), x.shape[2], dtype=x.dtype)
            row[:n] = x[b, :n]
            for m in range(cnn.num_maps):
                best = None
                for p in range(max(n - w, 0) + 1):
                    a = conv.bias[m] + sum(conv.weight[m, :, k] @ row[p + k] for k in range(w))
                    value = max(float(a), 0.0)
                    best = value if best is None else max(best, value)
                out[b, j * cnn.num_maps + m] = best
    return out


def test_exported_and_attributes():
    assert "TextCNN" in rnn.__all__
    cnn = rnn.TextCNN(16, num_maps=8, windows=[2, 3])
    assert cnn.output_size == 16 and cnn.windows == (2, 3)
    assert [c.kernel_size for c in cnn.convs] == [(2,), (3,)]
    assert all(c.padding == (0,) for c in cnn.convs)
    assert cnn.extra_repr() == "16, num_maps=8, windows=(2, 3)"
    assert rnn.TextCNN(5).output_size == 300  # Kim's 100 maps for each of 3, 4, 5


@pytest.mark.parametrize("lengths", [None, [7, 5, 2, 0, 1, 3]])
def test_matches_brute_force(lengths):
    cnn = make_cnn()
    x = torch.randn(6, 7, 3, dtype=torch.float64)
    out = cnn(x, lengths=lengths)
    assert out.shape == (6, 12)
    expected = brute_force(cnn, x, lengths or [7] * 6)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


def test_input_shorter_than_the_widest_window():
    """T < max(windows): the input is padded with zeros; without lengths every row is T long."""
    cnn = make_cnn(windows=(2, 5))
    x = torch.randn(3, 3, 3, dtype=torch.float64)
    torch.testing.assert_close(cnn(x), brute_force(cnn, x, [3, 3, 3]), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(cnn(x, lengths=[3, 1, 0]), brute_force(cnn, x, [3, 1, 0]),
                               rtol=1e-12, atol=1e-12)


def test_padding_never_reaches_the_max():
    cnn = make_cnn()
    lengths = torch.tensor([7, 4, 2, 0])
    x = torch.randn(4, 7, 3, dtype=torch.float64)
    out = cnn(x, lengths=lengths)
    garbage = x.clone()
    garbage[torch.arange(7).unsqueeze(0) >= lengths.unsqueeze(1)] = 1e6  # would win every max it reached
    assert torch.equal(cnn(garbage, lengths=lengths), out)
    garbage[3] = float("nan")  # a row of length 0 holds nothing but padding
    assert torch.equal(cnn(garbage, lengths=lengths), out)
    for b, n in enumerate(lengths.tolist()):  # a padded row equals the row alone
        torch.testing.assert_close(out[b], cnn(x[b : b + 1, :n])[0], rtol=1e-12, atol=1e-12)


def test_empty_row_gives_relu_of_the_bias():
    cnn = make_cnn()
    out = cnn(torch.randn(2, 6, 3, dtype=torch.float64), lengths=[6, 0])
    torch.testing.assert_close(out[1], torch.cat([c.bias.relu() for c in cnn.convs]).detach())


def test_gradcheck():
    cnn = make_cnn(2, 2, (2, 3))
    names, params = zip(*cnn.named_parameters())

    def run(x, *values):
        return torch.func.functional_call(cnn, dict(zip(names, values)), (x,), {"lengths": [5, 2, 4]})

    x = torch.randn(3, 5, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(run, (x, *(p.detach().clone().requires_grad_() for p in params)))


def test_gradients_never_reach_the_padding():
    cnn = make_cnn()
    x = torch.randn(2, 6, 3, dtype=torch.float64, requires_grad=True)
    cnn(x, lengths=[6, 2]).sum().backward()
    assert torch.equal(x.grad[1, 2:], torch.zeros_like(x.grad[1, 2:]))


@pytest.mark.parametrize("args,error,match", [
    ((0,), ValueError, "input_size must be greater than zero"),
    ((3, 0), ValueError, "num_maps must be greater than zero"),
    ((3, 2.0), TypeError, "num_maps should be of type int"),
    ((3, 2, ()), TypeError, "non-empty list"),
    ((3, 2, 3), TypeError, "non-empty list"),
    ((3, 2, "345"), TypeError, "non-empty list"),
    ((3, 2, (3, 0)), ValueError, r"windows\[1\] must be greater than zero"),
    ((3, 2, (3, 4.0)), TypeError, r"windows\[1\] should be of type int"),
])
def test_constructor_errors(args, error, match):
    with pytest.raises(error, match=match):
        rnn.TextCNN(*args)


@pytest.mark.parametrize("call,match", [
    (lambda m: m(torch.randn(5, 3)), r"shape \(batch, time, 3\); got \(5, 3\)"),
    (lambda m: m(torch.randn(2, 5, 4)), r"shape \(batch, time, 3\); got \(2, 5, 4\)"),
    (lambda m: m(torch.zeros(2, 5, 3, dtype=torch.long)), "floating-point"),
    (lambda m: m(torch.randn(2, 5, 3, dtype=torch.float64)), "does not match weight dtype"),
    (lambda m: m(torch.randn(2, 5, 3), lengths=[5, 6]), r"lengths must lie in \[0, 5\].*max 6"),
    (lambda m: m(torch.randn(2, 5, 3), lengths=[5]), "1-D integer tensor of 2 entries"),
    (lambda m: m(torch.randn(2, 5, 3), lengths=torch.tensor([5.0, 2.0])), "integer"),
])
def test_forward_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call(rnn.TextCNN(3, 2))
