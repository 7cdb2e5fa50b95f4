"""Backend choice and the drop-in promise."""

import pytest
import torch

import rnnkit.nn as rnn
from rnnkit.nn.backend import choose_backend

CPU = torch.device("cpu")


@pytest.mark.parametrize(
    "mode,varlen,grad,expected",
    [
        ("LSTM", False, True, "native"),  # oneDNN's fused LSTM is faster on fixed lengths
        ("LSTM", True, True, "bptt"),  # packed sequences take torch's slow path
        ("LSTM", True, False, "native"),
        ("GRU", False, True, "bptt"),
        ("GRU", True, True, "bptt"),
        ("GRU", True, False, "native"),
        ("RNN_TANH", False, True, "bptt"),
        ("GRU", False, False, "native"),  # inference: torch's loop is faster (bench_layers 2026-11-26)
        ("RNN_RELU", False, False, "native"),
    ],
)
def test_auto_follows_the_measured_table(mode, varlen, grad, expected):
    assert choose_backend(mode, CPU, varlen, grad) == expected


def test_auto_uses_native_kernels_on_gpus_and_for_small_models():
    assert choose_backend("GRU", torch.device("cuda"), True, True) == "native"
    assert choose_backend("GRU", CPU, True, True, hidden_size=64) == "native"
    assert choose_backend("GRU", CPU, True, True, hidden_size=256) == "bptt"


def test_auto_runs_empty_sequences_on_rnnkit():
    layer = rnn.GRU(3, 8)  # small: auto would pick native, which cannot pack empty sequences
    out, h = layer(torch.randn(4, 2, 3), lengths=[0, 3])
    assert torch.all(out[:, 0] == 0) and torch.all(h[:, 0] == 0)


def test_auto_gives_the_same_numbers_as_each_backend():
    torch.manual_seed(0)
    layers = {b: rnn.GRU(4, 6, num_layers=2, backend=b) for b in ("auto", "bptt", "native", "reference")}
    for layer in list(layers.values())[1:]:
        layer.load_state_dict(layers["auto"].state_dict())
    x = torch.randn(7, 3, 4)
    outs = {b: layer(x, lengths=[7, 3, 5]) for b, layer in layers.items()}
    for b in ("bptt", "native", "reference"):
        torch.testing.assert_close(outs[b][0], outs["auto"][0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(outs[b][1], outs["auto"][1], atol=1e-5, rtol=1e-5)


def test_switching_the_import_is_all_it_takes():
    import rnnkit.nn as nn

    assert nn.Linear is torch.nn.Linear and nn.utils is torch.nn.utils and nn.functional is torch.nn.functional
    assert nn.LSTM is not torch.nn.LSTM
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        nn.Nope  # noqa: B018


def test_repr_and_flatten_parameters():
    layer = rnn.LSTM(3, 4, num_layers=2, bidirectional=True)
    before = [p.data_ptr() for p in layer.parameters()]
    layer.flatten_parameters()  # on CUDA it moves the weights into one buffer (tests/test_devices_gpu.py)
    assert [p.data_ptr() for p in layer.parameters()] == before  # on the CPU: nothing to do
    assert repr(layer) == "LSTM(3, 4, num_layers=2, bidirectional=True)"
    assert len(layer.all_weights) == 4 and len(layer.all_weights[0]) == 4


def test_rnnkit_is_an_alias_of_bptt():
    """The fused path's former backend name keeps working and is stored under its new one."""
    torch.manual_seed(0)
    old = rnn.LSTM(3, 5, backend="rnnkit")
    new = rnn.LSTM(3, 5, backend="bptt")
    new.load_state_dict(old.state_dict())
    assert old.backend == "bptt" and repr(old) == "LSTM(3, 5, backend='bptt')"
    x = torch.randn(4, 2, 3)
    for a, b in zip(old(x, lengths=[4, 2])[1], new(x, lengths=[4, 2])[1]):
        assert torch.equal(a, b)


def test_needs_grad_sees_every_trainable_weight():
    """``auto`` picks by whether a call records a graph; a frozen layer does not, one whose only
    trainable weight sits in a parametrization (a submodule) does."""
    layer = rnn.GRU(3, 4)
    x, states = torch.randn(2, 1, 3), (torch.zeros(1, 1, 4),)
    assert layer._needs_grad(x, states)
    for p in layer.parameters():
        p.requires_grad_(False)
    assert not layer._needs_grad(x, states)
    assert layer._needs_grad(x.requires_grad_(), states)
    x.requires_grad_(False)
    torch.nn.utils.parametrize.register_parametrization(layer, "weight_hh_l0", torch.nn.Identity())
    assert not layer._needs_grad(x, states)
    layer.parametrizations.weight_hh_l0.original.requires_grad_(True)
    assert layer._needs_grad(x, states)
    with torch.no_grad():
        assert not layer._needs_grad(x, states)
