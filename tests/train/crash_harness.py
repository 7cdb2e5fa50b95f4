"""Runs ``rnnkit`` commands in child processes with a fault injected into the disk operations of
saving (every call through ``rnnkit.train.checkpoint``'s ``os``): SIGKILL before the N-th
operation, or ENOSPC from the N-th write.

Children come from a forkserver that has imported torch and rnnkit once, so one costs a fork, not
an interpreter start."""

from __future__ import annotations

import errno
import multiprocessing
import os
import random
import signal
import threading

STEPS = ("open", "write", "fsync", "close", "replace", "unlink", "makedirs", "rmdir")
WRITES = ("write",)


class FaultyOS:
    """``os`` as ``rnnkit.train.checkpoint`` sees it, with a fault at the ``at``-th counted call."""

    def __init__(self, real, kind: str, at: int):
        self._real, self._kind, self._at, self._count = real, kind, at, 0

    def __getattr__(self, name):
        real = getattr(self._real, name)
        counted = STEPS if self._kind == "kill" else WRITES
        if name not in counted:
            return real

        def call(*args, **kwargs):
            self._count += 1
            if self._count == self._at:
                if self._kind == "kill":
                    os.kill(os.getpid(), signal.SIGKILL)
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real(*args, **kwargs)

        return call


def _child(argv: list[str], fault: tuple[str, int] | None, stderr_path: str | None) -> None:
    import torch

    from rnnkit.cli import main
    from rnnkit.train import checkpoint

    torch.set_num_threads(1)
    if stderr_path:
        fd = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 2)
    out = os.open(os.devnull, os.O_WRONLY)
    os.dup2(out, 1)
    if fault:
        checkpoint.os = FaultyOS(os, *fault)
    code = main(argv)
    os._exit(code)


_context = None
_starting = threading.Lock()


def context():
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        # torch.optim imports torch._dynamo (and sympy) lazily: a second or two per child without it
        _context.set_forkserver_preload(["torch", "torch._dynamo", "torch.optim", "matplotlib.pyplot", "tqdm.auto",
                                         "safetensors.torch", "rnnkit.cli", "rnnkit.train.plots",
                                         "rnnkit.tasks.language_model", "rnnkit.tasks.classification",
                                         "rnnkit.tasks.translation"])
    return _context


def run(argv: list[str], fault: tuple[str, int] | None = None, stderr_path: str | None = None) -> int:
    """Runs ``rnnkit argv`` in a child; its exit code (negative: the signal that ended it)."""
    proc = context().Process(target=_child, args=(argv, fault, stderr_path))
    with _starting:  # one launch at a time: two threads launching at once lost children's exit codes (255)
        proc.start()
    proc.join(120)
    if proc.exitcode is None:
        proc.kill()
        proc.join()
        raise TimeoutError(f"rnnkit {' '.join(argv)} did not end in 120 s")
    return proc.exitcode


# -- tiny data for the three tasks ---------------------------------------------------------------------


def write_data(root) -> dict:
    rng = random.Random(0)
    words = ["to", "be", "or", "not", "the", "question", "whether", "tis", "nobler", "mind"]
    (root / "text.txt").write_text("\n".join(" ".join(rng.choice(words) for _ in range(6)) for _ in range(60)))
    rows = ["label\ttext"]
    for i in range(80):
        label = "pos" if i % 2 else "neg"
        cue = rng.choice(["good", "great"] if label == "pos" else ["bad", "dull"])
        rows.append(f"{label}\t{' '.join(rng.sample(words, 3) + [cue])}")
    (root / "rows.tsv").write_text("\n".join(rows) + "\n")
    pairs = []
    for _ in range(100):
        src = [rng.choice(words[:6]) for _ in range(rng.randint(1, 4))]
        pairs.append(" ".join(src) + "\t" + " ".join(reversed(src)))
    (root / "pairs.tsv").write_text("\n".join(pairs) + "\n")
    return {"lm": root / "text.txt", "classify": root / "rows.tsv", "seq2seq": root / "pairs.tsv"}


COMMON = ["--hidden-size", "8", "--embedding-size", "8", "--dropout", "0.1", "--max-steps", "10", "--epochs", "5",
          "--checkpoint-every", "2", "--eval-every", "3", "--patience", "0", "--threads", "1", "--quiet"]
EXTRA = {"lm": ["--bptt", "8", "--batch-size", "4", "--level", "char"],
         "classify": ["--batch-size", "16", "--max-len", "8"],
         "seq2seq": ["--batch-size", "16", "--min-freq", "1", "--cell", "gru"]}


def train_argv(task: str, data, out) -> list[str]:
    return ["train", task, "--data", str(data), "--out", str(out), *COMMON, *EXTRA[task]]
