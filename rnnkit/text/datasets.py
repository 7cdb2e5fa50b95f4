"""Labelled text rows from TSV/CSV files, with one clear error for each way a file can be wrong."""

from __future__ import annotations

import csv
import io
import os
import re
import stat
import sys
from pathlib import Path

# Column names tried, in order, when none is given.
TEXT_NAMES = ("text", "sentence", "review", "document")
LABEL_NAMES = ("label", "labels", "class", "target", "polarity")

STDIN = "-"  # the file name that means standard input, where a reader is told it may read it
# The csv module refuses fields over 128 KB by default; a single long review or document can be
# megabytes. 2**31 - 1 fits a C long on every platform (sys.maxsize overflows it on Windows).
FIELD_SIZE_LIMIT = 2**31 - 1


def is_stdin(path, stdin: bool) -> bool:
    return stdin and str(path) == STDIN


def display_name(path, stdin: bool = False) -> str:
    """How messages name ``path``: standard input, or the path as given."""
    return "standard input" if is_stdin(path, stdin) else str(path)


def read_utf8(path: str | Path, stdin: bool = False) -> str:
    """A UTF-8 text file's content; a clear error if it is missing, not a regular file (a folder,
    a FIFO, a device), unreadable, not UTF-8, or blank. With ``stdin``, the name ``-`` reads all
    of standard input instead."""
    if is_stdin(path, stdin):
        raw = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode("utf-8")
    else:
        raw = _read_regular_file(Path(path))
    name = display_name(path, stdin)
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"{name} is not UTF-8 text (byte {err.start}: {raw[err.start:err.start + 1]!r}); "
                         "convert it, e.g. with iconv -t utf-8") from None
    if not content.strip():
        raise ValueError(f"{name} is empty")
    return content


def text_lines(content: str) -> list[str]:
    """``content``'s lines, ended by \\n, \\r\\n or \\r only. ``str.splitlines`` also breaks at form
    feeds, \\x1c-\\x1e, U+0085 and U+2028/2029, which a text may hold inside a line: a 4-line file
    would answer in 8 lines, or a pair lose its tab."""
    lines = re.split(r"\r\n|\r|\n", content)
    return lines[:-1] if lines and lines[-1] == "" else lines


def _read_regular_file(path: Path) -> bytes:
    """The bytes of a regular file. Anything else is refused before it is opened: reading a FIFO or
    a terminal device would wait forever, /dev/zero never ends, /dev/null reads as nothing."""
    if not str(path):
        raise FileNotFoundError("no such file: '' (an empty file name)")
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise FileNotFoundError(f"no such file: {path}") from None
    except PermissionError:
        raise PermissionError(f"cannot read {path}: permission denied") from None
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(f"{path} is a directory, not a file")
    kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else None)
    if kind:
        raise ValueError(f"{path} is {kind}, not a regular file")
    if not stat.S_ISREG(mode):
        raise ValueError(f"{path} is not a regular file")
    try:
        return path.read_bytes()
    except PermissionError:
        raise PermissionError(f"cannot read {path}: permission denied") from None


def read_labeled_rows(path: str | Path, text_column: str | None = None, label_column: str | None = None,
                      need_two_labels: bool = True, stdin: bool = False,
                      delimiter: str | None = None) -> list[tuple[str, str]]:
    """Rows ``(text, label)`` of a TSV (``.tsv``/``.txt``) or CSV file with a header line.

    Columns are picked by name (``text_column``/``label_column``, or the usual names above), or
    by 0-based index given as digits. With ``stdin``, the name ``-`` reads standard input. The
    delimiter follows the file name (``.csv``: comma, else tab; standard input: tab) unless given.
    """
    content = read_utf8(path, stdin)
    name = display_name(path, stdin)
    if delimiter is None:
        delimiter = "," if not is_stdin(path, stdin) and Path(path).suffix.lower() == ".csv" else "\t"
    csv.field_size_limit(max(csv.field_size_limit(), FIELD_SIZE_LIMIT))
    # TSV is read as is, as GLUE's files are (a field is what lies between two tabs; no quoting):
    # a text holding a tab cannot be a TSV field, and a row with fields to spare is refused (_rows).
    # CSV is quoted as Python's csv module and pandas write it. newline="": the csv module's own
    # line-end handling (\r alone included), and line breaks inside quoted CSV fields.
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter,
                        quoting=csv.QUOTE_MINIMAL if delimiter == "," else csv.QUOTE_NONE)
    try:
        return _rows(reader, name, text_column, label_column, need_two_labels)
    except csv.Error as err:  # e.g. a quote left open
        raise ValueError(f"{name}, line {reader.line_num}: {err}") from None


