"""gate_activations: every step's gates equal the textbook equations of docs/equations.md,
recomputed here from torch.nn's weights in float64; its output and state equal the layer's own
forward; padded steps are NaN; bad input gets the layer's own errors."""

from __future__ import annotations

import pytest
import torch

import rnnkit.nn as rnn

sig = torch.sigmoid


@pytest.fixture(autouse=True)
def _float64():
    # every test here is float64 throughout (weights, inputs, the equations by hand)
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def _weights(torch_layer, layer, direction):
    suffix = f"_l{layer}" + ("_reverse" if direction else "")
    return [getattr(torch_layer, f"{k}{suffix}") for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]


def _lstm_by_hand(x, torch_layer, layer, direction, h, c):
    """The LSTM equations of docs/equations.md, one unit block at a time: x (T, I) one sequence."""
    w_ih, w_hh, b_ih, b_hh = _weights(torch_layer, layer, direction)
    H = h.shape[0]
    blk = lambda w, k: w[k * H:(k + 1) * H]  # noqa: E731
    out = {n: [] for n in ("input", "forget", "cell", "output", "cell_state", "hidden")}
    steps = range(x.shape[0] - 1, -1, -1) if direction else range(x.shape[0])
    for t in steps:
        i, f, g, o = (blk(w_ih, k) @ x[t] + blk(b_ih, k) + blk(w_hh, k) @ h + blk(b_hh, k) for k in range(4))
        i, f, g, o = sig(i), sig(f), torch.tanh(g), sig(o)
        c = f * c + i * g
        h = o * torch.tanh(c)
        for n, v in zip(out, (i, f, g, o, c, h)):
            out[n].append((t, v))
    return {n: torch.stack([v for _, v in sorted(vs, key=lambda p: p[0])]) for n, vs in out.items()}


def _gru_by_hand(x, torch_layer, layer, direction, h):
    w_ih, w_hh, b_ih, b_hh = _weights(torch_layer, layer, direction)
    H = h.shape[0]
    blk = lambda w, k: w[k * H:(k + 1) * H]  # noqa: E731
    out = {n: [] for n in ("reset", "update", "new", "hidden")}
    steps = range(x.shape[0] - 1, -1, -1) if direction else range(x.shape[0])
    for t in steps:
        r = sig(blk(w_ih, 0) @ x[t] + blk(b_ih, 0) + blk(w_hh, 0) @ h + blk(b_hh, 0))
        z = sig(blk(w_ih, 1) @ x[t] + blk(b_ih, 1) + blk(w_hh, 1) @ h + blk(b_hh, 1))
        n = torch.tanh(blk(w_ih, 2) @ x[t] + blk(b_ih, 2) + r * (blk(w_hh, 2) @ h + blk(b_hh, 2)))
        h = (1 - z) * n + z * h
        for name, v in zip(out, (r, z, n, h)):
            out[name].append((t, v))
    return {n: torch.stack([v for _, v in sorted(vs, key=lambda p: p[0])]) for n, vs in out.items()}


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_gates_equal_the_equations_and_the_output_equals_forward(mode, bidirectional):
    torch.manual_seed(0)
    I, H, L, B, T = 3, 4, 2, 3, 5
    ref = (torch.nn.LSTM if mode == "LSTM" else torch.nn.GRU)(I, H, L, batch_first=True, bidirectional=bidirectional)
    layer = (rnn.LSTM if mode == "LSTM" else rnn.GRU).from_torch(ref)
    x = torch.randn(B, T, I)
    trace = rnn.gate_activations(layer, x)
    out, state = layer(x)
    assert torch.allclose(trace.output, out, atol=1e-12)
    for a, b in zip(state if mode == "LSTM" else (state,), trace.state if mode == "LSTM" else (trace.state,)):
        assert torch.allclose(a, b, atol=1e-12)
    D = 2 if bidirectional else 1
    assert set(trace.gates) == set(rnn.gates.GATE_NAMES[mode])
    assert all(g.shape == (L * D, B, T, H) for g in trace.gates.values())
    # by hand, layer by layer: the second layer reads the first layer's outputs (both directions)
    inputs = x
    for layer_i in range(L):
        outs = []
        for d in range(D):
            for b in range(B):
                zeros = torch.zeros(H)
                hand = (_lstm_by_hand(inputs[b], ref, layer_i, d, zeros, zeros) if mode == "LSTM"
                        else _gru_by_hand(inputs[b], ref, layer_i, d, zeros))
                for name, v in hand.items():
                    assert torch.allclose(trace.gates[name][layer_i * D + d, b], v, atol=1e-12), (name, layer_i, d)
            outs.append(trace.gates["hidden"][layer_i * D + d])
        inputs = torch.cat(outs, dim=-1)


