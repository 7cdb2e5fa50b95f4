"""What every ``train`` command does around its task: start torchrun for ``--nproc N``; under
torchrun, set up the process group (:func:`rnnkit.train.distributed.session`); claim ``--out``
(rank 0); and with ``--resume`` take every flag the user did not give from the saved run (configs
and data), refusing the ones that would make it another run."""

from __future__ import annotations

import hashlib
import os
import signal
import sys
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

from .common import UserError

# Flags that name the data outside the typed configs; saved in each checkpoint's "data" record.
DATA_FLAGS = ("data", "valid_data", "corpus", "text_column", "label_column")
_PATHS = ("data", "valid_data")
# How this invocation runs, never taken from the saved run (a run trained on a GPU resumes on this machine's --device).
_NOT_FILLED = ("out", "resume", "overwrite", "device")


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _given(args, name):
    value = getattr(args, name, None)
    if name in _PATHS and value not in (None, "-"):
        value = os.path.abspath(value)
    return value


def refuse_unread_flags(args) -> None:
    """A UserError for a flag the chosen cell would ignore (``--kernel-size`` without ``--cell
    tcn``): said, not dropped in silence. A resumed run's flags are checked against the saved ones
    instead."""
    if args.resume or getattr(args, "kernel_size", None) is None:
        return
    cell = args.cell or "lstm"  # the recipes' cell
    if cell != "tcn":
        raise UserError(f"--kernel-size is the convolution width of the tcn cell; the {cell} cell has none "
                        "(drop it, or give --cell tcn)")


def launched(args) -> bool:
    """Called first by each ``train`` command. ``--nproc N`` (N > 1) outside torchrun: runs this
    same command in N processes under torchrun's launcher on this machine and returns True once they
    ended (the command is done; a failed process's exit status is this one's). Under torchrun:
    checks ``--nproc`` and ``--batch-size`` against the launch (one line, from rank 0 alone), and
    quiets the other ranks' standard output and warnings; returns False (train here)."""
    from ..train.distributed import check_batch_size, is_main_process, launched_by_torchrun

    nproc = getattr(args, "nproc", 1)
    if launched_by_torchrun():
        per_node = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ["WORLD_SIZE"]))
        try:
            if nproc not in (1, per_node):
                raise UserError(f"--nproc {nproc} starts torchrun itself; under torchrun (here {per_node} "
                                f"process{'es' if per_node != 1 else ''} per machine) leave --nproc out")
            if args.batch_size is not None:
                check_batch_size(args.batch_size, int(os.environ["WORLD_SIZE"]))
        except (UserError, ValueError):
            if not is_main_process():  # every rank finds the same mistake: rank 0 alone says it
                raise SystemExit(2) from None
            raise
        if not is_main_process():  # rank 0 prints and warns for the run
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (for the rest of the process)
            warnings.simplefilter("ignore")
        return False
    if nproc == 1:
        return False
    from ..train.distributed import rank_device

    # mistakes the N processes would all make (a device this machine lacks, fewer GPUs than processes): one line, here
    rank_device(getattr(args, "device", None), nproc - 1, nproc)
    if args.batch_size is not None:
        check_batch_size(args.batch_size, nproc)
    code = _torchrun(nproc, _without_nproc(args.argv))
    if code:
        raise SystemExit(code)
    return True


def _without_nproc(argv: list[str]) -> list[str]:
    """``argv`` less its ``--nproc N`` (also written ``--nproc=N`` or abbreviated, as argparse takes
    it): torchrun's own parser would read it as an ambiguous ``--nproc-per-node``."""
    out, drop = [], False
    for arg in argv:
        name = arg.split("=", 1)[0]
        if drop:
            drop = False
        elif len(name) > 3 and "--nproc".startswith(name):
            drop = "=" not in arg
        else:
            out.append(arg)
    return out