def _rows(reader, name: str, text_column, label_column, need_two_labels: bool) -> list[tuple[str, str]]:
    header = [h.strip() for h in next(reader)]
    t = _column(header, text_column, TEXT_NAMES, "text", name)
    lab = _column(header, label_column, LABEL_NAMES, "label", name)
    if t == lab:
        raise ValueError(f"the text and the label column are the same column ({t}, {header[t]!r}) of {name}; "
                         "give two different columns with --text-column and --label-column")
    rows = []
    for fields in reader:
        n = reader.line_num
        if not fields or not "".join(fields).strip():
            continue
        if max(t, lab) >= len(fields):
            raise ValueError(f"{name}, line {n}: {len(fields)} fields, but column {max(t, lab)} is needed")
        if len(fields) > len(header) and "".join(fields[len(header):]).strip():
            # a tab (or comma) inside a text: which field is the label is then a guess
            raise ValueError(f"{name}, line {n}: {len(fields)} fields but the header has {len(header)}; a text may "
                             "hold a tab" + (" or an unquoted comma; quote it" if reader.dialect.delimiter == ","
                                             else " (TSV has no quoting: remove it, or write the file as .csv)"))
        if not fields[lab].strip():
            raise ValueError(f"{name}, line {n}: the label is empty; give every row a label")
        rows.append((fields[t], fields[lab].strip()))
    if not rows:
        raise ValueError(f"{name} has a header but no rows")
    if need_two_labels and len({label for _, label in rows}) < 2:
        raise ValueError(f"{name} has a single label ({rows[0][1]!r}); a classifier needs at least two")
    return rows


def _column(header: list[str], wanted: str | None, defaults, kind: str, path) -> int:
    if wanted is not None:
        if wanted in header:
            return _only(header, wanted, path)
        if wanted.isdigit() and int(wanted) < len(header):
            return int(wanted)
        raise ValueError(f"{path} has no {kind} column {wanted!r}; its columns are {header}")
    for name in defaults:
        if name in header:
            return _only(header, name, path)
    raise ValueError(f"{path} has no {kind} column (looked for {', '.join(defaults)}); its columns are {header}; "
                     f"name it with --{kind}-column")


def _only(header: list[str], name: str, path) -> int:
    """The index of the column called ``name``, which must be called so once: of two, which one
    is meant would be a guess."""
    if header.count(name) > 1:
        raise ValueError(f"{path}: the header names column {name!r} {header.count(name)} times; rename the "
                         "columns so that each name is one column, or pick one by its 0-based index")
    return header.index(name)


def read_pairs(path: str | Path, stdin: bool = False) -> list[tuple[str, str]]:
    """``source<TAB>target`` lines of a UTF-8 file (no header), as in the bundled en-es corpus.
    With ``stdin``, the name ``-`` reads standard input."""
    content = read_utf8(path, stdin)
    name = display_name(path, stdin)
    pairs = []
    for n, line in enumerate(text_lines(content), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) == 1:
            raise ValueError(f"{name}, line {n}: no tab; each line must be source<TAB>target")
        if len(fields) > 2:  # joining the rest to the target would train on a wrong target
            raise ValueError(f"{name}, line {n}: {len(fields)} tab-separated fields; each line must be "
                             "source<TAB>target")
        src, tgt = fields
        if not src.strip() or not tgt.strip():
            raise ValueError(f"{name}, line {n}: empty {'source' if not src.strip() else 'target'}")
        pairs.append((src.strip(), tgt.strip()))
    return pairs
