"""The synthetic translation task of the attention-word-order experiment: sources of random
symbols, and targets that are a declared permutation of them (by reordering level), mapped onto a
target vocabulary by a fixed bijection, so the task is a translation and not a copy; and Kendall's
tau, which measures how far an order is from monotone.

Levels: ``monotone`` (the identity); ``swap-2`` / ``swap-3`` (each consecutive window of 2 / 3
reversed, a shorter last window too); ``reverse``; ``permutation`` (one random permutation per
length, drawn from ``random.Random(PERMUTATION_SEED + n)``). Ids: ``SPECIALS`` (pad, unk, bos,
eos) come first, symbols after them.
"""

from __future__ import annotations

import math
import random

import torch

LEVELS = ("monotone", "swap-2", "swap-3", "reverse", "permutation")
PERMUTATION_SEED = 1_000  # the permutation level's order for length n is drawn from PERMUTATION_SEED + n
MAP_SEED = 7  # the fixed bijection source symbol -> target symbol
SPECIALS = 4  # pad 0, unk 1, bos 2, eos 3 (Seq2Seq's default special ids); symbols start here


def positive_int(name: str, value, least: int = 1) -> None:
    """A ValueError naming ``name`` unless ``value`` is an int (not a bool) >= ``least``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{name} must be an int >= {least}; got {value!r}")


def permutation(level: str, length: int) -> list[int]:
    """The order of ``level`` for a source of ``length`` tokens: ``target[i] = source[perm[i]]``."""
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; the levels are: {', '.join(LEVELS)}")
    positive_int("length", length)
    if level == "monotone":
        return list(range(length))
    if level == "reverse":
        return list(range(length - 1, -1, -1))
    if level == "permutation":
        order = list(range(length))
        random.Random(PERMUTATION_SEED + length).shuffle(order)
        return order
    window = 2 if level == "swap-2" else 3
    return [i for start in range(0, length, window) for i in reversed(range(start, min(start + window, length)))]


def target_map(vocab: int) -> list[int]:
    """The fixed bijection of symbol ids (``SPECIALS .. SPECIALS + vocab - 1``) onto the target's:
    ``target_map(vocab)[s - SPECIALS]`` is the target id of source symbol ``s``."""
    positive_int("vocab", vocab, 2)
    ids = list(range(SPECIALS, SPECIALS + vocab))
    random.Random(MAP_SEED).shuffle(ids)
    return ids


def translate(level: str, source: list[int], vocab: int) -> list[int]:
    """The target of ``source`` at ``level``: reordered by :func:`permutation`, mapped by :func:`target_map`."""
    mapping = target_map(vocab)
    return [mapping[source[j] - SPECIALS] for j in permutation(level, len(source))]


def make_sources(count: int, vocab: int, min_len: int, max_len: int, generator: torch.Generator) -> list[list[int]]:
    """``count`` sources: lengths uniform in ``min_len..max_len``, symbols uniform, from ``generator``."""
    positive_int("count", count)
    positive_int("vocab", vocab, 2)
    positive_int("min_len", min_len)
    positive_int("max_len", max_len, min_len)
    lengths = torch.randint(min_len, max_len + 1, (count,), generator=generator).tolist()
    symbols = torch.randint(SPECIALS, SPECIALS + vocab, (count, max_len), generator=generator).tolist()
    return [row[:n] for row, n in zip(symbols, lengths)]


def make_pairs(level: str, count: int, vocab: int, min_len: int, max_len: int,
               generator: torch.Generator) -> tuple[list[list[int]], list[list[int]]]:
    """``(sources, targets)`` of ``level``: :func:`make_sources` and their :func:`translate`. The
    sources depend on the generator alone, so one seed gives the same sources at every level."""
    sources = make_sources(count, vocab, min_len, max_len, generator)
    return sources, [translate(level, s, vocab) for s in sources]


def kendall_tau(y, x=None) -> float:
    """Kendall's tau-b of the pairs ``(x[i], y[i])`` (``x`` defaults to the positions 0..n-1): over
    all pairs i < j, (concordant - discordant) / sqrt((pairs - ties in x) (pairs - ties in y)).
    1 for an increasing order, -1 for a decreasing one; NaN when n < 2 or one side is constant."""
    y = [float(v) for v in y]
    x = list(range(len(y))) if x is None else [float(v) for v in x]
    if len(x) != len(y):
        raise ValueError(f"kendall_tau needs sequences of one length; got {len(x)} and {len(y)}")
    n = len(y)
    concordant = discordant = ties_x = ties_y = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[j] - x[i], y[j] - y[i]
            ties_x += dx == 0
            ties_y += dy == 0
            concordant += dx * dy > 0
            discordant += dx * dy < 0
    pairs = n * (n - 1) // 2
    denominator = math.sqrt((pairs - ties_x) * (pairs - ties_y))
    return (concordant - discordant) / denominator if denominator else math.nan


__all__ = ["LEVELS", "PERMUTATION_SEED", "MAP_SEED", "SPECIALS", "permutation", "target_map", "translate",
           "make_sources", "make_pairs", "kendall_tau", "positive_int"]
