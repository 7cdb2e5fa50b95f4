"""Fixed-number tests, Keras style: constant weights, a tiny input, the expected numbers written down.

The parity tests compare our paths with torch.nn and with each other; these pin the semantics
themselves, so a change is caught even if every path drifted together. The expected values were
computed once, outside rnnkit and torch, by a plain numpy loop over the textbook equations of
``docs/equations.md`` in float64, rounded to 10 decimals and pasted here.

Weights: parameter j of a layer or cell, in ``parameters()`` order (``weight_ih_l0``,
``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``, then ``_l0_reverse``, then ``_l1``...), holds
``0.1 * ((k + j) % 7) - 0.25`` at flat index k: no zeros, and every gate block differs, so a
swapped gate order or a bias folded into the wrong place changes the numbers. Initial states are
zeros. Shapes are batch-first: input (B=2, T=3, I=2), output (B, T, D*H) with H=2, states
(L*D, B, H).
"""

from typing import NamedTuple

import pytest
import torch

import rnnkit.nn as rnn

X = [[[0.5, -1.0], [1.5, 0.25], [-0.75, 2.0]],
     [[-1.0, 0.5], [0.0, -0.5], [1.0, 1.0]]]
HIDDEN = 2
ATOL = 1e-9  # the literals carry 10 decimals


class Case(NamedTuple):
    layer: type
    kwargs: dict
    lengths: list | None
    output: list
    states: list  # [h_n] or [h_n, c_n]


CASES = {
    "rnn_tanh": Case(
        rnn.RNN, {}, lengths=None,
        output=[[[ 0.0249947930,  0.1243530018],
                 [-0.3990065994,  0.1561155288],
                 [-0.0603812444,  0.3283404182]],

                [[ 0.1732351578,  0.2682711820],
                 [ 0.0355861340,  0.2202343913],
                 [-0.3938507511,  0.2305918511]]],
        states=[
            [[[-0.0603812444,  0.3283404182],
              [-0.3938507511,  0.2305918511]]],
        ],
    ),
    "rnn_relu": Case(
        rnn.RNN, {"nonlinearity": "relu"}, lengths=None,
        output=[[[ 0.0250000000,  0.1250000000],
                 [ 0.0000000000,  0.1575000000],
                 [ 0.0000000000,  0.3611250000]],

                [[ 0.1750000000,  0.2750000000],
                 [ 0.0350000000,  0.2250000000],
                 [ 0.0000000000,  0.2355000000]]],
        states=[
            [[[ 0.0000000000,  0.3611250000],
              [ 0.0000000000,  0.2355000000]]],
        ],
    ),
    "lstm": Case(
        rnn.LSTM, {}, lengths=None,
        output=[[[ 0.0149745828, -0.1267479512],
                 [-0.0186357967, -0.1354975004],
                 [ 0.0166159384, -0.1225069277]],

                [[ 0.0516801310, -0.1092125468],
                 [ 0.0532342903, -0.1900481892],
                 [ 0.0257576790, -0.1478028099]]],
        states=[
            [[[ 0.0166159384, -0.1225069277],
              [ 0.0257576790, -0.1478028099]]],
            [[[ 0.0284520977, -0.2642809445],
              [ 0.0419430605, -0.3860666704]]],
        ],
    ),
    "gru": Case(
        rnn.GRU, {}, lengths=None,
        output=[[[ 0.0869650274, -0.1124184795],
                 [ 0.0607120337, -0.1405230007],
                 [ 0.1166262939, -0.1128637609]],

                [[ 0.1330615797, -0.1409478523],
                 [ 0.1772968281, -0.2235615414],
                 [ 0.1345541504, -0.1977823961]]],
        states=[
            [[[ 0.1166262939, -0.1128637609],
              [ 0.1345541504, -0.1977823961]]],
        ],
    ),
    "lstm_2_layers_bidirectional": Case(
        rnn.LSTM, {"num_layers": 2, "bidirectional": True}, lengths=None,
        output=[[[-0.0914915842, -0.0594673993,  0.1261265306,  0.1723823127],
                 [-0.1577764629, -0.1017618159,  0.1094564018,  0.1468814426],
                 [-0.1974652350, -0.1344303051,  0.0759666483,  0.0964092868]],

                [[-0.0893801708, -0.0624362515,  0.1269347767,  0.1691711575],
                 [-0.1542234293, -0.1043624566,  0.1116768677,  0.1409149053],
                 [-0.2025778168, -0.1359243070,  0.0754924899,  0.0965993103]]],
        states=[
            [[[ 0.0166159384, -0.1225069277],
              [ 0.0257576790, -0.1478028099]],

             [[ 0.1700169490,  0.0896120227],
              [ 0.1325392179,  0.1211317253]],

             [[-0.1974652350, -0.1344303051],
              [-0.2025778168, -0.1359243070]],

             [[ 0.1261265306,  0.1723823127],
              [ 0.1269347767,  0.1691711575]]],
            [[[ 0.0284520977, -0.2642809445],
              [ 0.0419430605, -0.3860666704]],

             [[ 0.2757308866,  0.1807421575],
              [ 0.2013179107,  0.2300092548]],

             [[-0.3951404911, -0.2466738245],
              [-0.4049023112, -0.2502496004]],

             [[ 0.2358408800,  0.4911996568],
              [ 0.2379366605,  0.4729621956]]],
        ],
    ),
    "gru_bidirectional_lengths": Case(
        rnn.GRU, {"bidirectional": True}, lengths=[3, 2],
        output=[[[ 0.0869650274, -0.1124184795,  0.2049833402,  0.1072855098],
                 [ 0.0607120337, -0.1405230007,  0.4784370221, -0.0512309723],
                 [ 0.1166262939, -0.1128637609,  0.3145452667,  0.0420618802]],

                [[ 0.1330615797, -0.1409478523,  0.0007858821,  0.2684448330],
                 [ 0.1772968281, -0.2235615414, -0.0276676442,  0.1665896357],
                 [ 0.0000000000,  0.0000000000,  0.0000000000,  0.0000000000]]],
        states=[
            [[[ 0.1166262939, -0.1128637609],
              [ 0.1772968281, -0.2235615414]],

             [[ 0.2049833402,  0.1072855098],
              [ 0.0007858821,  0.2684448330]]],
        ],
    ),

}
SINGLE_LAYER = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
CELLS = {"rnn_tanh": (rnn.RNNCell, {}), "rnn_relu": (rnn.RNNCell, {"nonlinearity": "relu"}),
         "lstm": (rnn.LSTMCell, {}), "gru": (rnn.GRUCell, {})}


