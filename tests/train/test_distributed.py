"""Data-parallel training (torch.distributed + DDP under torchrun, gloo on the CPU, 2 processes).

* The same command with ``--batch-size 8``, SGD and no dropout gives the same weights in 1 process
  (in this one, no DDP) and in 2 (torchrun): the language model (its states carried across
  windows), the classifier (variable lengths; the last global batch holds one text, so one rank
  runs a stand-in), and seq2seq (the shares' token counts differ; started with ``--nproc 2``).
* A run whose ranks disagree about stopping (one rank's clock runs so fast that its 30-minute budget
  is spent at once) follows rank 0's decision on every rank, and ends without hanging: rank 1's
  stop alone is overruled, rank 0's reaches rank 1.
* A run stopped and resumed with 2 processes (dropout and random window lengths: every rank's
  generators and carried states saved and restored) ends with the weights of one never stopped.
* ``--batch-size`` not divisible by the process count: one line.

Run as a module (``python -m tests.train.test_distributed ARGS``) this file is ``rnnkit ARGS``
with the clock of rank ``RNNKIT_TEST_LATE_RANK`` running fast: what torchrun starts for the stop test.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import torch

from rnnkit.cli import main
from rnnkit.train import load_checkpoint
from rnnkit.train.distributed import share
from tests.cli_helpers import one_line_error

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 150  # seconds a launch may take before the test calls it a hang
SGD = ["--optimizer", "sgd", "--lr", "0.5", "--dropout", "0", "--batch-size", "8", "--threads", "1", "--quiet",
       "--schedule", "constant", "--warmup-steps", "0", "--patience", "0", "--precision", "float32",
       "--device", "cpu", "--checkpoint-every", "1000"]
WORDS = ["to", "be", "or", "not", "the", "question", "whether", "tis", "nobler", "mind", "suffer", "slings"]
NUMBERS = ["uno", "dos", "tres", "cuatro", "cinco", "seis"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "PYTHONUNBUFFERED": "1", **extra}


def torchrun(argv, module="rnnkit", **env):
    """``torchrun --nproc-per-node 2 -m MODULE train ARGV`` on the CPU; fails the test past TIMEOUT."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
           str(_free_port()), "-m", module, "train", *map(str, argv)]
    proc = subprocess.run(cmd, env=_env(**env), cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def one_process(argv):
    assert main(["train", *map(str, argv)]) == 0


def final_weights(out: Path) -> dict:
    """The weights at the end of the run (its last resumable state)."""
    return load_checkpoint(out / "resume").weights


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = final_weights(a), final_weights(b)
    assert wa.keys() == wb.keys() and not any(k.startswith("module.") for k in wb)
    for name in wa:  # float32 sums taken in another order (two shares, then DDP's average)
        torch.testing.assert_close(wb[name], wa[name], rtol=1e-5, atol=1e-6, msg=name)


def steps(out: Path) -> int:
    return json.loads((out / "resume" / "checkpoint.json").read_text())["trainer"]["step"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    rng = random.Random(0)
    (root / "text.txt").write_text("\n".join(" ".join(rng.choice(WORDS) for _ in range(8)) for _ in range(60)))

    def rows(n):  # 1 to 10 words: the shares of a batch differ in length
        out = []
        for i in range(n):
            label = "pos" if i % 2 else "neg"
            words = [rng.choice(WORDS) for _ in range(rng.randint(0, 9))] + ["good" if label == "pos" else "bad"]
            out.append(f"{label}\t{' '.join(rng.sample(words, len(words)))}\n")
        return "label\ttext\n" + "".join(out)

    (root / "train.tsv").write_text(rows(49))  # 6 batches of 8, and one of 1 text: a stand-in on rank 1
    (root / "valid.tsv").write_text(rows(10))
    pairs = []
    for _ in range(84):
        src = [rng.choice(NUMBERS) for _ in range(rng.randint(1, 5))]
        pairs.append(f"{' '.join(src)}\t{' '.join(reversed(src))}\n")
    (root / "pairs.tsv").write_text("".join(pairs))
    return root


def lm_args(data, out, *extra):
    return ["lm", "--data", data / "text.txt", "--out", out, "--bptt", "8", "--hidden-size", "16",
            "--embedding-size", "8", "--num-layers", "1", "--cell", "lstm", "--epochs", "1", *SGD, *extra]


def test_language_model_same_weights_with_1_and_2_processes(data, tmp_path):
    one_process(lm_args(data, tmp_path / "one", "--max-steps", "6"))
    torchrun(lm_args(data, tmp_path / "two", "--max-steps", "6"))
    assert steps(tmp_path / "one") == steps(tmp_path / "two") == 6
    assert_same_weights(tmp_path / "one", tmp_path / "two")
    # a checkpoint trained by 2 processes loads in one (no DDP prefix) and generates
    from rnnkit.tasks.language_model import LanguageModel

    assert isinstance(LanguageModel.load(tmp_path / "two").generate(max_tokens=5, seed=0)[0], str)


def test_classifier_same_weights_with_1_and_2_processes(data, tmp_path):
    args = ["classify", "--data", data / "train.tsv", "--valid-data", data / "valid.tsv", "--cell", "gru",
            "--hidden-size", "12", "--embedding-size", "8", "--epochs", "1", *SGD]
    one_process([*args, "--out", tmp_path / "one"])
    torchrun([*args, "--out", tmp_path / "two"])
    assert steps(tmp_path / "one") == steps(tmp_path / "two") == 7  # a whole epoch, its 1-text batch included
    assert_same_weights(tmp_path / "one", tmp_path / "two")


def test_seq2seq_same_weights_with_1_and_2_processes_started_by_nproc(data, tmp_path):
    args = ["seq2seq", "--data", data / "pairs.tsv", "--cell", "gru", "--hidden-size", "12", "--embedding-size", "8",
            "--epochs", "1", "--max-steps", "5", *SGD]
    one_process([*args, "--out", tmp_path / "one"])
    proc = subprocess.run([sys.executable, "-m", "rnnkit", "train", *map(str, args), "--out", str(tmp_path / "two"),
                           "--nproc", "2"], env=_env(), cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.count("best validation loss") == 1  # rank 0 alone prints
    assert_same_weights(tmp_path / "one", tmp_path / "two")


def resume_args(data, out, *extra):
    return lm_args(data, out, "--dropout", "0.2", "--random-bptt", "--checkpoint-every", "3", *extra)


@pytest.fixture(scope="module")
def straight(data, tmp_path_factory):
    """An 8-step 2-process run whose rank 1 believes its 30-minute budget spent at once."""
    out = tmp_path_factory.mktemp("straight") / "run"
    start = time.perf_counter()
    torchrun(resume_args(data, out, "--max-steps", "8", "--max-minutes", "30"), module="tests.train.test_distributed",
             RNNKIT_TEST_LATE_RANK="1", RNNKIT_TEST_STEPS=str(out.parent / "steps"))
    return out, time.perf_counter() - start


def test_ranks_disagreeing_about_stopping_follow_rank_0(straight):
    out, seconds = straight
    assert seconds < TIMEOUT and steps(out) == 8  # rank 0's clock decided: no rank stopped alone, nothing hung
    assert [(out.parent / f"steps.{rank}").read_text() for rank in (0, 1)] == ["8", "8"]
    stopped = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert stopped["stopped"] == "max_steps"


def test_a_stop_decided_on_rank_0_reaches_rank_1(data, tmp_path):
    out = tmp_path / "run"
    torchrun(resume_args(data, out, "--max-steps", "8", "--max-minutes", "30"), module="tests.train.test_distributed",
             RNNKIT_TEST_LATE_RANK="0", RNNKIT_TEST_STEPS=str(tmp_path / "steps"))
    taken = [(tmp_path / f"steps.{rank}").read_text() for rank in (0, 1)]
    assert taken[0] == taken[1] and int(taken[0]) < 8
    assert json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["stopped"] == "max_minutes"


def test_resumed_with_2_processes_equals_uninterrupted(data, straight, tmp_path):
    out = tmp_path / "run"
    torchrun(resume_args(data, out, "--max-steps", "4"))
    saved = json.loads((out / "resume" / "checkpoint.json").read_text())["trainer"]
    assert saved["world_size"] == 2 and len(saved["ranks"]) == 1  # rank 1's generators beside rank 0's
    torchrun(resume_args(data, out, "--max-steps", "8", "--resume"))
    a, b = final_weights(straight[0]), final_weights(out)
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_batch_size_not_dividing_among_processes_is_one_line(data, tmp_path, capsys, monkeypatch):
    argv = ["train", *map(str, lm_args(data, tmp_path / "x")), "--batch-size", "7"]
    one_line_error(capsys, [*argv, "--nproc", "2"], "--batch-size 7 does not divide among 2 processes")
    # under torchrun: rank 0 says it, the others end quietly with the same status
    for name, value in {"WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2", "LOCAL_RANK": "0", "RANK": "0"}.items():
        monkeypatch.setenv(name, value)
    one_line_error(capsys, argv, "--batch-size 7 does not divide among 2 processes")
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2 and capsys.readouterr().err == ""
    assert not (tmp_path / "x").exists()


def test_share_cuts_a_batch_into_contiguous_near_equal_parts():
    for n in range(1, 12):
        for world in range(1, 5):
            index = list(range(100, 100 + n))
            parts = [share(index, r, world) for r in range(world)]
            real = [p for p, ok in parts if ok]
            assert sum(real, []) == index  # contiguous, in order, each item once
            assert max(map(len, real)) - min(map(len, real)) <= 1
            assert all(p == index[-1:] for p, ok in parts if not ok) and len(real) == min(n, world)


if __name__ == "__main__":  # started by torchrun in the stop test: `rnnkit ARGS`, one rank's clock running fast
    from rnnkit.train import trainer

    if os.environ.get("RANK") == os.environ.get("RNNKIT_TEST_LATE_RANK"):
        _real = time.perf_counter  # 100,000 times fast: 30 minutes pass in 18 ms
        trainer.time = types.SimpleNamespace(perf_counter=lambda: _real() * 1e5)
    _fit = trainer.Trainer._fit

    def _fit_and_tell(self, skip):  # each rank writes the steps it took to RNNKIT_TEST_STEPS.RANK
        best = _fit(self, skip)
        Path(f"{os.environ['RNNKIT_TEST_STEPS']}.{os.environ['RANK']}").write_text(str(self.step))
        return best

    trainer.Trainer._fit = _fit_and_tell
    sys.exit(main(sys.argv[1:]))


# -- what a --nproc launch prints when it fails ---------------------------------------------------


@pytest.mark.parametrize("mistake", ["every process", "rank 0 alone", "nothing to resume"])
def test_a_mistake_is_one_line_under_nproc(mistake, data, tmp_path):
    if mistake == "every process":  # each process reads the flags and the file
        argv, line = ["--data", str(tmp_path / "missing.txt")], f"no such file: {tmp_path / 'missing.txt'}"
    elif mistake == "nothing to resume":  # rank 0 finds it claiming the folder, rank 1 reading it: one line
        one_process(lm_args(data, tmp_path / "x", "--max-steps", "2"))
        shutil.rmtree(tmp_path / "x" / "resume")  # a best model, no resumable state
        argv, line = ["--data", str(data / "text.txt"), "--resume"], f"nothing to resume in {tmp_path / 'x'}: no"
    else:  # rank 0 alone claims --out; torchrun then stops rank 1, which has nothing to say
        (tmp_path / "file").write_text("x")
        argv, line = ["--data", str(data / "text.txt")], f"--out {tmp_path / 'file'} is a file, not a folder"
    out = tmp_path / ("file" if mistake == "rank 0 alone" else "x")
    proc = subprocess.run([sys.executable, "-m", "rnnkit", "train", "lm", *argv, "--out", str(out), "--nproc", "2",
                           "--device", "cpu", "--quiet"],
                          env=_env(), cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 2
    expected = f"rnnkit train: error: {line}"
    assert [err.split("; ")[0][: len(expected)] for err in proc.stderr.splitlines()] == [expected]


def _ranks_of(mark: str) -> dict[int, int]:
    """``{rank: pid}`` of the processes whose environment holds ``RNNKIT_TEST_MARK=mark`` (Linux /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            env = dict(v.split("=", 1) for v in (entry / "environ").read_bytes().decode(errors="replace").split("\0")
                       if "=" in v)
        except (OSError, ValueError):
            continue
        if env.get("RNNKIT_TEST_MARK") == mark and "RANK" in env:
            found[int(env["RANK"])] = int(entry.name)
    return found


def _long_launch(data, out, mark):
    """A --nproc 2 run that trains far longer than the test waits, in a session of its own."""
    argv = lm_args(data, out, "--epochs", "100000", "--max-steps", "1000000")
    proc = subprocess.Popen([sys.executable, "-m", "rnnkit", "train", *map(str, argv), "--nproc", "2"],
                            env=_env(RNNKIT_TEST_MARK=mark), cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + TIMEOUT
    while not (out / "metrics.jsonl").exists():  # both processes are training once a step was logged
        assert proc.poll() is None and time.monotonic() < deadline, "the launch did not start training"
        time.sleep(0.2)
    return proc


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the processes through Linux's /proc")
def test_a_killed_process_and_ctrl_c_end_with_lines_not_tracebacks(data, tmp_path):
    proc = _long_launch(data, tmp_path / "killed", "killed")
    try:
        os.kill(_ranks_of("killed")[1], 9)
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
    lines = err.splitlines()
    assert proc.returncode != 0 and "Traceback" not in err, err[-3000:]
    assert "rnnkit train: error: process 1 was killed by SIGKILL" in lines
    assert all(line.startswith("rnnkit train: ") for line in lines), err[-3000:]

    proc = _long_launch(data, tmp_path / "ctrl-c", "ctrl-c")
    try:
        os.killpg(proc.pid, 2)  # what Ctrl-C in a terminal sends: every process of the group
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
    assert proc.returncode == 130 and "Traceback" not in err, err[-3000:]
    assert len(err.splitlines()) == 1 and err.startswith("rnnkit train: "), err[-3000:]


@pytest.mark.parametrize("after", [0.5, 2.0, 3.5])
def test_ctrl_c_while_the_launch_starts_is_a_line(after, data, tmp_path):
    argv = lm_args(data, tmp_path / "out", "--epochs", "100000", "--max-steps", "1000000")
    proc = subprocess.Popen([sys.executable, "-m", "rnnkit", "train", *map(str, argv), "--nproc", "2"], env=_env(),
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    time.sleep(after)  # importing torch, starting torchrun, starting the processes
    try:
        os.killpg(proc.pid, 2)
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
    assert proc.returncode == 130 and "Traceback" not in err, err[-3000:]
    assert err.splitlines() == ["rnnkit train: interrupted"], err


def test_torchrun_variables_left_in_a_shell_are_named(data, tmp_path):
    """RANK, WORLD_SIZE and LOCAL_RANK set by hand (a stale shell): without MASTER_ADDR one line
    naming them, not torch's rendezvous error alone; with it, a warning that the command joins a
    run of that many processes (here 1, so it trains)."""
    argv = [sys.executable, "-m", "rnnkit", "train", *map(str, lm_args(data, tmp_path / "out", "--max-steps", "1"))]
    stale = {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0"}
    env = {k: v for k, v in _env(**stale).items() if k not in ("MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID")}
    proc = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("rnnkit train: error: cannot join the data-parallel run that RANK, WORLD_SIZE and "
                                  "LOCAL_RANK describe (") and "unset them to train in one process" in proc.stderr
    env.update(WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()))
    proc = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ("rnnkit train: warning: RANK, WORLD_SIZE and LOCAL_RANK are set (not by torchrun): joining "
                           f"a run of 1 process at 127.0.0.1:{env['MASTER_PORT']}; unset them to train in one "
                           "process\n")


def test_a_failed_rendezvous_under_torchrun_keeps_torchs_error(monkeypatch):
    """Outside torchrun a failed rendezvous is rnnkit's one line about the variables; under torchrun
    (TORCHELASTIC_RUN_ID set) that advice would be wrong, and torch's own error goes through."""
    from rnnkit.train import distributed

    def refused(backend):
        raise RuntimeError("The server socket has failed to listen on any local network address (EADDRINUSE)")

    monkeypatch.setattr(distributed.dist, "init_process_group", refused)
    for name, value in {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    with pytest.raises(ValueError, match="cannot join the data-parallel run that RANK, WORLD_SIZE and LOCAL_RANK"):
        with distributed.session("cpu"):
            pass
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "none")
    with pytest.raises(RuntimeError, match="EADDRINUSE"):
        with distributed.session("cpu"):
            pass


@pytest.mark.parametrize("gpus", [1, 2])
def test_each_process_takes_a_gpu_of_its_own(gpus, monkeypatch):
    """``--device cuda`` with N processes per machine: process K trains on cuda:K; more processes
    than GPUs, or one explicit GPU for several processes, is one line (nccl cannot share a GPU
    between ranks). A stand-in machine with ``gpus`` GPUs, since CI has none."""
    from rnnkit.train import distributed

    monkeypatch.setattr(distributed, "resolve_device", lambda text: torch.device("cuda" if text == "auto" else text))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    assert [distributed.rank_device("cuda", k, gpus) for k in range(gpus)] == [torch.device("cuda", k)
                                                                               for k in range(gpus)]
    assert distributed.rank_device("auto", gpus - 1, gpus) == torch.device("cuda", gpus - 1)
    assert distributed.rank_device("cpu", gpus + 3, gpus + 4) == torch.device("cpu")
    many = "1 process per machine" if gpus == 1 else "2 processes per machine"
    with pytest.raises(ValueError, match=f"process {gpus} of this machine has no CUDA device of its own "
                                         f"\\(there are {gpus}\\); start at most {many}"):
        distributed.rank_device("cuda", gpus, gpus + 1)
    with pytest.raises(ValueError, match="--device cuda:0: with 2 processes on this machine each trains on"):
        distributed.rank_device("cuda:0", 0, 2)
    assert distributed.rank_device("cuda:1", 0, 1) == torch.device("cuda", 1)
