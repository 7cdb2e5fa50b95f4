"""GRU against LSTM (claim 3): quality, parameters, multiply-adds and measured speed, on two tasks.

Three models per task: the LSTM at hidden size H, the GRU at the same H (3/4 of the LSTM's
recurrent weights), and the GRU widened to the LSTM's parameter count. Tasks: (a) a character
language model on the bundled Shakespeare (validation bits per character, windows of
``lm_window`` characters each read from a zero state); (b) sentence polarity (test accuracy; a
word embedding, one recurrent layer over the valid words (``lengths=``), its last valid state,
dropout and a linear layer). The three models of one seed train side by side, a step of each in
turn (:func:`rnnkit.lab.charlm.race`), on the same batches, until each has done ``*_steps`` steps
and spent ``*_seconds`` seconds of its own training time: quality "at equal steps" is read at
``*_steps`` steps, "at equal time" at the step that brings a model's training time to the budget.

Multiply-adds of one recurrent step, per sequence and layer (input size I, hidden size H; biases
are additions, not counted):

- LSTM: matrix products ``4H(I + H)`` (gates i, f, g, o) + elementwise ``3H`` (``f*c``, ``i*g``,
  ``o*tanh(c)``); nonlinearities 5H (3 sigmoids, 2 tanh).
- GRU (torch.nn's form, reset after the recurrent product): ``3H(I + H)`` (gates r, z, n) +
  ``3H`` (``r*(W_hn h + b_hn)``, ``(1 - z)*n``, ``z*h``); nonlinearities 3H (2 sigmoids, 1 tanh).
- RNN: ``H(I + H)``; nonlinearities H (tanh).

So at equal H the GRU needs 3/4 of the LSTM's matrix work. Measured time tells another story when
the implementations differ: on the CPU torch runs the LSTM through oneDNN's fused kernel and the
GRU through rnnkit's own loop or torch's unfused one (``backends`` in the result says which ran;
on a GPU both run cuDNN's fused kernels).

Result keys beyond the contract's (``task`` is ``"lm"`` or ``"polarity"``; ``role`` is
``"lstm"``, ``"gru_same_h"`` or ``"gru_same_params"``):

- ``tasks[task]``: ``{"metric", "lower_is_better", "steps", "seconds", "labels": {role: label},
  "hidden": {role: H}, "parameters": {role: n}, "multiply_adds": {role: multiply_adds(...)},
  "backends": {role: backend}, "per_seed": {role: [run, ...]}, "summary": {role: {measure:
  summarize(...)}}, "grid": [s, ...], "bands": {role: {"mean", "std"}}}``. A run holds ``seed``,
  ``at_steps`` and ``at_seconds`` (the task's score at the two budget points: validation bits per
  char; test accuracy), ``steps_in_budget`` (steps done in the seconds budget), ``seconds_at_steps``,
  ``ms_per_step`` and ``tokens_per_second`` (medians after ``warmup_steps``), ``curve`` ``[[seconds,
  validation score], ...]``. The measures of ``summary`` are those of a run.
- ``comparisons[role]`` for the two GRUs: ``{task: {"parameters_ratio", "multiply_adds_ratio",
  "ms_per_step_ratio", "gap_at_steps", "gap_at_seconds", "time_to_lstm_final_ratio"}}``; ratios are
  GRU / LSTM; gaps are GRU - LSTM in the task's metric; the last is the time the GRU's mean curve
  took to reach the LSTM's final mean score over the time the LSTM's took (None: not reached).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import rnnkit.nn as rnn
from rnnkit.nn.backend import choose_backend

from . import charlm, common

NAME = "gru-vs-lstm"
CLAIM = "3. The GRU performs similarly to the LSTM with less computation."

ROLES = ("lstm", "gru_same_h", "gru_same_params")
KIND = {"lstm": "lstm", "gru_same_h": "gru", "gru_same_params": "gru"}
# "Quality as good": the GRU's mean at equal steps no worse than the LSTM's by more than this (bpc; accuracy).
SIMILAR = {"lm": 0.05, "polarity": 0.02}


@dataclass
class Config:
    """Character LM: ``lm_*`` (hidden H, embedding E, windows of ``lm_window`` characters,
    ``lm_batch`` of them per step drawn from the first ``lm_train_chars`` training characters, Adam
    at ``lm_lr``; scored on the first ``lm_valid_chars`` validation characters). Polarity: ``cls_*``
    (sentences cut to ``cls_max_len`` words, words seen ``cls_min_freq`` times; ``cls_dropout``
    before the output layer). Budgets: ``*_steps`` steps and ``*_seconds`` seconds of training
    per model; ``curve_points`` evaluations per budget of seconds for the curves; speeds are medians
    after ``warmup_steps``. ``device``: where models, batches and held-out tensors live (the runner
    sets it from ``--device``)."""

    lm_hidden: int = 128
    lm_embedding: int = 32
    lm_window: int = 64
    lm_batch: int = 16
    lm_train_chars: int = 1_000_000
    lm_valid_chars: int = 16_384
    lm_lr: float = 3e-3
    lm_steps: int = 200
    lm_seconds: float = 7.0
    cls_hidden: int = 64
    cls_embedding: int = 64
    cls_max_len: int = 40
    cls_min_freq: int = 2
    cls_batch: int = 32
    cls_dropout: float = 0.3
    cls_lr: float = 3e-3
    cls_steps: int = 200
    cls_seconds: float = 5.5
    curve_points: int = 8
    warmup_steps: int = 5
    seeds: tuple[int, ...] = (0, 1, 2)
    device: str = "cpu"


PRESETS = {
    "tiny": Config(lm_hidden=16, lm_embedding=8, lm_window=16, lm_batch=4, lm_train_chars=5_000, lm_valid_chars=400,
                   lm_steps=4, lm_seconds=0.05, cls_hidden=8, cls_embedding=8, cls_min_freq=1, cls_batch=8,
                   cls_steps=4, cls_seconds=0.05, curve_points=2, warmup_steps=1, seeds=(0, 1)),
    "quick": Config(),
    "full": Config(lm_train_chars=4_500_000, lm_valid_chars=65_536, lm_steps=800, lm_seconds=30.0, cls_hidden=128,
                   cls_embedding=128, cls_steps=500, cls_seconds=18.0, curve_points=15),
}
RUN_TIME = {"quick": "2.0 min", "full": "8 min"}  # measured on the idle 2-core machine, 2 threads


def multiply_adds(kind: str, input_size: int, hidden_size: int) -> dict:
    """Multiply-adds of one step of a one-layer ``kind`` (``"rnn"``, ``"lstm"``, ``"gru"``) for one
    sequence: ``{"matrix", "elementwise", "total", "nonlinearities"}`` (see the module docstring)."""
    gates = {"rnn": 1, "lstm": 4, "gru": 3}
    if kind not in gates:
        raise ValueError(f"kind must be one of {', '.join(gates)}; got {kind!r}")
    for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")
    H = hidden_size
    matrix = gates[kind] * H * (input_size + H)
    elementwise = {"rnn": 0, "lstm": 3 * H, "gru": 3 * H}[kind]
    nonlinear = {"rnn": H, "lstm": 5 * H, "gru": 3 * H}[kind]
    return {"matrix": matrix, "elementwise": elementwise, "total": matrix + elementwise, "nonlinearities": nonlinear}


class PolarityRNN(nn.Module):
    """Word embedding -> one LSTM or GRU layer over the valid words -> its last valid state ->
    dropout -> linear to 2 classes. ``forward(ids (B, T), lengths (B,)) -> logits (B, 2)``."""

    def __init__(self, kind: str, vocab_size: int, hidden_size: int, embedding_size: int, dropout: float):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=0)
        self.rnn = (rnn.LSTM if kind == "lstm" else rnn.GRU)(embedding_size, hidden_size, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, 2)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        _, state = self.rnn(self.embedding(ids), lengths=lengths)
        h = state[0] if isinstance(state, tuple) else state  # (1, B, H): the last valid step of each row
        return self.head(self.dropout(h[-1]))


def _widths(make, hidden: int) -> dict[str, int]:
    """{role: hidden size}: the LSTM's and first GRU's ``hidden``, the second GRU's matched to the LSTM's count."""
    target = common.count_parameters(make("lstm", hidden))
    return {"lstm": hidden, "gru_same_h": hidden,
            "gru_same_params": common.match_width(lambda w: make("gru", w), target, high=4 * hidden)}


def _labels(widths: dict[str, int]) -> dict[str, str]:
    return {"lstm": f"LSTM (H={widths['lstm']})", "gru_same_h": f"GRU (H={widths['gru_same_h']}, same H)",
            "gru_same_params": f"GRU (H={widths['gru_same_params']}, LSTM's parameters)"}


def _task_runs(task: str, cfg: Config, make, widths, contestant, final_score, progress: bool) -> dict:
    """Races the three models of every seed; returns the task's part of the result. ``final_score(model,
    state)`` scores a budget point's weights (None: the validation score of the race is the score)."""
    steps, seconds = (cfg.lm_steps, cfg.lm_seconds) if task == "lm" else (cfg.cls_steps, cfg.cls_seconds)
    per_seed: dict[str, list[dict]] = {role: [] for role in ROLES}
    for seed in cfg.seeds:
        common.generator(seed)  # the initialisation of this seed's models
        entrants = [contestant(role, make(KIND[role], widths[role]).to(cfg.device), torch.Generator().manual_seed(seed))
                    for role in ROLES]  # each its own generator of the same seed: the same batches for all
        records = charlm.race(entrants, steps, seconds, seconds / cfg.curve_points,
                              desc=f"{NAME} {task} seed {seed}", progress=progress)
        for c in entrants:
            rec = records[c.name]
            info = rec.summary(cfg.warmup_steps)
            per_seed[c.name].append({
                "seed": seed, **{f"at_{m}": rec.marks[m]["score"] if final_score is None
                                 else final_score(c.model, rec.states[m]) for m in ("steps", "seconds")},
                "steps_in_budget": rec.marks["seconds"]["step"], "seconds_at_steps": rec.marks["steps"]["seconds"],
                "ms_per_step": info["ms_per_step"], "tokens_per_second": info["tokens_per_second"],
                "curve": info["curve"]})
    measures = ("at_steps", "at_seconds", "steps_in_budget", "seconds_at_steps", "ms_per_step", "tokens_per_second")
    summary = {role: {m: common.summarize(r[m] for r in runs) for m in measures} for role, runs in per_seed.items()}
    grid = [float(t) for t in np.linspace(0.0, seconds, 41)]
    bands = {role: charlm.band([r["curve"] for r in runs], grid) for role, runs in per_seed.items()}
    return {"steps": steps, "seconds": seconds, "per_seed": per_seed, "summary": summary, "grid": grid,
            "bands": bands}


