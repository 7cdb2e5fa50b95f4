"""Fuzzing the command line with hypothesis: generated invocations of every command, with flags
drawn from each subparser and values drawn from nasty ones (non-finite and huge numbers, blank
and unicode junk, paths to missing, empty, binary or odd files, garbage data, corrupted
checkpoints).

The contract under test (see ``rnnkit.cli.main``): ``main(argv)`` returns 0 on success; a user's
mistake ends with a non-zero status (a usage error's ``SystemExit(2)`` counts as its status) and
exactly one line on stderr besides one-line warnings, never a traceback; no other exception ever
leaves ``main``, and no invocation runs for long. Where an input is certainly wrong (a missing or
binary data file, a corrupted checkpoint, a value the flag's type refuses) the status must be
non-zero.

Every violation found in a run is collected and reported together, each with its argv, standard
input, exit status and stderr, so one run lists every bug it met (no shrinking: invocations are
independent, and a shrinker would rerun hangs). The draws are fixed (a seed per command and size),
and the invocations that once broke the contract (``KNOWN``) run first in both tests.

Each invocation runs in a fresh working folder under ``tmp_path`` (relative paths and default
``--out`` folders land there), with fresh in-memory stdin/stdout/stderr (stdout strict UTF-8 and
stderr with backslash escapes, as on a UTF-8 terminal; neither is a terminal, so no progress
bars), torch's thread count and the ``warnings`` state restored afterwards, timers that stop an
invocation running past ``HANG_CPU_SECONDS`` of CPU time (or ``HANG_SECONDS`` of wall-clock time,
for one that waits), and the address space capped (``MEMORY_LIMIT``) so that a runaway allocation
fails instead of exhausting the machine.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import shlex
import shutil
import signal
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, Phase, assume, example, given, seed, settings
from hypothesis import strategies as st

from rnnkit.cli import build_parser, main

# An invocation here takes under 2 s of CPU time; wall time varies with the machine's load (20 s
# seen for 1 s of work), so a hang is measured in CPU time, with a wall-clock bound for waits.
HANG_CPU_SECONDS = 20
HANG_SECONDS = 120
MEMORY_LIMIT = 8 * 2**30  # address space while fuzzing; a torch process uses about 1.5 GiB here

# -- values -----------------------------------------------------------------------------------------

HUGE = [str(10**20), str(2**31), str(2**63), str(2**64), "9" * 40]
NASTY = ["0", "-1", "-0", "nan", "inf", "-inf", "1e309", "1e300", "-1e300", "3.5e38", "1e-300", "", " ", "\t", "abc",
         "10**20", "0.5", "2", "1", "0x10", "1_000", "٣", "²", "ü", "日本語", "\u202e", "\U0001f600", "a\nb", "\n",
         "\udcff", ".", "a" * 300, "--", "-", *HUGE]  # "\udcff": how Python decodes a non-UTF-8 byte of argv
NASTY_NUMBERS = ["0", "-1", "-0", "nan", "inf", "-inf", "1e309", "1e300", "-1e300", "3.5e38", "1e-300", "1e-45", "",
                 "abc", "0.5", "1.0", "0x10", "1_000", "٣", "²", "--"]
# Names of no file, or of odd ones; relative names land in the invocation's folder. Never "/": with
# --overwrite a training run would write there.
NASTY_PATHS = ["", " ", ".", "..", "-", "abc", "0", "日本語", "a\nb", "\udcff", "a" * 300, "no/such/folder/x", "~"]
SMALL = ["1", "2", "3", "0.1", "0.5", "0"]
JUNK_CHARS = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")  # argv holds no NUL
JUNK_TEXT = st.text(JUNK_CHARS, max_size=12)

GOOD, BAD = ["good", "great", "fine", "lovely"], ["bad", "awful", "dull", "poor"]
FILL = ["the", "film", "was", "a", "plot", "story"]
NUMBERS = ["uno", "dos", "tres", "cuatro"]
WORDS = ["the film was great", "uno dos tres", "the quick brown fox", "zzz qqq", "a", "dos"]

# Commands fuzzed: (argv words, task whose data and checkpoints it takes)
COMMANDS = {
    "train lm": (("train", "lm"), "lm"),
    "train classify": (("train", "classify"), "classify"),
    "train seq2seq": (("train", "seq2seq"), "seq2seq"),
    "eval lm": (("eval", "lm"), "lm"),
    "eval classify": (("eval", "classify"), "classify"),
    "eval seq2seq": (("eval", "seq2seq"), "seq2seq"),
    "predict classify": (("predict", "classify"), "classify"),
    "translate": (("translate",), "seq2seq"),
    "generate": (("generate",), "lm"),
    "compare": (("compare",), None),
    "lab run": (("lab", "run"), None),
}
# Commands whose valid invocations do minutes of work (compare runs every lab experiment, tiny
# preset): fewer drawn examples; their argument errors are covered by "lab run", which takes the same flags.
MAX_EXAMPLES = {"compare": 2}
# Flags appended unless drawn, so that each invocation stays cheap.
CHEAP = {
    "train": [("--max-steps", "2"), ("--epochs", "1"), ("--hidden-size", "8"), ("--embedding-size", "8"),
              ("--quiet", None)],
    "eval seq2seq": [("--limit", "20"), ("--quiet", None)],
    "eval lm": [("--quiet", None)],
    "eval classify": [("--quiet", None)],
    "predict classify": [("--quiet", None)],
    "translate": [("--quiet", None)],
    "generate": [("--max-tokens", "30")],
    "compare": [("--preset", "tiny"), ("--quiet", None)],
    "lab run": [("--preset", "tiny"), ("--quiet", None)],
}
READ_FLAGS = ("data", "valid_data", "input", "text")  # dests of flags naming a file that is read
OUTPUT_FLAGS = ("out", "json", "plot_attention")  # dests of flags naming what is written
STDIN_FLAGS = {"eval": "data", "predict classify": "input", "translate": "input"}  # where "-" reads stdin

# Files that are never valid input to any command.
BAD_FILES = ("missing", "dir", "devnull", "empty", "blank", "binary", "bom-only")
ODD_FILES = ("wrong-columns", "three-fields", "single-label", "header-only", "no-tab", "crlf", "bom-valid")


def _subparser(words):
    parser = build_parser()
    for word in words:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[word]
    return parser


@dataclass(frozen=True)
class Flag:
    dest: str
    names: tuple
    takes_value: bool
    action: argparse.Action = field(compare=False, hash=False)


def _flags(words) -> list[Flag]:
    flags = []
    for action in _subparser(words)._actions:
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        if action.dest == "nproc":  # launches torchrun children whose stderr this harness cannot read;
            continue                # tests/train/test_distributed.py covers it
        flags.append(Flag(action.dest, tuple(action.option_strings), action.nargs != 0, action))
    return flags


FLAGS = {name: _flags(words) for name, (words, _) in COMMANDS.items()}
POSITIONALS = {name for name, (words, _) in COMMANDS.items()
               if any(not a.option_strings for a in _subparser(words)._actions)}


# -- symbolic arguments, turned into paths in each invocation's folder -------------------------------


@dataclass(frozen=True)
class Read:
    """A file to read: ``kind`` names a prepared file, or ``garbage`` (``content`` written fresh)."""

    kind: str
    content: bytes = b""
    suffix: str = ".tsv"


@dataclass(frozen=True)
class Write:
    """Where to write: a fresh path, or an existing file, folder, run ... made fresh for the invocation."""

    kind: str
    suffix: str = ""
    variant: str | None = None  # resumable-corrupt: the corruption (CORRUPTIONS) of its resume/ state


@dataclass(frozen=True)
class Ckpt:
    """A checkpoint folder: ``valid``, ``corrupt`` (``variant``), or an odd path (``kind``)."""

    kind: str
    task: str | None = None
    variant: str | None = None


# -- the prepared world: data files, trained checkpoints and their corrupted copies -----------------


def _classify_rows(n, seed):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 else "neg"
        words = rng.sample(FILL, 3) + [rng.choice(GOOD if label == "pos" else BAD)]
        rows.append((label, " ".join(words)))
    return rows


def _pairs(n, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        src = [rng.choice(NUMBERS) for _ in range(rng.randint(1, 3))]
        out.append((" ".join(src), " ".join(reversed(src))))
    return out


@dataclass
class Invocation:
    command: str
    argv: list  # str, Read, Write or Ckpt
    stdin: bytes | str  # "valid": the task's data file
    must_fail: list[str]  # why the invocation must end non-zero (empty: no claim)


@dataclass
class Result:
    argv: list[str]
    stdin: bytes
    code: object = None
    out: str = ""
    err: str = ""
    escaped: str | None = None  # traceback of an exception that left main
    problem: str | None = None  # that exception's type and where it was raised, or the hang
    notes: list = field(default_factory=list)  # what odd paths in argv hold
    seconds: float = 0.0


class Hang(BaseException):
    """Raised by a timer in an invocation that runs too long (BaseException: nothing in rnnkit catches it)."""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Data files, one small trained checkpoint per task (resumable: trained with --checkpoint-every)
    and corrupted copies of each, built once for the module."""
    root = tmp_path_factory.mktemp("fuzz")
    files = {}

    def put(name, data: bytes | str):
        path = root / name
        path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        return path

    files["valid:classify"] = put("cls.tsv", "label\ttext\n" + "".join(f"{a}\t{b}\n"
                                                                   for a, b in _classify_rows(60, 0)))
    files["valid:classify-csv"] = put("cls.csv", "text,label\n" + "".join(f"{b},{a}\n"
                                                                       for a, b in _classify_rows(40, 1)))
    files["valid:seq2seq"] = put("pairs.tsv", "".join(f"{s}\t{t}\n" for s, t in _pairs(80, 2)))
    rng = random.Random(3)
    files["valid:lm"] = put("text.txt", "".join(" ".join(rng.choice(FILL + NUMBERS) for _ in range(9)) + ".\n"
                                                for _ in range(120)))
    files["missing"] = root / "no-such-file.tsv"
    (root / "a-folder").mkdir()
    files["dir"] = root / "a-folder"
    files["devnull"] = Path("/dev/null")
    files["empty"] = put("empty.tsv", b"")
    files["blank"] = put("blank.tsv", " \n\t\n\n")
    files["binary"] = put("binary.tsv", bytes(range(256)) * 4)
    files["bom-only"] = put("bom.tsv", b"\xef\xbb\xbf")
    files["wrong-columns"] = put("wrong-columns.tsv", "foo\tbar\tbaz\n1\t2\nx\n\t\t\t\n")
    files["three-fields"] = put("three.tsv", "uno\tone\textra\ndos\ttwo\n")
    files["single-label"] = put("single.tsv", "label\ttext\n" + "pos\tgood film\n" * 20)
    files["header-only"] = put("header.tsv", "label\ttext\n")
    files["no-tab"] = put("notab.tsv", "uno dos tres\ncuatro\n")
    files["crlf"] = put("crlf.tsv", "label\ttext\r\n" + "".join(f"{a}\t{b}\r\n" for a, b in _classify_rows(30, 4)))
    files["bom-valid"] = put("bom-valid.tsv", "\ufefflabel\ttext\n" + "".join(f"{a}\t{b}\n"
                                                                             for a, b in _classify_rows(30, 5)))

    ckpts = {}
    for task, extra in (("classify", ["--max-len", "8"]), ("seq2seq", ["--min-freq", "1", "--max-src-len", "5",
                                                                      "--max-tgt-len", "6"]),
                        ("lm", ["--bptt", "64", "--batch-size", "4"])):
        out = root / f"model-{task}"
        argv = ["train", task, "--data", str(files[f"valid:{task}"]), "--out", str(out), "--checkpoint-every", "1",
                "--max-steps", "3", "--epochs", "1", "--hidden-size", "8", "--embedding-size", "8", "--quiet", *extra]
        result = _invoke(argv, b"", root)
        assert result.code == 0 and result.escaped is None, _describe(result)
        assert (out / "resume" / "checkpoint.json").is_file()
        ckpts[task] = out

    corrupt = {}
    for task, good in ckpts.items():
        for name, (mutate, must_fail) in CORRUPTIONS.items():
            if name.startswith("labels") and task != "classify":
                continue
            target = root / "corrupt" / task / name
            shutil.copytree(good, target, ignore=shutil.ignore_patterns("resume", ".lock"))
            mutate(target, task, ckpts)
            corrupt[(task, name)] = (target, must_fail)
    return {"root": root, "files": files, "ckpts": ckpts, "corrupt": corrupt}


