"""A language-model run killed (SIGKILL) and resumed ends with the same weights as one never interrupted."""

import json
import os
import signal
import subprocess
import sys
import time

import torch

from rnnkit.train import load_checkpoint


def _text(path):
    import random

    rng = random.Random(0)
    words = ["to", "be", "or", "not", "the", "question", "whether", "tis", "nobler", "mind", "suffer"]
    path.write_text("\n".join(" ".join(rng.choice(words) for _ in range(8)) for _ in range(400)))
    return path


def _cmd(data, out, extra=()):
    return [sys.executable, "-m", "rnnkit.cli", "train", "lm", "--data", str(data), "--out", str(out),
            "--bptt", "16", "--batch-size", "8", "--hidden-size", "24", "--embedding-size", "12",
            "--num-layers", "2", "--dropout", "0.2", "--cell", "lstm", "--epochs", "3", "--max-steps", "90",
            "--checkpoint-every", "5", "--eval-every", "20", "--lr-decay", "2", "--threads", "1", "--quiet",
            "--random-bptt", *extra]


def _step(out):
    try:
        return json.loads((out / "resume" / "checkpoint.json").read_text())["trainer"]["step"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


def test_killed_and_resumed_equals_uninterrupted(tmp_path):
    data = _text(tmp_path / "text.txt")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    straight = tmp_path / "straight"
    subprocess.run(_cmd(data, straight), check=True, env=env, capture_output=True)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cmd(data, killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while _step(killed) < 25 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    at_kill = _step(killed)
    assert 25 <= at_kill < 90
    subprocess.run(_cmd(data, killed, ["--resume"]), check=True, env=env, capture_output=True)

    a = load_checkpoint(straight / "resume").weights
    b = load_checkpoint(killed / "resume").weights
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert _step(straight) == _step(killed) == 90
    best_a = json.loads((straight / "checkpoint.json").read_text())["metrics"]
    best_b = json.loads((killed / "checkpoint.json").read_text())["metrics"]
    assert best_a == best_b
