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


@pytest.fixture
def exact_float32():
    """float32 products in full precision: on Ampere and later cuDNN's recurrent kernels run in
    TF32 by default (``torch.backends.cudnn.allow_tf32``), about 1e-3 relative, which is far from
    the CPU's and from our own loop's float32."""
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before


def _lm_beam(lm, prompt: str, beam: int, num: int) -> list[tuple[str, float]]:
    """``lm.generate(prompt, 8, beam=beam, num=num)`` with each continuation's score (the same
    search, through the decoding API, which returns hypotheses)."""
    from rnnkit.decode.generation import generate
    from rnnkit.tasks.language_model import _StreamTokensOnly, decode_config

    src, lengths = torch.zeros(1, 0, dtype=torch.long, device=lm.device), torch.zeros(1, dtype=torch.long)
    model = _StreamTokensOnly(lm.model, lm.codec.vocab, unknown=lm.lm_cfg.level == "word")
    hyps = generate(model, src, lengths, decode_config(8, beam=beam, num=num), prefix=lm.encode(prompt).unsqueeze(0))
    return [(lm.codec.decode(h.tokens), h.score) for h in hyps[0]]


def _same_ranking(got: list[tuple[str, float]], expected: list[tuple[str, float]], tol: float = 1e-4) -> None:
    """The same hypotheses in the same order, with the same scores to ``tol``; two hypotheses
    whose scores tie to ``tol`` may come in either order (a tiny model trained a few steps
    scores many continuations almost alike, and the GPU sums in another order)."""
    assert [score for _, score in got] == pytest.approx([score for _, score in expected], abs=tol)
    for (a, score), (b, _) in zip(got, expected):
        if a != b:
            assert any(text == a and abs(s - score) <= tol for text, s in expected), (got, expected)


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
def test_train_on_cuda_then_load_on_the_cpu(task, tmp_path, capsys, exact_float32):
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
        assert len(gpu.generate("the ", 8, beam=3, num=2)) == 2
        _same_ranking(_lm_beam(gpu, "the ", 3, 2), _lm_beam(cpu, "the ", 3, 2))
    else:
        from rnnkit.tasks.translation import Translator

        gpu, cpu = Translator.load(out, device="cuda"), Translator.load(out, device="cpu")
        for beam in (1, 3):
            a, b = gpu.translate(["uno cinco", "tres siete"], beam=beam), cpu.translate(["uno cinco", "tres siete"],
                                                                                     beam=beam)
            for got, expected in zip(a, b):
                _same_ranking([(h.text, h.score) for h in got], [(h.text, h.score) for h in expected])
            assert a[0][0].attention.device.type == "cpu"  # attention comes back on the CPU


def test_translate_command_on_a_gpu_trained_model(tmp_path, capsys):
    out = tmp_path / "run"
    run(capsys, [*_train_argv("seq2seq", tmp_path), "--out", out, "--device", "cuda"])
    gpu, err = run(capsys, ["translate", "--checkpoint", out, "--beam", "3", "--n-best", "2", "uno cinco", "--quiet",
                            "--device", "cuda"])
    assert "contiguous chunk" not in err  # cuDNN's warning about weights it must copy on every call
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


def test_cpu_only_pieces_step_aside_on_cuda(exact_float32):
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


