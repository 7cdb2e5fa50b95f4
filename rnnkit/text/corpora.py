"""Corpora bundled inside the package (public domain, xz-compressed), with fixed splits.

    >>> from rnnkit.text import corpora
    >>> text = corpora.load("shakespeare")          # {"train": str, "validation": str, "test": str}
    >>> pairs = corpora.load("en-es")               # {"train": [(en, es), ...], ...}

Splits are fixed rules, so results are comparable between runs and people:

* ``shakespeare``: a language model wants contiguous text, so the first 90 % of the characters
  train, the next 5 % validate and the last 5 % test.
* ``en-es``: pair ``i`` goes to validation when ``i % 20 == 18``, to test when ``i % 20 == 19``,
  else to train (as the data's README suggests), giving 28,036 / 1,557 / 1,557 pairs.
No network is used.
"""

from __future__ import annotations

import lzma
from functools import cache
from importlib import resources

NAMES = ("shakespeare", "en-es")
SPLITS = ("train", "validation", "test")


def _read(filename: str) -> str:
    with resources.files("rnnkit.data").joinpath(filename).open("rb") as f:
        return lzma.decompress(f.read()).decode("utf-8")


@cache
def load(name: str) -> dict:
    """The corpus ``name`` (one of :data:`NAMES`) as a dict of its three splits."""
    if name == "shakespeare":
        text = _read("shakespeare.txt.xz")
        a, b = int(len(text) * 0.90), int(len(text) * 0.95)
        return {"train": text[:a], "validation": text[a:b], "test": text[b:]}
    if name == "en-es":
        splits: dict = {s: [] for s in SPLITS}
        for i, line in enumerate(_read("en-es.tsv.xz").splitlines()):
            en, _, es = line.partition("\t")
            split = "validation" if i % 20 == 18 else "test" if i % 20 == 19 else "train"
            splits[split].append((en, es))
        return splits
    raise ValueError(f"unknown corpus {name!r}; the bundled corpora are {', '.join(NAMES)}")
