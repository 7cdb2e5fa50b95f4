"""Checkpoints: a folder whose ``checkpoint.json`` names the files of one checkpoint.

A save is a transaction. The new tensors go to files of their own, named by a generation number
(``model-000007.safetensors``, and for a resumable state ``optimizer-000007.safetensors`` and
``state-000007.safetensors``), each written, flushed and fsynced; then ``checkpoint.json``, which
holds the configs, vocabulary and labels and each file's name, size and SHA-256, is written to a
temporary name and renamed over the old one. That rename is the commit: whatever instant the
process dies, and whatever the disk does (full, I/O error), the folder's ``checkpoint.json`` names
either the previous complete checkpoint or the new one. The previous generation's files are
deleted only after the commit; files of an interrupted save are deleted by the next save.

A reader that runs while a save happens may find that the files its ``checkpoint.json`` named have
just been replaced; it then reads the new ``checkpoint.json`` and tries again, so it gets the old
or the new checkpoint, never an error. Nothing is unpickled: safetensors and JSON only (the
optimizer's tensors in safetensors, its settings in the JSON).

Every disk operation goes through this module's ``os`` (tests wrap it to kill the process or
fill the disk at each step).
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import re
import shutil
import types
import typing
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

FORMAT = 2
META = "checkpoint.json"
PARTS = ("model", "optimizer", "state")  # weights, optimiser tensors, extra tensors (RNG, carried state)
_DATA_FILE = re.compile(r"^(model|optimizer|state)-(\d+)\.safetensors$")
_LEGACY = {"model": "model.safetensors", "state": "state.safetensors"}  # format 1, still readable
_FULL = (errno.ENOSPC, errno.EDQUOT)
_READ_TRIES = 50  # saves that may overtake one reader before it gives up


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupted or of another kind; the message says which and what to do."""


# -- writing ----------------------------------------------------------------------------------------