def test_padded_steps_are_nan_and_valid_steps_match_the_unpadded_sequence():
    torch.manual_seed(1)
    layer = rnn.LSTM(2, 3, batch_first=True, bidirectional=True)
    x = torch.randn(2, 6, 2)
    x[1, 4:] = 1e6  # garbage in the padding must not reach the valid steps
    lengths = torch.tensor([6, 4])
    trace = rnn.gate_activations(layer, x, lengths=lengths)
    out, (h, c) = layer(x, lengths=lengths)
    assert torch.allclose(trace.output, out, atol=1e-12)
    assert torch.allclose(trace.state[0], h, atol=1e-12) and torch.allclose(trace.state[1], c, atol=1e-12)
    for g in trace.gates.values():
        assert torch.isnan(g[:, 1, 4:]).all() and not torch.isnan(g[:, 1, :4]).any() and not torch.isnan(g[:, 0]).any()
    alone = rnn.gate_activations(layer, x[1:, :4])
    for name, g in trace.gates.items():
        assert torch.allclose(g[:, 1, :4], alone.gates[name][:, 0], atol=1e-12), name


def test_rnn_time_major_unbatched_and_initial_state():
    torch.manual_seed(2)
    layer = rnn.RNN(3, 4, num_layers=2, nonlinearity="relu")
    x, h0 = torch.randn(5, 2, 3), torch.randn(2, 2, 4)
    trace = rnn.gate_activations(layer, x, h0)
    out, h = layer(x, h0)
    assert torch.allclose(trace.output, out) and torch.allclose(trace.state, h)
    assert trace.gates["hidden"].shape == (2, 2, 5, 4)
    assert torch.allclose(trace.gates["hidden"][1].transpose(0, 1), out)  # the last layer's h_t is the output
    single = rnn.gate_activations(layer, x[:, 0], h0[:, 0])
    assert single.gates["hidden"].shape == (2, 5, 4)
    assert torch.allclose(single.gates["hidden"], trace.gates["hidden"][:, 0])


def test_projection_and_gradients_flow():
    torch.manual_seed(3)
    layer = rnn.LSTM(3, 5, proj_size=2, batch_first=True)
    x = torch.randn(2, 4, 3, requires_grad=True)
    trace = rnn.gate_activations(layer, x)
    out, _ = layer(x)
    assert torch.allclose(trace.output, out, atol=1e-12)
    assert trace.gates["hidden"].shape == (1, 2, 4, 5)  # before the projection
    trace.gates["forget"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_bad_input_gets_the_layers_errors_and_the_random_stream_is_untouched():
    layer = rnn.GRU(3, 4, num_layers=2, dropout=0.5)
    with pytest.raises(ValueError, match="input_size"):
        rnn.gate_activations(layer, torch.randn(5, 2, 7))
    with pytest.raises(TypeError, match="rnnkit.nn"):
        rnn.gate_activations(torch.nn.GRU(3, 4), torch.randn(5, 2, 3))
    with pytest.raises(ValueError, match="lengths"):
        rnn.gate_activations(layer, torch.randn(5, 2, 3), lengths=[9, 1])
    # training mode: the trace draws one dropout mask between the layers, as one forward does;
    # its internal check call draws none (forked random stream)
    torch.manual_seed(4)
    rnn.gate_activations(layer, torch.randn(5, 2, 3))
    after_trace = torch.rand(1)
    torch.manual_seed(4)
    layer(torch.randn(5, 2, 3))
    assert torch.equal(torch.rand(1), after_trace)
