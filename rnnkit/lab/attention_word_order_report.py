"""How the attention-word-order result is shown: the setup paragraph, the tables (synthetic exact
match, token and alignment accuracy, exact match by length; English -> Spanish BLEU and chrF with the
published anchors, and attention's gain by tau and by length) and the figures (exact match by level
and by length, attention heatmaps, en-es chrF gain by bucket). Apart from
:mod:`rnnkit.lab.attention_word_order` because presenting a finished result is one concept and
training and scoring the models another; :func:`~rnnkit.lab.attention_word_order.run` calls these
last, on the result it has built, and they compute nothing new.

The constants shared with the experiment module live here, so that it imports them from this module
and this module never imports it at run time (no import cycle).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import common

if TYPE_CHECKING:  # annotations only: the experiment module imports this one
    from .attention_word_order import Config

REFERENCE = "general"  # the model whose parameter count the others match
# Published anchors (other tasks, corpora and sizes): BLEU without -> with attention.
ANCHORS = [("RNNencdec-30 -> RNNsearch-30 (Bahdanau et al. 2015, WMT'14 en-fr, all sentences)", 13.93, 21.50),
           ("RNNencdec-50 -> RNNsearch-50 (Bahdanau et al. 2015, WMT'14 en-fr, all sentences)", 17.82, 26.75)]
LUONG_GAIN = 5.0  # Luong et al. 2015 (WMT'14 en-de): about +5 BLEU from attention


def setup(cfg: Config, r: dict) -> str:
    widths = ", ".join(f"{k} H={w}" for k, w in r["widths"].items())
    text = (f"Synthetic translation: sources of {cfg.min_len}-{cfg.max_len} symbols from {cfg.vocab}, target = the "
            f"level's permutation of the source mapped through a fixed bijection onto another vocabulary; levels "
            f"{', '.join(cfg.levels)} (swap-k reverses each window of k; permutation: one fixed random order per "
            f"length); the same sources at every level. Models: rnnkit Seq2Seq, bidirectional {cfg.cell.upper()} "
            f"encoder, one layer, no input feeding, embedding {cfg.embedding_size}, attention "
            f"{', '.join(cfg.attentions)}, widths matched to the general model's parameter count ({widths}). Each "
            f"trains {cfg.train_steps} Adam steps (lr {cfg.lr}, clip {cfg.clip}) on batches of {cfg.batch_size} "
            f"fresh sources (held-out ones excluded) per level and seed; greedy decoding of {cfg.test_size} "
            f"held-out sources; {len(cfg.seeds)} seeds.")
    if r["en_es"] is None:
        return text + " The English -> Spanish part is skipped in this preset (run the full preset)."
    e = r["en_es"]
    return text + (f" English -> Spanish: bundled verses, pairs with at most {e['max_len']} tokens a side "
                   f"({e['pairs']['train']:,} train, {e['pairs']['test']:,} test), the en-es recipe's codec, LSTM, "
                   f"dropout and label smoothing, embedding {cfg.en_es_embedding}, general attention H="
                   f"{e['widths'][REFERENCE]} against none H={e['widths']['none']}, {e['steps']} steps each on the "
                   f"same batches, {len(e['seeds'])} seed(s) (training is the cost); tau = Kendall's tau-b of the "
                   "attention model's argmax alignment; gains = attention minus none, corpus BLEU of each bucket "
                   "and mean sentence chrF. A far smaller corpus, model and budget than the anchors'.")


def tables(cfg: Config, r: dict) -> list[dict]:
    levels = r["levels"]
    shown = [common.table(
        f"Synthetic: held-out exact match per reordering level (greedy, mean ± std over {len(cfg.seeds)} seeds); "
        "tau = Kendall's tau of the level's permutation",
        ["model", *(f"{lv} (tau {r['level_tau'][lv]:.2f})" for lv in levels)],
        [[k, *(common.pm(r["exact_match"][k][lv], percent=True) for lv in levels)] for k in r["models"]]
        + [["gain of attention (mean of kinds − none)", *(f"{100 * r['gain'][lv]:+.1f} pt" for lv in levels)]])]
    shown.append(common.table(
        "Synthetic: token accuracy and attention alignment accuracy (argmax on the permutation's source position)",
        ["model", "measure", *levels],
        [[k, "token accuracy", *(common.pm(r["token_accuracy"][k][lv], percent=True) for lv in levels)]
         for k in r["models"]]
        + [[k, "alignment accuracy", *(common.pm(a[lv], percent=True) for lv in levels)]
           for k, a in r["alignment_accuracy"].items()]))
    shown.append(common.table(
        "Synthetic: exact match by source length", ["model", "level", *r["length_buckets"]],
        [[k, lv, *(common.pm(r["by_length"][k][lv][b], percent=True) for b in r["length_buckets"])]
         for k in r["models"] for lv in levels]))
    e = r["en_es"]
    if e is not None:
        rows = [[f"{k} (ours: en-es verses <= {e['max_len']} tokens, {e['steps']} steps)", common.pm(e["bleu"][k]),
                 common.pm(e["chrf"][k])] for k in ("none", REFERENCE)]
        rows.append(["gain of attention (ours)", f"{e['bleu'][REFERENCE]['mean'] - e['bleu']['none']['mean']:+.2f}",
                     f"{e['chrf'][REFERENCE]['mean'] - e['chrf']['none']['mean']:+.2f}"])
        rows += [[name, f"{a} -> {b} ({b - a:+.2f})", "—"] for name, a, b in ANCHORS]
        rows.append(["Luong et al. 2015 (WMT'14 en-de): gain of attention", f"about +{LUONG_GAIN:g}", "—"])
        shown.append(common.table("English -> Spanish: greedy test BLEU and chrF, with the published anchors (other "
                                   "corpora, sizes and budgets)", ["system", "BLEU", "chrF"], rows))
        for grouping, title in (("by_tau", "Kendall's tau of the attention alignment"),
                                ("by_length", "source length (tokens)")):
            shown.append(common.table(
                f"English -> Spanish: attention's gain by {title}", ["bucket", "sentences", "BLEU attention",
                                                                     "BLEU none", "BLEU gain", "chrF gain"],
                [[name, common.pm(d["sentences"]), *_scores(d)] for name, d in e[grouping].items()]))
    return shown


def _scores(bucket: dict) -> list[str]:
    """A bucket's BLEU and gain cells; "—" where no seed put a sentence in it (its scores are NaN:
    nothing was measured, unlike a diverged run's NaN, which shows)."""
    names = ("bleu_attention", "bleu_none", "bleu_gain", "chrf_gain")
    if not any(bucket["sentences"]["values"]):
        return ["—"] * len(names)
    return [common.pm(bucket[name]) for name in names]


