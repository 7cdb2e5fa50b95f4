"""LSTM with projections (``proj_size``), against torch.nn.LSTM(proj_size=...) on every backend.

With ``proj_size`` P > 0, h_t = W_hr (o_t * tanh(c_t)): h, h_0/h_n and the output have P features
(the next layer reads D*P), c keeps H, and each layer and direction holds ``weight_hr_l{k}`` (P, H)
after its biases, in torch.nn's order.
"""

import itertools

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit.nn as rnn
from rnnkit.nn import bptt

from .harness import assert_same, run_torch

BACKENDS = ["bptt", "reference", "native", "auto"]
CASES = list(itertools.product([1, 2], [False, True], [False, True]))
I, H, P = 5, 7, 3


def _ids(case):
    layers, bidir, varlen = case
    return f"L{layers}-{'bi' if bidir else 'uni'}-{'var' if varlen else 'fix'}"


def torch_lstm(dtype=torch.float64, seed=0, **kw) -> torch.nn.LSTM:
    torch.manual_seed(seed)
    kw.setdefault("proj_size", P)
    return torch.nn.LSTM(I, H, **kw).to(dtype)


def initial_state(module, batch, dtype=torch.float64, seed=1):
    g = torch.Generator().manual_seed(seed)
    LD = module.num_layers * (2 if module.bidirectional else 1)
    h0 = torch.randn(LD, batch, module.proj_size, generator=g, dtype=dtype)
    return h0, torch.randn(LD, batch, module.hidden_size, generator=g, dtype=dtype)


def weighted_loss(out, state):
    """Touches every output and both final states, with distinct weights."""
    w = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
    h, c = state
    return (out * w).sum() + (h * h).sum() + (c * c * c).sum()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_matches_torch(case, backend):
    layers, bidir, varlen = case
    ref = torch_lstm(num_layers=layers, bidirectional=bidir, batch_first=True)
    ours = rnn.LSTM.from_torch(ref, backend=backend)
    B, T = 4, 6
    lengths = torch.tensor([3, 6, 1, 4]) if varlen else None
    x = torch.randn(B, T, I, dtype=torch.float64)
    h0, c0 = initial_state(ref, B)
    inputs_a = [t.clone().requires_grad_() for t in (x, h0, c0)]
    inputs_b = [t.clone().requires_grad_() for t in (x, h0, c0)]
    out_a, state_a = ours(inputs_a[0], tuple(inputs_a[1:]), lengths=lengths)
    out_b, state_b = run_torch(ref, inputs_b[0], tuple(inputs_b[1:]), lengths)
    D = 2 if bidir else 1
    assert out_a.shape == (B, T, D * P)
    assert state_a[0].shape == (layers * D, B, P) and state_a[1].shape == (layers * D, B, H)
    assert_same(out_a, out_b)
    assert_same(state_a, state_b)
    weighted_loss(out_a, state_a).backward()
    weighted_loss(out_b, state_b).backward()
    for (name, p), q in zip(ours.named_parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-10, rtol=1e-7, msg=name)
    for a, b in zip(inputs_a, inputs_b):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-10, rtol=1e-7)