def _lm_task(cfg: Config, progress: bool) -> dict:
    corpus = charlm.char_corpus(cfg.lm_train_chars, cfg.lm_valid_chars)
    V = len(corpus.vocab)
    make = lambda kind, width: charlm.CharLM(kind, V, width, cfg.lm_embedding, cfg.lm_window)
    widths = _widths(make, cfg.lm_hidden)
    validation = common.to_device(corpus.validation, cfg.device)  # once, not at every evaluation
    score = lambda m: charlm.bits_per_char(m, validation, cfg.lm_window)

    def contestant(role, model, gen):
        return charlm.Contestant(role, model, lambda: charlm.random_windows(corpus.train, cfg.lm_batch, cfg.lm_window,
                                                                            gen),
                                 charlm.lm_loss, score, tokens=lambda b: b[0].numel(), lr=cfg.lm_lr)

    part = _task_runs("lm", cfg, make, widths, contestant, None, progress)  # the budget points' scores are final
    return {"metric": "validation bits per character", "lower_is_better": True, "input_size": cfg.lm_embedding,
            "vocabulary": V, "widths": widths, "variable_lengths": False, **part,
            "make": make}


def _polarity_task(cfg: Config, progress: bool) -> dict:
    data = charlm.polarity_data(cfg.cls_max_len, cfg.cls_min_freq)
    V = len(data.vocab)
    make = lambda kind, width: PolarityRNN(kind, V, width, cfg.cls_embedding, cfg.cls_dropout)
    widths = _widths(make, cfg.cls_hidden)
    loss = lambda m, ids, lengths, labels: F.cross_entropy(m(ids, lengths), labels)
    # padded and moved once, not at every evaluation
    validation, test_set = (common.to_device(charlm.padded_batches(split), cfg.device)
                            for split in (data.validation, data.test))

    def contestant(role, model, gen):
        return charlm.Contestant(role, model, lambda: charlm.polarity_batch(data.train, cfg.cls_batch, gen), loss,
                                 lambda m: charlm.accuracy(m, validation), tokens=lambda b: int(b[1].sum()),
                                 lr=cfg.cls_lr)

    test = lambda m, state: charlm.score_at(m, state, lambda mm: charlm.accuracy(mm, test_set))
    part = _task_runs("polarity", cfg, make, widths, contestant, test, progress)
    sizes = {"train": len(data.train.ids), "validation": len(data.validation.ids), "test": len(data.test.ids)}
    return {"metric": "test accuracy", "lower_is_better": False, "input_size": cfg.cls_embedding, "vocabulary": V,
            "widths": widths, "variable_lengths": True, "sentences": sizes, **part, "make": make}


