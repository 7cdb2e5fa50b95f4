"""Every command and the Python API on a CUDA device: training each task, decoding (greedy and
beam), checkpoints crossing between the GPU and the CPU both ways, float16 with its gradient
scaler resumed exactly, and a resume that moves a run to another device.

Marked ``gpu`` and skipped without a CUDA device: run with ``make test-gpu`` (``pytest -m gpu``).
The CPU side of the same contract is ``tests/test_devices.py``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from rnnkit.train.runtime import module_device, resolve_device, resolve_precision

from .cli_helpers import run
from .test_devices import _train_argv

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests/fixtures/checkpoints-v2"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())


def _same_output(got: str, expected: str, tol: float = 2e-3) -> None:
    """Equal text; printed numbers equal to ``tol`` (a GPU rounds its sums in another order)."""
    a, b = got.split(), expected.split()
    assert len(a) == len(b), (got, expected)
    for x, y in zip(a, b):
        try:
            assert math.isclose(float(x), float(y), abs_tol=tol), (got, expected)
        except ValueError:
            assert x == y, (got, expected)


# -- the commands on cuda ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["classify_predict", "classify_eval", "lm_greedy", "lm_beam", "lm_eval",
                                  "seq2seq_beam", "seq2seq_greedy"])
def test_checkpoints_written_on_the_cpu_decode_on_cuda(name, capsys, monkeypatch):
    """eval, predict, generate (greedy and beam) and translate (greedy and beam) on cuda give the
    CPU's output (the fixtures were written on a CPU)."""
    monkeypatch.chdir(ROOT)
    for spec in ("cuda", "cuda:0", "auto"):
        out, _ = run(capsys, [*EXPECTED["cases"][name], "--device", spec])
        _same_output(out, EXPECTED["stdout"][name])


