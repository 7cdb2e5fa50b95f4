"""Runs lab experiments: one folder per experiment, holding ``result.json`` and its figures.

A run writes into a fresh ``NAME.partial-*`` folder beside its final place and swaps it in only
once the experiment has finished, so a crash or Ctrl-C mid-run leaves the previous result whole.
While it runs it holds a lock (``flock``) on the folder's ``.running`` file; the kernel drops it
when the process dies, so a partial folder whose ``.running`` nobody holds was left by a killed
run (SIGKILL, a power cut) and the next run on the same ``--out`` removes it. A partial folder
without that file (one just being made, or from rnnkit 0.1.0) is left alone.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
import shutil
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

try:
    import fcntl
except ImportError:  # not POSIX: partial folders of killed runs are not recognised, nor removed
    fcntl = None

from ..train.runtime import resolve_device
from . import EXPERIMENTS, PRESETS, experiment

RESULT = "result.json"
RUNNING = ".running"  # the lock file of a run's partial folder


def check_out(out: str | Path, names: list[str] = ()) -> Path:
    """``out`` as a folder to write results in; a ValueError when it is a file or lies under one,
    or when the place of an experiment of ``names`` (``out/NAME``, and ``out/NAME.old`` that a
    killed swap leaves) holds anything but an earlier result of it: a run replaces that folder
    whole, so a user's folder of the same name would be lost."""
    out = Path(out)
    for part in (out, *out.parents):
        if part.exists() and not part.is_dir():
            raise ValueError(f"--out {out} is not a folder ({part} is a file); give a folder for the results")
    for name in names:
        for place in (out / name, out / f"{name}.old"):
            foreign = _not_a_result(place)
            if foreign:
                raise ValueError(f"--out {out}: {place} holds {foreign}, not a result of {name}, and a run would "
                                 "replace it; move it away or give another --out")
    return out


def _not_a_result(place: Path) -> str | None:
    """What in ``place`` is not a lab result (a ``result.json`` and the figures beside it), named
    for an error; None when ``place`` is absent or an earlier result."""
    if place.is_symlink() or (place.exists() and not place.is_dir()):
        return "a link" if place.is_symlink() else "a file"
    if not place.exists():
        return None
    entries = sorted(e for e in os.listdir(place) if not e.startswith("."))  # .DS_Store and the like
    others = [e for e in entries if e != RESULT and not (e.endswith(".png") and (place / e).is_file())]
    if others:
        return ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
    return None if RESULT in entries or not entries else "figures without a result.json"


def config_for(name: str, preset: str = "quick", seeds: int | None = None, options: dict | None = None):
    """Experiment ``name``'s config of ``preset``, with seeds 0..seeds-1 when ``seeds`` is given and
    the fields of ``options`` (e.g. ``{"checkpoint": ...}``) that this experiment's config has
    (the others are for other experiments of the same command); checked by the experiment's
    ``check`` when it has one, so a bad checkpoint or text fails before any training."""
    module = experiment(name)
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; the presets are: {', '.join(PRESETS)}")
    cfg = module.PRESETS[preset]
    if seeds is not None:
        if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
            raise ValueError(f"--seeds must be a positive integer; got {seeds!r}")
        cfg = dataclasses.replace(cfg, seeds=tuple(range(seeds)))
    fields = {f.name for f in dataclasses.fields(cfg)}
    chosen = {k: v for k, v in (options or {}).items() if v is not None and k in fields}
    if chosen:
        cfg = dataclasses.replace(cfg, **chosen)
    if hasattr(module, "check"):
        module.check(cfg)
    return cfg


def options_users(options: dict, names: list[str]) -> None:
    """A ValueError when an option of ``options`` is given but none of the experiments ``names``
    reads it (it would be ignored silently)."""
    for key, value in options.items():
        if value is None:
            continue
        users = [n for n in EXPERIMENTS if key in {f.name for f in dataclasses.fields(experiment(n).Config)}]
        if not any(n in users for n in names):
            flag = "--" + key.replace("_", "-")
            raise ValueError(f"{flag} is read by {', '.join(users) or 'no experiment'}, none of which is chosen; "
                             f"drop {flag} or run one of those")