def _comparisons(tasks: dict) -> dict:
    out = {}
    for role in ("gru_same_h", "gru_same_params"):
        out[role] = {}
        for task, t in tasks.items():
            s, lstm = t["summary"][role], t["summary"]["lstm"]
            target = t["bands"]["lstm"]["mean"][-1]
            reach = {r: charlm.time_to_reach(t["grid"], t["bands"][r]["mean"], target, t["lower_is_better"])
                     for r in ("lstm", role)}
            ratio = reach[role] / reach["lstm"] if reach[role] is not None and reach["lstm"] else None
            out[role][task] = {
                "parameters_ratio": t["parameters"][role] / t["parameters"]["lstm"],
                "multiply_adds_ratio": t["multiply_adds"][role]["total"] / t["multiply_adds"]["lstm"]["total"],
                "ms_per_step_ratio": s["ms_per_step"]["mean"] / lstm["ms_per_step"]["mean"],
                "gap_at_steps": s["at_steps"]["mean"] - lstm["at_steps"]["mean"],
                "gap_at_seconds": s["at_seconds"]["mean"] - lstm["at_seconds"]["mean"],
                "time_to_lstm_final_ratio": ratio}
    return out


def _timed_on(device: str) -> str:
    """Where the steps were timed, for the figures' axes."""
    return "2 CPU threads, shared machine" if torch.device(device).type == "cpu" else device


