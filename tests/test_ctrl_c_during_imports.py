"""Ctrl-C while the command imports torch and numpy ends with one line and status 130.

A KeyboardInterrupt raised inside torch's import was swallowed where torch imports numpy (the run
went on: the Ctrl-C was lost), made the process kill itself with SIGINT at exit after printing
its line (status -2, not 130: what failed at random in CI), or left numpy half imported (a
RecursionError traceback). The command now holds Ctrl-C back during those imports and delivers
it after. A ``sitecustomize`` on PYTHONPATH sends SIGINT to the process when the named module's
import begins, so the moment is exact, and writes a file so the test knows it fired."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HOOK = '''
import os, signal, sys
class _SigintAt:
    def find_spec(self, fullname, path=None, target=None):
        if fullname == os.environ["SIGINT_AT"] and not os.path.exists(os.environ["SIGINT_FIRED"]):
            open(os.environ["SIGINT_FIRED"], "w").close()
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, _SigintAt())
'''


def _interrupted_at(module: str, tmp_path: Path) -> subprocess.CompletedProcess:
    (tmp_path / "hook").mkdir()
    (tmp_path / "hook" / "sitecustomize.py").write_text(HOOK)
    text = tmp_path / "text.txt"
    text.write_text("to be or not to be that is the question\n" * 40)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "hook"), str(REPO)]), "SIGINT_AT": module,
           "SIGINT_FIRED": str(tmp_path / "fired"), "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    env.pop("RANK", None)
    argv = ["train", "lm", "--data", str(text), "--out", str(tmp_path / "out"), "--max-steps", "1", "--quiet"]
    proc = subprocess.run([sys.executable, "-m", "rnnkit", *argv], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert (tmp_path / "fired").exists(), f"{module} was never imported: the test proves nothing"
    return proc


@pytest.mark.parametrize("module", ["torch", "numpy", "numpy.linalg", "torch.nn", "rnnkit.train.trainer"])
def test_ctrl_c_during_torchs_import_is_one_line_and_130(module, tmp_path):
    proc = _interrupted_at(module, tmp_path)
    assert (proc.returncode, proc.stderr) == (130, "rnnkit train: interrupted\n")
    assert not (tmp_path / "out" / "checkpoint.json").exists()  # nothing trained after the Ctrl-C


def test_ctrl_c_during_the_command_lines_import_is_one_line_and_130(tmp_path):
    proc = _interrupted_at("rnnkit.cli", tmp_path)
    assert (proc.returncode, proc.stderr) == (130, "rnnkit: interrupted\n")


def test_a_handler_set_outside_python_is_left_alone(monkeypatch):
    """signal.getsignal gives None for a handler an embedding host set in C: it could not be put
    back, so the stand-in is not installed at all (the body just runs)."""
    import signal

    from rnnkit._ctrl_c import ctrl_c_held

    before = signal.getsignal(signal.SIGINT)
    monkeypatch.setattr(signal, "getsignal", lambda number: None)
    with ctrl_c_held():
        assert signal.signal(signal.SIGINT, before) is before  # nothing was installed in between


def test_a_ctrl_c_in_the_body_is_raised_after_it():
    import signal

    from rnnkit._ctrl_c import ctrl_c_held

    done = []
    with pytest.raises(KeyboardInterrupt):
        with ctrl_c_held():
            signal.raise_signal(signal.SIGINT)
            done.append("the body ran to its end")
    assert done and signal.getsignal(signal.SIGINT) is signal.default_int_handler