def _fill(module: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        for j, p in enumerate(module.parameters()):
            k = torch.arange(p.numel(), dtype=torch.float64)
            p.copy_((0.1 * ((k + j) % 7) - 0.25).view_as(p))
    return module


def _check(actual, expected):
    torch.testing.assert_close(actual, torch.tensor(expected, dtype=torch.float64), atol=ATOL, rtol=0)


@pytest.mark.parametrize("grad", [True, False], ids=["train", "infer"])
@pytest.mark.parametrize("backend", ["bptt", "native", "reference"])
@pytest.mark.parametrize("name", list(CASES))
def test_layer_gives_the_written_numbers(name, backend, grad):
    case = CASES[name]
    layer = _fill(case.layer(2, HIDDEN, batch_first=True, backend=backend, **case.kwargs).double())
    with torch.set_grad_enabled(grad):  # bptt runs its autograd Function or its no-grad forward
        output, state = layer(torch.tensor(X, dtype=torch.float64), lengths=case.lengths)
    _check(output, case.output)
    for actual, expected in zip(state if isinstance(state, tuple) else (state,), case.states, strict=True):
        _check(actual, expected)


@pytest.mark.parametrize("name", SINGLE_LAYER)
def test_cell_steps_give_the_written_numbers(name):
    cls, kwargs = CELLS[name]
    cell = _fill(cls(2, HIDDEN, **kwargs).double())
    x = torch.tensor(X, dtype=torch.float64)
    state = cell.init_state(x.shape[0])
    outputs = []
    for t in range(x.shape[1]):
        y, state = cell.step(x[:, t], state)
        outputs.append(y)
    _check(torch.stack(outputs, dim=1), CASES[name].output)
    for actual, expected in zip(state if isinstance(state, tuple) else (state,), CASES[name].states, strict=True):
        _check(actual, expected[0])
