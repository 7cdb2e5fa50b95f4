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


# The start of the line a process prints when another one of the run has gone (cli.main): the
# consequence of a failure, never its cause, so it is left out when a cause was said.
LOST_PEER = "another process of this run stopped"


def said(folder: str | Path) -> dict[int, str]:
    """``{rank: line}`` of the processes that handed a line over (rank 0's too, which it printed)."""
    lines = {}
    for path in Path(folder).glob("rank-*.txt"):
        try:
            lines[int(path.stem.split("-", 1)[1])] = path.read_text(encoding="utf-8").strip()
        except (OSError, ValueError):
            continue
    return lines


def report(folder: str | Path, exit_codes: dict[int, int]) -> tuple[list[str], int]:
    """``(lines, status)`` of a failed launch: what the launcher prints after rank 0's own line,
    and the exit status of the launch. ``exit_codes``: rank -> exit status of the processes that
    failed (negative: the signal that killed it).

    Lines: each handed-over line of a rank other than 0 that rank 0 did not print, prefixed with
    its rank, identical lines once; "another process stopped" lines only when no process said a
    cause. Then the signal that killed each process that said nothing, SIGTERM only when nothing
    else explains the failure (torchrun sends it to the others once one has failed). Status: the
    exit status of the first process that said a cause, else the first positive one, else 1.
    """
    lines_by_rank = said(folder)
    causes = {rank: line for rank, line in lines_by_rank.items() if LOST_PEER not in line}
    shown = causes or lines_by_rank
    lines, seen = [], {lines_by_rank.get(0)}
    for rank in sorted(r for r in shown if r != 0):
        if shown[rank] not in seen:
            seen.add(shown[rank])
            prefix, _, message = shown[rank].partition(": error: ")
            lines.append(f"{prefix}: error: process {rank}: {message}" if message else shown[rank])
    signals = {rank: -code for rank, code in exit_codes.items() if code < 0 and rank not in lines_by_rank}
    explained = (bool(lines_by_rank) or any(code > 0 for code in exit_codes.values())
                 or any(s != signal.SIGTERM for s in signals.values()))
    if explained:
        signals = {rank: s for rank, s in signals.items() if s != signal.SIGTERM}
    lines += [f"rnnkit train: error: process {rank} was killed by {_signal_name(s)}"
              for rank, s in sorted(signals.items())]
    statuses = [exit_codes.get(rank, 0) for rank in sorted(causes)] + [exit_codes[r] for r in sorted(exit_codes)]
    return lines, next((code for code in statuses if code > 0), 1)


# How torch.distributed's transports report a peer process that has gone (gloo's TCP pairs, NCCL's
# communicator): the survivors' errors. Only transport-level words: "ProcessGroupGloo::allgather:
# invalid tensor size" is a bug of the caller and keeps its traceback.
_PEER_GONE = ("Connection reset by peer", "Connection closed by peer", "Broken pipe", "failed to recv, got 0 bytes",
              "NCCL communicator was aborted")


def lost_peer(message: str) -> bool:
    """Whether ``message`` (a RuntimeError's first line) is a process of a torchrun launch finding
    that another process of it has gone; False outside torchrun."""
    launched = all(name in os.environ for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    return launched and any(sign in message for sign in _PEER_GONE)


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


# torchrun's launcher turns these into its SignalException and never puts the old handlers back
_HANDLED = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, name))


@contextmanager
def gathering(folder: str | Path):
    """While the ``--nproc`` launcher runs its processes: ``ENV`` names ``folder`` to them;
    torchrun's failure records are held back (a filter on each of torchrun's loggers, which are
    made when ``torch.distributed.run`` is imported: a logger's filters see what is logged on it);
    and the signal handlers torchrun installs are replaced by the ones before it afterwards, so a
    later Ctrl-C is a KeyboardInterrupt again."""
    import torch.distributed.run  # noqa: F401 (makes torchrun's loggers)

    hide = _HideElasticErrors()
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
               if name.startswith("torch.distributed.elastic")]
    before = os.environ.get(ENV)
    handlers = {number: signal.getsignal(number) for number in _HANDLED}
    os.environ[ENV] = str(folder)
    for logger in loggers:
        logger.addFilter(hide)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(hide)
        for number, handler in handlers.items():
            try:
                signal.signal(number, handler)
            except (ValueError, TypeError):  # not the main thread, or a handler set outside Python
                pass
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before


__all__ = ["ENV", "LOST_PEER", "hand_over", "said", "report", "gathering", "lost_peer"]
