"""The real data sets the lab reads, with fixed splits, and nothing downloaded.

* Shakespeare: bundled in the package (:func:`rnnkit.text.corpora.load`).
* Sentence polarity (``rotten-tomatoes.tsv``, after Pang & Lee): its licence does not allow
  bundling it, so it is read from the project's data folder (``../shared/data`` beside the
  checkout), from ``$RNNKIT_POLARITY``, or from ``rnnkit lab run --polarity PATH``. The split is
  ``benchmarks/bench_classify.py``'s: row i is test when i % 10 == 9; of the rest every 10th
  validates.
* 8x8 digits: scikit-learn's bundled copy (1,797 images, inside the scikit-learn package); row i is
  test when i % 5 == 4.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import torch

POLARITY_ENV = "RNNKIT_POLARITY"
# the checkout's sibling data folder (rnnkit/lab/data.py -> rnnkit/lab -> rnnkit -> checkout -> ..)
DEFAULT_POLARITY = Path(__file__).resolve().parents[3] / "shared" / "data" / "rotten-tomatoes.tsv"


def polarity_path() -> Path:
    """Where the polarity data is read from: ``$RNNKIT_POLARITY``, else the project's data folder."""
    return Path(os.environ.get(POLARITY_ENV) or DEFAULT_POLARITY)


def polarity() -> tuple[list, list, list]:
    """``(train, validation, test)`` rows ``(text, label)`` of the sentence-polarity data."""
    path = polarity_path()
    if not path.is_file():
        raise ValueError(f"the sentence-polarity data is not at {path}; it cannot be bundled (no licence for "
                         f"redistribution): pass --polarity PATH to rotten-tomatoes.tsv (label<TAB>text), or set "
                         f"${POLARITY_ENV}")
    return _split_polarity(str(path), path.stat().st_mtime)


@cache
def _split_polarity(path: str, mtime: float) -> tuple[list, list, list]:
    from ..text.datasets import read_labeled_rows

    rows = read_labeled_rows(path)
    test = [r for i, r in enumerate(rows) if i % 10 == 9]
    rest = [r for i, r in enumerate(rows) if i % 10 != 9]
    train = [r for i, r in enumerate(rest) if i % 10 != 9]
    valid = [r for i, r in enumerate(rest) if i % 10 == 9]
    return train, valid, test


def digits() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """scikit-learn's 8x8 digits: ``{"train": (images (N, 8, 8) in [0, 1], labels (N,)), "test": ...}``."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ValueError("the digits experiment needs scikit-learn (its 8x8 digits ship inside the package): "
                         "pip install 'rnnkit[lab]'") from None
    data = load_digits()
    images = torch.tensor(data.images, dtype=torch.float32) / 16.0
    labels = torch.tensor(data.target, dtype=torch.long)
    test = torch.arange(len(labels)) % 5 == 4
    return {"train": (images[~test], labels[~test]), "test": (images[test], labels[test])}


def shakespeare() -> dict:
    """The bundled Shakespeare text: ``{"train", "validation", "test"}`` strings (90/5/5 by position)."""
    from ..text import corpora

    return corpora.load("shakespeare")
