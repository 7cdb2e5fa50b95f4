"""Choosing a device: ``resolve_device``'s checks, ``--device`` on every command, ``device=`` in the
Python API, and precision per device -- what a CPU-only machine can test.

What needs a GPU (training and decoding on CUDA, a checkpoint crossing between a GPU and the CPU,
float16 with its gradient scaler, a resume that moves the optimiser's state) is in
``tests/test_devices_gpu.py``, marked ``gpu`` and skipped here. The CUDA branches of
``resolve_device`` and ``resolve_precision`` are checked below with torch's CUDA queries patched.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from rnnkit.train import runtime
from rnnkit.train.runtime import module_device, resolve_device, resolve_precision

from .cli_helpers import one_line_error, run

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests/fixtures/checkpoints-v2"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")


# -- resolve_device -------------------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="auto picks the GPU here")
def test_auto_is_the_cpu_without_cuda():
    assert resolve_device("auto") == resolve_device(None) == torch.device("cpu")
    assert runtime.available_devices()[0] == "cpu"


def test_cpu_and_torch_devices_pass():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_torchs_indexed_names_of_the_cpu_and_mps_pass():
    # torch.device("cpu", 0) prints as cpu:0; the one MPS device is mps:0
    assert resolve_device("cpu:0") == resolve_device("cpu:3") == resolve_device(torch.device("cpu", 0)) == \
        torch.device("cpu")
    if not runtime._mps_available():
        assert str(_error("mps:0")).startswith("--device mps: Apple's Metal (MPS) backend is not available here")


@pytest.mark.parametrize("spec", ["gpu", "CUDA", "cuda:", "cuda:x", "mps:1", "auto:0", "", " cpu", "meta", "cuda:-1"])
def test_unknown_names_are_one_line(spec):
    with pytest.raises(ValueError, match=r"unknown device; give auto, cpu, cuda, cuda:N or mps \(the devices here: "):
        resolve_device(spec)
    assert "\n" not in str(_error(spec))


def test_not_a_name():
    with pytest.raises(ValueError, match="must be a string"):
        resolve_device(0)


@NO_CUDA
@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "cuda:7"])
def test_cuda_without_cuda_names_the_devices_there_are(spec):
    message = str(_error(spec))
    assert message.startswith(f"--device {spec}: this machine has no CUDA device (torch {torch.__version__}")
    assert message.endswith("the devices here: cpu") or "mps" in message


@pytest.mark.skipif(runtime._mps_available(), reason="MPS is available here")
def test_mps_where_there_is_none():
    assert "Metal (MPS) backend is not available here" in str(_error("mps"))


def _two_gpus(monkeypatch):
    """torch's CUDA queries answering as on a machine with two GPUs (no CUDA call is made)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)


def test_cuda_index_past_the_devices(monkeypatch):
    _two_gpus(monkeypatch)
    with pytest.raises(ValueError, match=r"^--device cuda:7: this machine has 2 CUDA devices \(cuda:0 to cuda:1\); "
                                         r"the devices here: cpu, cuda:0, cuda:1"):
        resolve_device("cuda:7")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device("cuda") == resolve_device("auto") == torch.device("cuda", 0)  # with its index


def _error(spec) -> ValueError:
    try:
        resolve_device(spec)
    except ValueError as err:
        return err
    raise AssertionError(f"{spec!r} was accepted")