def figures(cfg: Config, r: dict, out: Path) -> list[dict]:
    figs = []
    levels, models = r["levels"], r["models"]
    fig, axes = common.new_figure(2, 1, size=(6.0, 4.2))
    ax = axes[0][0]
    width = 0.8 / len(models)
    for j, k in enumerate(models):
        xs = [i + (j - (len(models) - 1) / 2) * width for i in range(len(levels))]
        ax.bar(xs, [r["exact_match"][k][lv]["mean"] for lv in levels], width,
               yerr=[r["exact_match"][k][lv]["std"] for lv in levels], label=k, capsize=2)
    ax.set_xticks(range(len(levels)), [f"{lv}\ntau {r['level_tau'][lv]:.2f}" for lv in levels], fontsize=8)
    ax.set_ylabel("held-out exact match")
    ax.set_ylim(0, 1.02)
    ax.set_title("exact match by reordering level")
    ax.legend(fontsize=7)
    ax = axes[0][1]
    buckets = r["length_buckets"]
    styles = {"none": "--", **dict(zip([k for k in models if k != "none"], ["-", "-.", ":"]))}
    for i, lv in enumerate(levels):  # a colour per level, a line style per model
        for k in models:
            ax.plot(buckets, [r["by_length"][k][lv][b]["mean"] for b in buckets], marker="o", color=f"C{i}",
                    linestyle=styles[k], label=f"{k}, {lv}")
    ax.set_xlabel("source length")
    ax.set_ylabel("held-out exact match")
    ax.set_ylim(0, 1.02)
    ax.set_title("exact match by source length")
    ax.legend(fontsize=6, ncol=2)
    figs.append(common.figure(fig, out, "attention_word_order_exact.png",
                              f"Left: held-out exact match per reordering level and model (mean ± std over "
                              f"{len(cfg.seeds)} seeds). Right: by source length, a colour per level, a line "
                              "style per model (dashed: no attention)."))
    examples = r["heatmaps"]["examples"]
    if examples:
        fig, axes = common.new_figure(len(examples), 1, size=(3.0, 3.2))
        for ax, (lv, ex) in zip(axes[0], examples.items()):
            ax.imshow(np.array(ex["attention"]), cmap="viridis", vmin=0, vmax=1, aspect="auto")
            ax.scatter(ex["permutation"], range(len(ex["permutation"])), marker="x", color="red", s=12,
                       label="declared")
            ax.set_title(lv, fontsize=9)
            ax.set_xlabel("source position")
            ax.set_ylabel("decoded step (last: eos)")
        axes[0][0].legend(fontsize=6, loc="lower left")
        figs.append(common.figure(fig, out, "attention_word_order_heatmaps.png",
                                  f"Attention weights of the {r['heatmaps']['model']} model (seed "
                                  f"{r['heatmaps']['seed']}) on one held-out source of {cfg.heatmap_length} symbols "
                                  "per level; red crosses: the source position the permutation declares."))
    e = r["en_es"]
    if e is not None:
        fig, axes = common.new_figure(2, 1, size=(5.0, 3.8))
        for ax, grouping, label in ((axes[0][0], "by_tau", "Kendall's tau of the alignment"),
                                    (axes[0][1], "by_length", "source length (tokens)")):
            names = list(e[grouping])
            ax.bar(range(len(names)), [e[grouping][b]["chrf_gain"]["mean"] for b in names],
                   yerr=[e[grouping][b]["chrf_gain"]["std"] for b in names], capsize=2)
            ax.set_xticks(range(len(names)), [f"{b}\n(n={e[grouping][b]['sentences']['mean']:.0f})" for b in names],
                          fontsize=7)
            ax.axhline(0, color="black", linewidth=0.8)
            ax.set_xlabel(label)
            ax.set_ylabel("chrF gain of attention")
        figs.append(common.figure(fig, out, "attention_word_order_en_es.png",
                                  "English -> Spanish: mean sentence chrF of the attention model minus the model "
                                  "without, by Kendall's tau of the attention alignment (left) and by source length "
                                  "(right); n = sentences per bucket."))
    return figs


__all__ = ["REFERENCE", "ANCHORS", "LUONG_GAIN", "setup", "tables", "figures"]