def _speeds_on(device: str) -> str:
    """Where the speeds were measured, for the setup paragraph."""
    if torch.device(device).type == "cpu":
        return "on 2 threads of a shared 2-core machine, so they are noisy"
    return f"on {device} (the device synchronised before each clock read)"


def _figure(task: str, t: dict, out: Path, device: str) -> dict:
    fig, axes = common.new_figure()
    ax = axes[0][0]
    scale = 1.0 if task == "lm" else 100.0
    for role in ROLES:
        mean, std = np.array(t["bands"][role]["mean"]) * scale, np.array(t["bands"][role]["std"]) * scale
        line, = ax.plot(t["grid"], mean, label=t["labels"][role])
        ax.fill_between(t["grid"], mean - std, mean + std, color=line.get_color(), alpha=0.2)
        at = t["summary"][role]["seconds_at_steps"]["mean"]
        if at <= t["seconds"]:  # where this model finished the equal-steps budget
            ax.plot([at], [float(np.interp(at, t["grid"], mean))], "o", color=line.get_color())
    ax.set_xlabel(f"training seconds (own steps only, {_timed_on(device)})")
    ax.set_ylabel("validation bits per character" if task == "lm" else "validation accuracy (%)")
    name = "character LM (Shakespeare)" if task == "lm" else "sentence polarity"
    ax.set_title(f"{NAME}: {name}")
    ax.legend(fontsize=8)
    caption = (f"{NAME}, {name}: {t['metric'].replace('test', 'validation')} against each model's own training "
               f"seconds; line: mean over {len(t['per_seed']['lstm'])} seeds, band: ± std; dot: where the model "
               f"finished {t['steps']} steps (the equal-steps point).")
    return common.figure(fig, out, f"gru_vs_lstm_{task}.png", caption)


def _table(task: str, t: dict) -> dict:
    percent = task == "polarity"
    unit = "bpc" if task == "lm" else "test acc."
    columns = ["model", "parameters", "multiply-adds / step", "backend", "ms / step", "tokens / s",
               f"{unit} @ {t['steps']} steps", f"{unit} @ {t['seconds']:g} s", f"steps in {t['seconds']:g} s"]
    rows = []
    for role in ROLES:
        s = t["summary"][role]
        rows.append([t["labels"][role], t["parameters"][role], t["multiply_adds"][role]["total"], t["backends"][role],
                     common.pm(s["ms_per_step"]), common.pm(s["tokens_per_second"]),
                     common.pm(s["at_steps"], percent=percent), common.pm(s["at_seconds"], percent=percent),
                     common.pm(s["steps_in_budget"])])
    name = "character LM on Shakespeare (validation bits per char)" if task == "lm" else "sentence polarity"
    return common.table(f"{NAME}, {name}: mean ± std over {len(t['per_seed']['lstm'])} seeds", columns, rows)


