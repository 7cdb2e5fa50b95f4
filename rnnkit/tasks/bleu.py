"""Corpus BLEU from per-sentence statistics, and bootstrap intervals for a BLEU difference.

BLEU is a corpus statistic: sentence n-gram counts are summed, then combined. Keeping each
sentence's counts (sacrebleu's, through its public ``sentence_score``) lets a bucket's BLEU and
thousands of bootstrap resamples be computed from sums, without re-tokenizing. The paired bootstrap
(Koehn 2004) resamples the same sentences for both systems, so the interval is that of their
difference, not of either score.

    stats_a, stats_b = sentence_stats(hyps_a, refs), sentence_stats(hyps_b, refs)
    corpus_bleu(stats_a)                        # == sacrebleu.corpus_bleu(hyps_a, [refs]).score
    low, high = bootstrap_interval(lambda g: corpus_bleu(g[0][0]) - corpus_bleu(g[0][1]), [[stats_a, stats_b]])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from sacrebleu.metrics import BLEU

ORDER = 4  # n-gram orders: each row is [hyp_len, ref_len, matches 1..4, totals 1..4]


def sentence_stats(hypotheses: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """(n, 10) integer array of each sentence's BLEU statistics (sacrebleu's default tokenizer)."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    bleu = BLEU(effective_order=True)  # affects only sentence scores, not the counts kept here
    rows = []
    for hyp, ref in zip(hypotheses, references):
        s = bleu.sentence_score(hyp, [ref])
        rows.append([s.sys_len, s.ref_len, *s.counts, *s.totals])
    return np.asarray(rows, dtype=np.int64).reshape(len(rows), 2 + 2 * ORDER)


def corpus_bleu(stats: np.ndarray) -> float:
    """Corpus BLEU (0-100) of the sentences whose statistics are the rows of ``stats`` (or of
    their sum, a 1-D row), computed as sacrebleu's ``corpus_bleu`` does."""
    total = stats.sum(axis=0) if stats.ndim == 2 else stats
    sys_len, ref_len = int(total[0]), int(total[1])
    correct, counts = total[2 : 2 + ORDER].tolist(), total[2 + ORDER :].tolist()
    return BLEU.compute_bleu(correct, counts, sys_len, ref_len).score


def bootstrap_interval(statistic: Callable[[list[list[np.ndarray]]], float], groups: list[list[np.ndarray]],
                       resamples: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile interval of ``statistic`` over bootstrap resamples.

    ``groups``: sets of sentences resampled independently (e.g. two length buckets), each a list
    of (n, 10) statistics of the same n sentences (e.g. two systems), which share every resample
    (paired). ``statistic`` receives the same nesting with each array summed to one row."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        summed = []
        for group in groups:
            n = group[0].shape[0]
            if any(s.shape[0] != n for s in group):
                raise ValueError("the statistics of one group must cover the same sentences")
            pick = rng.integers(0, n, n)
            summed.append([s[pick].sum(axis=0) for s in group])
        values.append(statistic(summed))
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)
