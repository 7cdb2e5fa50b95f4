"""Labelled text rows from TSV/CSV files, with one clear error for each way a file can be wrong."""

from __future__ import annotations

import csv
import io
from pathlib import Path

# Column names tried, in order, when none is given.
TEXT_NAMES = ("text", "sentence", "review", "document")
LABEL_NAMES = ("label", "labels", "class", "target", "polarity")


def read_utf8(path: str | Path) -> str:
    """A UTF-8 text file's content; a clear error if it is missing, not UTF-8, or blank."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    raw = path.read_bytes()
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not UTF-8 text (byte {err.start}: {raw[err.start:err.start + 1]!r}); "
                         "convert it, e.g. with iconv -t utf-8") from None
    if not content.strip():
        raise ValueError(f"{path} is empty")
    return content


def read_labeled_rows(path: str | Path, text_column: str | None = None, label_column: str | None = None,
                      need_two_labels: bool = True) -> list[tuple[str, str]]:
    """Rows ``(text, label)`` of a TSV (``.tsv``/``.txt``) or CSV file with a header line.

    Columns are picked by name (``text_column``/``label_column``, or the usual names above), or
    by 0-based index given as digits.
    """
    path = Path(path)
    content = read_utf8(path)
    delimiter = "," if path.suffix.lower() == ".csv" else "\t"
    reader = csv.reader(io.StringIO(content), delimiter=delimiter, quoting=csv.QUOTE_MINIMAL if delimiter == ","
                        else csv.QUOTE_NONE)
    header = [h.strip() for h in next(reader)]
    t = _column(header, text_column, TEXT_NAMES, "text", path)
    lab = _column(header, label_column, LABEL_NAMES, "label", path)
    rows = []
    for n, fields in enumerate(reader, start=2):
        if not fields or not "".join(fields).strip():
            continue
        if max(t, lab) >= len(fields):
            raise ValueError(f"{path}, line {n}: {len(fields)} fields, but column {max(t, lab)} is needed")
        rows.append((fields[t], fields[lab].strip()))
    if not rows:
        raise ValueError(f"{path} has a header but no rows")
    if need_two_labels and len({label for _, label in rows}) < 2:
        raise ValueError(f"{path} has a single label ({rows[0][1]!r}); a classifier needs at least two")
    return rows


def _column(header: list[str], wanted: str | None, defaults, kind: str, path: Path) -> int:
    if wanted is not None:
        if wanted in header:
            return header.index(wanted)
        if wanted.isdigit() and int(wanted) < len(header):
            return int(wanted)
        raise ValueError(f"{path} has no {kind} column {wanted!r}; its columns are {header}")
    for name in defaults:
        if name in header:
            return header.index(name)
    raise ValueError(f"{path} has no {kind} column (looked for {', '.join(defaults)}); its columns are {header}; "
                     f"name it with --{kind}-column")


def read_pairs(path: str | Path) -> list[tuple[str, str]]:
    """``source<TAB>target`` lines of a UTF-8 file (no header), as in the bundled en-es corpus."""
    path = Path(path)
    content = read_utf8(path)
    pairs = []
    for n, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        src, tab, tgt = line.partition("\t")
        if not tab:
            raise ValueError(f"{path}, line {n}: no tab; each line must be source<TAB>target")
        if not src.strip() or not tgt.strip():
            raise ValueError(f"{path}, line {n}: empty {'source' if not src.strip() else 'target'}")
        pairs.append((src.strip(), tgt.strip()))
    return pairs
