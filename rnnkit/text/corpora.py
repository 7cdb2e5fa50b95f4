"""Corpora bundled inside the package (public domain, xz-compressed), with fixed splits.

    >>> from rnnkit.text import corpora
    >>> text = corpora.load("shakespeare")          # {"train": str, "validation": str, "test": str}
    >>> pairs = corpora.load("en-es")               # {"train": [(en, es), ...], ...}
    >>> dates = corpora.load("dates")               # {"train": [(human, iso), ...], ...}

Splits are fixed rules (:func:`split`), so results are comparable between runs and people:

* ``shakespeare``: a language model wants contiguous text, so the first 90 % of the characters
  train, the next 5 % validate and the last 5 % test.
* ``en-es``: pair ``i`` goes to validation when ``i % 20 == 18``, to test when ``i % 20 == 19``,
  else to train (as the data's README suggests), giving 28,036 / 1,557 / 1,557 pairs.
* ``dates``: generated (:mod:`rnnkit.text.dates`), 30,000 / 1,000 / 2,000 pairs from seeds 1, 2
  and 3; no validation or test source occurs in training, and no test source in validation.
No network is used.
"""

from __future__ import annotations

import lzma
from collections.abc import Sequence
from functools import cache
from importlib import resources

from .dates import date_pairs

NAMES = ("shakespeare", "en-es", "dates")
SPLITS = ("train", "validation", "test")
DATES_SIZES = {"train": 30_000, "validation": 1_000, "test": 2_000}


def _read(filename: str) -> str:
    with resources.files("rnnkit.data").joinpath(filename).open("rb") as f:
        return lzma.decompress(f.read()).decode("utf-8")


def split(data: str | Sequence, every: int | None = None, held_out: Sequence[str] | None = None) -> dict:
    """The fixed split of ``data`` (a text or a sequence of items), as a dict of its parts.

    * ``every=None``: contiguous, as a language model wants it: the first 90 % train, the next 5 %
      validation, the last 5 % test.
    * ``every=k``: interleaved, for rows and pairs: of each ``k`` consecutive items the last
      ``len(held_out)`` go, in order, to the ``held_out`` parts (``("validation", "test")`` unless
      given), the others to ``"train"``; e.g. ``split(rows, 10, ["validation"])`` holds out rows
      9, 19, 29, ...

    Items keep their order within each part.
    """
    if every is None:
        if held_out is not None:
            raise ValueError("held_out names the parts of an interleaved split; give every too")
        a, b = int(len(data) * 0.90), int(len(data) * 0.95)
        return {"train": data[:a], "validation": data[a:b], "test": data[b:]}
    held_out = ("validation", "test") if held_out is None else tuple(held_out)
    if not 0 < len(held_out) < every:
        raise ValueError(f"every must exceed the {len(held_out)} held-out part(s), leaving some to train; "
                         f"got every={every}")
    first_held = every - len(held_out)  # the position, within each block of `every`, of the first held-out item
    parts: dict = {name: [] for name in ("train", *held_out)}
    for i, item in enumerate(data):
        j = i % every
        parts["train" if j < first_held else held_out[j - first_held]].append(item)
    return parts


@cache
def load(name: str) -> dict:
    """The corpus ``name`` (one of :data:`NAMES`) as a dict of its three splits."""
    if name == "shakespeare":
        return split(_read("shakespeare.txt.xz"))
    if name == "en-es":
        lines = _read("en-es.tsv.xz").splitlines()
        return split([(en, es) for en, _, es in (line.partition("\t") for line in lines)], every=20)
    if name == "dates":
        # Generated; each later part excludes the sources of the parts before it, so a model is
        # scored on dates written in a way it never saw.
        seen: set[str] = set()
        parts = {}
        for seed, part in enumerate(SPLITS, start=1):
            parts[part] = date_pairs(DATES_SIZES[part], seed=seed, exclude=seen or None)
            seen |= {s for s, _ in parts[part]}
        return parts
    raise ValueError(f"unknown corpus {name!r}; the bundled corpora are {', '.join(NAMES)}")