@pytest.mark.parametrize("lengths", [None, torch.tensor([9, 2, 5, 9, 1])], ids=["fix", "var"])
def test_float32_fast_path_matches_torch(lengths):
    """float32 runs the packed oneDNN product (where available) for W_hr too."""
    torch.manual_seed(0)
    ref = torch.nn.LSTM(16, 32, num_layers=2, bidirectional=True, proj_size=12)
    ours = rnn.LSTM.from_torch(ref, backend="bptt")
    x = torch.randn(9, 5, 16)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_a, st_a = ours(xa, lengths=lengths)
    out_b, st_b = run_torch(ref, xb, None, lengths)
    assert_same(out_a, out_b, atol=2e-5, rtol=1e-4)
    assert_same(st_a, st_b, atol=2e-5, rtol=1e-4)
    weighted_loss(out_a, st_a).backward()
    weighted_loss(out_b, st_b).backward()
    assert_same([p.grad for p in ours.parameters()] + [xa.grad],
                [p.grad for p in ref.parameters()] + [xb.grad], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("backend", ["bptt", "reference", "native"])
def test_inference_without_grad_matches_torch(backend):
    """The forward that keeps no activations (no_grad) projects like the recording one."""
    ref = torch_lstm(num_layers=2, bidirectional=True)
    ours = rnn.LSTM.from_torch(ref, backend=backend)
    x, lengths = torch.randn(6, 4, I, dtype=torch.float64), torch.tensor([3, 6, 1, 4])
    with torch.no_grad():
        for ls in (None, lengths):
            assert_same(ours(x, lengths=ls), run_torch(ref, x, None, ls))


@pytest.mark.parametrize("backend", BACKENDS)
def test_unbatched_packed_and_default_state(backend):
    ref = torch_lstm(num_layers=2, bidirectional=True)
    ours = rnn.LSTM.from_torch(ref, backend=backend)
    x = torch.randn(6, I, dtype=torch.float64)
    h0, c0 = (s[:, 0] for s in initial_state(ref, 1))
    assert_same(ours(x, (h0, c0)), ref(x, (h0, c0)))
    assert_same(ours(x), ref(x))
    seqs = torch.randn(6, 3, I, dtype=torch.float64)
    packed = pack_padded_sequence(seqs, torch.tensor([2, 6, 4]), enforce_sorted=False)
    (out_a, st_a), (out_b, st_b) = ours(packed), ref(packed)
    assert_same(pad_packed_sequence(out_a)[0], pad_packed_sequence(out_b)[0])
    assert_same(st_a, st_b)


def test_empty_sequences_keep_their_initial_state():
    """Our explicit BPTT takes length 0 (torch cannot pack it): h_0 and c_0 pass through."""
    ours = rnn.LSTM.from_torch(torch_lstm(num_layers=2, bidirectional=True), backend="bptt")
    ref_loop = rnn.LSTM.from_torch(torch_lstm(num_layers=2, bidirectional=True), backend="reference")
    x, lengths = torch.randn(5, 3, I, dtype=torch.float64), torch.tensor([0, 5, 2])
    state = initial_state(ours, 3)
    out, (h, c) = ours(x, state, lengths=lengths)
    assert_same((out, (h, c)), ref_loop(x, state, lengths=lengths))
    assert torch.equal(out[:, 0], torch.zeros_like(out[:, 0]))
    assert torch.equal(h[:, 0], state[0][:, 0]) and torch.equal(c[:, 0], state[1][:, 0])


def test_dropout_between_layers_in_eval_matches_torch():
    ref = torch_lstm(num_layers=2, dropout=0.5).eval()
    ours = rnn.LSTM.from_torch(ref, backend="bptt")
    x = torch.randn(6, 4, I, dtype=torch.float64)
    assert_same(ours(x), ref(x))


# -- gradcheck of our explicit BPTT with a projection ------------------------------------------


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("batch_sizes", [None, [3, 3, 2, 1, 1]], ids=["fix", "var"])
def test_recurrence_gradcheck(reverse, batch_sizes):
    g = torch.Generator().manual_seed(0)
    T, B = 5, 3
    xg = torch.randn(T, B, 4 * H, generator=g, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(B, P, generator=g, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(B, H, generator=g, dtype=torch.float64, requires_grad=True)
    w_hh = (0.5 * torch.randn(4 * H, P, generator=g, dtype=torch.float64)).requires_grad_()
    w_hr = (0.5 * torch.randn(P, H, generator=g, dtype=torch.float64)).requires_grad_()

    def f(xg, h0, c0, w_hh, w_hr):
        return bptt.LSTMRecurrence.apply(xg, h0, c0, w_hh, batch_sizes, reverse, w_hr)

    assert torch.autograd.gradcheck(f, (xg, h0, c0, w_hh, w_hr))


def test_layer_gradcheck_bptt():
    """The whole layer on our BPTT: 2 layers, bidirectional, variable lengths, every parameter."""
    torch.manual_seed(0)
    layer = rnn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2, backend="bptt").double()
    names = [n for n, _ in layer.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for p in layer.parameters())
    x = torch.randn(4, 3, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(4, 3, 2, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(4, 3, 4, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([4, 1, 3])

    def f(x, h0, c0, *params):
        out, (h, c) = torch.func.functional_call(layer, dict(zip(names, params)), (x, (h0, c0)),
                                                 {"lengths": lengths})
        return out, h, c

    assert torch.autograd.gradcheck(f, (x, h0, c0, *params))


# -- parameters, state_dict, repr --------------------------------------------------------------


@pytest.mark.parametrize("bias", [True, False])
def test_parameters_in_torch_order(bias):
    ref = torch_lstm(num_layers=2, bidirectional=True, bias=bias)
    ours = rnn.LSTM(I, H, num_layers=2, bidirectional=True, bias=bias, proj_size=P)
    assert ours._flat_weights_names == ref._flat_weights_names
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    assert [p.shape for p in ours.parameters()] == [p.shape for p in ref.parameters()]
    assert [[p.shape for p in w] for w in ours.all_weights] == [[p.shape for p in w] for w in ref.all_weights]
    assert ours.weight_hr_l1_reverse.shape == (P, H) and ours.weight_ih_l1.shape == (4 * H, 2 * P)
    assert ours.weight_hh_l0.shape == (4 * H, P) and ours.proj_size == P


def test_state_dict_round_trips_with_torch():
    ref = torch_lstm(num_layers=2, bidirectional=True)
    ours = rnn.LSTM(I, H, num_layers=2, bidirectional=True, proj_size=P, dtype=torch.float64)
    ours.load_state_dict(ref.state_dict())
    back = torch.nn.LSTM(I, H, num_layers=2, bidirectional=True, proj_size=P, dtype=torch.float64)
    back.load_state_dict(ours.state_dict())
    for key, value in ref.state_dict().items():
        assert torch.equal(back.state_dict()[key], value), key
    x = torch.randn(6, 4, I, dtype=torch.float64)
    assert_same(back(x), ref(x))

    converted = rnn.LSTM.from_torch(ref, backend="bptt").to_torch()
    assert isinstance(converted, torch.nn.LSTM) and converted.proj_size == P
    assert_same(converted(x), ref(x))


def test_state_dict_without_projection_does_not_load():
    with pytest.raises(RuntimeError, match="weight_hr_l0"):
        rnn.LSTM(I, H, proj_size=P).load_state_dict(torch.nn.LSTM(I, H).state_dict())


def test_repr_matches_torch():
    kw = {"num_layers": 2, "bidirectional": True, "proj_size": P}
    assert rnn.LSTM(I, H, **kw).extra_repr() == torch.nn.LSTM(I, H, **kw).extra_repr()
    assert "proj_size" not in repr(rnn.LSTM(I, H))


# -- errors, as torch.nn raises them -----------------------------------------------------------


@pytest.mark.parametrize(
    "make,error,match",
    [
        (lambda m: m.LSTM(I, H, proj_size=-1), ValueError,
         "proj_size should be a positive integer or zero to disable projections"),
        (lambda m: m.LSTM(I, H, proj_size=H), ValueError, "proj_size has to be smaller than hidden_size"),
        (lambda m: m.LSTM(I, H, proj_size=H + 1), ValueError, "proj_size has to be smaller than hidden_size"),
        (lambda m: m.RNN(I, H, proj_size=2), ValueError, "only supported for LSTM, not RNN or GRU"),
        (lambda m: m.GRU(I, H, proj_size=2), ValueError, "only supported for LSTM, not RNN or GRU"),
        (lambda m: m.GRU(I, H, proj_size=0), ValueError, "only supported for LSTM, not RNN or GRU"),
    ],
)
def test_constructor_errors_as_torch(make, error, match):
    with pytest.raises(error, match=match):
        make(torch.nn)
    with pytest.raises(error, match=match):
        make(rnn)


def test_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError, match="unexpected keyword argument 'hidden'"):
        rnn.GRU(I, H, hidden=3)


def test_initial_state_of_the_wrong_size_is_refused():
    layer = rnn.LSTM(I, H, proj_size=P)
    x = torch.randn(6, 2, I)
    with pytest.raises((ValueError, RuntimeError), match="h_0"):
        layer(x, (torch.zeros(1, 2, H), torch.zeros(1, 2, H)))  # h_0 must have P features
    with pytest.raises((ValueError, RuntimeError), match="c_0"):
        layer(x, (torch.zeros(1, 2, P), torch.zeros(1, 2, P)))  # c_0 keeps H