def _torchrun(nproc: int, argv: list[str]) -> int:
    """Runs ``python -m rnnkit ARGV`` in ``nproc`` processes under torchrun's launcher
    (``torch.distributed.run --standalone``: a rendezvous on a free local port); their exit status."""
    from .._ctrl_c import ctrl_c_held

    with ctrl_c_held():
        from torch.distributed import run as torchrun
        from torch.distributed.elastic.multiprocessing.api import SignalException
        from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

        from . import rank_errors

    if "OMP_NUM_THREADS" not in os.environ:  # torchrun would set 1 with a warning; a share of the cores here
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        os.environ["OMP_NUM_THREADS"] = str(max(1, cores // nproc))
    sys.stdout.flush()
    with tempfile.TemporaryDirectory(prefix="rnnkit-ranks-") as folder, rank_errors.gathering(folder):
        try:
            torchrun.run(torchrun.parse_args(["--standalone", "--nproc-per-node", str(nproc), "-m", "rnnkit", *argv]))
        except ChildFailedError as err:  # rank 0 said its error; the others' that differ, once, here
            lines, status = rank_errors.report(folder, {rank: f.exitcode for rank, f in err.failures.items()})
            for line in lines:
                print(line, file=sys.stderr)
            return status
        except SignalException as err:  # Ctrl-C or a kill reached the launcher: torchrun stopped the processes
            own = ("rnnkit train: interrupted" if err.sigval == signal.SIGINT
                   else f"rnnkit train: stopped by {signal.Signals(err.sigval).name}")
            # the signal is the cause: a process that lost another meanwhile is not news
            lines = [line for line in rank_errors.report(folder, {})[0] if rank_errors.LOST_PEER not in line]
            if 0 not in rank_errors.said(folder):  # rank 0 did not get to say it
                lines = [own, *(line for line in lines if line != own)]
            for line in lines:
                print(line, file=sys.stderr)
            return 128 + int(err.sigval)
    return 0


@contextmanager
def training_run(args, sections: dict, default_out: str):
    """Claims ``args.out`` for the run (one line if it is in use, holds another run, or is a file)
    and yields the data record to hand to :class:`rnnkit.train.Trainer`. ``sections``: the
    checkpoint's config entries and their dataclasses, e.g. ``{"model": ClassifierModelConfig, ...}``.
    Under torchrun the process group lives as long as this context (destroyed also on errors), and
    rank 0 alone claims the folder."""
    from ..train import distributed

    with distributed.session(getattr(args, "device", None)) as group:
        with _claimed_run(args, sections, default_out, group is None or group.is_main) as data:
            yield data


@contextmanager
def _claimed_run(args, sections: dict, default_out: str, main: bool):
    from ..train import run_folder
    from ..train.checkpoint import load_checkpoint
    from ..train.trainer import MAY_CHANGE_ON_RESUME

    args.out = args.out or default_out
    for name in _PATHS:  # absolute, so that --resume finds the data from any working directory
        if getattr(args, name, None) not in (None, "-"):
            setattr(args, name, os.path.abspath(getattr(args, name)))
    folder = run_folder.claim(args.out, bool(args.resume), bool(args.overwrite)) if main else None
    try:
        if args.resume:
            if not main:  # rank 0 checked it when it claimed the folder: the same line from every process
                run_folder.check_resumable(Path(args.out))
            where = Path(args.out) / run_folder.RESUME
            saved = load_checkpoint(where).meta
            _check_same_task(args, saved)
            _take_saved_flags(args, saved, sections, MAY_CHANGE_ON_RESUME, where)
            _check_data_unchanged(saved.get("data") or {})
        flags = {name: _given(args, name) for name in DATA_FLAGS if hasattr(args, name)}
        files = {flags[n]: _sha256(flags[n]) for n in _PATHS if flags.get(n) not in (None, "-")
                 and os.path.isfile(flags[n])}
        yield {"flags": flags, "sha256": files}
    finally:
        if folder is not None:
            folder.release()


_TASK_OF_MODEL = {"lm": "lm", "classifier": "classify", "seq2seq": "seq2seq"}  # model_type -> rnnkit train TASK


def _check_same_task(args, saved: dict) -> None:
    """A run of another task is named as such: its configs would otherwise read as damaged."""
    task = _TASK_OF_MODEL.get(saved.get("model_type"))
    if task is not None and getattr(args, "task", task) != task:
        raise UserError(f"{args.out} holds a run of rnnkit train {task}, not of train {args.task}; resume it with "
                        f"rnnkit train {task} --out {args.out} --resume")


def _take_saved_flags(args, saved: dict, sections: dict, may_change, where) -> None:
    import dataclasses

    from ..train.checkpoint import config_from_meta

    for key, cls in sections.items():  # a damaged record is one line, not a crash in a model's constructor
        config_from_meta(cls, saved, key, where)
    differences = []
    saved_flags = (saved.get("data") or {}).get("flags") or {}
    pairs = {name: saved_flags[name] for name in DATA_FLAGS if name in saved_flags}
    for key, cls in sections.items():
        values = saved.get(key)
        if isinstance(values, dict):  # (the language model's data flags are in its config too)
            pairs.update((f.name, values[f.name]) for f in dataclasses.fields(cls)
                         if f.name in values and f.name not in _NOT_FILLED)
    for name, before in pairs.items():
        given = _given(args, name)
        if given is None:
            setattr(args, name, before)
        elif given != before and name not in may_change:
            differences.append(f"--{name.replace('_', '-')} {given} (saved: {before})")
    if differences:
        raise UserError(f"--resume continues the run saved in {args.out}, but {', '.join(differences)}; drop those "
                        "flags to resume it, or start a new run with --overwrite")


def _check_data_unchanged(data: dict) -> None:
    for path, digest in (data.get("sha256") or {}).items():
        if not os.path.isfile(path):
            raise UserError(f"the run was trained on {path}, which is gone; put it back to resume")
        if _sha256(path) != digest:
            raise UserError(f"{path} changed since the run started (its SHA-256 differs); --resume needs the data "
                            "the run started with")