def run(name: str, preset: str = "quick", seeds: int | None = None, out: str | Path = "runs/lab",
        progress: bool = False, log: Callable[[str], None] = print, options: dict | None = None,
        device: str | torch.device | None = "auto") -> dict:
    """Runs experiment ``name`` with ``preset`` (and ``seeds`` seeds instead of the preset's, when
    given; ``options``: see :func:`config_for`) on ``device`` (``"auto"``: the first CUDA device if
    there is one, else the CPU; see :func:`rnnkit.train.runtime.resolve_device`); writes
    ``out/name/result.json`` and the figures; returns the result.

    Torch runs on at most 2 threads (the machine the committed results and run times come from).
    Data is generated on the CPU and moved, so a seed trains on the same sequences on every device;
    the numbers still differ a little between devices (other kernels, other summation orders).
    """
    module = experiment(name)
    where = resolve_device(device)
    cfg = dataclasses.replace(config_for(name, preset, seeds, options), device=str(where))
    root = check_out(out, [name])  # before any training: a folder of the user's is never replaced
    root.mkdir(parents=True, exist_ok=True)
    final = root / name
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, min(2, threads)))
    remove_dead_partials(root)
    work = Path(tempfile.mkdtemp(prefix=f"{name}.partial-", dir=root))
    lock = None
    try:
        lock = _hold(work)
        on = "" if where.type == "cpu" else f", on {where}"
        log(f"{name} ({preset}, seeds {', '.join(map(str, cfg.seeds))}{on}): {module.CLAIM}")
        start = time.perf_counter()
        result = module.run(cfg, work, progress)
        seconds = time.perf_counter() - start
        counts = result.get("parameters", {})
        if counts:
            log("  parameters: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
        result = {"experiment": name, "claim": module.CLAIM, "preset": preset, "seeds": list(cfg.seeds),
                  "config": dataclasses.asdict(cfg), "seconds": round(seconds, 1),
                  "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  "versions": {"python": platform.python_version(), "torch": torch.__version__,
                               "rnnkit": _version()},
                  "machine": {"cpus": os.cpu_count(), "threads": torch.get_num_threads(),
                              "processor": platform.processor() or platform.machine(),
                              "device": str(where), **_accelerator(where)},
                  **result}
        result["verdict"] = module.verdict(result)
        (work / RESULT).write_text(json.dumps(result, indent=1) + "\n")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(work, 0o777 & ~umask)  # mkdtemp's folder is private (0700); a result folder follows the umask
        check_out(out, [name])  # nothing of the user's appeared there while it ran
        (work / RUNNING).unlink(missing_ok=True)  # (still held: no other run takes the folder for a dead one's)
        _swap_in(work, final)
        log(f"  verdict: {result['verdict']}  ({seconds:.0f} s)")
        return result
    finally:
        torch.set_num_threads(threads)
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
        if lock is not None:
            os.close(lock)