@pytest.mark.parametrize("mode", ["LSTM", "LSTM-proj", "GRU", "RNN-relu"])
def test_layers_keep_their_weights_in_one_cudnn_buffer(mode, exact_float32):
    """As torch.nn's: built on the GPU, moved there, deep-copied or unpickled, a layer's weights
    are views of one buffer, so cuDNN neither copies them on each call nor warns; and the layer
    computes what torch.nn's computes, forward and backward."""
    import copy
    import pickle
    import warnings

    import rnnkit.nn as rnn

    name, _, extra = mode.partition("-")
    kwargs = {"proj": {"proj_size": 5}, "relu": {"nonlinearity": "relu"}, "": {}}[extra]
    shape = dict(input_size=6, hidden_size=16, num_layers=2, bidirectional=True, batch_first=True, **kwargs)
    torch.manual_seed(0)
    reference = getattr(torch.nn, name)(**shape).cuda()
    built_there = getattr(rnn, name)(**shape, device="cuda")
    built_there.load_state_dict(reference.state_dict())
    moved = getattr(rnn, name)(**shape)
    moved.load_state_dict(reference.state_dict())
    moved = moved.cuda()
    x = torch.randn(5, 7, 6, device="cuda")
    expected, _ = reference(x)
    expected.square().sum().backward()
    for layer in (built_there, moved, copy.deepcopy(moved), pickle.loads(pickle.dumps(moved))):
        assert len({p.untyped_storage().data_ptr() for p in layer.parameters()}) == 1
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # cuDNN's "not part of single contiguous chunk" included
            out, _ = layer(x)
            out.square().sum().backward()
        torch.testing.assert_close(out, expected)
        for (key, p), q in zip(layer.named_parameters(), reference.parameters()):
            torch.testing.assert_close(p.grad, q.grad, msg=key)


# -- data-parallel on CUDA ------------------------------------------------------------------------------


def test_torchrun_on_cuda_trains_with_nccl_as_one_process_does(tmp_path, capsys, exact_float32):
    """torchrun with one process per GPU (nccl, DDP) gives a plain run's weights; more processes
    than this machine has GPUs is one line before anything trains (nccl cannot put two ranks on
    one device)."""
    import os
    import subprocess
    import sys

    from rnnkit.train import load_checkpoint

    from .train.test_distributed import REPO, _free_port

    (tmp_path / "text.txt").write_text("the quick brown fox jumps over the lazy dog.\n" * 40)
    args = ["lm", "--data", tmp_path / "text.txt", "--bptt", "8", "--hidden-size", "16", "--embedding-size", "8",
            "--num-layers", "2", "--cell", "lstm", "--optimizer", "sgd", "--lr", "0.5", "--dropout", "0",
            "--batch-size", "8", "--schedule", "constant", "--warmup-steps", "0", "--patience", "0",
            "--precision", "float32", "--device", "cuda", "--max-steps", "6", "--checkpoint-every", "1000",
            "--quiet"]
    torch.backends.cudnn.deterministic = True
    try:
        run(capsys, ["train", *args, "--out", tmp_path / "plain"])
    finally:
        torch.backends.cudnn.deterministic = False
    env = {**os.environ, "PYTHONPATH": str(REPO), "NCCL_DEBUG": "INFO", "CUDA_VISIBLE_DEVICES": "0",
           "NVIDIA_TF32_OVERRIDE": "0"}
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "1", "--master-port",
              str(_free_port()), "-m", "rnnkit", "train", *map(str, args), "--out", str(tmp_path / "ddp")]
    proc = subprocess.run(launch, env=env, cwd=REPO, capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "NCCL INFO" in proc.stdout + proc.stderr  # the collectives ran on nccl
    plain = load_checkpoint(tmp_path / "plain" / "resume").weights
    ddp = load_checkpoint(tmp_path / "ddp" / "resume").weights
    assert plain.keys() == ddp.keys()
    for name in plain:
        torch.testing.assert_close(ddp[name], plain[name], rtol=1e-5, atol=1e-6, msg=name)

    proc = subprocess.run([sys.executable, "-m", "rnnkit", "train", *map(str, args), "--out", str(tmp_path / "two"),
                           "--nproc", "2"], env={**env, "NCCL_DEBUG": ""}, cwd=REPO, capture_output=True,
                          text=True, timeout=150)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "rnnkit train: error: process 1 of this machine has no CUDA device of its own (there are 1); start at most "
        "1 process per machine, or train on the CPU with --device cpu"]
    assert not (tmp_path / "two").exists()


