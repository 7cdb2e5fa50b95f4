"""Checkpoints: a folder holding ``model.safetensors`` and ``checkpoint.json`` (configs, vocabulary,
labels, step, metrics), optionally ``optimizer.pt``.

Written atomically, each file to a temporary name and then renamed, the JSON last and carrying the
weights' SHA-256, so a run killed mid-write leaves the previous checkpoint whole, and a torn pair
is detected. Loaded without executing pickled code: safetensors for weights, JSON for the rest,
``torch.load(weights_only=True)`` for optimizer state.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, load_model, save_file, save_model

FORMAT = 1
WEIGHTS, META, OPTIMIZER, TENSORS = "model.safetensors", "checkpoint.json", "optimizer.pt", "state.safetensors"


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupted or of another kind; the message says which and what to do."""


def _atomic_write(path: Path, write) -> None:
    """Calls ``write(tmp_path)`` and renames the result over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_checkpoint(directory: str | Path, model: torch.nn.Module, meta: dict,
                    optimizer_state: dict | None = None, tensors: dict[str, torch.Tensor] | None = None) -> Path:
    """Writes ``model``'s weights, ``meta`` (JSON-serialisable) and optionally optimizer state and
    named extra tensors (RNG states, a carried recurrent state)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _atomic_write(directory / WEIGHTS, lambda tmp: save_model(model, tmp))
    if optimizer_state is not None:
        _atomic_write(directory / OPTIMIZER, lambda tmp: torch.save(optimizer_state, tmp))
    if tensors is not None:
        flat = {k: v.detach().contiguous().clone() for k, v in tensors.items()}
        _atomic_write(directory / TENSORS, lambda tmp: save_file(flat, tmp))
    record = {"format": FORMAT, **meta, "weights_sha256": _sha256(directory / WEIGHTS)}
    text = json.dumps(record, indent=1, ensure_ascii=False)
    _atomic_write(directory / META, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return directory


def read_meta(directory: str | Path, model_type: str | None = None) -> dict:
    """The checkpoint's JSON record, checked for presence, integrity and kind."""
    directory = Path(directory)
    if not (directory / META).is_file():
        raise CheckpointError(f"no checkpoint in {directory} (expected {directory / META}); "
                              "give the --out folder of a training run")
    try:
        meta = json.loads((directory / META).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{directory / META} is corrupted ({err}); retrain or restore it") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{directory / META} is not an rnnkit checkpoint of format {FORMAT}")
    if model_type is not None and meta.get("model_type") != model_type:
        raise CheckpointError(f"{directory} holds a {meta.get('model_type')!r} model, not a {model_type!r} one")
    weights = directory / WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"{weights} is missing")
    if _sha256(weights) != meta.get("weights_sha256"):
        raise CheckpointError(f"{weights} does not match {META} (corrupted or from another run); "
                              "retrain or restore the folder")
    return meta


def load_weights(model: torch.nn.Module, directory: str | Path) -> None:
    """Loads the weights into a model built from the checkpoint's config."""
    try:
        missing, unexpected = load_model(model, Path(directory) / WEIGHTS, strict=False)
    except Exception as err:  # safetensors raises its own error types for damaged files
        raise CheckpointError(f"cannot read {Path(directory) / WEIGHTS}: {err}") from None
    if missing or unexpected:
        raise CheckpointError(f"{directory}: weights do not fit the model (missing {sorted(missing)[:3]}, "
                              f"unexpected {sorted(unexpected)[:3]})")


def load_optimizer_state(directory: str | Path) -> dict | None:
    path = Path(directory) / OPTIMIZER
    return torch.load(path, weights_only=True) if path.is_file() else None


def load_tensors(directory: str | Path) -> dict[str, torch.Tensor]:
    path = Path(directory) / TENSORS
    return load_file(path) if path.is_file() else {}
