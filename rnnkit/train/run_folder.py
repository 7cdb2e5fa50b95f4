"""A training run's folder (``--out``): who may use it, and what it holds.

* A lock (``OUT/.lock``, ``flock``) is held for the whole run: a second run on the same folder
  fails at once, naming the first one's PID. The kernel drops the lock when its process dies,
  so a killed run never leaves a stale lock.
* A folder that holds another run is refused unless the run is resumed (``resume``) or replaced
  (``overwrite``; the old files go once the new run has committed its first checkpoint, see
  :class:`rnnkit.train.Trainer`).
* A folder the run created is removed again if the run ends before it saved anything.
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: runs are not locked against each other
    fcntl = None

LOCK = ".lock"
RESUME = "resume"
# What a training run writes; anything else in the folder is the user's.
RUN_FILES = ("checkpoint.json", "metrics.jsonl", "loss.png", RESUME)
_held: dict[Path, RunFolder] = {}


class RunFolderError(ValueError):
    """The folder cannot be used for this run; the message says why and what to do."""


class RunFolder:
    """The claim of one process on a run folder (reentrant: claiming it again counts up)."""

    def __init__(self, path: Path, created: bool, fd: int | None):
        self.path, self.created, self.fd, self.count = path, created, fd, 1

    def holds_a_run(self) -> bool:
        """Whether the folder holds what a run saved (a checkpoint, metrics), not only leftovers."""
        saved = ("checkpoint.json", "metrics.jsonl", "loss.png", f"{RESUME}/checkpoint.json")
        return any((self.path / name).exists() for name in saved)

    def release(self) -> None:
        self.count -= 1
        if self.count:
            return
        _held.pop(self.path, None)
        if self.fd is not None:
            # Unlinked while still locked, so that a process waiting on this inode sees it is gone
            # (claim() checks) instead of taking a lock nobody else can see.
            try:
                os.unlink(self.path / LOCK)
            except OSError:
                pass
            os.close(self.fd)
        if self.created and not self.holds_a_run():
            _remove_leftovers(self.path)


def _remove_leftovers(path: Path) -> None:
    """Removes a folder this run created and left without a checkpoint (what is left in it are
    files of interrupted saves, and the resume/ folder they were in)."""
    try:
        for name in os.listdir(path):
            if name == RESUME and (path / name).is_dir():
                _remove_leftovers(path / name)
            else:
                os.unlink(path / name)
        os.rmdir(path)
    except OSError:
        pass


def _lock(path: Path) -> int | None:
    if fcntl is None:
        return None
    while True:
        fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pid = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise RunFolderError(f"{path} is in use by another training run (PID {pid}); wait for it to end, or "
                                 "choose another --out") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path / LOCK).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)  # the holder removed the file as we opened it: lock the new one


def claim(out: str | Path, resume: bool = False, overwrite: bool = False) -> RunFolder:
    """Claims ``out`` for a training run, or raises :class:`RunFolderError` with the reason.

    ``resume``: the folder must hold a resumable state (``OUT/resume``). ``overwrite``: a run it
    holds may be replaced. Neither: the folder must be new, empty, or hold no run files."""
    path = Path(out)
    key = path.resolve()
    if key in _held:
        _held[key].count += 1
        return _held[key]
    if path.exists() and not path.is_dir():
        raise RunFolderError(f"--out {path} is a file, not a folder; choose a folder for the run's files")
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunFolderError(f"cannot create the run folder {path} ({err.strerror})") from None
    try:
        fd = _lock(path)
    except BaseException:
        if created:
            _remove_leftovers(path)
        raise
    folder = RunFolder(key, created, fd)
    _held[key] = folder
    try:
        _check_contents(path, resume, overwrite)
    except BaseException:
        folder.release()
        raise
    return folder


def _check_contents(path: Path, resume: bool, overwrite: bool) -> None:
    if resume and overwrite:
        raise RunFolderError("give --resume (continue the run) or --overwrite (replace it), not both")
    if resume:
        if not (path / RESUME / "checkpoint.json").is_file():
            raise RunFolderError(f"nothing to resume in {path}: no {path / RESUME / 'checkpoint.json'} (a run saves "
                                 "it with --checkpoint-every N)")
        return
    if overwrite:
        return
    present = sorted(name for name in os.listdir(path) if name != LOCK)
    if not present:
        return
    runs = [name for name in present if name in RUN_FILES]
    if runs:
        raise RunFolderError(f"{path} holds another run ({', '.join(runs)}); give --resume to continue it, "
                             "--overwrite to replace it, or another --out")
    raise RunFolderError(f"{path} is not empty (it holds {', '.join(present[:3])}{', ...' if len(present) > 3 else ''})"
                         "; choose a new or empty folder for the run, or give --overwrite to write there anyway")
