"""Bad input: a ValueError naming what was expected and what came."""

import pytest
import torch

import rnnkit.nn as rnn


@pytest.fixture
def lstm():
    return rnn.LSTM(3, 4, num_layers=2, batch_first=True)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda m: m(torch.randn(2, 5, 6)), "input has 6 features but input_size is 3"),
        (lambda m: m(torch.randn(5)), "expects a 3-D input"),
        (lambda m: m(torch.randn(1, 2, 5, 3)), r"got a 4-D tensor of shape \(1, 2, 5, 3\)"),
        (lambda m: m(torch.zeros(2, 5, 3, dtype=torch.long)), "floating-point"),
        (lambda m: m(torch.randn(2, 5, 3), lengths=[5, 6]), r"lengths must lie in \[0, 5\].*max 6"),
        (lambda m: m(torch.randn(2, 5, 3), lengths=[5, -1]), r"lengths must lie in \[0, 5\].*min -1"),
        (lambda m: m(torch.randn(2, 5, 3), lengths=[5]), r"lengths must have shape \(2,\)"),
        (lambda m: m(torch.randn(2, 5, 3), lengths=torch.tensor([5.0, 2.0])), "lengths must hold integers"),
        (lambda m: m(torch.randn(2, 5, 3), lengths=torch.tensor([5, 2], device="meta")), "lengths is on meta"),
        (lambda m: m(torch.randn(2, 5, 3), (torch.zeros(2, 2, 4), torch.zeros(2, 3, 4))),
         r"c_0 must have shape \(2, 2, 4\); got \(2, 3, 4\)"),
        (lambda m: m(torch.randn(2, 5, 3), torch.zeros(2, 2, 4)), "pair"),
        (lambda m: m(torch.randn(2, 5, 3), (torch.zeros(2, 2, 4), torch.zeros(2, 2, 4, device="meta"))),
         "c_0 is on meta but the input is on cpu"),
        (lambda m: m(torch.randn(2, 5, 3), (torch.zeros(2, 2, 4), torch.zeros(2, 2, 4, dtype=torch.float64))),
         "dtype"),
    ],
)
def test_forward_errors(lstm, call, match):
    with pytest.raises(ValueError, match=match):
        call(lstm)


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: rnn.GRU(3, 4, backend="cudnn"), "backend must be one of 'auto', 'bptt', 'native', 'reference'"),
        (lambda: rnn.RNN(3, 4, nonlinearity="gelu"), "nonlinearity must be one of 'tanh', 'relu'"),
        (lambda: rnn.LSTM(3, 4, proj_size=4), "proj_size has to be smaller than hidden_size"),
        (lambda: rnn.LSTM(3, 4, dropout=1.5), r"dropout must be a number in \[0, 1\]"),
        (lambda: rnn.GRU(3, 0), "hidden_size must be greater than zero; got 0"),
        (lambda: rnn.GRU(3, 4, num_layers=0), "num_layers must be greater than zero"),
        (lambda: rnn.GRU.from_torch(torch.nn.LSTM(3, 4)), "expects a torch.nn.GRU; got LSTM"),
    ],
)
def test_constructor_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_gru_hidden_state_shape_error_names_both_shapes():
    with pytest.raises(ValueError, match=r"hx must have shape \(1, 2, 4\); got \(1, 4\)"):
        rnn.GRU(3, 4)(torch.randn(5, 2, 3), torch.zeros(1, 4))


def test_native_backend_rejects_empty_sequences_with_a_fix():
    with pytest.raises(ValueError, match="use backend='bptt'"):
        rnn.GRU(3, 4, backend="native")(torch.randn(5, 2, 3), lengths=[0, 3])


def test_packed_input_with_lengths_is_rejected():
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.randn(4, 2, 3), [4, 2])
    with pytest.raises(ValueError, match="either a PackedSequence or lengths"):
        rnn.GRU(3, 4)(packed, lengths=[4, 2])
