"""Graph capture with ``lengths``: torch.jit.trace, torch.export and ONNX (run in onnxruntime).

A captured graph takes the padded input and the lengths tensor as graph inputs and must equal
eager for lengths it never saw at capture time: outputs, and final states taken at each
sequence's last valid step (the reverse direction starting at each sequence's end). Every layer
here is 2-layer, bidirectional and batch_first. torch.jit.script is refused in one line that
points to trace and export.
"""

import warnings

import pytest
import torch

import rnnkit.nn as rnn
from rnnkit.nn.backend import capturing

from .harness import run_torch

MODELS = ["RNN", "LSTM", "GRU"]
I, H = 3, 5
EXAMPLE = (torch.randn(4, 7, I, generator=torch.Generator().manual_seed(0)), torch.tensor([7, 2, 5, 1]))
# Batches unlike the example: other lengths (an empty and a full sequence among them), and for
# torch.export and ONNX, whose batch and time axes are dynamic, other batch sizes and lengths T.
SAME_SHAPE = [torch.tensor([3, 7, 0, 6]), torch.tensor([1, 1, 1, 1]), torch.tensor([7, 7, 7, 7])]
OTHER_SHAPES = [(4, 7, [3, 7, 0, 6]), (6, 11, [1, 11, 4, 0, 2, 7]), (2, 3, [3, 1]), (1, 5, [4])]


class Capturable(torch.nn.Module):
    """(x, lengths) -> (output, *final states): a layer with flat tensor inputs and outputs."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x, lengths):
        output, state = self.layer(x, lengths=lengths)
        return (output, *state) if isinstance(state, tuple) else (output, state)


def make(name: str, seed: int = 0) -> Capturable:
    torch.manual_seed(seed)
    layer = getattr(rnn, name)(I, H, num_layers=2, bidirectional=True, batch_first=True)
    return Capturable(layer).eval()


def batch(B: int, T: int, lengths, seed: int = 1):
    return torch.randn(B, T, I, generator=torch.Generator().manual_seed(seed)), torch.tensor(lengths)


def eager(model, x, lengths):
    with torch.no_grad():
        return model(x, lengths)


def assert_close(actual, expected, atol=1e-5):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        torch.testing.assert_close(torch.as_tensor(a), e, atol=atol, rtol=1e-5)


@pytest.fixture(scope="module", params=MODELS)
def exported(request):
    """One torch.export per model (the slow step), shared by the export and ONNX tests."""
    model = make(request.param)
    B, T = torch.export.Dim("batch"), torch.export.Dim("time")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's own deprecation chatter in the scan prototype
        program = torch.export.export(model, EXAMPLE, dynamic_shapes=({0: B, 1: T}, {0: B}))
    return model, program


def test_eager_is_not_capturing():
    # Eager calls never take the capture route, so eager numbers and speed are untouched by it.
    assert not capturing()


@pytest.mark.parametrize("name", MODELS)
def test_trace_with_lengths(name):
    model = make(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings from shape checks, trace's deprecation
        traced = torch.jit.trace(model, EXAMPLE)
    x = batch(4, 7, [0, 0, 0, 0])[0]
    for lengths in SAME_SHAPE:
        assert_close(traced(x, lengths), eager(model, x, lengths))


def test_trace_with_lengths_and_state_matches_torch():
    # An independent reference: torch.nn.LSTM on packed sequences, initial state as graph input.
    class WithState(Capturable):
        def forward(self, x, lengths, h, c):
            output, (h, c) = self.layer(x, (h, c), lengths=lengths)
            return output, h, c

    layer = rnn.LSTM(I, H, num_layers=2, bidirectional=True, batch_first=True).eval()
    h0 = torch.randn(4, 4, H), torch.randn(4, 4, H)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(WithState(layer), (*EXAMPLE, *h0))
    x, lengths = batch(4, 7, [5, 7, 1, 2])  # torch.nn cannot pack an empty sequence
    out, h, c = traced(x, lengths, *h0)
    with torch.no_grad():
        want_out, (want_h, want_c) = run_torch(layer.to_torch(), x, h0, lengths)
    assert_close([out, h, c], [want_out, want_h, want_c])


def test_export_with_lengths(exported):
    model, program = exported
    for B, T, lengths in OTHER_SHAPES:
        x, lengths = batch(B, T, lengths)
        assert_close(program.module()(x, lengths), eager(model, x, lengths))


def test_onnx_with_lengths(exported):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is in the dev extra: pip install -e '.[dev]'")
    pytest.importorskip("onnxscript", reason="onnxscript is in the dev extra: pip install -e '.[dev]'")
    model, program = exported
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        onnx_program = torch.onnx.export(program, dynamo=True, verbose=False)
    session = ort.InferenceSession(onnx_program.model_proto.SerializeToString())
    names = [i.name for i in session.get_inputs()]
    for B, T, lengths in OTHER_SHAPES:
        x, lengths = batch(B, T, lengths)
        got = session.run(None, dict(zip(names, (x.numpy(), lengths.numpy()))))
        assert_close(got, eager(model, x, lengths))


@pytest.mark.parametrize("name", MODELS)
def test_onnx_torchscript_exporter_with_lengths(name, tmp_path):
    # The legacy exporter traces, so the time axis is fixed at the example's; the batch is dynamic.
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is in the dev extra: pip install -e '.[dev]'")
    model, path = make(name), tmp_path / "model.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, EXAMPLE, path, dynamo=False, input_names=["x", "lengths"],
                          dynamic_axes={"x": {0: "batch"}, "lengths": {0: "batch"}})
    session = ort.InferenceSession(str(path))
    for B, lengths in [(4, [3, 7, 0, 6]), (6, [1, 7, 4, 0, 2, 7])]:
        x, lengths = batch(B, 7, lengths)
        got = session.run(None, {"x": x.numpy(), "lengths": lengths.numpy()})
        assert_close(got, eager(model, x, lengths))


@pytest.mark.parametrize("name", MODELS)
def test_script_refuses_in_one_line(name):
    layer = getattr(rnn, name)(I, H)
    holder = torch.nn.Sequential(torch.nn.Linear(I, I), layer)
    for module in (layer, holder):
        with pytest.raises(RuntimeError) as err, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.script's own deprecation warning
            torch.jit.script(module)
        message = str(err.value)
        assert "\n" not in message.strip()
        assert f"rnnkit.nn.{name}" in message and "torch.jit.trace" in message and "torch.export" in message