# -- checkpoint corruptions: name -> (mutate(folder, task, good checkpoints), must it be refused) ---------


def _meta(folder: Path) -> dict:
    return json.loads((folder / "checkpoint.json").read_text())


def _edit(fn):
    def mutate(folder, task, ckpts):
        meta = _meta(folder)
        fn(meta, task)
        (folder / "checkpoint.json").write_text(json.dumps(meta))

    return mutate


def _weights(folder: Path) -> Path:
    return folder / _meta(folder)["files"]["model"]["name"]


def _raw(data: bytes):
    def mutate(folder, task, ckpts):
        (folder / "checkpoint.json").write_bytes(data)

    return mutate


def _truncate_json(folder, task, ckpts):
    text = (folder / "checkpoint.json").read_bytes()
    (folder / "checkpoint.json").write_bytes(text[: len(text) // 2])


def _truncate_weights(folder, task, ckpts):
    path = _weights(folder)
    path.write_bytes(path.read_bytes()[:100])


def _delete_weights(folder, task, ckpts):
    _weights(folder).unlink()


def _replace_weights(data_of):
    """Other bytes as the weights, with checkpoint.json's size and SHA-256 updated to match them."""

    def mutate(folder, task, ckpts):
        import hashlib

        data = data_of(task, ckpts)
        _weights(folder).write_bytes(data)
        meta = _meta(folder)
        meta["files"]["model"].update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
        (folder / "checkpoint.json").write_text(json.dumps(meta))

    return mutate


def _other_task(task):
    return {"classify": "lm", "lm": "seq2seq", "seq2seq": "classify"}[task]


def _vocab_key(task):
    return "src_vocab" if task == "seq2seq" else "vocab"


def _config_key(task):
    return {"classify": "text", "seq2seq": "seq2seq", "lm": "lm"}[task]


def _set(path, value):
    def fn(meta, task):
        where = meta
        keys = [k(task) if callable(k) else k for k in path]
        for key in keys[:-1]:
            where = where[key]
        where[keys[-1]] = value

    return fn


def _delete(*path):
    def fn(meta, task):
        where = meta
        keys = [k(task) if callable(k) else k for k in path]
        for key in keys[:-1]:
            where = where[key]
        del where[keys[-1]]

    return fn


def _tokens(change):
    def fn(meta, task):
        tokens = meta[_vocab_key(task)]["tokens"]
        change(tokens)

    return fn


CORRUPTIONS = {
    "json-truncated": (_truncate_json, True),
    "json-empty": (_raw(b""), True),
    "json-not-an-object": (_raw(b"[1, 2, 3]"), True),
    "json-binary": (_raw(bytes(range(256))), True),
    "json-null": (_raw(b"null"), True),
    "no-model": (_edit(_delete("model")), True),
    "no-files": (_edit(_delete("files")), True),
    "no-model-type": (_edit(_delete("model_type")), True),
    "no-format": (_edit(_delete("format")), True),
    "no-vocab": (_edit(_delete(_vocab_key)), True),
    "no-config-section": (_edit(_delete(_config_key)), True),
    "no-hidden-size": (_edit(_delete("model", "hidden_size")), True),  # takes the default 256: weights don't fit
    "no-train-section": (_edit(_delete("train")), False),
    "hidden-size-str": (_edit(_set(("model", "hidden_size"), "8")), True),
    "hidden-size-float": (_edit(_set(("model", "hidden_size"), 8.5)), True),
    "hidden-size-negative": (_edit(_set(("model", "hidden_size"), -1)), True),
    "hidden-size-zero": (_edit(_set(("model", "hidden_size"), 0)), True),
    "hidden-size-huge": (_edit(_set(("model", "hidden_size"), 10**12)), True),
    "embedding-size-huge": (_edit(_set(("model", "embedding_size"), 2**62)), True),
    "num-layers-zero": (_edit(_set(("model", "num_layers"), 0)), True),
    "num-layers-negative": (_edit(_set(("model", "num_layers"), -3)), True),
    "dropout-str": (_edit(_set(("model", "dropout"), "0.1")), True),
    "cell-unknown": (_edit(_set(("model", "cell"), "transformer")), True),
    "cell-null": (_edit(_set(("model", "cell"), None)), True),
    "model-section-list": (_edit(_set(("model",), [1, 2])), True),
    "model-type-int": (_edit(_set(("model_type",), 5)), True),
    "format-str": (_edit(_set(("format",), "2")), True),
    "format-future": (_edit(_set(("format",), 99)), True),
    "files-list": (_edit(_set(("files",), [])), True),
    "files-null": (_edit(_set(("files",), None)), True),
    "files-unknown-part": (_edit(_set(("files", "extra"), {"name": "x", "sha256": "0"})), True),
    "file-name-null": (_edit(_set(("files", "model", "name"), None)), True),
    "file-name-empty": (_edit(_set(("files", "model", "name"), "")), True),
    "file-name-outside": (_edit(_set(("files", "model", "name"), "../../../no-such.safetensors")), True),
    "file-sha-int": (_edit(_set(("files", "model", "sha256"), 12345)), True),
    "file-entry-str": (_edit(_set(("files", "model"), "model-000001.safetensors")), True),
    "vocab-tokens-int": (_edit(_set((_vocab_key, "tokens"), 5)), True),
    "vocab-tokens-str": (_edit(_set((_vocab_key, "tokens"), "abc")), True),
    "vocab-token-not-str": (_edit(_tokens(lambda t: t.__setitem__(5, 7))), True),
    "vocab-token-null": (_edit(_tokens(lambda t: t.__setitem__(5, None))), True),
    "vocab-duplicate": (_edit(_tokens(lambda t: t.__setitem__(5, t[6]))), True),
    "vocab-no-specials": (_edit(_tokens(lambda t: t.__setitem__(0, "x"))), True),
    "vocab-shorter": (_edit(_tokens(lambda t: t.pop())), True),  # the embedding no longer fits
    "config-level-unknown": (_edit(_set((_config_key, "level"), "byte")), True),
    "config-unknown-field": (_edit(_set((_config_key, "colour"), "blue")), True),
    "config-negative-length": (_edit(lambda m, t: m[_config_key(t)].update(
        {"classify": {"max_len": -1}, "seq2seq": {"max_tgt_len": -1, "max_src_len": -1},
         "lm": {"bptt": -1}}[t])), True),
    "config-zero-length": (_edit(lambda m, t: m[_config_key(t)].update(
        {"classify": {"max_len": 0}, "seq2seq": {"max_tgt_len": 0, "max_src_len": 0}, "lm": {"bptt": 0}}[t])), True),
    "unknown-model-field": (_edit(_set(("model", "colour"), "blue")), True),
    "unknown-top-field": (_edit(_set(("colour",), "blue")), False),
    "labels-str": (_edit(_set(("labels",), "pos")), True),
    "labels-null": (_edit(_set(("labels",), None)), True),
    "labels-one": (_edit(lambda m, t: m["labels"].pop()), True),
    "weights-truncated": (_truncate_weights, True),
    "weights-deleted": (_delete_weights, True),
    "weights-garbage": (_replace_weights(lambda task, ckpts: b"\x08" + bytes(range(200))), True),
    "weights-empty": (_replace_weights(lambda task, ckpts: b""), True),
    "weights-huge-header": (_replace_weights(lambda task, ckpts: (2**62).to_bytes(8, "little") + b"{}"), True),
    "weights-of-another-task": (_replace_weights(lambda task, ckpts: _weights(ckpts[_other_task(task)]).read_bytes()),
                                True),
}


# -- running one invocation ------------------------------------------------------------------------------


def _on_alarm(signum, frame):
    raise Hang("CPU time" if signum == signal.SIGPROF else "wall-clock time")


TIMERS = ((signal.ITIMER_PROF, signal.SIGPROF, HANG_CPU_SECONDS), (signal.ITIMER_REAL, signal.SIGALRM, HANG_SECONDS))


def _stop_timers():
    for timer, _, _ in TIMERS:
        signal.setitimer(timer, 0)


def _invoke(argv: list[str], stdin: bytes, cwd: Path) -> Result:
    """``main(argv)`` in ``cwd``, with ``stdin`` as standard input; everything it changes restored."""
    result = Result(list(argv), stdin)
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", newline="\n", write_through=True)
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace", newline="\n",
                           write_through=True)
    fake_stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    saved = sys.stdin, sys.stdout, sys.stderr
    threads, here = torch.get_num_threads(), os.getcwd()
    previous = [(signum, signal.signal(signum, _on_alarm)) for _, signum, _ in TIMERS]
    start = time.perf_counter()
    try:
        os.chdir(cwd)
        sys.stdin, sys.stdout, sys.stderr = fake_stdin, out, err
        with warnings.catch_warnings():  # main replaces warnings.showwarning; filters may change
            for timer, _, seconds in TIMERS:
                signal.setitimer(timer, seconds)
            try:
                result.code = main(list(argv))
            except SystemExit as stop:
                result.code = stop.code
            finally:
                _stop_timers()
    except Hang as hang:
        limit = HANG_CPU_SECONDS if str(hang) == "CPU time" else HANG_SECONDS
        result.escaped = result.problem = f"no result after {limit} s of {hang} (a hang, or work without bound)"
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        frames = traceback.extract_tb(exc.__traceback__)
        ours = [i for i, f in enumerate(frames) if _in_rnnkit(f)]
        shown = sorted({*ours[-2:], len(frames) - 1})  # where it left rnnkit, and where it was raised
        frames = traceback.format_list([frames[i] for i in shown])
        message = (str(exc).strip().splitlines() or [""])[0][:300]  # torch's C++ errors run on for lines
        result.escaped = "".join(frames) + f"{type(exc).__name__}: {message}"
        result.problem = _where(exc)
    finally:
        _stop_timers()
        for signum, handler in previous:
            signal.signal(signum, handler)
        sys.stdin, sys.stdout, sys.stderr = saved
        os.chdir(here)
        torch.set_num_threads(threads)
        result.seconds = time.perf_counter() - start
    result.out = out.buffer.getvalue().decode("utf-8", "replace")
    result.err = err.buffer.getvalue().decode("utf-8", "replace")
    return result


def _in_rnnkit(frame) -> bool:
    return "/rnnkit/" in frame.filename.replace(os.sep, "/") and "/tests/" not in frame.filename


def _where(exc: BaseException) -> str:
    """An escaped exception's type and the deepest rnnkit line it passed, which names the bug
    whatever the paths and values in its message."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if _in_rnnkit(f)]
    frame = (ours or frames)[-1]
    where = f"{frame.filename.split('/rnnkit/')[-1] if ours else frame.filename}:{frame.lineno} in {frame.name}"
    return f"{type(exc).__name__} left main, raised via rnnkit/{where}" if ours else \
        f"{type(exc).__name__} left main, raised at {where}"


def _describe(result: Result) -> str:
    lines = [f"  argv:   rnnkit {shlex.join(result.argv)}"]
    lines += [f"  where:  {note}" for note in result.notes]
    if result.stdin:
        lines.append(f"  stdin:  {result.stdin[:60]!r}{' ...' if len(result.stdin) > 60 else ''}")
    lines.append(f"  exit:   {result.code!r} after {result.seconds:.1f} s")
    lines.append("  stderr: " + ("\n          ".join(result.err.rstrip("\n").split("\n")) if result.err else "(none)"))
    if result.escaped:
        tail = [line for line in result.escaped.rstrip().splitlines() if line.strip(" ^~")][-7:]
        lines.append("  raised: " + "\n          ".join(tail))
    return "\n".join(lines)


def _violations(inv: Invocation, result: Result) -> list[str]:
    if result.escaped:
        return [result.problem]
    problems = []
    code = result.code
    if "Traceback" in result.err:
        problems.append("a traceback on stderr")
    if code not in (0, None):
        errors = [line for line in result.err.splitlines() if ": warning: " not in line]
        if len(errors) != 1:
            problems.append(f"exit {code!r} with {len(errors)} error lines on stderr (expected exactly 1)")
        elif not errors[0].strip():
            problems.append(f"exit {code!r} with a blank error line")
    elif inv.must_fail:
        problems.append(f"exit {code!r} though it must be refused: {'; '.join(inv.must_fail)}")
    return problems


# -- strategies --------------------------------------------------------------------------------------------


PREPARED = ("valid:classify", "valid:classify-csv", "valid:seq2seq", "valid:lm", *BAD_FILES, *ODD_FILES)
# Values a flag plausibly takes, where its choices and SMALL do not say
PLAUSIBLE = {"text_column": ["text", "label", "0", "1"], "label_column": ["label", "text", "1", "0"],
             "seed": ["0", "1", "7"], "prompt": WORDS, "cells": ["rnn", "gru,lstm", "rnn,rnn", "LSTM"]}


def _weighted(*choices):
    """One of the strategies, each drawn with its weight (the first is what a failing example shrinks to)."""
    total = sum(weight for weight, _ in choices)

    @st.composite
    def pick(draw):
        r = draw(st.integers(0, total - 1))
        for weight, strategy in choices:
            if r < weight:
                return draw(strategy)
            r -= weight

    return pick()


def _read_values(task):
    garbage = st.one_of(st.binary(max_size=200), JUNK_TEXT.map(lambda s: s.encode("utf-8")),
                        st.lists(st.lists(JUNK_TEXT, min_size=1, max_size=4).map("\t".join), max_size=8)
                        .map(lambda rows: "\n".join(rows).encode("utf-8")))
    return _weighted(
        (10 if task else 0, st.just(Read(f"valid:{task}"))),
        (5, st.sampled_from([Read(kind) for kind in PREPARED])),
        (3, st.builds(lambda content, suffix: Read("garbage", content, suffix), garbage,
                      st.sampled_from([".tsv", ".csv", ".txt", ""]))),
        (3, st.sampled_from([*NASTY_PATHS, "/"])),
    )


def _write_values(dest, train):
    kinds = ["fresh-nested", "empty-dir", "junk-dir", "file", "under-file", "missing-parent"]
    if train:
        kinds += ["run-copy", "resumable-copy"]
    suffixes = {"json": [".json", ""], "plot_attention": [".png", ".pdf", ".svg", ".xyz", "", ".PNG"]}.get(dest, [""])
    return _weighted(
        (8, st.builds(Write, st.just("fresh"), st.sampled_from(suffixes))),
        (6, st.builds(Write, st.sampled_from(kinds), st.sampled_from(suffixes))),
        (2, st.sampled_from(NASTY_PATHS)),
    )


def _ckpt_values(task):
    if task is None:  # lab run, compare: any kind may be given; the experiment says which kind it reads
        return _weighted(
            (6, st.sampled_from([Ckpt("valid", other) for other in ("classify", "seq2seq", "lm")])),
            (2, st.sampled_from([Ckpt(k) for k in ("missing", "empty-dir", "devnull", "file")])),
            (1, st.sampled_from([*NASTY_PATHS, "/"])),
        )
    variants = [n for n in CORRUPTIONS if task == "classify" or not n.startswith("labels")]
    return _weighted(
        (8, st.just(Ckpt("valid", task))),
        (8, st.builds(lambda name: Ckpt("corrupt", task, name), st.sampled_from(variants))),
        (1, st.builds(lambda other: Ckpt("valid", other), st.sampled_from(["classify", "seq2seq", "lm"]))),
        (1, st.sampled_from([Ckpt(k) for k in ("missing", "empty-dir", "devnull", "file", "resume-only")])),
        (1, st.sampled_from([*NASTY_PATHS, "/"])),
    )


def _plausible(flag: Flag) -> list[str]:
    if flag.dest in PLAUSIBLE:
        return PLAUSIBLE[flag.dest]
    if flag.action.choices:
        return sorted(flag.action.choices)
    return [v for v in SMALL if _refused_by_type(flag, v) is None] or WORDS


def _scalar_values(flag: Flag):
    numeric = flag.action.type is not None and not flag.action.choices and flag.dest != "cells"
    return _weighted((14, st.sampled_from(_plausible(flag))), (3 if numeric else 0, st.sampled_from(HUGE)),
                     (3 if numeric else 0, st.sampled_from(NASTY_NUMBERS)), (2, st.sampled_from(NASTY)),
                     (1, JUNK_TEXT))


TEXTS = _weighted((6, st.sampled_from(WORDS)), (3, st.sampled_from(NASTY)), (2, JUNK_TEXT))


def _value_strategy(command, flag: Flag, task):
    if flag.dest in READ_FLAGS:
        return _read_values(task)
    if flag.dest in OUTPUT_FLAGS:
        return _write_values(flag.dest, command.startswith("train"))
    if flag.dest == "checkpoint":
        return _ckpt_values(task)
    return _scalar_values(flag)


def _refused_by_type(flag: Flag, value: str) -> str | None:
    """Why argparse must refuse ``value`` for ``flag`` (its type or its choices), or None."""
    action = flag.action
    converted = value
    if action.type is not None:
        try:
            converted = action.type(value)
        except (argparse.ArgumentTypeError, TypeError, ValueError):
            return f"{flag.names[0]} {value!r} is not a valid value"
    if action.choices is not None and converted not in action.choices:
        return f"{flag.names[0]} {value!r} is not one of the choices"
    return None


@dataclass
class Plan:
    """The choices that make one invocation (drawn by :func:`invocations`, or written out in KNOWN)."""

    command: str
    flags: list  # (Flag, the name used, its value or None, whether given as --name=value)
    texts: list = field(default_factory=list)  # positional arguments, for predict classify and translate
    stdin: bytes | str = b""  # "valid": the task's data file
    checkpoint: bool = True  # where the command needs --checkpoint and none is drawn: a valid one (else none)
    data: bool = True  # where the command reads --data and neither it nor --corpus is drawn: the valid file
    out: Write = Write("fresh")  # where the command writes --out and none is drawn
    extra: str | None = None  # an unknown flag or a stray argument


@st.composite
def invocations(draw, command: str) -> Invocation:
    words, task = COMMANDS[command]
    chosen = draw(st.lists(st.sampled_from(FLAGS[command]), max_size=3, unique_by=lambda f: f.dest))
    if {f.dest for f in chosen} >= {"epochs", "max_steps"}:  # one of them stays cheap, or a run may be long
        chosen = [f for f in chosen if f.dest != "max_steps"]
    texts = draw(st.lists(TEXTS, max_size=3)) if command in POSITIONALS else []
    flags = []
    for flag in chosen:
        name = draw(st.sampled_from(flag.names))
        if not flag.takes_value:
            flags.append((flag, name, None, False))
            continue
        value = draw(_value_strategy(command, flag, task))
        if (command, flag.dest, value) == ("eval lm", "split", "train"):
            value = "validation"  # the whole Shakespeare training text: minutes of legitimate work
        flags.append((flag, name, value, isinstance(value, str) and draw(st.booleans())))
    stdin = draw(st.one_of(st.just("valid"), st.sampled_from([b"", b"  \n\n", bytes(range(128, 256))]),
                           st.binary(max_size=64)))
    given = {flag.dest: (not name.startswith("--no-")) if value is None else value
             for flag, name, value, _ in flags}
    out = Write("fresh")
    if given.get("resume") and draw(st.integers(0, 3)):  # mostly a run that can be resumed, or a damaged one
        variants = [n for n in CORRUPTIONS if task == "classify" or not n.startswith("labels")]
        out = draw(st.one_of(st.just(Write("resumable-copy")),
                             st.builds(lambda v: Write("resumable-corrupt", variant=v), st.sampled_from(variants))))
    elif given.get("overwrite") and draw(st.integers(0, 3)):
        out = Write(draw(st.sampled_from(["run-copy", "resumable-copy", "junk-dir"])))
    extra = None
    if draw(st.integers(0, 39)) == 0:
        extra = draw(st.sampled_from(["--no-such-flag", "stray"] if command not in POSITIONALS else ["--no-such-flag"]))
    return _build(Plan(command, flags, texts, stdin, checkpoint=bool(draw(st.integers(0, 29))),
                       data="resume" not in given or draw(st.booleans()), out=out, extra=extra))


def _build(plan: Plan) -> Invocation:
    """The invocation's argv (with what it needs and did not draw: a checkpoint, data, a fresh --out,
    the cheap flags), and why it must fail where its inputs are certainly wrong."""
    command, stdin = plan.command, plan.stdin
    words, task = COMMANDS[command]
    flags = FLAGS[command]
    must_fail = []
    argv: list = [*words, *plan.texts]
    given = {}
    for flag, name, value, joined in plan.flags:
        if value is None:
            argv.append(name)
            given[flag.dest] = not name.startswith("--no-")
            continue
        given[flag.dest] = value
        if isinstance(value, str):
            reason = _refused_by_type(flag, value)
            if reason:
                must_fail.append(reason)
        argv += [f"{name}={value}"] if joined else [name, value]

    # lab run and compare (no task) take --checkpoint only for the experiments that read one
    if task and any(f.dest == "checkpoint" for f in flags) and "checkpoint" not in given:
        if plan.checkpoint:
            argv += ["--checkpoint", Ckpt("valid", task)]
            given["checkpoint"] = Ckpt("valid", task)
        else:
            must_fail.append("--checkpoint is required")
    if command.startswith(("train", "eval")) and task and "data" not in given and "corpus" not in given:
        if plan.data:  # without it, --resume takes the saved run's data
            argv += ["--data", Read(f"valid:{task}")]
            given["data"] = Read(f"valid:{task}")
    if any(f.dest == "out" for f in flags) and "out" not in given:
        given["out"] = plan.out
        argv += ["--out", given["out"]]
    for cheap_name, cheap_value in CHEAP.get(command.split()[0] if command.startswith("train") else command, []):
        if cheap_name.lstrip("-").replace("-", "_") not in given:
            argv += [cheap_name] + ([cheap_value] if cheap_value is not None else [])
    if plan.extra:
        argv.append(plan.extra)
        must_fail.append("an unknown argument")

    # Inputs that are certainly wrong must be refused.
    for dest in READ_FLAGS:
        value = given.get(dest)
        if isinstance(value, Read) and value.kind in BAD_FILES:
            must_fail.append(f"--{dest.replace('_', '-')} is a {value.kind} file")
        elif isinstance(value, Read) and value.kind == "garbage" and not _is_text(value.content):
            must_fail.append(f"--{dest.replace('_', '-')} is blank or not UTF-8")
        elif value == "-":
            stdin_dest = STDIN_FLAGS.get(command.split()[0], STDIN_FLAGS.get(command))
            if stdin_dest != dest:
                must_fail.append(f"--{dest.replace('_', '-')} - is a missing file here")
            elif stdin != "valid" and not _is_text(stdin):
                must_fail.append("standard input is blank or not UTF-8")
        elif isinstance(value, str) and value not in ("", "-"):
            must_fail.append(f"--{dest.replace('_', '-')} {value!r} names no file")
    ckpt = given.get("checkpoint")
    if isinstance(ckpt, Ckpt):
        if ckpt.kind == "valid" and ckpt.task != task:
            must_fail.append(f"--checkpoint holds a {ckpt.task} model")
        elif ckpt.kind == "corrupt" and CORRUPTIONS[ckpt.variant][1]:
            must_fail.append(f"--checkpoint is corrupted ({ckpt.variant})")
        elif ckpt.kind not in ("valid", "corrupt"):
            must_fail.append(f"--checkpoint is a {ckpt.kind} path")
    elif isinstance(ckpt, str):
        must_fail.append(f"--checkpoint {ckpt!r} names no checkpoint")
    out = given.get("out")
    if command.startswith("train") and isinstance(out, Write):
        resume, overwrite = given.get("resume"), given.get("overwrite")
        if out.kind in ("file", "under-file"):
            must_fail.append(f"--out is a {out.kind} path")
        elif resume and overwrite:
            must_fail.append("--resume and --overwrite together")
        elif resume and out.kind not in ("resumable-copy", "resumable-corrupt"):
            must_fail.append("--resume with nothing to resume")
        elif not overwrite and not resume and out.kind in ("junk-dir", "run-copy", "resumable-copy",
                                                           "resumable-corrupt"):
            must_fail.append(f"--out is a {out.kind} without --overwrite")
    return Invocation(command, argv, stdin, must_fail)


def _known(command: str, *args, texts=(), stdin=b"", **plan) -> Invocation:
    """An invocation written out: ``args`` are ``"--flag"``, ``("--flag", value)`` or ``"--flag=value"``."""
    by_name = {name: flag for flag in FLAGS[command] for name in flag.names}
    flags = []
    for arg in args:
        if isinstance(arg, tuple):
            flags.append((by_name[arg[0]], arg[0], arg[1], False))
        elif "=" in arg:
            name, value = arg.split("=", 1)
            flags.append((by_name[name], name, value, True))
        else:
            flags.append((by_name[arg], arg, None, False))
    return _build(Plan(command, flags, list(texts), stdin, **plan))


# Invocations that broke the contract when this fuzzer met them: run first, every time (as
# hypothesis's explicit examples). Paths are built in each invocation's folder, as for drawn ones.
KNOWN = [
    # A path with a line break in it, echoed in the one-line error.
    _known("eval classify", ("--data", "a\nb")),
    _known("eval lm", ("--checkpoint", "a\nb")),
    _known("train seq2seq", ("--data", "no\nsuch.tsv")),
    # --flag=-- : argparse hands such a flag an empty list.
    _known("train lm", "--embedding-size=--"),
    _known("train classify", "--text-column=--"),
    _known("train seq2seq", "--data=--"),
    _known("eval classify", "--checkpoint=--"),
    _known("eval seq2seq", "--beam=--"),
    _known("eval seq2seq", "--limit=--"),
    _known("translate", "--n-best=--", texts=["uno"]),
    _known("generate", "--num=--"),
    _known("generate", "--prompt=--"),
    _known("compare", "--seeds=--"),
    _known("lab run", "--preset=--", texts=["adding"]),
    # Numbers past what the work or the arithmetic can take.
    _known("train classify", ("--embedding-size", str(2**63))),
    _known("train lm", ("--hidden-size", str(2**31))),
    _known("train seq2seq", ("--num-layers", str(2**31))),
    _known("train classify", ("--lr", "1e300")),
    _known("train seq2seq", ("--lr", "3.5e38")),
    _known("generate", ("--beam", str(2**63))),
    _known("generate", ("--beam", str(2**31))),
    _known("generate", ("--num", str(2**31)), "--greedy"),
    _known("generate", ("--temperature", "1e-300")),
    _known("generate", ("--top-p", "1e-300")),
    _known("translate", ("--beam", str(10**20)), texts=["uno dos"]),
    _known("translate", ("--max-len", str(2**63)), texts=["uno dos"]),
    _known("eval seq2seq", ("--beam", str(2**63))),
    _known("compare", ("--seeds", str(2**64))),
    _known("compare", ("--length", str(2**63))),  # a flag of the command before the lab: refused, one line
    _known("lab run", ("--seeds", str(2**31)), texts=["adding"]),
    # Outputs where a folder or file cannot be.
    _known("compare", ("--out", Write("file"))),
    _known("compare", ("--out", Write("under-file"))),
    _known("lab run", ("--out", Write("file")), texts=["gradient-flow"]),
    _known("eval seq2seq", ("--json", Write("under-file", ".json"))),
    _known("eval classify", ("--checkpoint", "a" * 300)),
    # Checkpoints with a field of the wrong type or value.
    _known("eval classify", ("--checkpoint", Ckpt("corrupt", "classify", "config-zero-length"))),
    _known("eval classify", ("--checkpoint", Ckpt("corrupt", "classify", "hidden-size-huge"))),
    _known("generate", ("--checkpoint", Ckpt("corrupt", "lm", "vocab-token-null"))),
    _known("generate", ("--checkpoint", Ckpt("corrupt", "lm", "vocab-token-not-str"))),
    _known("predict classify", ("--checkpoint", Ckpt("corrupt", "classify", "vocab-token-not-str")),
           texts=["good film"]),
    _known("translate", ("--checkpoint", Ckpt("corrupt", "seq2seq", "vocab-token-null")), texts=["uno dos"]),
    # --resume of a run whose saved state has a field of the wrong type.
    _known("train classify", "--resume", out=Write("resumable-corrupt", variant="dropout-str")),
    _known("train seq2seq", "--resume", out=Write("resumable-corrupt", variant="hidden-size-str")),
    _known("train lm", "--resume", out=Write("resumable-corrupt", variant="dropout-str")),
    # Work without bound: an untrained model may never end a translation.
    _known("translate", ("--max-len", "2147483647"), texts=["uno dos"]),
    _known("train seq2seq", ("--max-tgt-len", "2147483647")),
]


def _is_text(data: bytes) -> bool:
    try:
        return bool(data.decode("utf-8-sig").strip())
    except UnicodeDecodeError:
        return False


# -- materialising an invocation in its folder -------------------------------------------------------------


def _materialise(inv: Invocation, world, folder: Path) -> tuple[list[str], bytes, list[str]]:
    """argv with paths for the symbolic arguments, the standard input, and notes on what the
    odd paths hold (for the report)."""
    words, task = COMMANDS[inv.command]
    files, ckpts, corrupt = world["files"], world["ckpts"], world["corrupt"]
    argv, notes = [], []
    for n, item in enumerate(inv.argv):
        if isinstance(item, str):
            argv.append(item)
        elif isinstance(item, Read):
            if item.kind == "garbage":
                path = folder / f"garbage-{n}{item.suffix}"
                path.write_bytes(item.content)
                notes.append(f"{path.name} holds {item.content[:60]!r}{' ...' if len(item.content) > 60 else ''}")
            else:
                path = files[item.kind]
                if not item.kind.startswith("valid:"):
                    notes.append(f"{path.name}: the prepared {item.kind!r} file")
            argv.append(str(path))
        elif isinstance(item, Ckpt):
            if item.kind == "corrupt":
                notes.append(f"--checkpoint: a copy of the {item.task} checkpoint, damaged: {item.variant}")
            elif item.kind != "valid":
                notes.append(f"--checkpoint: {item.kind}")
            if item.kind == "valid":
                argv.append(str(ckpts[item.task]))
            elif item.kind == "corrupt":
                argv.append(str(corrupt[(item.task, item.variant)][0]))
            elif item.kind == "missing":
                argv.append(str(folder / "no-such-checkpoint"))
            elif item.kind == "empty-dir":
                (folder / "empty-checkpoint").mkdir()
                argv.append(str(folder / "empty-checkpoint"))
            elif item.kind == "devnull":
                argv.append("/dev/null")
            elif item.kind == "file":
                argv.append(str(files["valid:lm"]))
            elif item.kind == "resume-only":  # a run's resume/ state alone, without the run's checkpoint.json
                target = folder / "resume-only"
                shutil.copytree(ckpts[task] / "resume", target / "resume")
                argv.append(str(target))
        elif isinstance(item, Write):
            argv.append(str(_make_output(item, folder, n, ckpts, task)))
            if item.kind != "fresh":
                notes.append(f"{Path(argv[-1]).name}: {item.kind}" + (f" (resume/ damaged: {item.variant})"
                                                                     if item.variant else ""))
        else:
            raise AssertionError(item)
    stdin = inv.stdin
    if stdin == "valid":
        stdin = files[f"valid:{task or 'lm'}"].read_bytes()
    return argv, stdin, notes


def _make_output(item: Write, folder: Path, n: int, ckpts, task) -> Path:
    path = folder / f"out-{n}{item.suffix}"
    if item.kind == "fresh-nested":
        path = folder / f"nested-{n}" / "a" / f"b{item.suffix}"
    elif item.kind == "empty-dir":
        path.mkdir()
    elif item.kind == "junk-dir":
        path.mkdir()
        (path / "notes.txt").write_text("the user's own file\n")
    elif item.kind == "file":
        path.write_text("a file\n")
    elif item.kind == "under-file":
        (folder / f"file-{n}").write_text("a file\n")
        path = folder / f"file-{n}" / f"sub{item.suffix}"
    elif item.kind == "missing-parent":
        path = folder / f"missing-{n}" / f"x{item.suffix}"
    elif item.kind in ("run-copy", "resumable-copy", "resumable-corrupt"):
        shutil.copytree(ckpts[task], path, ignore=shutil.ignore_patterns(
            ".lock", *(["resume"] if item.kind == "run-copy" else [])))
        if item.variant:
            CORRUPTIONS[item.variant][0](path / "resume", task, ckpts)
    return path


# -- the tests ---------------------------------------------------------------------------------------------


@pytest.fixture
def memory_cap():
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = MEMORY_LIMIT if hard == resource.RLIM_INFINITY else min(MEMORY_LIMIT, hard)
    if soft == resource.RLIM_INFINITY or soft > limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    yield
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _fuzz(world, tmp_path, per_command: int):
    """The KNOWN invocations and ``per_command`` drawn ones of each command; fails listing every
    violation met."""
    found: dict[str, list[str]] = {}  # problem -> descriptions of the invocations that showed it
    ran = []
    for command in COMMANDS:
        _fuzz_command(command, min(per_command, MAX_EXAMPLES.get(command, per_command)), world,
                      tmp_path / command.replace(" ", "-"), found, ran)
    expected = sum(min(per_command, MAX_EXAMPLES.get(c, per_command)) for c in COMMANDS)
    assert len(ran) >= expected * 0.9, f"only {len(ran)} invocations ran"
    if found:
        report = [f"{len(found)} kind(s) of contract violation in {len(ran)} invocations:"]
        for problem, cases in sorted(found.items()):
            report.append(f"\n* {problem} ({len(cases)}x); first:\n{cases[0]}")
        pytest.fail("\n".join(report), pytrace=False)


def _fuzz_command(command, examples, world, tmp_path, found, ran):
    seen = set()
    tmp_path.mkdir()

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None, print_blob=False,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.data_too_large, HealthCheck.filter_too_much])
    @seed(f"{command}/{examples}")  # a fixed draw of its own for each command and size
    @given(invocations(command))
    def run_one(inv: Invocation):
        key = (tuple(inv.argv), inv.stdin)
        assume(key not in seen)  # hypothesis repeats some examples; each runs once
        seen.add(key)
        folder = tmp_path / f"i{len(seen)}"
        folder.mkdir()
        try:
            argv, stdin, notes = _materialise(inv, world, folder)
            result = _invoke(argv, stdin, folder)
            result.notes = notes
            ran.append((result.seconds, command))
            for problem in _violations(inv, result):
                found.setdefault(f"{command}: {problem}", []).append(_describe(result))
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    for known in KNOWN:
        if known.command == command:
            run_one = example(known)(run_one)
    run_one()


def test_cli_fuzz(world, tmp_path, memory_cap):
    """The KNOWN invocations, then 6 drawn ones of each command (2 of compare): the fast suite's share."""
    _fuzz(world, tmp_path, 6)


@pytest.mark.slow
def test_cli_fuzz_many(world, tmp_path, memory_cap):
    """The KNOWN invocations, then 1000 drawn ones (100 of each command, another fixed draw than the
    fast test's)."""
    _fuzz(world, tmp_path, 100)
