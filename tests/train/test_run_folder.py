"""Run folders are protected (one run at a time, another run's files never silently replaced or
lost), ``--resume`` takes everything from the checkpoint, and a damaged checkpoint is one line."""

from __future__ import annotations

import json
import os
import random
import stat

import pytest
import torch

from rnnkit.config import TrainConfig
from rnnkit.train import CheckpointError, Trainer, TrainingError, load_checkpoint, save_checkpoint
from rnnkit.train import checkpoint as checkpoint_module

from ..cli_helpers import one_line_error, run
from . import crash_harness as harness
from .test_checkpoint_trainer import ToyTask


def _rows(path, n=80, seed=0):
    rng = random.Random(seed)
    lines = ["label\ttext"]
    for i in range(n):
        label = "pos" if i % 2 else "neg"
        cue = rng.choice(["good", "great"] if label == "pos" else ["bad", "dull"])
        lines.append(f"{label}\t{' '.join(rng.sample(['the', 'film', 'was', 'a', 'plot', 'story'], 3) + [cue])}")
    path.write_text("\n".join(lines) + "\n")
    return path


TINY = ["--hidden-size", "8", "--embedding-size", "8", "--max-len", "8", "--batch-size", "16", "--threads", "1",
        "--quiet"]


@pytest.fixture()
def data(tmp_path):
    return _rows(tmp_path / "rows.tsv")


def _train(capsys, data, out, *extra, code=0):
    return run(capsys, ["train", "classify", "--data", data, "--out", out, *TINY, *extra], code)


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# -- protection ---------------------------------------------------------------------------------------


def test_a_folder_holding_a_run_is_refused_and_left_as_it_was(capsys, data, tmp_path):
    out = tmp_path / "run"
    _train(capsys, data, out, "--max-steps", "4")
    before = _snapshot(out)
    line = one_line_error(capsys, ["train", "classify", "--data", data, "--out", out, *TINY], "holds another run")
    assert "--resume" in line and "--overwrite" in line
    lm_text = tmp_path / "text.txt"
    lm_text.write_text("to be or not to be, that is the question\n" * 40)
    one_line_error(capsys, ["train", "lm", "--data", lm_text, "--out", out, "--bptt", "8"], "holds another run")
    assert _snapshot(out) == before