def _write_file(path: Path, data: bytes) -> None:
    """Creates ``path`` (mode 0666 less the umask), writes ``data`` whole and fsyncs it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    """Makes renames and deletions in ``directory`` durable (a no-op where directories can't be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_error(err: OSError, path: Path, needed: int | None = None) -> CheckpointError:
    if err.errno in _FULL:
        need = f": this save needs {needed:,} bytes" if needed else ""
        return CheckpointError(f"no space left on the device of {path}{need}; free some space (the previous "
                               "checkpoint, if any, is kept)")
    return CheckpointError(f"cannot write {path} ({err.strerror or err}); the previous checkpoint, if any, is kept")


def atomic_write_text(path: str | Path, text: str) -> None:
    """Replaces the file ``path`` by ``text`` in one rename (a reader sees the old or the new file)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        _unlink(tmp)
        _write_file(tmp, text.encode("utf-8"))
        os.replace(tmp, path)
    except OSError as err:
        _unlink(tmp)
        raise _write_error(err, path) from None
    _fsync_dir(path.parent)


def append_line(path: str | Path, line: str) -> None:
    """Appends one line to a text file (metrics), with a one-line error when the disk refuses."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
        try:
            os.write(fd, (line + "\n").encode("utf-8"))
        finally:
            os.close(fd)
    except OSError as err:
        raise _write_error(err, path) from None


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _model_bytes(model: torch.nn.Module) -> bytes:
    """The model's state dict as safetensors. A tensor held under several names (tied weights) is
    stored once, the other names recorded in the file's metadata (as ``safetensors.save_model``
    does). Parts of one buffer, such as the weights of a recurrent layer on a GPU that cuDNN keeps
    in one flat buffer (``flatten_parameters``), are stored each as a copy of its own: safetensors'
    own de-duplication refuses them ("None is covering the entire storage")."""
    state, metadata, first_name, kept_storages = {}, {}, {}, set()
    for name, value in model.state_dict().items():
        value = value.detach()
        view = (value.device, value.dtype, value.data_ptr(), tuple(value.shape), value.stride())
        if value.numel() and view in first_name:  # the same tensor again: tied
            metadata[name] = first_name[view]
            continue
        first_name[view] = name
        storage = (value.device, value.untyped_storage().data_ptr())
        if _covers_its_storage(value) and storage not in kept_storages:
            state[name] = value.contiguous()
            kept_storages.add(storage)
        else:  # a part of a buffer, or another view of one already stored (a reshape, a transpose):
            # a copy of its own, made on the CPU (where safetensors writes from) to spare GPU memory
            state[name] = value.to("cpu", memory_format=torch.contiguous_format, copy=True)
    return save_safetensors(state, metadata=metadata or None)


def _covers_its_storage(value: torch.Tensor) -> bool:
    return (value.data_ptr() == value.untyped_storage().data_ptr()
            and value.numel() * value.element_size() == value.untyped_storage().nbytes())


def _optimizer_parts(state_dict: dict) -> tuple[bytes, dict]:
    """An optimizer state dict as (safetensors of its tensors, JSON of everything else)."""
    tensors, values = {}, {}
    for index, entries in state_dict["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{key}"] = value.detach().contiguous()
            else:
                values.setdefault(str(index), {})[key] = value
    return save_safetensors(tensors), {"param_groups": state_dict["param_groups"], "values": values}


def _referenced(meta: dict | None) -> set[str]:
    return {f["name"] for f in (meta or {}).get("files", {}).values()}


def _remove_unreferenced(directory: Path, keep: set[str]) -> None:
    """Deletes data files and temporaries that no committed ``checkpoint.json`` names (an earlier
    generation, or an interrupted save); best effort."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        ours = _DATA_FILE.match(name) or name in _LEGACY.values() or name == "optimizer.pt" or (
            name.startswith(f".{META}.") and name.endswith(".tmp"))
        if ours and name not in keep:
            try:
                os.unlink(directory / name)
            except OSError:
                pass


def _committed_meta(directory: Path) -> dict | None:
    try:
        meta = json.loads((directory / META).read_bytes())
    except (OSError, ValueError, RecursionError):  # RecursionError: nested too deep to parse
        return None
    return meta if isinstance(meta, dict) else None


def check_saveable(meta: dict, where: str = "") -> None:
    """A TypeError naming the first value of the checkpoint record ``meta`` that JSON cannot hold
    (a numpy float32 as the learning rate, a tensor, a path object in a config): found before
    training, where it would otherwise end the run at its first save."""
    if isinstance(meta, dict):
        for key, value in meta.items():
            check_saveable(value, f"{where}.{key}" if where else str(key))
    elif isinstance(meta, (list, tuple)):
        for i, value in enumerate(meta):
            check_saveable(value, f"{where}[{i}]")
    elif not (meta is None or isinstance(meta, (str, int, float, bool))):
        raise TypeError(f"the checkpoint record's {where} is a {type(meta).__name__} ({meta!r:.60}), which JSON cannot "
                        "hold; give the configs plain values (str, int, float, bool)")


def save_checkpoint(directory: str | Path, model: torch.nn.Module, meta: dict,
                    optimizer_state: dict | None = None, tensors: dict[str, torch.Tensor] | None = None) -> Path:
    """Writes ``model``'s weights, ``meta`` (JSON-serialisable) and optionally an optimizer state
    and named extra tensors (RNG states, a carried recurrent state), as one transaction (see the
    module's docstring). A failure (disk full, I/O error) raises :class:`CheckpointError` and leaves
    the previous checkpoint and no new file."""
    directory = Path(directory)
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as err:
        raise _write_error(err, directory) from None
    previous = _committed_meta(directory)
    _remove_unreferenced(directory, _referenced(previous))
    generation = int((previous or {}).get("generation", 0)) + 1
    blobs = {"model": _model_bytes(model)}
    record = {"format": FORMAT, "generation": generation, **meta}
    if optimizer_state is not None:
        blobs["optimizer"], record["optimizer"] = _optimizer_parts(optimizer_state)
    if tensors is not None:
        blobs["state"] = save_safetensors({k: v.detach().contiguous().clone() for k, v in tensors.items()})
    record["files"] = {part: {"name": f"{part}-{generation:06d}.safetensors", "bytes": len(data),
                              "sha256": hashlib.sha256(data).hexdigest()} for part, data in blobs.items()}
    text = json.dumps(record, indent=1, ensure_ascii=False).encode("utf-8")
    needed = sum(len(b) for b in blobs.values()) + len(text)
    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        free = None
    if free is not None and free < needed:
        raise CheckpointError(f"no space left on the device of {directory}: this save needs {needed:,} bytes and "
                              f"{free:,} are free; free some space (the previous checkpoint, if any, is kept)")
    written: list[Path] = []
    tmp = directory / f".{META}.{generation}.tmp"
    try:
        for part, data in blobs.items():
            written.append(directory / record["files"][part]["name"])
            _write_file(written[-1], data)
        written.append(tmp)
        _write_file(tmp, text)
        _fsync_dir(directory)  # the data files' names are durable before the commit names them
        os.replace(tmp, directory / META)  # the commit
    except OSError as err:
        for path in written:
            try:
                _unlink(path)
            except OSError:
                pass
        raise _write_error(err, directory, needed) from None
    _fsync_dir(directory)
    _remove_unreferenced(directory, _referenced(record))
    return directory


def remove_leftovers(directory: str | Path) -> None:
    """Deletes what an interrupted save left in ``directory`` (files its ``checkpoint.json`` does not name)."""
    directory = Path(directory)
    if directory.is_dir():
        _remove_unreferenced(directory, _referenced(_committed_meta(directory)))


def remove_checkpoint(directory: str | Path) -> None:
    """Deletes a checkpoint: first its ``checkpoint.json`` (so no reader sees half of it), then its files."""
    directory = Path(directory)
    _unlink(directory / META)
    _fsync_dir(directory)
    _remove_unreferenced(directory, set())


# -- reading ----------------------------------------------------------------------------------------


@dataclass
class Checkpoint:
    """One consistent checkpoint read from a folder: its JSON record and its tensors."""

    directory: Path
    meta: dict
    weights: dict[str, torch.Tensor]
    weight_aliases: dict[str, str] = field(default_factory=dict)  # tied names -> the stored name
    optimizer_tensors: dict[str, torch.Tensor] | None = None
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)

    def load_into(self, model: torch.nn.Module) -> None:
        """Copies the weights into a model built from this checkpoint's config."""
        state = dict(self.weights)
        for alias, stored in self.weight_aliases.items():
            if stored in state:
                state[alias] = state[stored]
        try:
            missing, unexpected = model.load_state_dict(state, strict=False)
        except RuntimeError as err:  # shapes differ: a model built from another config
            first = str(err).strip().splitlines()[-1].strip()
            raise CheckpointError(f"{self.directory}: weights do not fit the model ({first})") from None
        if missing or unexpected:
            raise CheckpointError(f"{self.directory}: weights do not fit the model (missing {sorted(missing)[:3]}, "
                                  f"unexpected {sorted(unexpected)[:3]})")

    def optimizer_state(self) -> dict | None:
        """The optimizer state dict saved with the checkpoint, for ``optimizer.load_state_dict``."""
        if self.optimizer_tensors is None:
            return None
        with checkpoint_fields(self.directory):
            saved = self.meta["optimizer"]
            state: dict = {}
            for key, tensor in self.optimizer_tensors.items():
                index, name = key.split(".", 1)
                state.setdefault(int(index), {})[name] = tensor
            for index, values in saved["values"].items():
                state.setdefault(int(index), {}).update(values)
            return {"state": state, "param_groups": saved["param_groups"]}


class _Stale(Exception):
    """A file named by ``checkpoint.json`` is gone or differs: torn, or replaced by a save meanwhile."""


def _read_part(directory: Path, entry: dict) -> bytes:
    try:
        data = (directory / entry["name"]).read_bytes()
    except FileNotFoundError:
        raise _Stale(f"{directory / entry['name']} is missing") from None
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise _Stale(f"{directory / entry['name']} does not match {META}")
    return data


def _decode(directory: Path, name: str, data: bytes):
    try:
        return load_safetensors(data)
    except Exception as err:  # safetensors raises its own error types for damaged files
        raise CheckpointError(f"cannot read {directory / name}: {err}") from None


def _legacy_files(directory: Path, meta: dict) -> dict:
    """Format 1 (fixed file names, the weights' SHA-256 in the JSON): read as before."""
    files = {"model": {"name": _LEGACY["model"], "sha256": meta.get("weights_sha256")}}
    if (directory / _LEGACY["state"]).is_file():
        files["state"] = {"name": _LEGACY["state"], "sha256": None}
    return files


def _read_once(directory: Path, raw: bytes, model_type: str | None) -> Checkpoint:
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{directory / META} is corrupted ({err}); retrain or restore it") from None
    except RecursionError:  # json's parser recurses: arrays or objects nested thousands deep
        raise CheckpointError(f"{directory / META} is corrupted (nested too deep to read); retrain or restore it") \
            from None
    if not isinstance(meta, dict) or meta.get("format") not in (1, FORMAT):
        raise CheckpointError(f"{directory / META} is not an rnnkit checkpoint (format {FORMAT})")
    if model_type is not None and meta.get("model_type") != model_type:
        raise CheckpointError(f"{directory} holds a {meta.get('model_type')!r} model, not a {model_type!r} one")
    with checkpoint_fields(directory):
        files = meta["files"] if meta["format"] == FORMAT else _legacy_files(directory, meta)
        if "model" not in files or not set(files) <= set(PARTS):
            raise CheckpointError(f"{directory / META} lists files {sorted(files)}; expected model and "
                                  "optionally optimizer, state")
        blobs = {}
        for part, entry in files.items():
            if meta["format"] == 1 and entry["sha256"] is None:  # format 1's extra tensors carried no checksum
                path = directory / entry["name"]
                if not path.is_file():
                    raise _Stale(f"{path} is missing")
                blobs[part] = path.read_bytes()
            else:
                blobs[part] = _read_part(directory, entry)
        names = {part: entry["name"] for part, entry in files.items()}
    weights = _decode(directory, names["model"], blobs["model"])
    aliases = _safetensors_metadata(blobs["model"])
    ckpt = Checkpoint(directory, meta, weights, aliases,
                      tensors=_decode(directory, names["state"], blobs["state"]) if "state" in blobs else {})
    if "optimizer" in names:
        ckpt.optimizer_tensors = _decode(directory, names["optimizer"], blobs["optimizer"])
    elif meta["format"] == 1 and (directory / "optimizer.pt").is_file():  # torch.load(weights_only=True)
        ckpt.optimizer_tensors, ckpt.meta = _legacy_optimizer(directory, meta)
    return ckpt


def _safetensors_metadata(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors blob (8-byte length, then a JSON header)."""
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    return dict(header.get("__metadata__") or {})


def _legacy_optimizer(directory: Path, meta: dict):
    try:
        state = torch.load(directory / "optimizer.pt", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"cannot read {directory / 'optimizer.pt'} ({type(err).__name__}); it is damaged, or "
                              "holds objects other than tensors, which rnnkit refuses to unpickle") from None
    data, settings = _optimizer_parts(state)
    return load_safetensors(data), {**meta, "optimizer": settings}


def load_checkpoint(directory: str | Path, model_type: str | None = None) -> Checkpoint:
    """The checkpoint in ``directory``, checked for presence, integrity and kind (``model_type``).

    Consistent even while another process saves into the folder: a file replaced under the reader
    makes it read the new ``checkpoint.json`` and start again."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise CheckpointError(f"{directory} is a file; give the folder a training run wrote (its --out)")
    previous_error = None
    for _ in range(_READ_TRIES):
        try:
            raw = (directory / META).read_bytes()
        except FileNotFoundError:
            raise CheckpointError(f"no checkpoint in {directory} (expected {directory / META}); "
                                  "give the --out folder of a training run") from None
        except OSError as err:
            raise CheckpointError(f"cannot read {directory / META} ({err.strerror})") from None
        try:
            return _read_once(directory, raw, model_type)
        except _Stale as err:
            try:
                now = (directory / META).read_bytes()
            except OSError:
                now = None
            if now == raw:  # nothing was saved meanwhile: the folder itself is damaged
                raise CheckpointError(f"{err}: the checkpoint is damaged; retrain or restore the folder") from None
            previous_error = err
    raise CheckpointError(f"{directory} changed {_READ_TRIES} times while being read ({previous_error}); "
                          "try again when the run saves less often")


def read_meta(directory: str | Path, model_type: str | None = None) -> dict:
    """The checkpoint's JSON record, after the same checks as :func:`load_checkpoint`."""
    return load_checkpoint(directory, model_type).meta


def load_weights(model: torch.nn.Module, directory: str | Path) -> None:
    """Loads the weights of the checkpoint in ``directory`` into a model built from its config."""
    load_checkpoint(directory).load_into(model)


# -- the JSON record's fields -------------------------------------------------------------------------


@contextmanager
def checkpoint_fields(directory: str | Path):
    """Turns a malformed record (a missing key, a wrong type) into one clear :class:`CheckpointError`."""
    try:
        yield
    except CheckpointError:
        raise
    except KeyError as err:
        raise CheckpointError(f"{Path(directory) / META} lacks the entry {err}; it is damaged or not from this "
                              "version of rnnkit; retrain or restore the folder") from None
    except (TypeError, ValueError, AttributeError, IndexError) as err:
        raise CheckpointError(f"{Path(directory) / META} is malformed ({err}); retrain or restore the folder") from None


def _fits(value, kind) -> bool:
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return any(_fits(value, k) for k in typing.get_args(kind))
    if kind is type(None):
        return value is None
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def config_from_meta(config_cls, meta: dict, key: str, directory: str | Path):
    """The dataclass ``config_cls`` stored under ``meta[key]``, every field checked: unknown fields,
    wrong types and values outside a field's choices are one-line errors. A field the record lacks
    (written by an older version) takes its default."""
    where = f"{Path(directory) / META}, entry {key!r}"
    values = meta.get(key)
    if not isinstance(values, dict):
        raise CheckpointError(f"{where} is {'missing' if values is None else 'not an object'}; "
                              "retrain or restore the folder")
    hints = typing.get_type_hints(config_cls)
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    # an older version stored fields this config no longer has (a model config shared by every task)
    values = {k: v for k, v in values.items() if k in fields or k not in getattr(config_cls, "RETIRED", ())}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise CheckpointError(f"{where} has unknown field(s) {unknown}; it was written by another version of rnnkit")
    from ..config import value_problem

    for name, value in values.items():
        choices = fields[name].metadata.get("choices")
        if not _fits(value, hints[name]) or (choices and value is not None and value not in choices):
            raise CheckpointError(f"{where}: {name} = {value!r} is not a valid {hints[name]}"
                                  + (f" (one of {list(choices)})" if choices else ""))
        kind = float if isinstance(value, float) else int if isinstance(value, int) else None
        problem = None if kind is None or isinstance(value, bool) else value_problem(fields[name], kind, value)
        if problem:
            raise CheckpointError(f"{where}: {name} = {value!r} {problem}; it is damaged, retrain or restore it")
    return config_cls(**values)
