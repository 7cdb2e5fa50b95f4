"""How the inside-the-lstm result is shown: the setup paragraph, the tables (bits per character and
accuracy, gate saturation, kept dimensions, interpretable units, accuracy by distance, near and far
against the n-gram) and the figures (saturation scatter, best unit per signal, accuracy by
distance), all read from the result dict that :func:`rnnkit.lab.inside_lstm.run` builds. Apart from
the experiment module, which trains the models and reads their gates, so that presentation changes
touch neither; these compute nothing new.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import common
from .gate_saturation import GATES, HIGH, LOW, STATES

if TYPE_CHECKING:  # annotations only: the experiment module imports this one
    from .inside_lstm import Config


def _model_line(cfg: Config, r: dict, label: str) -> str:
    t = r["training"][label]
    if "checkpoint" in t:
        return f"{label}: the checkpoint {t['checkpoint']} ({t['layers']} layer(s) of {t['hidden']} units)"
    return f"{label}: {cfg.train_steps} steps ({t['seconds']:.0f} s)"


def setup(cfg: Config, r: dict) -> str:
    src = r["source"]
    seeds = (f"{len(cfg.seeds)} seed" + ("s" if len(cfg.seeds) > 1 else "") +
             " (training the two models is the cost: one seed in the quick and full presets, so no spread is shown)"
             if len(cfg.seeds) == 1 else f"{len(cfg.seeds)} seeds (mean ± std)")
    return (f"Text: {src['text']}, {src['train_chars']:,} training characters, {src['held_out_chars']:,} held-out "
            f"characters (vocabulary {src['vocab_size']}). Character LMs (rnnkit.lab.charlm.CharLM: embedding "
            f"{cfg.embedding}, one recurrent layer of {cfg.hidden} units, linear read-out) trained by truncated "
            f"BPTT: {cfg.batch_size} contiguous streams, windows of {cfg.window} characters, state carried, Adam lr "
            f"{cfg.lr}, gradient norm clipped to {cfg.clip}; {_model_line(cfg, r, 'LSTM')}, "
            f"{_model_line(cfg, r, 'GRU')}. The held-out text is read as {cfg.streams} streams from a zero state "
            f"through rnnkit.nn.gate_activations (the cell equations step by step). Saturation: the share of steps "
            f"a gate unit is < {LOW} (left) or > {HIGH} (right). Units: the largest |Pearson r| between a unit's "
            f"activation and a per-character signal of the text. Baseline: a {cfg.ngram_order}-gram over the same "
            f"training ids, interpolated Witten-Bell smoothing. Distance of a predicted character: steps back to "
            f"its previous occurrence in the held-out text; near = < {cfg.ngram_order} (inside the n-gram's "
            f"context). {seeds}. Karpathy et al. trained on War and Peace and the Linux kernel; we use this text.")


def _pmv(summary: dict, digits: int = 3, percent: bool = False) -> str:
    return "—" if not math.isfinite(summary["mean"]) else common.pm(summary, digits, percent)


def _steps(summary: dict) -> str:
    """A run length in steps: whole numbers (mean ± std over seeds)."""
    if not math.isfinite(summary["mean"]):
        return "—"
    return f"{summary['mean']:.0f}" + (f" ± {summary['std']:.0f}" if summary.get("n", 1) > 1 else "")


def tables(cfg: Config, r: dict) -> list[dict]:
    order = r["source"]["ngram_order"]
    rows = [[label, f"{r['parameters'][label]:,}",
             "checkpoint" if "checkpoint" in r["training"][label] else f"{cfg.train_steps} steps",
             _pmv(r["bpc"][label]), _pmv(r["accuracy"][label], percent=True)] for label in ("LSTM", "GRU")]
    rows.append([f"{order}-gram (Witten-Bell)", f"{r['parameters']['n-gram (distinct n-grams)']:,} n-grams", "counted",
                 _pmv(r["bpc"]["n-gram"]), _pmv(r["accuracy"]["n-gram"], percent=True)])
    quality = common.table("Held-out bits per character and next-character accuracy (arg-max)",
                           ["model", "parameters", "training", "bits per char", "accuracy"], rows)
    sat_rows = [[f"{label} {gate}", _pmv(s["mean_left"], percent=True), _pmv(s["mean_right"], percent=True),
                 _pmv(s["left_most"], percent=True), _pmv(s["right_most"], percent=True),
                 _steps(s["longest_run_median"]), _steps(s["longest_run_max"])]
                for label, gates in r["saturation"].items() for gate, s in gates.items()]
    sat = common.table(f"Gate saturation over the held-out text: mean share of steps a unit is < {LOW} (left) and > "
                       f"{HIGH} (right); share of units left/right-saturated more than half the time; longest run of "
                       "consecutive right-saturated steps per unit (median over units, max)",
                       ["gate", "mean left", "mean right", "units mostly left", "units mostly right",
                        "longest run (median)", "longest run (max)"], sat_rows)
    sig_rows = []
    for name, s in r["signals"].items():
        cells = [f"{_pmv(b['abs_r'], 2)} (unit {b['unit'][0]})" for b in s["best"].values()] if s["present"] \
            else ["absent from the held-out text"] * len(STATES)
        sig_rows.append([name, s["description"], f"{s['mean']:.3g}", *cells])
    sig = common.table("Interpretable units: per signal, the best unit's |Pearson r| with it over the held-out text "
                       "(the first seed's unit)", ["signal", "definition", "mean", *STATES], sig_rows)
    d = r["distance"]
    dist_rows = [[b, d["count"][i], *(_pmv(d["accuracy"][m][i], percent=True) for m in ("LSTM", "GRU", "n-gram")),
                  _pmv(d["model_only"]["LSTM"][i], percent=True), _pmv(d["ngram_only"]["LSTM"][i], percent=True)]
                 for i, b in enumerate(d["buckets"])]
    dist = common.table("Arg-max accuracy by the distance back to the previous occurrence of the predicted character "
                        "(none: first in the held-out text); LSTM only: share the LSTM gets right and the n-gram "
                        "wrong; n-gram only: the reverse",
                        ["distance", "characters", "LSTM", "GRU", f"{order}-gram", "LSTM only", "n-gram only"],
                        dist_rows)
    nf = r["near_far_count"]
    nf_rows = [[label, _pmv(g["near"], percent=True), _pmv(g["far"], percent=True)]
               for label, g in r["near_far"].items()]
    near_far = common.table(f"Accuracy minus the {order}-gram's: near = previous occurrence < {order} back "
                            f"({nf['near']:,} characters), far = the rest ({nf['far']:,})",
                            ["model", "near", "far"], nf_rows)
    kept_rows = [[label, _pmv(k["mean"], percent=True), _pmv(k["most"], percent=True),
                  _steps(k["longest_run_median"]), _steps(k["longest_run_max"])] for label, k in r["kept"].items()]
    kept_table = common.table(f"Dimensions kept nearly unchanged by a step (LSTM: f > {HIGH} and |i·g| < {LOW}; GRU: "
                              f"z > {HIGH}): mean share of steps, share of units kept more than half the time, "
                              f"longest run of kept steps per unit (median over units, max; the claim asks for "
                              f">= {r['many_steps']})", ["model", "mean share", "units mostly kept",
                                                         "longest run (median)", "longest run (max)"], kept_rows)
    return [quality, sat, kept_table, sig, dist, near_far]


def saturation_figure(r: dict, out: Path) -> dict:
    panels = [(label, gate) for label, gates in GATES.items() for gate in gates]
    fig, axes = common.new_figure(ncols=len(panels), size=(3.2, 3.3))
    for ax, (label, gate) in zip(axes[0], panels):
        units = r["saturation_units"][label][gate]
        ax.scatter(units["left"], units["right"], s=9, alpha=0.6, color="tab:blue" if label == "LSTM" else "tab:orange")
        ax.plot([0, 1], [1, 0], color="grey", linewidth=0.8, linestyle=":")
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"{label} {gate} gate", fontsize=9)
        ax.set_xlabel(f"fraction left-saturated (< {LOW})", fontsize=8)
    axes[0][0].set_ylabel(f"fraction right-saturated (> {HIGH})", fontsize=8)
    return common.figure(fig, out, "inside_lstm_saturation.png",
                         "Gate saturation (after Karpathy et al. 2015, Fig. 3): one dot per unit; x = share of "
                         f"held-out steps below {LOW}, y = share above {HIGH}. Dots high on the forget / update "
                         "panels are units that keep their dimension nearly unchanged (first seed).")


def signal_figure(r: dict, out: Path) -> dict:
    present = [n for n, s in r["signals"].items() if s["present"]]
    fig, axes = common.new_figure(size=(7.5, 3.8))
    ax = axes[0][0]
    width = 0.8 / len(STATES)
    for k, state in enumerate(STATES):
        means = [r["signals"][n]["best"][state]["abs_r"]["mean"] for n in present]
        ax.bar(np.arange(len(present)) + (k - (len(STATES) - 1) / 2) * width, means, width, label=state)
    ax.set_xticks(np.arange(len(present)))
    ax.set_xticklabels(present, rotation=15, fontsize=8)
    ax.set_ylabel("best unit's |Pearson r|")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    absent = [n for n, s in r["signals"].items() if not s["present"]]
    note = f" Absent from the held-out text: {', '.join(absent)}." if absent else ""
    return common.figure(fig, out, "inside_lstm_units.png",
                         "Per signal of the text, the largest |Pearson r| of any single unit's activation with it over "
                         f"the held-out text (LSTM c_t, LSTM h_t, GRU h_t).{note}")


def distance_figure(cfg: Config, r: dict, out: Path) -> dict:
    d = r["distance"]
    x = np.arange(len(d["buckets"]))
    fig, axes = common.new_figure(ncols=2, size=(5.2, 3.8))
    for m in ("LSTM", "GRU", "n-gram"):
        axes[0][0].plot(x, [s["mean"] for s in d["accuracy"][m]], marker="o",
                        label=f"{cfg.ngram_order}-gram" if m == "n-gram" else m)
    axes[0][1].bar(x - 0.2, [s["mean"] for s in d["model_only"]["LSTM"]], 0.4, label="LSTM right, n-gram wrong")
    axes[0][1].bar(x + 0.2, [s["mean"] for s in d["ngram_only"]["LSTM"]], 0.4, label="n-gram right, LSTM wrong")
    for ax, ylabel in zip(axes[0], ("arg-max accuracy", "share of the bucket's characters")):
        ax.set_xticks(x)
        ax.set_xticklabels(d["buckets"], rotation=45, fontsize=7)
        ax.set_xlabel("distance back to the previous occurrence of the character")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
    return common.figure(fig, out, "inside_lstm_distance.png",
                         f"Next-character predictions against the {cfg.ngram_order}-gram, by the distance back to the "
                         "previous occurrence of the character predicted (none: its first in the held-out text); "
                         "left: accuracy, right: where the LSTM and the n-gram disagree (first seed's buckets, means "
                         "over seeds).")


__all__ = ["setup", "tables", "saturation_figure", "signal_figure", "distance_figure"]
