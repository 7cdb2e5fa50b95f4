"""One line for a mistake under ``rnnkit train --nproc N``, not one per process.

The N processes that ``--nproc`` starts read the same flags and files, so a mistake (a missing
file, a bad value) stops each of them with the same line. Rank 0 prints its line as any command
does; the others hand theirs to the launcher through a folder it names in ``RNNKIT_RANK_ERRORS``.
Once the processes have ended, the launcher prints what rank 0 did not say: another rank's
different line (prefixed with its rank), or the signal that killed a process that wrote nothing.
torchrun's own failure log is held back meanwhile (its summary restates those lines with a
traceback of the launcher). A process started by a hand-written ``torchrun`` command has no folder
and prints as before.
"""

from __future__ import annotations

import logging
import os
import signal
from contextlib import contextmanager
from pathlib import Path

ENV = "RNNKIT_RANK_ERRORS"


def _file(folder: str | Path, rank: int) -> Path:
    return Path(folder) / f"rank-{rank}.txt"


def hand_over(line: str) -> bool:
    """Records this process's error ``line`` for the ``--nproc`` launcher. True when the process
    must not print it itself (a rank other than 0, whose line the launcher prints if rank 0's
    differs); False outside such a launch, for rank 0, or when the line could not be written."""
    folder = os.environ.get(ENV)
    rank = os.environ.get("RANK")
    if not folder or rank is None:
        return False
    try:
        _file(folder, int(rank)).write_text(line + "\n", encoding="utf-8")
    except (OSError, ValueError):
        return False  # the launcher would never see it: say it here
    return int(rank) != 0


def anything_said(folder: str | Path) -> bool:
    """Whether a process handed over a line (rank 0's included, which it printed itself)."""
    return any(Path(folder).glob("rank-*.txt"))


def to_print(folder: str | Path, exit_codes: dict[int, int]) -> list[str]:
    """The lines the launcher prints after a failed launch, from the ranks' handed-over lines in
    ``folder`` and ``exit_codes`` (rank -> exit status of the processes that failed; negative: the
    signal that killed it): each line of a rank other than 0 that rank 0 did not print, prefixed
    with its rank (identical lines once); then the signal that killed each process that said
    nothing (SIGTERM only when no other signal killed one: torchrun sends it to the others once
    one has failed)."""
    said: dict[int, str] = {}
    for path in sorted(Path(folder).glob("rank-*.txt")):
        try:
            said[int(path.stem.split("-", 1)[1])] = path.read_text(encoding="utf-8").strip()
        except (OSError, ValueError):
            continue
    lines, seen = [], {said.get(0)}
    for rank in sorted(r for r in said if r != 0):
        if said[rank] not in seen:
            seen.add(said[rank])
            prefix, _, message = said[rank].partition(": error: ")
            lines.append(f"{prefix}: error: process {rank}: {message}" if message else said[rank])
    signals = {rank: -code for rank, code in exit_codes.items() if code < 0 and rank not in said}
    if any(s != signal.SIGTERM for s in signals.values()):
        signals = {rank: s for rank, s in signals.items() if s != signal.SIGTERM}
    return lines + [f"rnnkit train: error: process {rank} was killed by {_signal_name(s)}"
                    for rank, s in sorted(signals.items())]


# How torch.distributed's backends report a peer process that has gone (gloo's TCP pairs, NCCL's
# watchdog, the TCP store): the survivors' errors, which are not bugs of theirs.
_PEER_GONE = ("Connection reset by peer", "Connection closed by peer", "Broken pipe", "NCCL communicator was aborted",
              "ProcessGroupNCCL", "ProcessGroupGloo", "failed to recv, got 0 bytes", "Socket Timeout")


def lost_peer(message: str) -> bool:
    """Whether ``message`` (a RuntimeError's first line) is a process of a torchrun launch finding
    that another process of it has gone; False outside torchrun."""
    return "RANK" in os.environ and any(sign in message for sign in _PEER_GONE)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class _HideElasticErrors(logging.Filter):
    """Drops torchrun's own records (``torch.distributed.elastic.*``) of warning level and up:
    its 'failed (exitcode: 2)' and 'Sending process ... SIGTERM' lines, which the launcher
    replaces with :func:`to_print`'s."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.startswith("torch.distributed.elastic") and record.levelno >= logging.WARNING)


@contextmanager
def gathering(folder: str | Path):
    """While the ``--nproc`` launcher runs its processes: ``ENV`` names ``folder`` to them, and
    torchrun's failure records are held back (a filter on each of torchrun's loggers, which are
    made when ``torch.distributed.run`` is imported: a logger's filters see what is logged on it)."""
    import torch.distributed.run  # noqa: F401 (makes torchrun's loggers)

    hide = _HideElasticErrors()
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
               if name.startswith("torch.distributed.elastic")]
    before = os.environ.get(ENV)
    os.environ[ENV] = str(folder)
    for logger in loggers:
        logger.addFilter(hide)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(hide)
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before


__all__ = ["ENV", "hand_over", "anything_said", "to_print", "gathering", "lost_peer"]