def test_module_device():
    assert module_device(torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert module_device(torch.nn.ReLU()) == torch.device("cpu")  # no parameters: the CPU
    assert module_device(torch.nn.Linear(2, 2, device="meta")) == torch.device("meta")


# -- precision per device ---------------------------------------------------------------------------


def test_float16_needs_cuda():
    with pytest.raises(ValueError, match="--precision float16 needs a CUDA device"):
        resolve_precision("float16", torch.device("cpu"))
    with pytest.raises(ValueError, match="--precision must be one of"):
        resolve_precision("half", torch.device("cpu"))


def test_auto_precision_on_the_cpu_is_unchanged():
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == ("bfloat16" if runtime.fast_bfloat16(cpu) else "float32")
    assert resolve_precision("float32", cpu) == "float32" and resolve_precision("bfloat16", cpu) == "bfloat16"


@pytest.mark.parametrize("native,expected", [(True, "bfloat16"), (False, "float16")])
def test_auto_precision_on_cuda(monkeypatch, native, expected):
    monkeypatch.setattr(runtime, "_native_bfloat16_gpu", lambda: native)
    cuda = torch.device("cuda", 0)
    assert resolve_precision("auto", cuda) == expected
    assert resolve_precision("float16", cuda) == "float16" and resolve_precision("float32", cuda) == "float32"


def test_float16_loss_keeps_small_gradients():
    """The fused output layer + loss forms its gradients before a gradient scaler scales them:
    under float16 they are kept in float32. A class the model gives p ~ 1e-5 has gradients of
    p / N ~ 3e-9 per row, below float16's smallest number: in float16 they would be lost (its
    weight's gradient off by half), here they match float64 once scaled and unscaled."""
    from rnnkit.nn import linear_cross_entropy

    torch.manual_seed(0)
    N, H, V = 2048, 8, 16
    h64, w64 = torch.randn(N, H, dtype=torch.float64), torch.randn(V, H, dtype=torch.float64)
    bias = torch.zeros(V, dtype=torch.float64)
    bias[0] = -12.0  # class 0: rare, and never a target
    target = torch.randint(1, V, (N,))
    w = w64.clone().requires_grad_()
    torch.nn.functional.cross_entropy(torch.nn.functional.linear(h64, w, bias), target).backward()
    half = w64.half().requires_grad_()
    scale = 2.0**16  # where torch.amp.GradScaler starts
    (linear_cross_entropy(h64.half(), half, bias.half(), target) * scale).backward()
    assert torch.isfinite(half.grad).all()
    torch.testing.assert_close(half.grad[0].double() / scale, w.grad[0], rtol=0.02, atol=1e-8)


# -- the commands -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED["cases"]))
def test_every_checkpoint_command_on_the_cpu_gives_the_same_output(name, capsys, monkeypatch):
    """eval, predict, generate, translate: --device cpu (and auto on this machine) change nothing."""
    monkeypatch.chdir(ROOT)
    out, _ = run(capsys, [*EXPECTED["cases"][name], "--device", "cpu"])
    assert out == EXPECTED["stdout"][name]


@NO_CUDA
@pytest.mark.parametrize("name", ["classify_predict", "classify_eval", "lm_greedy", "lm_eval", "seq2seq_beam"])
def test_every_checkpoint_command_refuses_a_missing_gpu(name, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    argv = EXPECTED["cases"][name]
    line = one_line_error(capsys, [*argv, "--device", "cuda"], "--device cuda: this machine has no CUDA device")
    assert line.startswith(f"rnnkit {argv[0]}: error: ")


def test_eval_seq2seq_takes_a_device(capsys, monkeypatch, tmp_path):
    (tmp_path / "pairs.tsv").write_text("march 3rd, 1999\t1999-03-03\n1 feb 2001\t2001-02-01\n")
    argv = ["eval", "seq2seq", "--checkpoint", FIXTURES / "seq2seq", "--data", tmp_path / "pairs.tsv", "--beam", "2",
            "--quiet"]
    out, _ = run(capsys, [*argv, "--device", "cpu"])
    assert out == run(capsys, argv)[0] and "BLEU" in out
    one_line_error(capsys, [*argv, "--device", "tpu"], "--device 'tpu': unknown device")


def _classify_data(path):
    rng = random.Random(0)
    rows = [(lab, " ".join(rng.sample(["the", "film", "was", "a", "plot"], 3) + [rng.choice(words)]))
            for lab, words in (("pos", ["good", "great"]), ("neg", ["bad", "dull"])) for _ in range(30)]
    path.write_text("label\ttext\n" + "".join(f"{a}\t{b}\n" for a, b in rows))
    return path


def _train_argv(task, tmp_path):
    small = ["--hidden-size", "8", "--embedding-size", "8", "--max-steps", "2", "--quiet", "--threads", "1"]
    if task == "lm":
        (tmp_path / "text.txt").write_text("the quick brown fox jumps over the lazy dog.\n" * 20)
        return ["train", "lm", "--data", tmp_path / "text.txt", "--bptt", "8", "--batch-size", "4", *small]
    if task == "classify":
        return ["train", "classify", "--data", _classify_data(tmp_path / "rows.tsv"), "--batch-size", "8", *small]
    (tmp_path / "pairs.tsv").write_text("".join(f"{a} {b}\t{b} {a}\n" for a in ("uno", "dos", "tres")
                                                for b in ("cuatro", "cinco", "seis", "siete")) * 3)
    return ["train", "seq2seq", "--data", tmp_path / "pairs.tsv", "--batch-size", "8", "--min-freq", "1", *small]


@pytest.mark.parametrize("task", ["lm", "classify", "seq2seq"])
def test_train_on_the_cpu_and_refuse_a_missing_gpu(task, tmp_path, capsys, one_thread):
    argv = _train_argv(task, tmp_path)
    out = tmp_path / "run"
    if not torch.cuda.is_available():  # refused before the folder is claimed or the data read
        one_line_error(capsys, [*argv, "--out", out, "--device", "cuda"], "--device cuda: this machine has no CUDA")
        assert not out.exists()
    run(capsys, [*argv, "--out", out, "--device", "cpu"])
    saved = json.loads((out / "checkpoint.json").read_text())
    assert saved["train"]["device"] == "cpu" and saved["train"]["precision"] in ("float32", "auto")


def test_float16_training_on_the_cpu_is_one_line(tmp_path, capsys, one_thread):
    argv = _train_argv("classify", tmp_path)
    one_line_error(capsys, [*argv, "--out", tmp_path / "run", "--device", "cpu", "--precision", "float16"],
                   "--precision float16 needs a CUDA device")


def test_resume_takes_this_machines_device_not_the_saved_one(tmp_path, capsys, one_thread):
    """A run saved on a GPU resumes on a CPU-only machine: --device is never filled in from the
    saved run, and a different --device is no reason to refuse the resume."""
    argv = [*_train_argv("lm", tmp_path), "--out", tmp_path / "run", "--checkpoint-every", "1"]
    run(capsys, [*argv, "--device", "cpu"])
    meta_path = tmp_path / "run" / "resume" / "checkpoint.json"
    meta = json.loads(meta_path.read_text())
    meta["train"]["device"] = "cuda:3"  # as if written on a machine with 4 GPUs
    meta_path.write_text(json.dumps(meta))
    resumed = [a if a != "2" else "4" for a in argv]  # --max-steps 4
    run(capsys, [*resumed, "--resume"])
    assert json.loads(meta_path.read_text())["trainer"]["step"] == 4
    run(capsys, [*[a if a != "2" else "5" for a in argv], "--resume", "--device", "auto"])


def test_a_float16_run_resumes_on_the_cpu_in_another_precision(tmp_path, capsys, one_thread):
    """A run trained in float16 on a GPU goes on on a CPU: float16 is refused there, and the
    advice (another --precision) is taken by --resume, not refused as a change of the run."""
    argv = [*_train_argv("lm", tmp_path), "--out", tmp_path / "run", "--checkpoint-every", "1"]
    run(capsys, [*argv, "--device", "cpu"])
    for path in (tmp_path / "run" / "checkpoint.json", tmp_path / "run" / "resume" / "checkpoint.json"):
        meta = json.loads(path.read_text())
        meta["train"]["precision"] = "float16"  # as if written on a GPU without bfloat16
        path.write_text(json.dumps(meta))
    resumed = [*[a if a != "2" else "4" for a in argv], "--resume", "--device", "cpu"]  # --max-steps 4
    one_line_error(capsys, resumed, "--precision float16 needs a CUDA device")
    run(capsys, [*resumed, "--precision", "float32"])
    meta = json.loads((tmp_path / "run" / "resume" / "checkpoint.json").read_text())
    assert meta["trainer"]["step"] == 4 and meta["train"]["precision"] == "float32"


# -- the Python API -------------------------------------------------------------------------------------


def test_a_torch_device_in_the_train_config_is_saved_as_its_name(tmp_path, one_thread):
    from rnnkit.config import ClassifierModelConfig, TextConfig, TrainConfig
    from rnnkit.tasks.classification import ClassificationTask
    from rnnkit.train import Trainer

    rows = [("a good film", "pos"), ("a bad film", "neg")] * 10
    train_cfg = TrainConfig(out=str(tmp_path / "run"), max_steps=2, batch_size=4, device=torch.device("cpu"),
                            checkpoint_every=1)
    assert train_cfg.device == "cpu"
    task = ClassificationTask.from_rows(rows, rows[:4], ClassifierModelConfig(hidden_size=8, embedding_size=8),
                                        TextConfig(), train_cfg)
    Trainer(task, train_cfg, progress=False).fit()  # was: TypeError at the first save, the training lost
    assert json.loads((tmp_path / "run" / "checkpoint.json").read_text())["train"]["device"] == "cpu"


def test_a_config_value_json_cannot_hold_is_refused_before_training(tmp_path, one_thread):
    import numpy as np

    from rnnkit.config import ClassifierModelConfig, TextConfig, TrainConfig
    from rnnkit.tasks.classification import ClassificationTask
    from rnnkit.train import Trainer

    rows = [("a good film", "pos"), ("a bad film", "neg")] * 10
    train_cfg = TrainConfig(out=str(tmp_path / "run"), max_steps=2, batch_size=4, lr=np.float32(0.01))
    task = ClassificationTask.from_rows(rows, rows[:4], ClassifierModelConfig(hidden_size=8, embedding_size=8),
                                        TextConfig(), train_cfg)
    with pytest.raises(TypeError, match=r"train\.lr is a float32 .*which JSON cannot hold"):
        Trainer(task, train_cfg, progress=False)
    assert not (tmp_path / "run").exists()


def test_loaders_take_a_device():
    from rnnkit.tasks.classification import Classifier
    from rnnkit.tasks.language_model import LanguageModel
    from rnnkit.tasks.translation import Translator

    for loader, name in ((Classifier, "classify"), (LanguageModel, "lm"), (Translator, "seq2seq")):
        for spec in ("cpu", torch.device("cpu"), "auto"):
            loaded = loader.load(FIXTURES / name, device=spec)
            assert loaded.device == module_device(loaded.model) == resolve_device(spec)
        if not torch.cuda.is_available():
            with pytest.raises(ValueError, match="no CUDA device"):
                loader.load(FIXTURES / name, device="cuda")


def test_loaders_read_on_the_cpu_then_move(monkeypatch):
    """The weights are decoded on the CPU (safetensors holds no device) and the model then moves
    to the device asked for: simulated with torch's "meta" device standing in for a GPU."""
    from rnnkit.tasks import classification, language_model, translation
    from rnnkit.train import checkpoint

    devices = []
    real = checkpoint.Checkpoint.load_into

    def load_into(self, model):
        devices.extend({t.device.type for t in self.weights.values()} | {module_device(model).type})
        return real(self, model)

    monkeypatch.setattr(checkpoint.Checkpoint, "load_into", load_into)
    for module, name, cls in ((classification, "classify", "Classifier"), (language_model, "lm", "LanguageModel"),
                              (translation, "seq2seq", "Translator")):
        monkeypatch.setattr(module, "resolve_device", lambda spec: torch.device("meta"))
        loaded = getattr(module, cls).load(FIXTURES / name, device="gpu-stand-in")
        assert {p.device.type for p in loaded.model.parameters()} == {"meta"}
    assert set(devices) == {"cpu"}


def test_trainer_moves_the_model_and_checks_the_device_first(tmp_path, one_thread):
    from rnnkit.config import ClassifierModelConfig, TextConfig, TrainConfig
    from rnnkit.tasks.classification import ClassificationTask
    from rnnkit.train import Trainer

    rows = [("a good film", "pos"), ("a bad film", "neg")] * 10
    train_cfg = TrainConfig(out=str(tmp_path / "run"), max_steps=2, batch_size=4, device="cpu")
    task = ClassificationTask.from_rows(rows, rows[:4], ClassifierModelConfig(hidden_size=8, embedding_size=8),
                                        TextConfig(), train_cfg)
    trainer = Trainer(task, train_cfg, progress=False)
    assert trainer.device == torch.device("cpu") and trainer.scaler is None
    assert trainer.fit()["accuracy"] >= 0
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            Trainer(task, TrainConfig(out=str(tmp_path / "gpu"), device="cuda"), progress=False)
        assert not (tmp_path / "gpu").exists()
    with pytest.raises(ValueError, match="float16 needs a CUDA device"):
        Trainer(task, TrainConfig(out=str(tmp_path / "half"), device="cpu", precision="float16"), progress=False)


def test_cpu_only_products_step_aside_off_the_cpu():
    """oneDNN's packed product is a CPU kernel: on another device (here torch's "meta", standing in
    for a GPU) StepMatmul falls back to torch.addmm and Seq2Seq decodes with its Linear module."""
    from rnnkit.models.seq2seq import Seq2Seq
    from rnnkit.nn._step_matmul import StepMatmul

    assert not StepMatmul(torch.zeros(4, 3, device="meta"), 2).uses_onednn
    model = Seq2Seq(10, 12, 8, 8, attention="general").to("meta")
    with torch.no_grad():
        assert model._decoding_generator(3) is model.generator
