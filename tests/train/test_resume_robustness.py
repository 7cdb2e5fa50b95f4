"""What may go wrong around a run, and how the trainer answers: one line, or a warning and on.

* loss.png that cannot be drawn (a full disk) is a warning, once; the run ends as it would have.
* ``--resume`` with another number of processes says so, not that the checkpoint is malformed.
* A resumable state whose ``trainer`` record (or optimiser state, or generator tensor) is damaged is
  one :class:`CheckpointError` naming the file and the field, before any step.
* JSON nested too deep to parse (checkpoint.json, metrics.jsonl) is a damaged file, not a RecursionError.
* Resuming a run that stopped early says that it trains no further.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import shutil
import warnings

import pytest
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from rnnkit.config import TrainConfig
from rnnkit.train import CheckpointError, Trainer, load_checkpoint, save_checkpoint
from tests.cli_helpers import run

DEEP = "[" * 100_000 + "]" * 100_000  # json's parser recurses once per bracket


class ToyTask:
    """y = x0 > 0 with a linear model: 8 batches an epoch."""

    monitor, higher_is_better, unit = "accuracy", True, "examples"

    def __init__(self):
        torch.manual_seed(0)
        self.model = torch.nn.Linear(2, 2)
        self.x = torch.randn(64, 2)
        self.y = (self.x[:, 0] > 0).long()

    def train_batches(self, epoch):
        for i in range(0, 64, 8):
            yield self.x[i : i + 8], self.y[i : i + 8]

    def loss(self, batch):
        return torch.nn.functional.cross_entropy(self.model(batch[0]), batch[1]), len(batch[1])

    def evaluate(self):
        with torch.no_grad():
            return {"accuracy": float((self.model(self.x).argmax(1) == self.y).float().mean()), "examples": 64}

    def checkpoint_meta(self):
        return {"model_type": "toy"}


def _fit(out, **cfg):
    settings = {"epochs": 1, "max_steps": 4, "checkpoint_every": 2, "lr": 0.1, "out": str(out), **cfg}
    trainer = Trainer(ToyTask(), TrainConfig(**settings), progress=False)
    return trainer, trainer.fit()


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """A finished 4-step run with its resumable state (copied by each test that damages it)."""
    out = tmp_path_factory.mktemp("saved") / "run"
    _fit(out)
    return out


@pytest.fixture
def run_copy(saved_run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(saved_run, out)
    return out


def _edit_meta(out, change):
    path = out / "resume" / "checkpoint.json"
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))


def _edit_tensors(out, part, change):
    """Changes the tensors of one file of the resumable state, keeping checkpoint.json's checksum right."""
    path = out / "resume" / "checkpoint.json"
    meta = json.loads(path.read_text())
    entry = meta["files"][part]
    tensors = load_safetensors((out / "resume" / entry["name"]).read_bytes())
    change(tensors)
    data = save_safetensors(tensors)
    (out / "resume" / entry["name"]).write_bytes(data)
    entry["sha256"], entry["bytes"] = hashlib.sha256(data).hexdigest(), len(data)
    path.write_text(json.dumps(meta))


# -- loss.png ---------------------------------------------------------------------------------------------


def _disk_full(metrics_path, out_path):
    with open(out_path, "wb") as f:  # half a picture, as a full disk leaves it
        f.write(b"\x89PNG")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_plot_that_cannot_be_written_warns_once_and_the_run_goes_on(tmp_path, monkeypatch):
    monkeypatch.setattr("rnnkit.train.plots.plot_loss_curve", _disk_full)
    monkeypatch.setattr("rnnkit.train.trainer.PLOT_EVERY", 0.0)  # a plot at every evaluation, and the last
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer, best = _fit(tmp_path, eval_every=1)
    said = [str(w.message) for w in caught if "loss.png" in str(w.message)]
    assert len(said) == 1 and os.strerror(errno.ENOSPC) in said[0], said
    assert trainer.step == 4 and best["accuracy"] > 0
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["stopped"] == "max_steps" and len(records) == 5
    assert not list(tmp_path.glob(".loss.*")) and not (tmp_path / "loss.png").exists()


