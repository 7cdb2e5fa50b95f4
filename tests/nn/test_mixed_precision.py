"""Under torch.autocast (bfloat16): rnnkit's own recurrences stay float32 and hand back the dtypes
torch.nn returns, torch's native kernels run in bfloat16, states of another floating dtype are
accepted, and training works end to end."""

import pytest
import torch

import rnnkit.nn as rnn
from rnnkit.config import TrainConfig
from rnnkit.models.lm import RNNLanguageModel
from rnnkit.train import Trainer

from .harness import flat, run_torch


def _bf16():
    return torch.autocast("cpu", dtype=torch.bfloat16)


@pytest.mark.parametrize("cls", [rnn.LSTM, rnn.GRU, rnn.RNN])
def test_own_recurrence_is_float32_and_unchanged_under_autocast(cls):
    torch.manual_seed(0)
    layer = cls(6, 8, num_layers=2, batch_first=True, bidirectional=True, backend="bptt")
    x = torch.randn(3, 5, 6, requires_grad=True)
    lengths = torch.tensor([5, 2, 4])
    ref_out, _ = layer(x, lengths=lengths)
    (ref_grad,) = torch.autograd.grad(ref_out.sum(), x)
    with _bf16():
        out, state = layer(x, lengths=lengths)
    # torch.nn's dtype (an RNN's products give bfloat16; a GRU's or a packed LSTM's float32
    # state promotes them back): the float32 result, rounded once at the end
    assert out.dtype == {rnn.LSTM: torch.float32, rnn.GRU: torch.float32, rnn.RNN: torch.bfloat16}[cls]
    torch.testing.assert_close(out, ref_out.to(out.dtype), rtol=0, atol=0)
    (grad,) = torch.autograd.grad(out.sum(), x)
    torch.testing.assert_close(grad, ref_grad)


@pytest.mark.parametrize("backend", ["bptt", "reference"])
def test_own_recurrence_returns_torch_nn_dtypes_under_autocast(backend):
    # torch.nn's dtypes differ by mode, autocast dtype, input dtype and whether the input is
    # packed (oneDNN's fused LSTM); ours returned float32 throughout, so the backend changed them.
    checked = 0
    for name, kw in [("RNN", {}), ("GRU", {}), ("LSTM", {}), ("LSTM", {"proj_size": 3})]:
        for low in (torch.bfloat16, torch.float16):
            for x_dtype in (torch.float32, torch.bfloat16):
                for lengths in (None, [4, 2]):
                    torch.manual_seed(0)
                    theirs = getattr(torch.nn, name)(5, 6, **kw)
                    ours = getattr(rnn, name).from_torch(theirs, backend=backend)
                    x = torch.randn(4, 2, 5).to(x_dtype)
                    with torch.autocast("cpu", dtype=low):
                        try:
                            want = run_torch(theirs, x, lengths=lengths)
                        except RuntimeError:  # torch.nn refuses some float16 runs (counted below)
                            continue
                        got = ours(x, lengths=lengths)
                    got, want = [got[0], *flat(got[1])], [want[0], *flat(want[1])]
                    assert [t.dtype for t in got] == [t.dtype for t in want], (name, kw, low, x_dtype, lengths)
                    for a, b in zip(got, want):
                        torch.testing.assert_close(a.float(), b.float(), atol=0.05, rtol=0)
                    checked += 1
    # all 32 but the 6 float16 runs that torch.nn refuses: oneDNN's LSTM training, and packed
    # bfloat16 input ("Unexpected floating ScalarType in at::autocast::prioritize")
    assert checked == 26


def test_the_dtype_probe_agrees_with_torch_nn_and_the_cpu_rule():
    """Off the CPU the layers ask torch's kernel for its autocast dtypes (a step or two of zeros);
    on the CPU, where the rule is written down, the probe gives the same answer as the rule and as
    torch.nn itself (the GPU side is tests/test_devices_gpu.py)."""
    from rnnkit.nn.backend import native_autocast_dtypes, probed_autocast_dtypes

    checked = 0
    for name, kw in [("RNN", {}), ("GRU", {}), ("LSTM", {}), ("LSTM", {"proj_size": 3})]:
        for low in (torch.bfloat16, torch.float16):
            for lengths in (None, [4, 2]):
                layer = getattr(rnn, name)(5, 6, num_layers=2, bidirectional=True, **kw)
                x = torch.randn(4, 2, 5)
                with torch.autocast("cpu", dtype=low), torch.no_grad():
                    try:
                        want = run_torch(layer.to_torch(), x, lengths=lengths)
                    except RuntimeError:  # as above: torch.nn refuses some float16 runs
                        continue
                    sizes = [kw.get("proj_size", 6)] + [6] * (name == "LSTM")
                    probed = probed_autocast_dtypes(layer.cell_type, x, layer._flat_weights, True, 2, True, sizes,
                                                    lengths is not None)
                    rule = native_autocast_dtypes(layer.cell_type.mode, x, bool(kw), lengths is not None)
                assert list(probed) == list(rule) == [t.dtype for t in [want[0], *flat(want[1])]], (name, kw, low)
                checked += 1
    assert checked >= 12


