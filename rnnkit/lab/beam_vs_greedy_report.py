"""How the beam-vs-greedy result is shown: the setup paragraph, the tables (quality against beam
size with the published trends, search and model errors, error propagation) and the figures (the
same three, one panel per corpus). Apart from :mod:`rnnkit.lab.beam_vs_greedy` because presenting a
finished result is one concept and training, decoding and counting another;
:func:`~rnnkit.lab.beam_vs_greedy.run` calls these last, on the result it has built, and they
compute nothing new.

The constant shared with the experiment module (``MAX_TARGET_WORDS``, which the setup paragraph
states) lives here, so that it imports it from this module and this module never imports it at run
time (no import cycle).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from . import common
from .search_errors import MAX_OFFSET, TIE, ratio

if TYPE_CHECKING:  # annotations only: the experiment module imports this one
    from .beam_vs_greedy import Config

MAX_TARGET_WORDS = 30  # en-es pairs kept: at most max_words source and this many target words


def setup(cfg: Config, results: dict, from_checkpoint: bool) -> str:
    parts = []
    for corpus, r in results.items():
        what = ("dates (human-readable -> ISO 8601, character level, exact match)" if corpus == "dates" else
                f"en-es Bible verses of at most {cfg.max_words} source and {MAX_TARGET_WORDS} target words (word "
                "level, lowercased, corpus BLEU via sacrebleu)")
        parts.append(f"{corpus}: {r['test_sentences']} test sentences of the {what}; model: {r['source']}")
    models = ("" if from_checkpoint else
              f" Models: rnnkit's Seq2Seq with the corpus recipe of SEQ2SEQ_RECIPES (bidirectional encoder, general "
              f"attention, no input feeding), dates GRU {cfg.dates_hidden} units, en-es LSTM {cfg.en_es_embedding}/"
              f"{cfg.en_es_hidden} (embedding/hidden, dropout 0.2, label smoothing 0.1), AdamW at lr {cfg.lr} after a "
              f"warm-up over 5 % of the steps, decayed linearly to 0 over the last 20 %, batches of {cfg.batch_size}. "
              "Training is deliberately short for the dates (the model stops before 100 %, so that greedy still errs) "
              "and short for en-es (a few minutes of CPU); one model per seed and corpus, since training is the cost "
              "here.")
    ks = ", ".join(map(str, sorted(set(cfg.beam_sizes) | {1})))
    return ("; ".join(parts) + "." + models +
            f" Decoding: rnnkit.decode greedy (k=1) and beam search of k = {ks}, "
            f"length penalty off (alpha 0, raw log-probability) and on (score = log-probability / length^"
            f"{cfg.length_penalty:g}), at most max_tgt_len + 1 tokens. Search errors: beam (alpha 0) output with a "
            f"higher total log-probability than greedy's (by > {TIE:g}); model errors: of those, a worse output (lower "
            "sacrebleu sentence BLEU / inexact where greedy was exact). Propagation: position-aligned token accuracy "
            "of greedy after its first wrong token against the teacher-forced arg-max at the same positions.")


def fmt(metric: str, value: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{value:.1%}" if metric == "exact_match" else f"{value:.1f}"


def _cell(metric: str, s: dict) -> str:
    if metric == "exact_match":
        return common.pm(s, digits=3, percent=True)
    return common.pm(s, digits=3)


def tables(r: dict) -> list[dict]:
    ks = [str(k) for k in r["beam_sizes"]]
    rows = []
    for corpus, c in r["corpora"].items():
        for key, label in (("no_penalty", "no length penalty"), ("penalty", f"length penalty {r['length_penalty']:g}")):
            t = r["trend"][corpus][key]
            rows.append([f"{corpus} ({c['metric'].replace('_', ' ')}), {label}",
                         *(_cell(c["metric"], c["by_beam"][k][key]) for k in ks),
                         f"best k={t['best_beam']}; {'falls' if t['falls'] else 'no fall'} at k={t['largest_beam']}"])
    rows.append(["Koehn & Knowles 2017 (WMT news, 8 language pairs; other corpora, larger models)",
                 *("—" for _ in ks), "improves for narrow beams, worse for large ones"])
    rows.append(["Yang et al. 2018 (Chinese-English)", *("—" for _ in ks), "beams larger than 5 hurt"])
    quality = common.table(
        "Quality against beam size k (k=1: greedy; mean ± std over models; published rows: their trend, other "
        "corpora and model sizes)", ["corpus, scoring", *(f"k={k}" for k in ks), "trend"], rows)
    bk = ks[1:]
    rows = []
    for corpus, c in r["corpora"].items():
        rows.append([f"{corpus}: search errors of greedy fixed by beam",
                     *(common.pm(c["search_errors"][k], percent=True) for k in bk)])
        rows.append([f"{corpus}: of those, model errors (worse output)",
                     *(common.pm(c["model_errors"][k], percent=True) for k in bk)])
        rows.append([f"{corpus}: beam lost greedy's higher-scoring output",
                     *(f"{100 * ratio(c['search_counts'][k]['beam_lower'], c['search_counts'][k]['sentences']):.3g} %"
                       for k in bk)])
    rows.append(["Stahlberg & Byrne 2019 (WMT15 en-de, Transformer; exact search)", *("—" for _ in bk[:-1]),
                 "beam 100 misses the model's best-scoring output on most sentences; for > 50 % of sentences that "
                 "output is the empty translation"])
    search = common.table(
        "Search errors and model errors (beam with alpha 0 against greedy; shares of sentences, model errors as "
        "shares of the search errors; published row: other corpus and model)", ["corpus", *(f"k={k}" for k in bk)],
        rows) if bk else None
    rows = []
    for corpus, c in r["corpora"].items():
        p = c["propagation"]
        rows.append([corpus, common.pm(p["with_error"], percent=True), common.pm(p["before_error"], percent=True),
                     common.pm(p["after_error_free"], percent=True), common.pm(p["after_error_forced"], percent=True),
                     common.pm(p["forced_all"], percent=True), p["counts"]["after_total"]])
    propagation = common.table(
        "Error propagation of greedy decoding: token accuracy before and after its first wrong token (no published "
        "figure measured this way)",
        ["corpus", "sentences with an error", "accuracy, right prefix", "after the error, free-running",
         "after the error, teacher-forced", "teacher-forced, all positions", "positions after an error"], rows)
    return [t for t in (quality, search, propagation) if t is not None]


def _beam_axis(ax, ks) -> None:
    """A log x axis labelled at the beam sizes only."""
    ax.set_xscale("log")
    ax.minorticks_off()
    ax.set_xticks(ks)
    ax.set_xticklabels([str(k) for k in ks])


def quality_figure(r: dict, out: Path) -> dict:
    names = list(r["corpora"])
    fig, axes = common.new_figure(ncols=len(names), size=(5.0, 3.8))
    for ax, corpus in zip(axes[0], names):
        c = r["corpora"][corpus]
        ks = r["beam_sizes"]
        for key, label, style in (("no_penalty", "no length penalty (alpha 0)", "o-"),
                                  ("penalty", f"length penalty (alpha {r['length_penalty']:g})", "s--")):
            mean = [c["by_beam"][str(k)][key]["mean"] for k in ks]
            std = [c["by_beam"][str(k)][key]["std"] for k in ks]
            ax.errorbar(ks, mean, yerr=std, fmt=style, capsize=3, label=label)
        _beam_axis(ax, ks)
        ax.set_xlabel("beam size k (1 = greedy)")
        ax.set_ylabel("exact match" if c["metric"] == "exact_match" else "BLEU")
        ax.set_title(f"{corpus}: {c['test_sentences']} test sentences")
        ax.legend(fontsize=7)
    return common.figure(fig, out, "beam_vs_greedy_quality.png",
                         "Test quality against beam size (log scale), with the length penalty off (raw "
                         "log-probability) and on; one panel per corpus; bars: ± std over models where there are "
                         "several.")


def search_figure(r: dict, out: Path) -> dict:
    names = list(r["corpora"])
    fig, axes = common.new_figure(ncols=len(names), size=(5.0, 3.8))
    ks = r["beam_sizes"][1:]
    for ax, corpus in zip(axes[0], names):
        c = r["corpora"][corpus]
        if ks:
            ax.plot(ks, [c["search_errors"][str(k)]["mean"] for k in ks], marker="o",
                    label="search errors of greedy (beam out-scores it)")
            ax.plot(ks, [c["model_errors"][str(k)]["mean"] for k in ks], marker="s",
                    label="of those, model errors (worse output)")
            _beam_axis(ax, ks)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("beam size k")
        ax.set_ylabel("share")
        ax.set_title(corpus)
        ax.legend(fontsize=7)
    return common.figure(fig, out, "beam_vs_greedy_search.png",
                         "Share of test sentences where beam search (alpha 0) finds an output the model scores higher "
                         "than greedy's, and the share of those where that output is the worse translation.")


def propagation_figure(r: dict, out: Path) -> dict:
    names = list(r["corpora"])
    fig, axes = common.new_figure(ncols=len(names), size=(5.0, 3.8))
    offsets = list(range(1, MAX_OFFSET + 1))
    for ax, corpus in zip(axes[0], names):
        p = r["corpora"][corpus]["propagation"]
        ax.plot(offsets, [s["mean"] for s in p["by_offset"]["free"]], marker="o", label="free-running (greedy)")
        ax.plot(offsets, [s["mean"] for s in p["by_offset"]["forced"]], marker="s", label="teacher-forced")
        ax.axhline(p["forced_all"]["mean"], color="grey", linestyle=":", linewidth=1,
                   label="teacher-forced, all positions")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("positions after greedy's first wrong token")
        ax.set_ylabel("token accuracy (position-aligned)")
        ax.set_title(f"{corpus}: {p['counts']['with_error']} of {p['counts']['sentences']} outputs wrong")
        ax.legend(fontsize=7)
    return common.figure(fig, out, "beam_vs_greedy_propagation.png",
                         "Token accuracy after greedy's first wrong token, position by position: free-running (the "
                         "model reads its own error) against teacher-forced (the model reads the true prefix) at the "
                         "same positions; dotted: teacher-forced accuracy over all positions.")


__all__ = ["MAX_TARGET_WORDS", "setup", "fmt", "tables", "quality_figure", "search_figure", "propagation_figure"]