def run(cfg: Config, out: Path, progress: bool = False) -> dict:
    tasks = {"lm": _lm_task(cfg, progress), "polarity": _polarity_task(cfg, progress)}
    parameters = {}
    for task, t in tasks.items():
        make, widths = t.pop("make"), t["widths"]
        t["hidden"] = widths
        t["labels"] = _labels(widths)
        t["parameters"] = {role: common.count_parameters(make(KIND[role], widths[role])) for role in ROLES}
        t["multiply_adds"] = {role: multiply_adds(KIND[role], t["input_size"], widths[role]) for role in ROLES}
        t["backends"] = {role: choose_backend(KIND[role].upper(), torch.device(cfg.device), t["variable_lengths"],
                                              True, widths[role]) for role in ROLES}
        prefix = "LM" if task == "lm" else "polarity"
        parameters.update({f"{prefix}: {t['labels'][role]}": t["parameters"][role] for role in ROLES})
    comparisons = _comparisons(tasks)
    lm, pol = tasks["lm"], tasks["polarity"]
    setup = (
        f"GRU vs LSTM on two tasks, each with three models: the LSTM at hidden size H, the GRU at the same H, and "
        f"the GRU widened to the LSTM's parameter count. (a) Character LM on the bundled Shakespeare: embedding "
        f"{cfg.lm_embedding}, one layer (H={cfg.lm_hidden}), linear to {lm['vocabulary']} characters; "
        f"{cfg.lm_batch} random windows of {cfg.lm_window} characters per step from the first "
        f"{cfg.lm_train_chars:,} training characters, each from a zero state; Adam lr {cfg.lm_lr}; scored in "
        f"bits per character on the first {cfg.lm_valid_chars:,} validation characters. (b) Sentence polarity "
        f"(rotten-tomatoes.tsv, {pol['sentences']['train']:,}/{pol['sentences']['validation']:,}/"
        f"{pol['sentences']['test']:,} sentences): lower-cased words (cut at {cfg.cls_max_len}, vocabulary "
        f"{pol['vocabulary']:,}), embedding {cfg.cls_embedding}, one layer (H={cfg.cls_hidden}) over the valid "
        f"words, its last valid state, dropout {cfg.cls_dropout}, linear to 2 classes (the word embedding, the "
        f"same in all three, holds most of the parameters); batches of {cfg.cls_batch}, Adam lr {cfg.cls_lr}; test "
        f"accuracy. The three models of a seed train side by side, "
        f"a step of each in turn, on the same batches, until each has done the step budget ({cfg.lm_steps} / "
        f"{cfg.cls_steps}) and spent the seconds budget ({cfg.lm_seconds:g} s / {cfg.cls_seconds:g} s) of its own "
        f"training time (only forward, backward and Adam are timed); quality is read at both budget points. "
        f"Multiply-adds per step are analytic (LSTM 4H(I+H) + 3H, GRU 3H(I+H) + 3H). Speeds are medians over "
        f"steps after {cfg.warmup_steps} warm-up steps, {_speeds_on(cfg.device)}. {len(cfg.seeds)} seeds.")
    ratio_rows = []
    for role in ("gru_same_h", "gru_same_params"):
        for task in tasks:
            c, t = comparisons[role][task], tasks[task]
            scale, unit = (1.0, " bpc") if task == "lm" else (100.0, " pt")
            reach = c["time_to_lstm_final_ratio"]
            ratio_rows.append([f"{t['labels'][role]} / {t['labels']['lstm']}, {task}", f"{c['parameters_ratio']:.2f}",
                               f"{c['multiply_adds_ratio']:.2f}", f"{c['ms_per_step_ratio']:.2f}",
                               f"{c['gap_at_steps'] * scale:+.3g}{unit}", f"{c['gap_at_seconds'] * scale:+.3g}{unit}",
                               "not reached" if reach is None else f"{reach:.2f}"])
    tables = [_table("lm", lm), _table("polarity", pol), common.table(
        f"{NAME}: GRU / LSTM (ratios of means; gaps GRU - LSTM: bpc lower is better, accuracy higher is better)",
        ["comparison", "parameters", "multiply-adds", "ms / step", "gap @ equal steps", "gap @ equal time",
         "time to LSTM's final score"], ratio_rows)]
    figures = [_figure("lm", lm, out, cfg.device), _figure("polarity", pol, out, cfg.device)]
    return {"setup": setup, "parameters": parameters, "tables": tables, "figures": figures, "tasks": tasks,
            "comparisons": comparisons}