def test_the_dtype_probe_on_an_empty_batch_and_under_forward_ad(monkeypatch):
    """torch keeps an empty batch away from its fused kernels (other dtypes: oneDNN's LSTM here,
    cuDNN on a GPU), so the probe runs an empty batch for one; and it reads dual weights without
    their tangents (cuDNN has no forward-mode rule)."""
    from torch.autograd import forward_ad as fwAD

    from rnnkit.nn import backend

    seen = {}
    for name in ("LSTM", "GRU"):
        layer = getattr(rnn, name)(5, 6)
        sizes = [6] * (2 if name == "LSTM" else 1)
        for batch in (2, 0):
            x = torch.randn(3, batch, 5)
            with torch.autocast("cpu", dtype=torch.bfloat16), torch.no_grad():
                want = layer.to_torch()(x)
                probed = backend.probed_autocast_dtypes(layer.cell_type, x, layer._flat_weights, True, 1, False,
                                                        sizes, False)
            assert list(probed) == [t.dtype for t in [want[0], *flat(want[1])]], (name, batch)
            seen[name, batch] = probed
    assert seen["LSTM", 2] != seen["LSTM", 0]  # the empty batch is a case of its own
    monkeypatch.setattr(backend, "_PROBED_DTYPES", {})
    with fwAD.dual_level(), torch.autocast("cpu", dtype=torch.bfloat16):
        dual = [fwAD.make_dual(w.detach(), torch.ones_like(w)) for w in layer._flat_weights]
        probed = backend.probed_autocast_dtypes(layer.cell_type, torch.randn(3, 1, 5), dual, True, 1, False, [6],
                                                False)
    assert probed == seen["GRU", 2]


def test_native_lstm_runs_in_bfloat16_close_to_float32():
    torch.manual_seed(0)
    layer = rnn.LSTM(16, 32, batch_first=True, backend="native")
    x = torch.randn(4, 20, 16)
    ref, _ = layer(x)
    with _bf16():
        out, (h, c) = layer(x, (torch.zeros(1, 4, 32), torch.zeros(1, 4, 32)))  # float32 states accepted
    assert out.dtype == torch.bfloat16
    assert (out.float() - ref).abs().max() < 0.05


def test_language_model_carries_float32_states_under_autocast():
    model = RNNLanguageModel(20, 8, 16, num_layers=1)
    model.recurrent.backend = "native"
    with _bf16():
        logits, state = model(torch.randint(0, 20, (2, 7)))
        logits2, state2 = model(torch.randint(0, 20, (2, 7)), state)
    assert all(s.dtype == torch.float32 for s in (*state, *state2))


class Tokens:
    """A tiny language-model task: predict the next token of a repeating pattern."""

    monitor, higher_is_better, unit = "loss", False, "tokens"

    def __init__(self):
        torch.manual_seed(0)
        self.model = RNNLanguageModel(6, 8, 32, num_layers=1)
        self.data = torch.arange(6).repeat(8, 9)  # (8, 54)

    def train_batches(self, epoch):
        for i in range(0, 48, 8):
            yield self.data[:, i : i + 8], self.data[:, i + 1 : i + 9]

    def loss(self, batch):
        logits, _ = self.model(batch[0])
        return torch.nn.functional.cross_entropy(logits.float().reshape(-1, 6), batch[1].reshape(-1)), batch[1].numel()

    def evaluate(self):
        with torch.no_grad():
            return {"loss": float(self.loss((self.data[:, :48], self.data[:, 1:49]))[0])}

    def checkpoint_meta(self):
        return {"model_type": "toy-lm"}


def test_trainer_learns_in_bfloat16(tmp_path):
    task = Tokens()
    best = Trainer(task, TrainConfig(out=str(tmp_path), epochs=30, lr=0.02, precision="bfloat16", patience=0),
                   progress=False).fit()
    assert best["loss"] < 0.1  # the pattern is deterministic: near-zero loss once learnt
    assert all(p.dtype == torch.float32 for p in task.model.parameters())


def test_float64_stays_float64_under_autocast():
    layer = rnn.GRU(3, 4, backend="bptt").double()
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    with _bf16():
        out, h = layer(x)
    assert out.dtype == h.dtype == torch.float64
    torch.testing.assert_close(out, layer(x)[0])


def test_auto_precision_follows_the_hardware():
    from rnnkit.train.runtime import fast_bfloat16, resolve_precision

    cpu = torch.device("cpu")
    assert resolve_precision("float32", cpu) == "float32" and resolve_precision("bfloat16", cpu) == "bfloat16"
    assert resolve_precision("auto", cpu) == ("bfloat16" if fast_bfloat16(cpu) else "float32")
