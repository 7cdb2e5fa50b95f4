"""What the inside-the-lstm experiment reads off a text, apart from any network: simple signals a
unit may track (position in the line, stage directions, speaker lines...), Pearson correlation,
and a character n-gram model with the distances back to a character's previous occurrence, the
baseline the LSTM's predictions are compared with (after Karpathy, Johnson & Fei-Fei 2015).
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np

BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)  # lower edges of the distance buckets


# -- signals and units ---------------------------------------------------------------------------

SIGNALS = {
    "stage direction": "inside [...] (the '[' counts as inside, the ']' as outside)",
    "position in line": "characters since the last newline (0 at the newline)",
    "speaker name line": "on a line that is a speaker's name alone in capitals, e.g. 'OCTAVIA.' (not ACT/SCENE)",
    "inside quotes": "inside \"...\" (an odd number of double quotes so far, the opening one included)",
    "inside parentheses": "inside (...) (the '(' counts as inside, the ')' as outside)",
    "position in word": "letters since the last non-letter (0 on a non-letter)",
}
_SPEAKER = re.compile(r"(?!ACT\b|SCENE\b)[A-Z][A-Z'&\- ]*[A-Z]\.")


def _depth(text: str, opening: str, closing: str) -> np.ndarray:
    depth, out = 0, np.zeros(len(text))
    for i, ch in enumerate(text):
        depth = depth + 1 if ch == opening else max(depth - 1, 0) if ch == closing else depth
        out[i] = depth > 0
    return out


def text_signals(text: str) -> dict[str, np.ndarray]:
    """Each signal of :data:`SIGNALS` as a float array, one value per character of ``text`` (the
    value describes the text up to and including that character, except ``speaker name line``,
    which reads the whole line)."""
    n = len(text)
    line, word, quote, speaker = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    since_newline = since_letter = quotes = 0
    for i, ch in enumerate(text):
        since_newline = 0 if ch == "\n" else since_newline + 1
        since_letter = since_letter + 1 if ch.isalpha() else 0
        quotes += ch == '"'
        line[i], word[i], quote[i] = since_newline, since_letter, quotes % 2
    start = 0
    for row in text.split("\n"):  # a row's characters, not its newline
        if _SPEAKER.fullmatch(row):
            speaker[start : start + len(row)] = 1
        start += len(row) + 1
    return {"stage direction": _depth(text, "[", "]"), "position in line": line, "speaker name line": speaker,
            "inside quotes": quote, "inside parentheses": _depth(text, "(", ")"), "position in word": word}


def pearson(acts: np.ndarray, signal: np.ndarray) -> np.ndarray:
    """Pearson correlation of each column of ``acts`` (N, U) with ``signal`` (N,); 0 for a constant
    column or signal."""
    a = acts - acts.mean(axis=0)
    s = signal - signal.mean()
    denom = np.sqrt((a * a).sum(axis=0) * (s * s).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * s[:, None]).sum(axis=0) / denom
    return np.nan_to_num(r, nan=0.0)


def window_of(signal: np.ndarray, length: int) -> tuple[int, int]:
    """``(row, start)`` of the ``length``-step window of ``signal`` (rows, T) whose values vary most
    (starts every length // 4 steps; the first on ties)."""
    best, where = -1.0, (0, 0)
    for row in range(signal.shape[0]):
        for start in range(0, signal.shape[1] - length + 1, max(1, length // 4)):
            v = float(signal[row, start : start + length].var())
            if v > best:
                best, where = v, (row, start)
    return where


# -- the n-gram baseline and distances ------------------------------------------------------------


class CharNGram:
    """A character n-gram over ids 0..V-1 with interpolated Witten-Bell smoothing:

    P_0(c) = (n(c) + 1) / (N + V) (add-one unigram, so every id has mass), and for the last k ids h
    (k = 1 .. order - 1), with h' its last k - 1: P_k(c | h) = (n(h c) + u(h) P_(k-1)(c | h')) /
    (n(h) + u(h)), u(h) = the distinct ids seen after h; P_k = P_(k-1) where h was never seen.
    Each level sums to 1 over the vocabulary, so the model does.
    """

    def __init__(self, ids, order: int, vocab_size: int):
        ids = [int(i) for i in ids]
        if order < 1 or vocab_size < 1 or any(not 0 <= i < vocab_size for i in ids):
            raise ValueError(f"need order >= 1, vocab_size >= 1 and ids in [0, vocab_size); got order {order}, "
                             f"vocab_size {vocab_size}")
        self.order, self.vocab_size = order, vocab_size
        self.unigram = (np.bincount(ids, minlength=vocab_size) + 1.0) / (len(ids) + vocab_size)
        text = "".join(map(chr, ids))  # ids as characters: counting slices of a str runs in C
        self.tables: list[dict[str, tuple[list[int], list[int]]]] = []
        self.size = vocab_size
        for k in range(1, order):
            followers: dict[str, tuple[list[int], list[int]]] = {}
            grams = Counter(text[i : i + k + 1] for i in range(len(text) - k))
            for gram, count in grams.items():
                seen = followers.setdefault(gram[:-1], ([], []))
                seen[0].append(ord(gram[-1]))
                seen[1].append(count)
            self.tables.append(followers)
            self.size += len(grams)
        self._cache: dict[str, np.ndarray] = {}

    def distribution(self, context) -> np.ndarray:
        """P(next id | the last ids of ``context``), (V,)."""
        key = "".join(map(chr, list(context)[-(self.order - 1):] if self.order > 1 else []))
        if key not in self._cache:
            p = self.unigram
            for k, table in enumerate(self.tables, start=1):
                if len(key) < k or key[-k:] not in table:
                    continue
                nxt, counts = table[key[-k:]]
                seen = np.zeros(self.vocab_size)
                seen[nxt] = counts
                p = (seen + len(nxt) * p) / (sum(counts) + len(nxt))
            self._cache[key] = p
        return self._cache[key]

    def score(self, ids) -> tuple[np.ndarray, np.ndarray]:
        """For each position j >= 1 of ``ids`` (M,): log2 P(ids[j] | ids[:j]) and the arg-max id, (M - 1,) each."""
        ids = [int(i) for i in ids]
        logp, best = np.zeros(len(ids) - 1), np.zeros(len(ids) - 1, dtype=np.int64)
        for j in range(1, len(ids)):
            p = self.distribution(ids[max(0, j - self.order + 1) : j])
            logp[j - 1], best[j - 1] = math.log2(p[ids[j]]), int(p.argmax())
        return logp, best


def distances(ids) -> list[int | None]:
    """For each position j of ``ids``: j minus the last earlier position holding the same id, None
    when there is none."""
    last: dict[int, int] = {}
    out: list[int | None] = []
    for j, i in enumerate(int(i) for i in ids):
        out.append(j - last[i] if i in last else None)
        last[i] = j
    return out


def bucket_labels() -> list[str]:
    labels = [f"{a}" if b - a == 1 else f"{a}-{b - 1}" for a, b in zip(BUCKETS, BUCKETS[1:])]
    return labels + [f"{BUCKETS[-1]}+", "none"]


def bucket_of(d: int | None) -> int:
    """The index of ``d``'s bucket in :func:`bucket_labels`."""
    if d is None:
        return len(BUCKETS)
    return max(i for i, edge in enumerate(BUCKETS) if d >= edge)


__all__ = ["SIGNALS", "BUCKETS", "text_signals", "pearson", "window_of", "CharNGram", "distances", "bucket_labels",
           "bucket_of"]
