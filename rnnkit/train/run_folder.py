"""A training run's folder (``--out``): who may use it, and what it holds.

* A lock (``OUT/.lock``, ``flock``) is held for the whole run: a second run on the same folder
  fails at once, naming the first one's PID. The kernel drops the lock when its process dies,
  so a killed run never leaves a stale lock; it leaves the lock file, the sign that rnnkit died
  there (a run that ends unlinks it).
* A folder that holds another run (a committed ``checkpoint.json`` or ``resume/checkpoint.json``)
  is refused unless the run is resumed (``resume``) or replaced (``overwrite``; the old files go
  once the new run has committed its first checkpoint, see :class:`rnnkit.train.Trainer`). So is a
  folder holding files that are not rnnkit's. Where a run was killed (its lock file is there),
  what its saves left (uncommitted files, the ``resume/`` folder of a run killed in its first
  save, the log of a run killed before its first checkpoint) is neither: the same command starts
  the run again, and the trainer deletes or replaces those files.
* A folder the run created is removed again if the run ends before it saved anything.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: runs are not locked against each other
    fcntl = None

LOCK = ".lock"
RESUME = "resume"
COMMITTED = ("checkpoint.json", f"{RESUME}/checkpoint.json")  # a run is there once one of them is
# What a training run writes, named when a folder holding a run is refused.
RUN_FILES = ("checkpoint.json", "metrics.jsonl", "loss.png", RESUME)
# What a save killed before its commit leaves (rnnkit.train.checkpoint: a generation's data files, a
# checkpoint.json or metrics.jsonl not yet renamed into place; the trainer: a half-drawn plot).
# These are rnnkit's, not the user's: they must not make the folder look taken.
_KILLED_SAVE_FILE = re.compile(r"(model|optimizer|state)-\d{6}\.safetensors"
                               r"|\.(checkpoint\.json|metrics\.jsonl)\.\d+\.tmp|\.loss\.\d+\.png")
_LOG_FILES = ("metrics.jsonl", "loss.png")  # written from the first evaluation on, before any checkpoint
_held: dict[Path, RunFolder] = {}


class RunFolderError(ValueError):
    """The folder cannot be used for this run; the message says why and what to do."""


class RunFolder:
    """The claim of one process on a run folder (reentrant: claiming it again counts up)."""

    def __init__(self, path: Path, created: bool, fd: int | None, killed: bool = False):
        self.path, self.created, self.fd, self.count = path, created, fd, 1
        self.killed = killed  # a run died here before this one (its lock file was left)

    def holds_a_run(self) -> bool:
        """Whether the folder holds what a run saved (a checkpoint, metrics), not only leftovers."""
        saved = ("checkpoint.json", "metrics.jsonl", "loss.png", f"{RESUME}/checkpoint.json")
        return any((self.path / name).exists() for name in saved)

    def release(self, keep_lock_file: bool = False) -> None:
        self.count -= 1
        if self.count:
            return
        _held.pop(self.path, None)
        if self.fd is not None:
            # Unlinked while still locked, so that a process waiting on this inode sees it is gone
            # (claim() checks) instead of taking a lock nobody else can see.
            # after a killed run, the lock file stays until a checkpoint is committed: it is what
            # marks the folder's leftovers as rnnkit's for the next command
            committed = any((self.path / name).is_file() for name in COMMITTED)
            if not (keep_lock_file or (self.killed and not committed)):
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
    killed = (path / LOCK).is_file()  # a lock file nobody holds (checked below): a run died here
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
    folder = RunFolder(key, created, fd, killed)
    _held[key] = folder
    try:
        _check_contents(path, resume, overwrite, killed)
    except BaseException:
        folder.release()  # (the sign of a killed run stays for the next command)
        raise
    return folder


def _left_by_a_killed_save(path: Path, name: str) -> bool:
    """Whether ``path / name`` is what a killed save left: one of its files, or a ``resume/`` folder
    holding nothing else (a run killed in its first resumable save)."""
    where = path / name
    if where.is_symlink():
        return False
    if name == RESUME and where.is_dir():
        try:
            return all(_left_by_a_killed_save(where, inner) for inner in os.listdir(where))
        except OSError:
            return False
    return bool(_KILLED_SAVE_FILE.fullmatch(name)) and where.is_file()


def check_resumable(path: Path) -> None:
    """A :class:`RunFolderError` unless ``path`` holds a committed resumable state. It only reads,
    so every process of a data-parallel run can ask it and fail with the same line."""
    if (path / RESUME / "checkpoint.json").is_file():
        return
    if not any((path / name).is_file() for name in COMMITTED):  # new, empty, or killed before its first commit
        raise RunFolderError(f"nothing to resume in {path}: no run there has committed a checkpoint; give the "
                             "same command without --resume to start the run (it saves a resumable state "
                             "with --checkpoint-every N)")
    raise RunFolderError(f"nothing to resume in {path}: no {path / RESUME / 'checkpoint.json'} (a run saves "
                         "it with --checkpoint-every N)")


def _check_contents(path: Path, resume: bool, overwrite: bool, killed: bool = False) -> None:
    if resume and overwrite:
        raise RunFolderError("give --resume (continue the run) or --overwrite (replace it), not both")
    committed = any((path / name).is_file() for name in COMMITTED)
    if resume:
        check_resumable(path)
        return
    if overwrite:
        return
    names = sorted(name for name in os.listdir(path) if name != LOCK)
    if committed:
        runs = [name for name in names if name in RUN_FILES]
        raise RunFolderError(f"{path} holds another run ({', '.join(runs)}); give --resume to continue it, "
                             "--overwrite to replace it, or another --out")
    # After a killed run (its lock file is still there), what its saves left is rnnkit's, not the
    # user's: the trainer deletes it when it starts; so is the log and plot of a run killed before it
    # committed any checkpoint (the new run replaces them). Without that sign every file counts.
    present = [name for name in names
               if not (killed and (_left_by_a_killed_save(path, name) or name in _LOG_FILES))]
    if present:
        raise RunFolderError(f"{path} is not empty (it holds {', '.join(present[:3])}"
                             f"{', ...' if len(present) > 3 else ''}); choose a new or empty folder for the run, or "
                             "give --overwrite to write there anyway")