def _hold(work: Path) -> int | None:
    """Locks ``work`` as a live run's: the lock file is locked under another name and renamed to
    ``.running`` only then, so no other run ever sees a ``.running`` that nobody holds yet."""
    if fcntl is None:
        return None
    fd = os.open(work / f"{RUNNING}.new", os.O_CREAT | os.O_RDWR, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.rename(work / f"{RUNNING}.new", work / RUNNING)
    return fd


def remove_dead_partials(root: Path) -> list[Path]:
    """Removes the ``NAME.partial-*`` folders under ``root`` that killed runs left (their
    ``.running`` is not locked by any process); returns them. Live runs' folders, and folders
    without a ``.running``, stay."""
    removed = []
    if fcntl is None or not root.is_dir():
        return removed
    for name in EXPERIMENTS:
        for place in sorted(root.glob(f"{name}.partial-*")):
            if place.is_symlink() or not place.is_dir():
                continue
            try:
                fd = os.open(place / RUNNING, os.O_RDWR | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
            except OSError:  # no lock file: not a run of this version's, or one being made
                continue
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO or a device: not a lock file of ours
                    continue
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # a live run holds it
                continue
            else:
                shutil.rmtree(place, ignore_errors=True)
                removed.append(place)
            finally:
                os.close(fd)
    return removed


def load(folder: str | Path) -> dict[str, dict]:
    """``{name: result}`` of the experiments with a ``result.json`` under ``folder``, in report order
    (a diverged run's numbers are NaN: Python's json reads and writes them)."""
    folder = Path(folder)
    found = {}
    for name in EXPERIMENTS:
        path = folder / name / RESULT
        if not path.is_file():  # a run that died while swapping its folder in left the old one aside
            path = folder / f"{name}.old" / RESULT
        if path.is_file():
            try:
                result = json.loads(path.read_text(encoding="utf-8"))
                _check_shape(result)
            except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, ValueError) as err:
                raise ValueError(f"{path} is not a result file ({err}); rerun rnnkit lab run {name}") from None
            found[name] = {**result, "folder": str(path.parent)}  # where its figures are
    return found


def _check_shape(result) -> None:
    """A ValueError naming the first part of ``result`` that the report could not read: the
    fields every result has, in the types the runner writes. The experiment's own numbers are its
    ``verdict``'s to read (a verdict that cannot read them says so)."""
    def need(ok: bool, what: str) -> None:
        if not ok:
            raise ValueError(what)

    need(isinstance(result, dict), "not a JSON object")
    for key in ("experiment", "claim", "preset", "setup", "finished"):
        need(isinstance(result.get(key, ""), str), f"{key!r} is not a string")
    need(isinstance(result.get("seconds", 0), (int, float)) and not isinstance(result.get("seconds", 0), bool),
         "'seconds' is not a number")
    for key in ("seeds", "tables", "figures", "highlights"):
        need(isinstance(result.get(key, []), list), f"{key!r} is not a list")
    for key in ("machine", "versions", "parameters", "config"):
        need(isinstance(result.get(key, {}), dict), f"{key!r} is not an object")
    need(all(isinstance(v, int) and not isinstance(v, bool) for v in result.get("parameters", {}).values()),
         "a parameter count is not an integer")
    for t in result.get("tables", []):
        need(isinstance(t, dict) and isinstance(t.get("title"), str) and isinstance(t.get("columns"), list)
             and isinstance(t.get("rows"), list) and all(isinstance(row, list) for row in t["rows"]),
             "a table is not {title, columns, rows}")
    for f in result.get("figures", []):
        # a bare .png name: the report embeds the file, so a path could carry any file of the reader's
        need(isinstance(f, dict) and isinstance(f.get("file"), str) and isinstance(f.get("caption"), str)
             and Path(f["file"]).name == f["file"] and f["file"].endswith(".png"),
             "a figure is not {file: NAME.png, caption}")
    for h in result.get("highlights", []):
        need(isinstance(h, dict) and isinstance(h.get("text"), str) and isinstance(h.get("values"), list)
             and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in h["values"]),
             "a highlight is not {text, values}")


def _swap_in(work: Path, final: Path) -> None:
    """Replaces ``final`` by ``work``: the old folder is renamed aside first and removed only after
    the new one is in place, so one of them is whole at every instant."""
    old = final.with_name(final.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        final.rename(old)
    work.rename(final)
    if old.exists():
        shutil.rmtree(old)


def _accelerator(device: torch.device) -> dict:
    """``{"accelerator": name}`` of a CUDA device (what the timings of a GPU run were measured on)."""
    if device.type == "cuda":
        return {"accelerator": torch.cuda.get_device_name(device)}
    return {"accelerator": "Apple MPS"} if device.type == "mps" else {}


def _version() -> str:
    from .. import __version__

    return __version__


def main_names(names: list[str]) -> list[str]:
    """The experiments ``names`` ask for (``all``: every one, in report order), each once."""
    if not names:
        raise ValueError("name at least one experiment, or all (rnnkit lab list shows them)")
    chosen: list[str] = []
    for name in names:
        for one in (EXPERIMENTS if name == "all" else [name]):
            experiment(one)  # a ValueError naming the experiments when unknown
            if one not in chosen:
                chosen.append(one)
    return chosen


__all__ = ["run", "load", "config_for", "options_users", "check_out", "main_names", "RESULT"]
