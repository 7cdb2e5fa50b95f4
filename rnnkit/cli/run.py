"""What every ``train`` command does around its task: claim ``--out``, and with ``--resume`` take
every flag the user did not give from the saved run (configs and data), refusing the ones that
would make it another run."""

from __future__ import annotations

import hashlib
import os
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


@contextmanager
def training_run(args, sections: dict, default_out: str):
    """Claims ``args.out`` for the run (one line if it is in use, holds another run, or is a file)
    and yields the data record to hand to :class:`rnnkit.train.Trainer`. ``sections``: the
    checkpoint's config entries and their dataclasses, e.g. ``{"model": ClassifierModelConfig, ...}``."""
    from ..train import run_folder
    from ..train.checkpoint import load_checkpoint
    from ..train.trainer import MAY_CHANGE_ON_RESUME

    args.out = args.out or default_out
    for name in _PATHS:  # absolute, so that --resume finds the data from any working directory
        if getattr(args, name, None) not in (None, "-"):
            setattr(args, name, os.path.abspath(getattr(args, name)))
    folder = run_folder.claim(args.out, bool(args.resume), bool(args.overwrite))
    try:
        if args.resume:
            where = Path(args.out) / run_folder.RESUME
            saved = load_checkpoint(where).meta
            _take_saved_flags(args, saved, sections, MAY_CHANGE_ON_RESUME, where)
            _check_data_unchanged(saved.get("data") or {})
        flags = {name: _given(args, name) for name in DATA_FLAGS if hasattr(args, name)}
        files = {flags[n]: _sha256(flags[n]) for n in _PATHS if flags.get(n) not in (None, "-")
                 and os.path.isfile(flags[n])}
        yield {"flags": flags, "sha256": files}
    finally:
        folder.release()


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