def test_other_files_and_plain_files_are_refused(capsys, data, tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep me")
    one_line_error(capsys, ["train", "classify", "--data", data, "--out", tmp_path / "notes", *TINY], "is not empty")
    one_line_error(capsys, ["train", "classify", "--data", data, "--out", data, *TINY], "is a file, not a folder")
    assert (tmp_path / "notes" / "mine.txt").read_text() == "keep me"


def test_a_second_run_on_the_same_folder_fails_naming_the_first(data, tmp_path):
    from rnnkit.train import run_folder

    out = tmp_path / "busy"
    folder = run_folder.claim(out)  # this process holds the folder, as a running training would
    try:
        err = tmp_path / "err.txt"
        assert harness.run(["train", "classify", "--data", str(data), "--out", str(out), *TINY], None, str(err)) == 2
        line = err.read_text().strip()
        assert line == (f"rnnkit train: error: {out} is in use by another training run (PID {os.getpid()}); wait "
                        "for it to end, or choose another --out")
    finally:
        folder.release()
    assert not out.exists()  # created for the run, left with nothing: removed


def test_overwrite_keeps_the_old_run_until_the_new_one_has_a_checkpoint(capsys, data, tmp_path):
    out = tmp_path / "run"
    _train(capsys, data, out, "--max-steps", "4")
    before = _snapshot(out)
    bad = _rows(tmp_path / "one-label.tsv")
    bad.write_text(bad.read_text().replace("pos\t", "neg\t"))
    one_line_error(capsys, ["train", "classify", "--data", bad, "--out", out, "--overwrite", *TINY], "single label")
    assert _snapshot(out) == before  # a run that fails before its first checkpoint changes nothing

    _train(capsys, data, out, "--max-steps", "6", "--eval-every", "3", "--overwrite", "--checkpoint-every", "2")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [3, 5, 6, 6]  # the new run's records only (epoch 1 ends at 5)
    assert load_checkpoint(out).meta["train"]["max_steps"] == 6


def test_overwrite_retires_the_old_best_model_when_the_first_commit_is_a_resume_state(tmp_path):
    out = tmp_path / "run"
    Trainer(ToyTask(), TrainConfig(out=str(out), epochs=1), progress=False).fit()
    old_run = load_checkpoint(out).meta["run_id"]
    cfg = TrainConfig(out=str(out), epochs=1, max_steps=3, checkpoint_every=1, eval_every=100, overwrite=True)
    trainer = Trainer(ToyTask(), cfg, progress=False)
    trainer.fit()
    assert load_checkpoint(out).meta["run_id"] == load_checkpoint(out / "resume").meta["run_id"] != old_run


def test_a_nan_loss_in_a_new_folder_leaves_nothing_behind(tmp_path):
    out = tmp_path / "new"
    with pytest.raises(TrainingError, match="loss became nan at step 1; stopped. Nothing was saved"):
        Trainer(ToyTask(poison_at=1), TrainConfig(out=str(out), epochs=2), progress=False).fit()
    assert not out.exists()


def test_files_follow_the_umask(capsys, data, tmp_path):
    out = tmp_path / "run"
    old = os.umask(0o022)
    try:
        _train(capsys, data, out, "--max-steps", "2", "--checkpoint-every", "2")
    finally:
        os.umask(old)
    for path in [*out.iterdir(), *(out / "resume").iterdir()]:
        assert stat.S_IMODE(path.stat().st_mode) == (0o755 if path.is_dir() else 0o644), path


# -- a run killed in its first save ----------------------------------------------------------------------


class _Killed(BaseException):
    """Raised where the process would die: the test stays in one process, and a BaseException gets
    past save_checkpoint's cleanup of a failed save (``except OSError``), as a SIGKILL does."""


class _DiesBefore:
    """``rnnkit.train.checkpoint``'s ``os``, dying before its ``at``-th disk operation (counted as
    :class:`crash_harness.FaultyOS` counts them)."""

    def __init__(self, at: int):
        self.at, self.count = at, 0

    def __getattr__(self, name):
        real = getattr(os, name)
        if name not in harness.STEPS:
            return real

        def call(*args, **kwargs):
            self.count += 1
            if self.count == self.at:
                raise _Killed
            return real(*args, **kwargs)

        return call


def _killed_in_first_save(tmp_path, monkeypatch, where):
    """``(n, folder)`` for each disk operation n of a run's first save (into ``OUT/where``), the folder
    as the run killed before operation n left it: created, its lock file, what the save had written.
    Ends with the first n the save gets past (the checkpoint is committed from some n on)."""
    model = torch.nn.Linear(3, 3)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    for n in range(1, 100):
        out = tmp_path / f"killed-{where or 'best'}-{n}"
        out.mkdir()
        (out / ".lock").write_text("999999\n")  # the dead run's
        with monkeypatch.context() as patch:
            patch.setattr(checkpoint_module, "os", _DiesBefore(n))
            try:
                if where:  # a resumable state: weights, optimiser, extra tensors
                    save_checkpoint(out / where, model, {"model_type": "toy"}, optimizer.state_dict(),
                                    {"rng": torch.zeros(2)})
                else:
                    save_checkpoint(out, model, {"model_type": "toy"})
            except _Killed:
                yield n, out
                continue
        return
    raise AssertionError("the save never ended")


def _names(folder):
    """What a folder holds, its lock file aside (a run's release unlinks it)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.name != ".lock")


@pytest.mark.parametrize("where", ["", "resume"])
def test_a_first_save_killed_anywhere_leaves_a_folder_only_a_committed_checkpoint_takes(tmp_path, monkeypatch, where):
    from rnnkit.train import run_folder

    states = 0
    for _, out in _killed_in_first_save(tmp_path, monkeypatch, where):
        if (out / where / "checkpoint.json").is_file():  # killed after the commit: a run is there
            with pytest.raises(run_folder.RunFolderError, match="holds another run"):
                run_folder.claim(out)
            continue
        states += 1
        run_folder.claim(out).release()  # the same command may start the run again
        assert out.is_dir()
        with pytest.raises(run_folder.RunFolderError, match=r"nothing to resume in .*: no run there has committed a "
                                                            r"checkpoint; give the same command without --resume"):
            run_folder.claim(out, resume=True)
        for mine, named in ((out / "notes.txt", "notes.txt"), (out / "resume" / "notes.txt", "resume")):
            if mine.parent.is_dir():  # a file that is not rnnkit's is still refused, wherever it is
                mine.write_text("keep me")
                with pytest.raises(run_folder.RunFolderError, match=rf"is not empty \(it holds {named}\)"):
                    run_folder.claim(out)
                assert mine.read_text() == "keep me"
                mine.unlink()
    assert states == (13 if not where else 21)  # every operation before the commit (the rename)


@pytest.mark.parametrize("where", ["", "resume"])
def test_the_same_command_restarts_a_run_killed_in_its_first_save(capsys, data, tmp_path, monkeypatch, where):
    seen = set()
    for n, out in _killed_in_first_save(tmp_path, monkeypatch, where):
        left = tuple(_names(out))
        if (out / where / "checkpoint.json").is_file() or left in seen:
            continue  # committed, or the same files as a state already run
        seen.add(left)
        one_line_error(capsys, ["train", "classify", "--out", out, "--resume"],
                       "give the same command without --resume")
        assert _names(out) == list(left)  # a refused --resume changes nothing
        _train(capsys, data, out, "--max-steps", "2", "--checkpoint-every", "2")
        assert load_checkpoint(out / "resume").meta["trainer"]["step"] == 2
        for folder in (out, out / "resume"):  # what the killed save left is gone
            named = {f["name"] for f in load_checkpoint(folder).meta["files"].values()}
            data_files = {name for name in os.listdir(folder) if name.endswith((".safetensors", ".tmp"))}
            assert data_files == named, (n, left)
    assert len(seen) == (3 if not where else 6)


def test_resuming_another_tasks_run_names_the_task(capsys, data, tmp_path):
    # its configs read as a damaged checkpoint before ("entry 'lm' is missing; retrain or restore")
    out = tmp_path / "run"
    _train(capsys, data, out, "--max-steps", "2", "--checkpoint-every", "2")
    for task in ("lm", "seq2seq"):
        one_line_error(capsys, ["train", task, "--out", out, "--resume"],
                       f"holds a run of rnnkit train classify, not of train {task}; resume it with rnnkit train "
                       f"classify --out {out} --resume")


def test_a_run_killed_before_any_checkpoint_restarts_with_a_fresh_log(capsys, data, tmp_path):
    # metrics.jsonl and loss.png are written from the first evaluation on, before any checkpoint;
    # without a committed checkpoint there is no run to protect, and the new one must not append to them
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").write_text('{"step": 99, "train_loss": 1.0}\n')
    (out / "loss.png").write_bytes(b"not a picture")
    (out / "model-000001.safetensors").write_bytes(b"mine")
    # without the lock file a killed run leaves, these are the user's files: refused, kept
    one_line_error(capsys, ["train", "classify", "--data", data, "--out", out, *TINY], "is not empty")
    assert (out / "model-000001.safetensors").read_bytes() == b"mine" and (out / "loss.png").exists()
    (out / "model-000001.safetensors").unlink()
    (out / ".lock").write_text("999999\n")  # the killed run's
    one_line_error(capsys, ["train", "classify", "--out", out, "--resume"], "give the same command without --resume")
    _train(capsys, data, out, "--max-steps", "2")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert records and all(r.get("step", 0) != 99 for r in records)
    assert (out / "loss.png").read_bytes().startswith(b"\x89PNG")


# -- resume -------------------------------------------------------------------------------------------


def test_resume_takes_everything_from_the_checkpoint(capsys, data, tmp_path, monkeypatch):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    argv = ["train", "classify", "--data", str(data), *TINY, "--max-steps", "8", "--checkpoint-every", "2",
            "--eval-every", "3", "--seed", "7", "--dropout", "0.2"]
    run(capsys, [*argv, "--out", straight])
    assert harness.run([*argv, "--out", str(resumed)], ("kill", 80)) == -9  # killed mid-run
    monkeypatch.chdir(tmp_path.parent)  # another working directory: the data is found by its absolute path
    run(capsys, ["train", "classify", "--out", resumed, "--resume", "--quiet"])
    a, b = load_checkpoint(straight / "resume").weights, load_checkpoint(resumed / "resume").weights
    assert all(torch.equal(a[k], b[k]) for k in a)
    steps = [json.loads(line)["step"] for line in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert steps == [json.loads(line)["step"] for line in (straight / "metrics.jsonl").read_text().splitlines()]


def test_a_raised_budget_trains_on(capsys, data, tmp_path):
    out = tmp_path / "run"
    _train(capsys, data, out, "--max-steps", "4", "--checkpoint-every", "2")
    run(capsys, ["train", "classify", "--out", out, "--resume", "--max-steps", "9", "--quiet"])
    assert load_checkpoint(out / "resume").meta["trainer"]["step"] == 9
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [4, 5, 9, 9]  # the first run's closing "stopped" record is replaced, no step repeated


def test_resume_refuses_flags_that_would_change_the_run(capsys, data, tmp_path):
    out = tmp_path / "run"
    _train(capsys, data, out, "--max-steps", "2", "--checkpoint-every", "2")
    line = one_line_error(capsys, ["train", "classify", "--out", out, "--resume", "--hidden-size", "16", "--seed", "3",
                             "--batch-size", "8", "--precision", "bfloat16"], "--resume continues the run")
    for part in ("--hidden-size 16 (saved: 8)", "--seed 3 (saved: 0)", "--batch-size 8 (saved: 16)"):
        assert part in line
    assert "--precision" not in line  # how the run computes, as --device: a resumed run may change it
    other = _rows(tmp_path / "other.tsv", seed=5)
    one_line_error(capsys, ["train", "classify", "--out", out, "--resume", "--data", other], f"--data {other} (saved:")
    data.write_text(data.read_text() + "pos\tgood film\n")
    one_line_error(capsys, ["train", "classify", "--out", out, "--resume"], "changed since the run started")
    data.unlink()
    one_line_error(capsys, ["train", "classify", "--out", out, "--resume"], "which is gone")


# -- damaged checkpoints ----------------------------------------------------------------------------


@pytest.fixture()
def resumable(capsys, data, tmp_path):
    out = tmp_path / "run"
    _train(capsys, data, out, "--max-steps", "2", "--checkpoint-every", "2")
    return out


def _edit_meta(folder, change):
    meta = json.loads((folder / "checkpoint.json").read_text())
    change(meta)
    (folder / "checkpoint.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("change,match", [
    (lambda m: m.pop("vocab"), "lacks the entry 'vocab'"),
    (lambda m: m.pop("model"), "entry 'model' is missing"),
    (lambda m: m.pop("labels"), "lacks the entry 'labels'"),
    (lambda m: m["model"].update(colour="red"), "unknown field(s) ['colour']"),
    (lambda m: m["model"].update(hidden_size="big"), "hidden_size = 'big' is not a valid"),
    (lambda m: m["model"].update(cell="transformer"), "cell = 'transformer' is not a valid"),
    (lambda m: m["text"].update(max_len=None), "max_len = None is not a valid"),
    (lambda m: m.update(format=7), "is not an rnnkit checkpoint"),
    (lambda m: m["files"].pop("model"), "expected model"),
])
def test_a_malformed_record_is_one_line_error(capsys, resumable, data, change, match):
    _edit_meta(resumable, change)
    one_line_error(capsys, ["eval", "classify", "--checkpoint", resumable, "--data", data], match)


@pytest.mark.parametrize("part,damage,match", [
    ("optimizer", "truncate", "does not match checkpoint.json"),
    ("optimizer", "delete", "is missing"),
    ("state", "truncate", "does not match checkpoint.json"),
    ("state", "delete", "is missing"),
])
def test_a_damaged_resume_state_is_one_line_error(capsys, resumable, part, damage, match):
    folder = resumable / "resume"
    path = folder / json.loads((folder / "checkpoint.json").read_text())["files"][part]["name"]
    if damage == "delete":
        path.unlink()
    else:
        path.write_bytes(path.read_bytes()[:50])
    line = one_line_error(capsys, ["train", "classify", "--out", resumable, "--resume", "--max-steps", "4"], match)
    assert "damaged" in line


def test_a_pickled_optimizer_is_refused_without_running_it(tmp_path, capsys):
    """A format-1 checkpoint (fixed names, torch.save'd optimizer) whose optimizer.pt holds code."""
    import hashlib
    import pickle

    model = torch.nn.Linear(2, 2)
    save_checkpoint(tmp_path, model, {"model_type": "toy"})
    meta = json.loads((tmp_path / "checkpoint.json").read_text())
    weights = tmp_path / meta["files"]["model"]["name"]
    weights.rename(tmp_path / "model.safetensors")
    legacy = {"format": 1, "model_type": "toy",
              "weights_sha256": hashlib.sha256((tmp_path / "model.safetensors").read_bytes()).hexdigest()}
    (tmp_path / "checkpoint.json").write_text(json.dumps(legacy))
    assert torch.equal(load_checkpoint(tmp_path).weights["weight"], model.weight.detach())  # format 1 still reads

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    (tmp_path / "optimizer.pt").write_bytes(pickle.dumps(Payload(), protocol=2))
    with pytest.raises(CheckpointError, match="refuses to unpickle") as err:
        load_checkpoint(tmp_path)
    assert len(str(err.value).splitlines()) == 1 and not (tmp_path / "pwned").exists()


def test_disk_full_is_found_before_writing(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, torch.nn.Linear(2, 2), {"model_type": "toy", "version": 1})
    before = _snapshot(tmp_path)
    monkeypatch.setattr(checkpoint_module.shutil, "disk_usage", lambda path: type("U", (), {"free": 100})())
    with pytest.raises(CheckpointError, match=r"no space left on the device of .*: this save needs [\d,]+ bytes and "
                                              r"100 are free"):
        save_checkpoint(tmp_path, torch.nn.Linear(2, 2), {"model_type": "toy", "version": 2})
    assert _snapshot(tmp_path) == before


# -- readers during saves -------------------------------------------------------------------------------


def _save_generations(directory: str, count: int) -> None:
    """In a child process: saves ``count`` checkpoints whose weights all equal the generation."""
    model = torch.nn.Linear(64, 64)
    for generation in range(1, count + 1):
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(float(generation))
        save_checkpoint(directory, model, {"model_type": "toy", "value": generation})


def test_readers_never_fail_while_a_run_saves(tmp_path):
    save_checkpoint(tmp_path, torch.nn.Linear(64, 64), {"model_type": "toy", "value": 0})
    writer = harness.context().Process(target=_save_generations, args=(str(tmp_path), 300))
    writer.start()
    loads = 0
    while writer.is_alive() or loads == 0:
        ckpt = load_checkpoint(tmp_path, "toy")  # never raises
        value = ckpt.meta["value"]
        if value:  # the weights are those the record describes, never a mix of two saves
            assert bool((ckpt.weights["weight"] == value).all()) and bool((ckpt.weights["bias"] == value).all())
        loads += 1
    writer.join()
    assert writer.exitcode == 0 and loads > 20