def test_the_final_plot_failing_keeps_the_exit_status_and_the_summary(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("rnnkit.train.plots.plot_loss_curve", _disk_full)
    rng = random.Random(0)
    words = ["to", "be", "or", "not", "the", "question"]
    (tmp_path / "text.txt").write_text("\n".join(" ".join(rng.choice(words) for _ in range(8)) for _ in range(40)))
    out, err = run(capsys, ["train", "lm", "--data", tmp_path / "text.txt", "--out", tmp_path / "run", "--bptt", "8",
                            "--hidden-size", "8", "--embedding-size", "4", "--num-layers", "1", "--max-steps", "2",
                            "--threads", "1", "--quiet", "--precision", "float32", "--device", "cpu"])
    assert "best validation" in out and "loss curve" not in out  # the summary names no curve that is not there
    lines = err.strip().splitlines()
    assert len(lines) == 1 and ": warning: cannot draw" in lines[0] and "loss.png" in lines[0], err
    assert not list((tmp_path / "run").glob(".loss.*"))


# -- the number of processes --------------------------------------------------------------------------------


class _FakeWorld:
    """Stands in for rnnkit.train.distributed.Distributed in a process that is rank 0 of ``world_size``."""

    rank, is_main = 0, True

    def __init__(self, world_size):
        self.world_size = world_size


def test_resume_with_more_processes_says_how_many_to_use(run_copy):
    trainer = Trainer(ToyTask(), TrainConfig(out=str(run_copy), epochs=1, max_steps=6, checkpoint_every=2,
                                             lr=0.1, resume=True), progress=False)
    trainer.dist = _FakeWorld(2)  # only the world size is read before the check
    with pytest.raises(ValueError) as caught:
        trainer._restore()
    assert caught.type is ValueError, caught.value  # not a CheckpointError: the checkpoint is fine
    assert "trained by 1 process and this one has 2; resume it with 1" in str(caught.value)
    assert "malformed" not in str(caught.value) and "retrain" not in str(caught.value)


def test_resume_with_fewer_processes_says_how_many_to_use(run_copy):
    _edit_meta(run_copy, lambda m: m["trainer"].update(world_size=2))
    with pytest.raises(ValueError) as caught:
        _fit(run_copy, max_steps=6, resume=True)
    assert caught.type is ValueError, caught.value
    assert "trained by 2 processes and this one has 1; resume it with 2" in str(caught.value)


# -- a damaged trainer record -------------------------------------------------------------------------------

DAMAGED = [  # (field, value written into the trainer record)
    ("step", -5), ("step", "5"), ("step", 5.5), ("epoch", 0), ("batch_in_epoch", -1), ("batch_in_epoch", 10**12),
    ("best", [1]), ("best", {"zzz": 1}), ("best", {"accuracy": "high"}), ("stale", None), ("running", "x"),
    ("seconds", "x"), ("seconds", -1.0), ("lr_scale", "x"), ("lr_scale", float("nan")), ("lr_scale", 0),
    ("records", -1), ("records", "a"), ("evaluated_at", 99), ("early_stopped", "yes"), ("world_size", 0),
    ("python_rng", [3, [1, 2], None]), ("numpy_rng", ["MT19937", [1, 2], 0, 0, 0.0]),
    ("grad_scaler", {"scale": "x"}),
]


@pytest.mark.parametrize("name,value", DAMAGED, ids=[f"{n}={v!r}"[:40] for n, v in DAMAGED])
def test_a_damaged_trainer_record_is_one_line_naming_the_field(run_copy, name, value):
    _edit_meta(run_copy, lambda m: m["trainer"].__setitem__(name, value))
    with pytest.raises(CheckpointError) as caught:
        _fit(run_copy, max_steps=6, resume=True)
    message = str(caught.value)
    assert str(run_copy / "resume" / "checkpoint.json") in message and name in message, message
    assert "\n" not in message


def test_a_missing_field_is_named(run_copy):
    _edit_meta(run_copy, lambda m: m["trainer"].pop("lr_scale"))
    with pytest.raises(CheckpointError, match=r"checkpoint.json.* lacks .*'lr_scale'"):
        _fit(run_copy, max_steps=6, resume=True)


def test_an_optimizer_moment_of_the_wrong_shape_is_one_line(run_copy):
    _edit_tensors(run_copy, "optimizer", lambda t: t.__setitem__("0.exp_avg", torch.zeros(3)))
    with pytest.raises(CheckpointError, match=r"entry 'optimizer': the exp_avg of a parameter of shape \(2, 2\)"):
        _fit(run_copy, max_steps=6, resume=True)


def test_an_optimizer_setting_of_the_wrong_type_is_one_line(run_copy):
    _edit_meta(run_copy, lambda m: m["optimizer"]["param_groups"][0].__setitem__("betas", "x"))
    with pytest.raises(CheckpointError, match=r"param_groups\[0\]\.betas = 'x'"):
        _fit(run_copy, max_steps=6, resume=True)


def test_a_generator_state_of_the_wrong_size_is_one_line(run_copy):
    _edit_tensors(run_copy, "state", lambda t: t.__setitem__("torch_rng", torch.zeros(3, dtype=torch.uint8)))
    with pytest.raises(CheckpointError, match="the tensor 'torch_rng' is torch.uint8 \\(3,\\)"):
        _fit(run_copy, max_steps=6, resume=True)


def test_an_intact_state_still_resumes(run_copy):
    trainer, _ = _fit(run_copy, max_steps=6, resume=True)
    assert trainer.step == 6


# -- JSON nested too deep ------------------------------------------------------------------------------------


def test_deeply_nested_checkpoint_json_is_a_damaged_checkpoint(run_copy):
    (run_copy / "checkpoint.json").write_text(DEEP)
    with pytest.raises(CheckpointError, match="checkpoint.json is corrupted"):
        load_checkpoint(run_copy)
    save_checkpoint(run_copy, torch.nn.Linear(2, 2), {"model_type": "toy"})  # a save over it reads it too
    assert load_checkpoint(run_copy, "toy").meta["generation"] == 1


def test_a_deeply_nested_metrics_line_is_skipped(run_copy):
    with open(run_copy / "metrics.jsonl", "a") as f:
        f.write(DEEP + "\n")
    trainer, _ = _fit(run_copy, max_steps=6, resume=True)
    assert trainer.step == 6


def test_the_loss_curve_skips_torn_and_deeply_nested_lines(tmp_path):
    pytest.importorskip("matplotlib")
    from rnnkit.train.plots import plot_loss_curve

    good = json.dumps({"step": 1, "train_loss": 1.0, "loss": 1.2})
    (tmp_path / "metrics.jsonl").write_text(f"{good}\n{DEEP}\n{{\"step\": 2, \"tra\n[1]\n")
    plot_loss_curve(tmp_path / "metrics.jsonl", tmp_path / "loss.png")
    assert (tmp_path / "loss.png").read_bytes().startswith(b"\x89PNG")


# -- a run that stopped early ------------------------------------------------------------------------------


def test_resuming_a_run_that_stopped_early_says_it_trains_no_further(tmp_path):
    cfg = {"epochs": 50, "max_steps": None, "lr": 0.0, "patience": 2, "checkpoint_every": 1000}  # lr 0: no gain
    trainer, _ = _fit(tmp_path, **cfg)
    assert trainer.stop == "early_stopping"
    stopped_at = trainer.step
    with pytest.warns(UserWarning, match="had already stopped early at step 24.*start a new run"):
        resumed, _ = _fit(tmp_path, **{**cfg, "max_steps": 1000, "resume": True})
    assert resumed.step == stopped_at == 24


# -- the language model's carried state ---------------------------------------------------------------------


def _lm_args(tmp_path, out, cell, *extra):
    rng = random.Random(0)
    words = ["to", "be", "or", "not", "the", "question"]
    text = tmp_path / "text.txt"
    if not text.exists():
        text.write_text("\n".join(" ".join(rng.choice(words) for _ in range(8)) for _ in range(100)))
    return ["train", "lm", "--data", text, "--out", out, "--bptt", "8", "--hidden-size", "8", "--embedding-size", "4",
            "--num-layers", "2", "--cell", cell, "--batch-size", "4", "--checkpoint-every", "2", "--threads", "1",
            "--quiet", "--precision", "float32", "--device", "cpu", *extra]


@pytest.mark.parametrize("cell, damage, said", [
    ("lstm", lambda t: t[:, :3], "(2, 3, 8), (2, 3, 8) does not fit the model and its 4 streams"),
    ("gru", lambda t: t[..., :5], "(2, 4, 5) does not fit the model and its 4 streams"),
    ("gru", lambda t: t.double(), "is torch.float64, not the model's torch.float32"),
    ("lstm", lambda t: t * float("nan"), "holds NaN or infinite values"),
    ("tcn", lambda t: t[:3], "(3, 12) does not fit the model and its 4 streams"),
    ("tcn", lambda t: t + 1000, "does not fit the model"),  # token ids past the vocabulary
])
def test_a_damaged_carried_state_is_refused_on_resume_naming_the_checkpoint(tmp_path, capsys, cell, damage, said):
    out = tmp_path / "run"
    run(capsys, _lm_args(tmp_path, out, cell, "--max-steps", "3"))
    _edit_tensors(out, "state", lambda tensors: tensors.update(
        {k: damage(v).contiguous() for k, v in tensors.items() if k.startswith("task.state")}))
    _, err = run(capsys, _lm_args(tmp_path, out, cell, "--max-steps", "6", "--resume"), code=2)
    assert err.count("\n") == 1 and str(out / "resume" / "checkpoint.json") in err and said in err, err


def test_an_intact_carried_state_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    run(capsys, _lm_args(tmp_path, out, "lstm", "--max-steps", "3"))
    run(capsys, _lm_args(tmp_path, out, "lstm", "--max-steps", "6", "--resume"))
    assert load_checkpoint(out / "resume").meta["trainer"]["step"] == 6