# -- the torch.nn contract on CUDA: autocast's dtypes, torch.compile ---------------------------------------


@pytest.mark.parametrize("cudnn", [True, False])
@pytest.mark.parametrize("backend", ["auto", "bptt", "reference"])
def test_autocast_on_cuda_gives_torch_nn_dtypes_on_every_backend(backend, cudnn):
    """Under CUDA autocast our own recurrences compute in float32 and return what torch's kernel
    returns (asked of it: cuDNN's casts to float16, the generic path keeps bfloat16, and an empty
    batch never reaches cuDNN), so the backend never changes what a caller receives; the values
    agree to the low dtype's precision."""
    import rnnkit.nn as rnn
    from tests.nn.harness import flat, run_torch

    checked, refused = 0, []
    for name, kw in [("RNN", {}), ("GRU", {}), ("LSTM", {}), ("LSTM", {"proj_size": 3})]:
        for low in (torch.bfloat16, torch.float16):
            for lengths in (None, [4, 2], "empty"):
                torch.manual_seed(0)
                theirs = getattr(torch.nn, name)(5, 6, num_layers=2, **kw).cuda()
                ours = getattr(rnn, name).from_torch(theirs, backend=backend)
                x = torch.randn(4, 0 if lengths == "empty" else 2, 5, device="cuda")
                lengths = None if lengths == "empty" else lengths
                with torch.autocast("cuda", dtype=low), torch.backends.cudnn.flags(enabled=cudnn):
                    try:
                        want = run_torch(theirs, x, lengths=lengths)
                    except RuntimeError as err:  # where torch.nn itself cannot run, there is nothing to match
                        refused.append((name, kw, low, lengths, str(err)[:200]))
                        continue
                    got = ours(x, lengths=lengths)
                got, want = [got[0], *flat(got[1])], [want[0], *flat(want[1])]
                assert [t.dtype for t in got] == [t.dtype for t in want], (name, kw, low, lengths)
                for a, b in zip(got, want):
                    torch.testing.assert_close(a.float(), b.float(), atol=0.05, rtol=0)
                checked += 1
    print(f"{backend}, cuDNN {cudnn}: {checked} combinations matched torch.nn; torch.nn refused {refused}")
    assert checked >= 18, refused


@pytest.mark.parametrize("with_lengths", [
    False,
    pytest.param(True, marks=pytest.mark.xfail(
        torch.__version__ < "2.13", strict=True, raises=Exception,
        reason="torch 2.11 (the GPU machine's, 2026-11-27) reports torch.export under torch.compile, so the "
               "layers take the scan loop meant for export, whose backward torch 2.11 refuses ('scan might be "
               "aliasing the input or the output'); 2.13 runs cuDNN outside the graph")),
])
def test_compiled_layers_train_on_cuda(with_lengths, exact_float32):
    """torch.compile: cuDNN's kernels run outside the graph, as torch.nn's do; outputs and
    gradients equal eager ones."""
    import rnnkit.nn as rnn

    x = torch.randn(4, 6, 5, device="cuda")
    lengths = torch.tensor([6, 2, 5, 1]) if with_lengths else None
    for name in ("LSTM", "GRU", "RNN"):
        torch.manual_seed(0)
        layer = getattr(rnn, name)(5, 8, num_layers=2, batch_first=True).cuda()
        compiled = torch.compile(layer, backend="aot_eager")
        results = []
        for module in (layer, compiled):
            out, _ = module(x, lengths=lengths)
            out.square().sum().backward()
            results.append((out.detach(), [p.grad.clone() for p in layer.parameters()]))
            layer.zero_grad()
        (a, grads_a), (b, grads_b) = results
        torch.testing.assert_close(b, a)
        for ga, gb in zip(grads_a, grads_b):  # cuDNN's weight gradients sum in no fixed order
            torch.testing.assert_close(gb, ga, rtol=1e-4, atol=1e-4)
