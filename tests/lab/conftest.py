"""Fixtures of the lab's tests: a synthetic polarity file (the real one cannot ship). The
``one_thread`` fixture the tiny presets use is in ``tests/conftest.py``."""

from __future__ import annotations

import random

import pytest

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_polarity(path, rows: int = 120, seed: int = 0) -> None:
    """A tiny polarity TSV: random filler words plus one word that gives the label away."""
    rng = random.Random(seed)
    filler = "the a film movie story plot actor scene was is very quite and but".split()
    lines = ["label\ttext"]
    for _ in range(rows):
        label = rng.choice(["pos", "neg"])
        words = rng.choices(filler, k=rng.randint(2, 9))
        words.insert(rng.randint(0, len(words)), "great" if label == "pos" else "awful")
        lines.append(f"{label}\t{' '.join(words)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def polarity_file(tmp_path, monkeypatch):
    path = tmp_path / "polarity.tsv"
    write_polarity(path)
    monkeypatch.setenv("RNNKIT_POLARITY", str(path))
    return path


class LoadStopped(Exception):
    """Raised by :func:`stop_loading`'s stand-in loader."""


def stop_loading(monkeypatch, cls) -> list:
    """Replaces ``cls.load`` (a checkpoint loader taking ``device=``) by one that records the
    device it was asked for and raises :class:`LoadStopped`: a test sees where a run would put a
    checkpoint without a GPU. Returns the list of recorded devices."""
    seen = []

    def load(_cls, directory, device="cpu"):
        seen.append(device)
        raise LoadStopped

    monkeypatch.setattr(cls, "load", classmethod(load))
    return seen