def _gap_text(task: str, gap: float) -> str:
    if task == "lm":
        return f"{gap:+.3f} bpc ({'worse' if gap > 0 else 'better'})"
    return f"{100 * gap:+.1f} pt ({'better' if gap > 0 else 'worse'})"


def _worse_by(task: str, gap: float) -> float:
    """How much worse the GRU is (negative: better), in the task's metric: bpc up, accuracy down."""
    return gap if task == "lm" else -gap


def _threshold_text(task: str) -> str:
    return f"{SIMILAR[task]:g} bpc" if task == "lm" else f"{100 * SIMILAR[task]:g} pt"


def verdict(result: dict) -> str:
    """The same-H GRU against the LSTM: is its quality at equal steps no worse than ``SIMILAR`` on
    both tasks, does it need fewer multiply-adds, and did it reach the LSTM's final score in less
    training time (and were its steps faster); the matched-parameter GRU's gaps too."""
    same, matched = result["comparisons"]["gru_same_h"], result["comparisons"]["gru_same_params"]
    tasks = list(same)
    worse = {t: _worse_by(t, same[t]["gap_at_steps"]) for t in tasks}
    as_good = all(worse[t] <= SIMILAR[t] for t in tasks)
    fewer = all(same[t]["multiply_adds_ratio"] < 1 for t in tasks)
    sooner = {t: same[t]["time_to_lstm_final_ratio"] is not None and same[t]["time_to_lstm_final_ratio"] < 1
              for t in tasks}
    slow_steps = [t for t in tasks if same[t]["ms_per_step_ratio"] >= 1]
    parts = []
    for t in tasks:
        c = same[t]
        reach = c["time_to_lstm_final_ratio"]
        reach_text = ("did not reach the LSTM's final score in the budget" if reach is None
                      else f"reached the LSTM's final score in {reach:.2f} of its time")
        parts.append(f"{t}: {c['multiply_adds_ratio']:.2f} of the multiply-adds, {c['ms_per_step_ratio']:.2f}x the "
                     f"ms/step, equal steps {_gap_text(t, c['gap_at_steps'])}, equal time "
                     f"{_gap_text(t, c['gap_at_seconds'])}, {reach_text}")
    matched_text = ", ".join(f"{t} {_gap_text(t, matched[t]['gap_at_steps'])}" for t in tasks)
    steps_note = f" (though its steps were slower on {', '.join(slow_steps)})" if slow_steps else ""
    if not fewer:
        conclusion = "claim does not hold here: the GRU did not need fewer multiply-adds"
    elif not as_good:
        bad = [t for t in tasks if worse[t] > SIMILAR[t]]
        conclusion = ("claim does not hold here: fewer multiply-adds, but at equal steps the GRU was worse by more "
                      "than " + " / ".join(f"{_threshold_text(t)} on {t}" for t in bad))
    elif all(sooner.values()):
        conclusion = (f"claim holds here: quality as good (within {' / '.join(map(_threshold_text, tasks))}) or better "
                      f"with fewer multiply-adds, and the LSTM's final score reached in less time{steps_note}")
    else:
        late = [t for t in tasks if not sooner[t]]
        conclusion = (f"claim holds on paper only: quality as good or better with fewer multiply-adds, but it was not "
                      f"faster to the LSTM's final score on {', '.join(late)}{steps_note}")
    return f"GRU (same H) vs LSTM: {'; '.join(parts)}; GRU with LSTM's parameters: {matched_text}; {conclusion}"


__all__ = ["NAME", "CLAIM", "Config", "PRESETS", "RUN_TIME", "run", "verdict", "multiply_adds", "PolarityRNN"]
