"""Counting what a beam search changes against greedy decoding, one sentence at a time: search
errors against model errors (does the more likely output translate better?), and error
propagation (how accurate the rest of a greedy output is after its first wrong token, free-running
against teacher-forced). Plain counts over token lists, apart from any model, so each is checked
by brute force in the tests.
"""

from __future__ import annotations

import math

MAX_OFFSET = 8  # the propagation curve: positions 1..MAX_OFFSET after the first error
TIE = 1e-5  # two different outputs whose log-probabilities differ by less tie (float32 steps, summed)


def search_model_errors(greedy_logp, beam_logp, greedy_quality, beam_quality, same, tie: float = TIE) -> dict:
    """Counts over sentences of a beam against greedy (each argument one value per sentence;
    ``same``: the two outputs are identical).

    ``beam_higher``: the outputs differ and the beam's total log-probability is higher by more than
    ``tie`` (a search error of greedy that the beam fixed); ``beam_lower``: lower by more than
    ``tie`` (the beam lost greedy's path); ``tied``: different outputs, scores within ``tie``.
    Of ``beam_higher``: ``model_errors`` where the beam's output is worse (lower quality),
    ``model_fixes`` where it is better; the rest are equally good."""
    counts = dict.fromkeys(("sentences", "same_output", "beam_higher", "beam_lower", "tied", "model_errors",
                            "model_fixes"), 0)
    for g, b, qg, qb, s in zip(greedy_logp, beam_logp, greedy_quality, beam_quality, same, strict=True):
        counts["sentences"] += 1
        if s:
            counts["same_output"] += 1
        elif b > g + tie:
            counts["beam_higher"] += 1
            counts["model_errors"] += qb < qg
            counts["model_fixes"] += qb > qg
        elif b < g - tie:
            counts["beam_lower"] += 1
        else:
            counts["tied"] += 1
    return counts


def first_divergence(output: list, reference: list) -> int | None:
    """The first position where ``output`` differs from ``reference`` (a missing token differs);
    ``len(reference)`` when ``output`` only runs longer; None when they are equal."""
    for i, r in enumerate(reference):
        if i >= len(output) or output[i] != r:
            return i
    return None if len(output) == len(reference) else len(reference)


def propagation_counts(outputs, references, forced, max_offset: int = MAX_OFFSET) -> dict:
    """Error propagation counts over sentences; each of ``outputs`` (greedy, eos included when
    produced), ``references`` (eos included) and ``forced`` (teacher-forced arg-max at each
    reference position, ``len(reference)`` ids) is one list of tokens per sentence.

    With d the first divergence of a sentence: positions 0..d had a right prefix (``before_*``:
    d right, position d wrong); positions i > d of the reference are after an error: ``after_free``
    counts ``output[i] == reference[i]``, ``after_forced`` counts ``forced[i] == reference[i]``,
    ``after_total`` the positions; ``offset_*[o - 1]`` the same for i = d + o. ``forced_*``: the
    teacher-forced accuracy over all positions; ``with_error``: sentences whose output is wrong."""
    keys = ("sentences", "with_error", "before_correct", "before_total", "after_free", "after_forced", "after_total",
            "forced_correct", "forced_total")
    c: dict = dict.fromkeys(keys, 0)
    c.update(offset_free=[0] * max_offset, offset_forced=[0] * max_offset, offset_total=[0] * max_offset)
    for out, ref, tf in zip(outputs, references, forced, strict=True):
        if len(tf) != len(ref):
            raise ValueError(f"forced has {len(tf)} tokens for a reference of {len(ref)}; give one per position")
        c["sentences"] += 1
        c["forced_correct"] += sum(a == b for a, b in zip(tf, ref))
        c["forced_total"] += len(ref)
        d = first_divergence(out, ref)
        if d is None:
            c["before_correct"] += len(ref)
            c["before_total"] += len(ref)
            continue
        c["with_error"] += 1
        c["before_correct"] += min(d, len(ref))
        c["before_total"] += min(d + 1, len(ref))
        for i in range(d + 1, len(ref)):
            free, teacher = int(i < len(out) and out[i] == ref[i]), int(tf[i] == ref[i])
            c["after_free"] += free
            c["after_forced"] += teacher
            c["after_total"] += 1
            if i - d <= max_offset:
                c["offset_free"][i - d - 1] += free
                c["offset_forced"][i - d - 1] += teacher
                c["offset_total"][i - d - 1] += 1
    return c


def ratio(a, b) -> float:
    """a / b, NaN when b is 0 (nothing was counted)."""
    return a / b if b else math.nan


def propagation_rates(c: dict) -> dict:
    """The shares of :func:`propagation_counts`' counts (NaN where nothing was counted)."""
    return {"with_error": ratio(c["with_error"], c["sentences"]),
            "before_error": ratio(c["before_correct"], c["before_total"]),
            "after_error_free": ratio(c["after_free"], c["after_total"]),
            "after_error_forced": ratio(c["after_forced"], c["after_total"]),
            "forced_all": ratio(c["forced_correct"], c["forced_total"]),
            "by_offset": {"free": [ratio(a, n) for a, n in zip(c["offset_free"], c["offset_total"])],
                          "forced": [ratio(a, n) for a, n in zip(c["offset_forced"], c["offset_total"])]}}


__all__ = ["MAX_OFFSET", "TIE", "search_model_errors", "first_divergence", "propagation_counts", "propagation_rates",
           "ratio"]