@pytest.mark.parametrize("name", ["lm_sample", "lm_nucleus"])
def test_sampling_runs_on_cuda(name, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    out, _ = run(capsys, [*EXPECTED["cases"][name], "--device", "cuda"])
    assert out.strip()


@pytest.mark.parametrize("task", ["lm", "classify", "seq2seq"])
def test_train_on_cuda_then_load_on_the_cpu(task, tmp_path, capsys):
    """A few steps of each task on the GPU (auto precision: bfloat16 or float16 + scaler); the
    checkpoint then loads on the CPU and on the GPU, and both give the same answers."""
    out = tmp_path / "run"
    run(capsys, [*_train_argv(task, tmp_path), "--out", out, "--device", "cuda", "--precision", "auto",
                 "--max-steps", "4"])
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert records[0]["precision"] == resolve_precision("auto", resolve_device("cuda"))
    if task == "classify":
        from rnnkit.tasks.classification import Classifier

        gpu, cpu = Classifier.load(out, device="cuda"), Classifier.load(out, device="cpu")
        texts = ["the film was good", "a dull plot"]
        for (la, pa), (lb, pb) in zip(gpu.predict(texts), cpu.predict(texts)):
            assert la == lb and pa == pytest.approx(pb, abs=1e-4)
    elif task == "lm":
        from rnnkit.tasks.language_model import LanguageModel

        gpu, cpu = LanguageModel.load(out, device="cuda"), LanguageModel.load(out, device="cpu")
        text = (tmp_path / "text.txt").read_text()
        assert gpu.evaluate(text)["loss"] == pytest.approx(cpu.evaluate(text)["loss"], abs=1e-4)
        assert gpu.generate("the ", 20, greedy=True) == cpu.generate("the ", 20, greedy=True)
        assert gpu.generate("the ", 8, beam=3, num=2) == cpu.generate("the ", 8, beam=3, num=2)
    else:
        from rnnkit.tasks.translation import Translator

        gpu, cpu = Translator.load(out, device="cuda"), Translator.load(out, device="cpu")
        for beam in (1, 3):
            a, b = gpu.translate(["uno cinco", "tres siete"], beam=beam), cpu.translate(["uno cinco", "tres siete"],
                                                                                     beam=beam)
            assert [h[0].text for h in a] == [h[0].text for h in b]
            assert [h[0].score for h in a] == pytest.approx([h[0].score for h in b], abs=1e-4)
            assert a[0][0].attention.device.type == "cpu"  # attention comes back on the CPU


def test_translate_command_on_a_gpu_trained_model(tmp_path, capsys):
    out = tmp_path / "run"
    run(capsys, [*_train_argv("seq2seq", tmp_path), "--out", out, "--device", "cuda"])
    gpu, _ = run(capsys, ["translate", "--checkpoint", out, "--beam", "3", "--n-best", "2", "uno cinco", "--quiet",
                          "--device", "cuda"])
    cpu, _ = run(capsys, ["translate", "--checkpoint", out, "--beam", "3", "--n-best", "2", "uno cinco", "--quiet",
                          "--device", "cpu"])
    _same_output(gpu, cpu)


# -- float16, resume, moving between devices ----------------------------------------------------------


def _lm_task(out, **train):
    from rnnkit.config import LanguageModelConfig, LMConfig, TrainConfig
    from rnnkit.tasks.language_model import LanguageModelTask

    text = "the quick brown fox jumps over the lazy dog; a stitch in time saves nine.\n" * 40
    cfg = TrainConfig(out=str(out), batch_size=4, lr=3e-3, **train)
    # One layer: the dropout (on the embeddings and outputs) then draws from the CUDA generator the
    # resumable state saves; cuDNN's dropout between stacked layers keeps a state of its own.
    model_cfg = LanguageModelConfig(hidden_size=32, embedding_size=16, num_layers=1, dropout=0.1)
    task = LanguageModelTask.from_text(text[:2600], text[2600:], model_cfg, LMConfig(bptt=16), cfg)
    return task, cfg


def _fit(out, **train):
    from rnnkit.train import Trainer

    task, cfg = _lm_task(out, **train)
    trainer = Trainer(task, cfg, progress=False)
    trainer.fit()
    return trainer, task


@pytest.fixture
def deterministic_cudnn():
    before = torch.backends.cudnn.deterministic
    torch.backends.cudnn.deterministic = True
    yield
    torch.backends.cudnn.deterministic = before


def test_float16_with_its_gradient_scaler_resumes_exactly(tmp_path, deterministic_cudnn):
    """Killed (here: stopped) at step 3 and resumed to step 8 equals 8 straight steps: the scaler's
    scale and growth tracker, the CUDA generator (dropout) and the carried states are restored."""
    from rnnkit.train import load_checkpoint

    common = {"device": "cuda", "precision": "float16", "checkpoint_every": 3, "patience": 0}
    straight, _ = _fit(tmp_path / "straight", max_steps=8, **common)
    assert straight.scaler is not None
    _fit(tmp_path / "resumed", max_steps=3, **common)
    saved = json.loads((tmp_path / "resumed" / "resume" / "checkpoint.json").read_text())["trainer"]
    assert saved["grad_scaler"]["scale"] > 0
    resumed, task = _fit(tmp_path / "resumed", max_steps=8, resume=True, **common)
    assert resumed.scaler.get_scale() == straight.scaler.get_scale()
    a = load_checkpoint(tmp_path / "straight" / "resume").weights
    b = load_checkpoint(tmp_path / "resumed" / "resume").weights
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.parametrize("first,then", [("cpu", "cuda"), ("cuda", "cpu")])
def test_a_run_resumes_on_another_device(tmp_path, first, then):
    """The weights, the optimiser's state and the carried state are read on the CPU and moved."""
    _fit(tmp_path / "run", max_steps=3, checkpoint_every=3, device=first, precision="float32")
    trainer, task = _fit(tmp_path / "run", max_steps=6, checkpoint_every=3, device=then, precision="float32",
                         resume=True)
    where = resolve_device(then)
    assert trainer.step == 6 and module_device(task.model) == where
    for state in trainer.optimizer.state.values():
        assert state["exp_avg"].device == where and state["exp_avg_sq"].device == where
    carried = task.state if isinstance(task.state, tuple) else (task.state,)
    assert all(s.device == where for s in carried)


def test_cpu_only_pieces_step_aside_on_cuda():
    """oneDNN's packed product is a CPU kernel: on CUDA the decoder's generator is the module and
    rnnkit's own recurrence (backend "bptt", asked for explicitly) runs torch.addmm, agreeing with
    cuDNN; lengths are accepted on the CPU or on the device."""
    import rnnkit.nn as rnn
    from rnnkit.models.seq2seq import Seq2Seq
    from rnnkit.nn._step_matmul import StepMatmul

    assert not StepMatmul(torch.randn(8, 4, device="cuda"), 2).uses_onednn
    model = Seq2Seq(10, 12, 8, 16, attention="general").cuda().eval()
    with torch.no_grad():
        assert model._decoding_generator(3) is model.generator
    torch.manual_seed(0)
    x = torch.randn(5, 7, 6, device="cuda")
    lengths = torch.tensor([7, 3, 5, 1, 6])
    for layer in (rnn.LSTM, rnn.GRU, rnn.RNN):
        native = layer(6, 16, num_layers=2, batch_first=True, bidirectional=True, backend="native").cuda()
        for backend in ("bptt", "reference"):
            other = layer(6, 16, num_layers=2, batch_first=True, bidirectional=True, backend=backend).cuda()
            other.load_state_dict(native.state_dict())
            for lens in (lengths, lengths.cuda()):
                a, _ = native(x, lengths=lens)
                b, _ = other(x, lengths=lens)
                torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
                a.square().sum().backward()
                b.square().sum().backward()
                for (name, p), q in zip(native.named_parameters(), other.parameters()):
                    torch.testing.assert_close(p.grad, q.grad, rtol=1e-3, atol=1e-4, msg=name)
                native.zero_grad()
                other.zero_grad()
