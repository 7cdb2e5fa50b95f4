"""torch.nn's contract for misuse and edge cases, on rnnkit.nn.

What torch's ``test/test_nn.py`` recurrent tests ask beyond the ModuleInfo samples of
``test_torch_modules.py``: a misshaped input or state raises ``RuntimeError`` in torch.nn, and an
:class:`rnnkit.nn.InputError` here, which is both that and the ``ValueError`` rnnkit always
raised; cells' states do not broadcast; sizes and flags of the wrong type are ``TypeError``;
cells take ``hidden_size=0``; a sequence of length 0 is refused on every backend. Each case
also runs on torch.nn, so the premise is checked along with rnnkit.
"""

import pytest
import torch

import rnnkit.nn as rnn

LAYERS = ["RNN", "LSTM", "GRU"]
CELLS = ["RNNCell", "LSTMCell", "GRUCell"]
BACKENDS = ["auto", "bptt", "native", "reference"]


def layers(name, backend, *args, **kwargs):
    """(torch.nn's layer, rnnkit's layer with the same weights)."""
    reference = getattr(torch.nn, name)(*args, **kwargs)
    ours = getattr(rnn, name)(*args, backend=backend, **kwargs)
    ours.load_state_dict(reference.state_dict())
    return reference, ours


def raises_as_torch(error, reference, ours, *args, match=None):
    """torch.nn's module raises ``error`` on ``args``, and ours raises it too."""
    with pytest.raises(error):
        reference(*args)
    with pytest.raises(error, match=match) as caught:
        ours(*args)
    return caught.value


def misshaped_calls(name, batch_first):
    """(what, input, hx): each wrong in one way, for a layer (3, 5, num_layers=2) on batch 4."""
    T, B, I, H, L = 6, 4, 3, 5, 2
    x = torch.randn(B, T, I) if batch_first else torch.randn(T, B, I)
    state = lambda *shape: torch.randn(*shape)  # noqa: E731
    good = (L, B, H)
    wrong = {"layers": (L - 1, B, H), "batch": (L, B - 1, H), "hidden": (L, B, H - 1), "2-D": (L, H)}
    calls = [("input features", torch.randn(*x.shape[:2], I + 1), None)]
    for what, shape in wrong.items():
        if name == "LSTM":
            calls += [(f"h_0 {what}", x, (state(*shape), state(*good))),
                      (f"c_0 {what}", x, (state(*good), state(*shape)))]
        else:
            calls.append((f"hx {what}", x, state(*shape)))
    unbatched = torch.randn(T, I)
    calls.append(("3-D state for an unbatched input", unbatched,
                  (state(L, 1, H), state(L, 1, H)) if name == "LSTM" else state(L, 1, H)))
    return calls


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("batch_first", [False, True])
def test_misshaped_input_or_state_is_a_runtime_error_and_a_value_error(name, backend, batch_first):
    reference, ours = layers(name, backend, 3, 5, num_layers=2, batch_first=batch_first)
    for what, x, hx in misshaped_calls(name, batch_first):
        err = raises_as_torch(RuntimeError, reference, ours, x, hx)
        assert isinstance(err, ValueError) and isinstance(err, rnn.InputError), what


@pytest.mark.parametrize("name", CELLS)
def test_cell_states_do_not_broadcast(name):
    torch.manual_seed(0)
    reference = getattr(torch.nn, name)(10, 20)
    ours = getattr(rnn, name)(10, 20)
    x, good = torch.randn(3, 10), torch.randn(3, 20)
    for bad_x, bad in ((x, torch.randn(1, 20)), (x, torch.randn(3, 1)), (torch.randn(3, 1), good)):
        states = [(bad, good), (good, bad)] if name == "LSTMCell" else [bad]
        for hx in states:
            assert isinstance(raises_as_torch(RuntimeError, reference, ours, bad_x, hx), ValueError)


@pytest.mark.parametrize(
    "make",
    [
        lambda nn: nn.GRU(3.0, 5),
        lambda nn: nn.LSTM("3", 5),
        lambda nn: nn.RNN(3, 5.0),
        lambda nn: nn.GRU(3, "5"),
        lambda nn: nn.LSTM(3, 5, num_layers=2.0),
        lambda nn: nn.GRU(3, 5, num_layers="2"),
        lambda nn: nn.RNN(3, 5, bias=0),
        lambda nn: nn.GRU(3, 5, bias="True"),
        lambda nn: nn.LSTM(3, 5, batch_first=1),
        lambda nn: nn.RNN(3, 5, batch_first="False"),
        lambda nn: nn.GRUCell(3.0, 5),
        lambda nn: nn.LSTMCell(3, "5"),
        lambda nn: nn.RNNCell(3, 5.0),
    ],
)
def test_sizes_and_flags_of_the_wrong_type_are_type_errors(make):
    with pytest.raises(TypeError):
        make(torch.nn)
    with pytest.raises(TypeError, match="should be of type"):
        make(rnn)


