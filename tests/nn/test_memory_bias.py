"""The ``memory_bias`` option of rnnkit.nn.LSTM and GRU: the forget / update gate's initial bias."""

import copy
import pickle

import pytest
import torch

import rnnkit.nn as rnn
from rnnkit.analysis.memory import open_memory_gate

GATED = [("LSTM", 4), ("GRU", 3)]  # (mode, gate blocks); the memory gate is block 1 in both


def build(mode, seed=0, **kw):
    torch.manual_seed(seed)
    return getattr(rnn, mode)(3, 5, num_layers=2, bidirectional=True, **kw)


def biases(layer):
    return {name: p.detach().clone() for name, p in layer.named_parameters() if name.startswith("bias")}


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_default_is_torch_init(mode):
    torch.manual_seed(0)
    ref = getattr(torch.nn, mode)(3, 5, num_layers=2, bidirectional=True)
    ours = build(mode)
    assert ours.memory_bias is None
    for (name_a, a), (name_b, b) in zip(ours.named_parameters(), ref.named_parameters(), strict=True):
        assert name_a == name_b and torch.equal(a, b)
    assert "memory_bias" not in repr(ours)


@pytest.mark.parametrize("mode,gates", GATED)
def test_sets_the_memory_gate_only(mode, gates):
    H = 5
    plain, opened = biases(build(mode)), biases(build(mode, memory_bias=1.5))
    assert len(opened) == 2 * 2 * 2  # bias_ih and bias_hh of 2 layers x 2 directions
    for name, value in opened.items():
        blocks, before = value.view(gates, H), plain[name].view(gates, H)
        expected = 1.5 if name.startswith("bias_ih") else 0.0
        assert torch.equal(blocks[1], torch.full((H,), expected))
        others = [k for k in range(gates) if k != 1]
        assert torch.equal(blocks[others], before[others])  # same draws elsewhere: the RNG is not shifted


@pytest.mark.parametrize("mode,gates", GATED)
def test_effective_gate_bias_and_its_effect(mode, gates):
    """bias_ih + bias_hh on the gate's slice is b; with zero weights the gate is sigmoid(b)."""
    b, H = 2.0, 5
    layer = getattr(rnn, mode)(3, H, memory_bias=b, dtype=torch.float64, backend="reference")
    total = (layer.bias_ih_l0 + layer.bias_hh_l0).view(gates, H)[1]
    assert torch.equal(total, torch.full((H,), b, dtype=torch.float64))
    with torch.no_grad():
        layer.weight_ih_l0.zero_()
        layer.weight_hh_l0.zero_()
        for p in (layer.bias_ih_l0, layer.bias_hh_l0):  # every other gate: bias 0
            p.view(gates, H)[[k for k in range(gates) if k != 1]] = 0.0
    x = torch.zeros(1, 1, 3, dtype=torch.float64)
    keep = torch.sigmoid(torch.tensor(b, dtype=torch.float64))
    if mode == "LSTM":  # c' = f c + i g with g = tanh(0) = 0
        c0 = torch.ones(1, 1, H, dtype=torch.float64)
        _, (_, c1) = layer(x, (torch.zeros_like(c0), c0))
        torch.testing.assert_close(c1, keep * c0)
    else:  # h' = (1 - z) n + z h with n = tanh(0) = 0
        h0 = torch.ones(1, 1, H, dtype=torch.float64)
        _, h1 = layer(x, h0)
        torch.testing.assert_close(h1, keep * h0)


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_reset_parameters_keeps_it(mode):
    layer = build(mode, memory_bias=1.0)
    with torch.no_grad():
        layer.bias_ih_l1_reverse.fill_(-4.0)
        layer.bias_hh_l1_reverse.fill_(-4.0)
    torch.manual_seed(7)
    layer.reset_parameters()
    assert torch.equal(layer.bias_ih_l1_reverse[5:10], torch.ones(5))
    assert torch.equal(layer.bias_hh_l1_reverse[5:10], torch.zeros(5))
    torch.manual_seed(7)
    expected = getattr(rnn, mode)(3, 5, num_layers=2, bidirectional=True)  # same draws as reset
    open_memory_gate(expected, 1.0)
    for a, b in zip(layer.parameters(), expected.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_open_memory_gate_same_effect(mode):
    """rnnkit.analysis.memory's helper and the option give the same parameters, on torch.nn's layer too."""
    opened = build(mode, memory_bias=3.0)
    helper = build(mode)
    open_memory_gate(helper)  # its default value is 3
    torch.manual_seed(0)
    ref = getattr(torch.nn, mode)(3, 5, num_layers=2, bidirectional=True)
    open_memory_gate(ref)
    for a, b, c in zip(opened.parameters(), helper.parameters(), ref.parameters(), strict=True):
        assert torch.equal(a, b) and torch.equal(a, c)
    layer = rnn.RNN(3, 5)
    before = [p.clone() for p in layer.parameters()]
    open_memory_gate(layer)  # an RNN has no gate: left alone
    assert all(torch.equal(a, b) for a, b in zip(before, layer.parameters()))


def test_proj_size():
    layer = rnn.LSTM(3, 6, proj_size=2, memory_bias=1.0)
    assert torch.equal(layer.bias_ih_l0[6:12], torch.ones(6))


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_repr_copy_pickle_state_dict(mode):
    layer = build(mode, memory_bias=1.0)
    assert "memory_bias=1.0" in repr(layer)
    x = torch.randn(2, 4, 3)
    out = layer(x)[0]
    for clone in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
        assert clone.memory_bias == 1.0
        torch.testing.assert_close(clone(x)[0], out, rtol=0, atol=0)
    fresh = getattr(rnn, mode)(3, 5, num_layers=2, bidirectional=True)
    fresh.load_state_dict(layer.state_dict())
    torch.testing.assert_close(fresh(x)[0], out, rtol=0, atol=0)
    assert type(layer.to_torch()) is getattr(torch.nn, mode)


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_bias_false_refused(mode):
    with pytest.raises(ValueError, match="bias=False gives the layer no biases"):
        getattr(rnn, mode)(3, 5, bias=False, memory_bias=1.0)
    assert getattr(rnn, mode)(3, 5, bias=False, memory_bias=None).bias is False


def test_rnn_refuses_it():
    with pytest.raises(TypeError, match="unexpected keyword argument 'memory_bias'"):
        rnn.RNN(3, 5, memory_bias=1.0)
    with pytest.raises(ValueError, match="only supported for LSTM and GRU"):
        rnn.RNNBase("RNN_TANH", 3, 5, memory_bias=1.0)


@pytest.mark.parametrize("value,error,match", [
    ("1", TypeError, "memory_bias should be a float or None"),
    (True, TypeError, "memory_bias should be a float or None"),
    (float("nan"), ValueError, "finite"),
    (float("inf"), ValueError, "finite"),
])
def test_bad_values(value, error, match):
    with pytest.raises(error, match=match):
        rnn.LSTM(3, 5, memory_bias=value)
