"""Graph capture: torch.jit.trace, torch.export, ONNX (run in onnxruntime) and torch.compile.

With ``lengths``, a captured graph takes the padded input and the lengths tensor as graph inputs
and must equal eager for lengths it never saw at capture time: outputs, and final states taken at
each sequence's last valid step (the reverse direction starting at each sequence's end). Every
layer there is 2-layer, bidirectional and batch_first. Without lengths, layers of every backend
and size capture as torch.nn's do, in training and evaluation with gradients on, and equal
torch.nn on the same weights; so do compiled layers' gradients. torch.jit.script is refused in
one line that points to trace and export, for layers and cells.
"""

import io
import warnings

import pytest
import torch

import rnnkit.nn as rnn
from rnnkit.nn.backend import capturing

from .harness import into_one_buffer, run_torch

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


def test_export_with_lengths_of_weights_in_one_buffer():
    """On a GPU the weights are views of cuDNN's one flat buffer (flatten_parameters); torch's scan
    refused such aliased inputs ("Higher order ops do not support aliasing")."""
    torch.manual_seed(0)
    layer = rnn.LSTM(I, H, num_layers=2, batch_first=True, bidirectional=True, proj_size=3)
    into_one_buffer(layer)
    model = Capturable(layer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(model, EXAMPLE)
    x, lengths = batch(4, 7, [3, 7, 0, 6])
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


@pytest.mark.parametrize("name", MODELS + ["RNNCell", "LSTMCell", "GRUCell"])
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


# -- without lengths: captured as torch.nn's layers are ------------------------------------------

WIDE = 128  # from this hidden size "auto" trains GRU and RNN on our fused path (backend.SMALL_HIDDEN)


class ThreeLayers(torch.nn.Module):
    """x -> (output, *final states) of a GRU, an RNN and a 2-layer bidirectional LSTM, side by side,
    built from ``nn`` (torch.nn or rnnkit.nn) with ``kw`` (rnnkit's backend)."""

    def __init__(self, nn, **kw):
        super().__init__()
        self.gru = nn.GRU(32, WIDE, batch_first=True, **kw)
        self.rnn = nn.RNN(32, WIDE, batch_first=True, **kw)
        self.lstm = nn.LSTM(32, 16, num_layers=2, bidirectional=True, batch_first=True, **kw)

    def forward(self, x):
        (a, h_a), (b, h_b), (c, (h_c, c_c)) = self.gru(x), self.rnn(x), self.lstm(x)
        return a, h_a, b, h_b, c, h_c, c_c


def twins(backend: str, training: bool):
    torch.manual_seed(0)
    theirs = ThreeLayers(torch.nn).train(training)
    ours = ThreeLayers(rnn, backend=backend).train(training)
    ours.load_state_dict(theirs.state_dict())
    return theirs, ours


def wide_batch(seed: int):
    return torch.randn(3, 6, 32, generator=torch.Generator().manual_seed(seed), requires_grad=True)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("backend", ["auto", "bptt"])
def test_export_without_lengths_matches_torch(backend, training):
    # "auto" trains the wide GRU and RNN on our fused path, an autograd Function that export
    # cannot capture ("functions with out=... arguments don't support automatic differentiation").
    theirs, ours = twins(backend, training)
    x = wide_batch(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(ours, (x,))
    x2 = wide_batch(2)
    assert_close(program.module()(x2), theirs(x2), atol=1e-6)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("backend", ["auto", "bptt"])
def test_trace_without_lengths_matches_torch(backend, training):
    theirs, ours = twins(backend, training)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # trace's deprecation warning
        traced = torch.jit.trace(ours, (wide_batch(1),))  # raised "unsupported input list type: Scalar?"
    x2 = wide_batch(2)
    assert_close(traced(x2), theirs(x2), atol=1e-6)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_onnx_torchscript_exporter_without_lengths_matches_torch(training):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is in the dev extra: pip install -e '.[dev]'")
    theirs, ours = twins("auto", training)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(ours, (wide_batch(1),), buffer, dynamo=False, input_names=["x"])
    session = ort.InferenceSession(buffer.getvalue())
    x2 = wide_batch(2)
    assert_close(session.run(None, {"x": x2.detach().numpy()}), theirs(x2), atol=1e-5)


def test_reference_backend_exports_without_lengths():
    # torch's scan refused a step whose output aliases its carry, as the unmasked step's does.
    torch.manual_seed(0)
    theirs = torch.nn.GRU(I, H, batch_first=True)
    ours = Capturable(rnn.GRU.from_torch(theirs, backend="reference"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(ours, (EXAMPLE[0], None))
    x = batch(4, 7, [7] * 4)[0]
    assert_close(program.module()(x, None), theirs(x), atol=1e-5)


def _compiled_grads(module, x, compiler, fullgraph=False):
    """Output and parameter gradients of ``module`` run through torch.compile(backend=compiler)."""
    torch._dynamo.reset()
    run = torch.compile(module, backend=compiler, fullgraph=fullgraph) if compiler else module
    output, state = run(x)
    (output.sum() + sum(s.square().sum() for s in (state if isinstance(state, tuple) else (state,)))).backward()
    grads = [p.grad.clone() for p in module.parameters()]
    module.zero_grad()
    return [output.detach(), *grads]


def test_compiled_training_matches_torch():
    # The LSTM's native kernel failed inside aot_eager's graph ("expected all
    # tensors_saved_with_vc_check to be Tensors"); it now runs outside it, as torch.nn's does,
    # while the GRU's and RNN's stay in the graph (fullgraph=True).
    for name, kw in [("LSTM", {"num_layers": 2, "bidirectional": True}), ("GRU", {}),
                     ("RNN", {"num_layers": 2, "bidirectional": True})]:
        torch.manual_seed(0)
        theirs = getattr(torch.nn, name)(I, H, **kw)
        ours = getattr(rnn, name).from_torch(theirs)
        x = torch.randn(7, 4, I, generator=torch.Generator().manual_seed(1))
        expected = _compiled_grads(theirs, x, None)
        for compiler in ("eager", "aot_eager"):
            assert_close(_compiled_grads(ours, x, compiler, fullgraph=name != "LSTM"), expected, atol=1e-6)