def test_bidirectional_must_be_a_bool():
    # torch.nn accepts any value here and fails at the first forward (a TypeError from its
    # kernel); rnnkit says so at construction.
    with pytest.raises(TypeError, match="bidirectional should be of type bool, got: int"):
        rnn.GRU(3, 5, bidirectional=1)


@pytest.mark.parametrize("size", [0, -1])
@pytest.mark.parametrize("argument", ["input_size", "hidden_size", "num_layers"])
def test_layer_sizes_must_be_positive(argument, size):
    kwargs = {"input_size": 3, "hidden_size": 5, "num_layers": 1, argument: size}
    with pytest.raises(ValueError, match=f"{argument} must be greater than zero"):
        torch.nn.GRU(**kwargs)
    with pytest.raises(ValueError, match=f"{argument} must be greater than zero; got {size}"):
        rnn.GRU(**kwargs)


def test_unknown_nonlinearity():
    with pytest.raises(ValueError, match="Unknown nonlinearity"):
        torch.nn.RNN(3, 5, nonlinearity="gelu")
    with pytest.raises(ValueError, match="Unknown nonlinearity 'gelu'"):
        rnn.RNN(3, 5, nonlinearity="gelu")
    with pytest.raises(RuntimeError, match="Unknown nonlinearity"):  # torch.nn's cell: at forward
        torch.nn.RNNCell(3, 5, nonlinearity="gelu")(torch.randn(2, 3))
    with pytest.raises(RuntimeError, match="Unknown nonlinearity 'gelu'"):  # ours: at construction
        rnn.RNNCell(3, 5, nonlinearity="gelu")


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.long])
def test_cell_input_of_another_dtype_than_the_weights(name, dtype):
    reference, ours = getattr(torch.nn, name)(3, 5), getattr(rnn, name)(3, 5)
    x = torch.ones(2, 3, dtype=dtype)
    raises_as_torch(RuntimeError, reference, ours, x, match=rf"input dtype \({dtype}\) does not match weight dtype")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", LAYERS)
def test_layer_input_of_another_dtype_than_the_weights(name, backend):
    reference, ours = layers(name, backend, 3, 5)
    for dtype in (torch.float64, torch.long):
        raises_as_torch(ValueError, reference, ours, torch.ones(4, 2, 3, dtype=dtype),
                        match=rf"RNN input dtype \({dtype}\) does not match weight dtype \(torch.float32\)")


@pytest.mark.parametrize("name", CELLS)
def test_cells_of_hidden_size_zero(name):
    torch.manual_seed(0)
    reference, ours = getattr(torch.nn, name)(3, 0), getattr(rnn, name)(3, 0)
    ours.load_state_dict(reference.state_dict())
    x = torch.randn(4, 3, requires_grad=True)
    for inputs in ((x,), (x[0],)):
        out, expected = ours(*inputs), reference(*inputs)
        pairs = zip(out, expected) if isinstance(out, tuple) else [(out, expected)]
        for a, e in pairs:
            assert a.shape == e.shape and a.shape[-1] == 0
    h = ours(x)
    (h[0] if isinstance(h, tuple) else h).sum().backward()
    assert torch.equal(x.grad, torch.zeros_like(x))


@pytest.mark.parametrize("name", CELLS)
def test_cells_of_input_size_zero(name):
    torch.manual_seed(0)
    reference, ours = getattr(torch.nn, name)(0, 4), getattr(rnn, name)(0, 4)
    ours.load_state_dict(reference.state_dict())
    out, expected = ours(torch.randn(2, 0)), reference(torch.randn(2, 0))
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", LAYERS)
def test_zero_length_sequence_is_refused_on_every_backend(name, backend):
    match = "Expected sequence length to be larger than 0 in RNN"
    for batch_first, x in ((False, torch.randn(0, 2, 3)), (True, torch.randn(2, 0, 3)), (False, torch.randn(0, 3))):
        reference, ours = layers(name, backend, 3, 5, batch_first=batch_first)
        err = raises_as_torch(RuntimeError, reference, ours, x, match=match)
        assert isinstance(err, ValueError)
        with pytest.raises(RuntimeError, match=match):  # with lengths too: nothing to keep a state from
            ours(x, lengths=[0, 0] if x.dim() == 3 else None)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", LAYERS)
def test_empty_batch_as_torch(name, backend):
    reference, ours = layers(name, backend, 3, 5, num_layers=2, bidirectional=True)
    out, state = ours(torch.randn(4, 0, 3))
    expected_out, expected_state = reference(torch.randn(4, 0, 3))
    assert out.shape == expected_out.shape == (4, 0, 10)
    for a, e in zip(state if name == "LSTM" else (state,), expected_state if name == "LSTM" else (expected_state,)):
        assert a.shape == e.shape
