"""Inside a character LSTM and GRU (claim 2; after Karpathy, Johnson & Fei-Fei 2015, *Visualizing and
Understanding Recurrent Networks*): how saturated their gates are, which units track simple
properties of the text, and where the LSTM beats an n-gram model of the same training text.

Models: a character LSTM and a GRU language model (:class:`rnnkit.lab.charlm.CharLM`: embedding, one
recurrent layer of ``hidden`` units, a linear layer to next-character logits) trained with truncated
BPTT (``batch_size`` contiguous streams of the training text, windows of ``window`` characters, the
state carried from window to window and detached, as in char-rnn and ``rnnkit train lm``). With
``checkpoint`` a char-level LSTM or GRU written by ``rnnkit train lm`` replaces that cell (its
vocabulary is then everyone's; the other cell still trains). The held-out stretch (the first
``analysis_chars`` characters of Shakespeare's validation split, or the end of ``text``) is read as
``streams`` contiguous streams, each from a zero state, through :func:`rnnkit.nn.gate_activations`,
which gives every gate and state at every step; the same pass gives the next-character predictions.

1. **Gate saturation** (Karpathy et al. Fig. 3): per unit of a gate, the fraction of held-out steps
   where it is left-saturated (< 0.1) and right-saturated (> 0.9). A forget-gate unit (LSTM, f) or
   update-gate unit (GRU, z; ``h = (1 - z) n + z h_prev``) right-saturated most of the time is a
   "remembering" unit. Whether a dimension is actually left unchanged also needs, in the LSTM, a
   small write i g (``kept`` checks both); the claim's "many steps" is a run of ``MANY_STEPS`` (50)
   consecutive kept steps of one unit, within one stream: longer than a line of verse.
2. **Interpretable units**: per-character signals of the text (:func:`text_signals`); per signal and
   state (LSTM ``c_t``, LSTM ``h_t``, GRU ``h_t``) the unit whose activation has the largest absolute
   Pearson correlation with it. ``highlights`` (for the HTML report) show the best signals' units on
   a stretch of held-out text: h_t as it is (in (-1, 1)); c_t divided by the largest |c_t| of that
   unit within the stretch shown (a linear scaling to [-1, 1] that keeps the unit's shape).
3. **Against an n-gram** (:class:`CharNGram`, interpolated Witten-Bell, order ``ngram_order``, on the
   same training ids): bits per character, and the arg-max predictions broken down by the distance
   back to the previous occurrence of the character being predicted: for the character at position
   j of the held-out stretch, d = j - (the last i < j holding the same character); "none" when it
   does not occur earlier in the stretch. "Near" = d < ``ngram_order`` (the n-gram's context holds
   that previous occurrence), "far" = the rest.

Result keys beyond the contract's (models are ``"LSTM"``, ``"GRU"``; the n-gram is ``"n-gram"``;
every number is a :func:`common.summarize` over seeds unless said otherwise):

- ``source``: ``{"text", "train_chars", "held_out_chars", "vocab_size", "checkpoint", "ngram_order"}``
  (plain values; ``checkpoint``: ``{"path", "cell"}`` or None);
- ``bpc`` and ``accuracy`` (arg-max next character): ``{model or "n-gram": summary}`` on held-out;
- ``saturation``: ``{model: {gate: {"mean_left", "mean_right", "right_most", "left_most",
  "longest_run_max", "longest_run_median"}}}``; ``right_most``/``left_most``: the share of units
  right-/left-saturated more than half the time ("right_most" of the forget/update gate: the
  remembering units); gates LSTM input, forget, output; GRU reset, update;
- ``kept``: ``{model: {"mean", "most", "longest_run_max", "longest_run_median"}}``: steps where a unit's
  state is nearly unchanged (LSTM: f > 0.9 and |i g| < 0.1; GRU: z > 0.9; :func:`gate_saturation.kept`): the mean share
  of steps, the share of units kept more than half the time, the longest run of kept steps of a unit
  (max and median over units); ``many_steps``: the run the verdict calls "many steps" (50);
- ``saturation_units``: the first seed's ``{model: {gate: {"left": [...], "right": [...]}}}`` per unit;
- ``signals``: ``{signal: {"description", "present", "mean", "best": {state: {"abs_r": summary,
  "unit": [per seed], "r": [signed, per seed]}}}}``, states ``"LSTM c"``, ``"LSTM h"``, ``"GRU h"``
  (``best`` empty for an absent signal);
- ``highlights``: ``[{"title", "text", "values", "caption", "signal", "state", "unit", "r"}]`` (first
  seed; ``values``: one float in [-1, 1] per character of ``text``);
- ``distance``: ``{"buckets": [label, ...], "count": [...], "accuracy": {model or "n-gram": [summary
  per bucket]}, "model_only": {model: [...]}, "ngram_only": {model: [...]}}``: ``model_only`` is the
  share of the bucket's characters the model gets right and the n-gram wrong, ``ngram_only`` the
  reverse;
- ``near_far``: ``{model: {"near", "far"}}``: model accuracy minus n-gram accuracy on near and far
  characters; ``near_far_count``: ``{"near": n, "far": n}``;
- ``training``: ``{model: {"steps", "seconds", "curve": [[step, training bits per char], ...]}}``
  (plain values, first seed; a checkpoint model: ``{"checkpoint": path, "hidden", "layers"}``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import rnnkit.nn as rnn

from ..train.tbptt import batchify, detach_state
from . import charlm, common
from .gate_saturation import GATES, HIGH, STATES, kept, kept_summary, saturation, saturation_summary
from .inside_lstm_data import prepare
from .inside_lstm_report import distance_figure, saturation_figure, setup, signal_figure, tables
from .text_probes import (  # re-exported: the experiment's text side, apart from any network
    BUCKETS,
    SIGNALS,
    CharNGram,
    bucket_labels,
    bucket_of,
    distances,
    pearson,
    text_signals,
    window_of,
)

NAME = "inside-the-lstm"
CLAIM = ("The LSTM's gates can leave some dimensions unchanged over many steps: what a trained LSTM (and GRU) "
         "keeps in its cells, after Karpathy, Johnson & Fei-Fei 2015, Visualizing and Understanding Recurrent "
         "Networks.")

HIGHLIGHTS = 4
MANY_STEPS = 50  # "many steps": longer than a line of verse (about 40 characters)


@dataclass
class Config:
    """``train_chars`` of training text (None: all of it) and ``analysis_chars`` held out; CharLMs of
    ``hidden`` units and ``embedding`` features per character, ``train_steps`` Adam steps (``lr``,
    gradient norm clipped to ``clip``) on ``batch_size`` streams in windows of ``window`` characters;
    the held-out text read as ``streams`` streams; an n-gram of order ``ngram_order``; highlights of
    ``highlight_chars`` characters. ``checkpoint``: a char-level LSTM/GRU folder of ``rnnkit train lm``
    used instead of training that cell; ``text``: a UTF-8 file used instead of Shakespeare (its last
    10 % held out, at most ``analysis_chars + 1`` characters). ``device``: where models, batches and
    held-out tensors live (the runner sets it from ``--device``)."""

    train_chars: int | None = None
    analysis_chars: int = 40_000
    hidden: int = 256
    embedding: int = 64
    window: int = 100
    batch_size: int = 32
    train_steps: int = 2500
    lr: float = 3e-3
    clip: float = 1.0
    streams: int = 10
    ngram_order: int = 5
    highlight_chars: int = 500
    checkpoint: str | None = None
    text: str | None = None
    seeds: tuple[int, ...] = (0,)
    device: str = "cpu"


PRESETS = {
    "tiny": Config(train_chars=20_000, analysis_chars=1_200, hidden=16, embedding=8, window=20, batch_size=8,
                   train_steps=8, streams=4, ngram_order=3, highlight_chars=120),
    "quick": Config(train_chars=1_000_000, analysis_chars=20_000, hidden=128, embedding=32, train_steps=700,
                    lr=6e-3),
    "full": Config(),
}
# quick: an estimate (37 s on one thread of a busy 2-core machine); full: 243 s, the committed run
# (benchmarks/results/lab/inside-the-lstm/result.json, idle machine, 2 threads); one seed: training
# the models is the cost
RUN_TIME = {"quick": "40 s", "full": "4 min"}


def check(cfg: Config) -> None:
    """What :func:`run` checks first (fields, checkpoint, text), without training: see :func:`prepare`."""
    prepare(cfg)


# -- the models -----------------------------------------------------------------------------------


@dataclass
class Net:
    """A language model seen as ``embedding`` -> recurrent ``layer`` (batch-first) -> ``readout``."""

    model: torch.nn.Module
    embedding: torch.nn.Module
    layer: rnn.RNNBase
    readout: object  # (B, T, H) -> logits (B, T, V)

    @classmethod
    def of_charlm(cls, m: charlm.CharLM) -> Net:
        return cls(m, m.embedding, m.net.layer, m.net.head)

    @classmethod
    def of_checkpoint(cls, m) -> Net:  # an rnnkit.models.lm.RNNLanguageModel
        readout = lambda out: m.head(out if m.projection is None else m.projection(out))  # noqa: E731
        return cls(m, m.embedding, m.recurrent, readout)

    def __call__(self, tokens: torch.Tensor, state=None):
        out, state = self.layer(self.embedding(tokens), state)
        return self.readout(out), state


def train_lm(kind: str, cfg: Config, ids: torch.Tensor, vocab_size: int, seed: int, progress: bool):
    """A :class:`CharLM` of ``kind`` trained by truncated BPTT on ``ids`` (N,): ``batch_size`` streams
    read window after window (a random start offset per seed), the state carried and detached, reset
    when the streams wrap around. Returns ``(net, curve [[step, training bits per char], ...])``."""
    gen = common.generator(seed)
    model = charlm.CharLM(kind, vocab_size, cfg.hidden, cfg.embedding, window=cfg.window).to(cfg.device)
    net = Net.of_charlm(model)
    shift = int(torch.randint(0, cfg.window, (1,), generator=gen))
    streams = batchify(ids[shift:] if ids.numel() - shift >= cfg.batch_size * (cfg.window + 1) else ids, cfg.batch_size)
    streams = common.to_device(streams, cfg.device)  # once: each window is then a slice already there
    where = {"pos": 0, "state": None}

    def batch():
        if where["pos"] + cfg.window + 1 > streams.shape[1]:
            where["pos"], where["state"] = 0, None
        p = where["pos"]
        where["pos"] += cfg.window
        return streams[:, p : p + cfg.window], streams[:, p + 1 : p + cfg.window + 1]

    def loss(_, x, y):
        logits, state = net(x, where["state"])
        where["state"] = detach_state(state)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))

    curve = common.train_steps(model, batch, loss, cfg.train_steps, cfg.lr, cfg.clip,
                               eval_every=max(1, cfg.train_steps // 10), desc=f"{NAME} {kind} seed {seed}",
                               progress=progress)
    return net, [[s, v / math.log(2)] for s, v in curve]


@dataclass
class Trace:
    """One model read over the held-out streams: ``log_probs`` (N, V) of the next character at each
    position (text order), ``gates`` name -> (streams, T, units) numpy (N = streams x T); both on
    the CPU, where the analysis (numpy, matplotlib) reads them, whatever device the model is on."""

    log_probs: torch.Tensor
    gates: dict[str, np.ndarray]


@torch.no_grad()
def trace(net: Net, ids: torch.Tensor, streams: int) -> Trace:
    """``net`` on ``ids`` (N + 1,), on the model's device, cut into ``streams`` contiguous streams,
    each from a zero state; units of every layer side by side (unit u of layer l is l * H + u)."""
    n = (ids.numel() - 1) // streams
    net.model.eval()
    result = rnn.gate_activations(net.layer, net.embedding(ids[: n * streams].view(streams, n)))
    log_probs = F.log_softmax(net.readout(result.output).float(), -1).reshape(streams * n, -1).cpu()
    gates = {name: g.permute(1, 2, 0, 3).reshape(streams, n, -1).float().cpu().numpy()
             for name, g in result.gates.items()}
    return Trace(log_probs, gates)


# -- the experiment -------------------------------------------------------------------------------


def run(cfg: Config, out: Path, progress: bool = False) -> dict:
    ckpt, text = prepare(cfg)  # every check before any training
    ckpt_kind = ckpt.model.cell.upper() if ckpt else None
    V = len(text.vocab)
    N = (text.held.numel() - 1) // cfg.streams * cfg.streams
    held_text, targets = text.held_text[:N], text.held[1 : N + 1]
    signals = text_signals(held_text)
    ngram = CharNGram(text.train.tolist(), cfg.ngram_order, V)
    ng_logp, ng_best = ngram.score(text.held[: N + 1].tolist())
    ng_right = ng_best == targets.numpy()
    dist = distances(text.held[: N + 1].tolist())[1:]
    buckets = np.array([bucket_of(d) for d in dist])
    near = np.array([d is not None and d < cfg.ngram_order for d in dist])
    used = sorted(set(buckets.tolist()))
    held = common.to_device(text.held[: N + 1], cfg.device)  # read by every model of every seed
    per_seed, params, training, first = [], {}, {}, None
    for seed in cfg.seeds:
        nums = {"bpc": {}, "accuracy": {}, "saturation": {}, "kept": {}, "correlation": {}, "distance": {},
                "near_far": {}}
        traces = {}
        for label in ("LSTM", "GRU"):
            if label == ckpt_kind:
                net = Net.of_checkpoint(ckpt.model)
                training[label] = {"checkpoint": str(cfg.checkpoint), "hidden": net.layer.hidden_size,
                                   "layers": net.layer.num_layers}
            else:
                start = time.perf_counter()
                net, curve = train_lm(label.lower(), cfg, text.train, V, seed, progress)
                if seed == cfg.seeds[0]:
                    training[label] = {"steps": cfg.train_steps, "seconds": time.perf_counter() - start,
                                       "curve": curve}
            params[label] = common.count_parameters(net.model)
            tr = traces[label] = trace(net, held, cfg.streams)
            logp = tr.log_probs.gather(1, targets.unsqueeze(1)).squeeze(1)
            right = (tr.log_probs.argmax(1) == targets).numpy()
            nums["bpc"][label] = float(-logp.mean()) / math.log(2)
            nums["accuracy"][label] = float(right.mean())
            nums["saturation"][label] = {g: saturation_summary(saturation(tr.gates[g])) for g in GATES[label]}
            nums["kept"][label] = kept_summary(kept(tr.gates))
            nums["distance"][label] = {"accuracy": [float(right[buckets == b].mean()) for b in used],
                                       "model_only": [float((right & ~ng_right)[buckets == b].mean()) for b in used],
                                       "ngram_only": [float((~right & ng_right)[buckets == b].mean()) for b in used]}
            nums["near_far"][label] = {"near": _gap(right, ng_right, near), "far": _gap(right, ng_right, ~near)}
        nums["bpc"]["n-gram"] = float(-ng_logp[:N].mean())
        nums["accuracy"]["n-gram"] = float(ng_right.mean())
        nums["distance"]["n-gram"] = [float(ng_right[buckets == b].mean()) for b in used]
        best = _best_units(traces, signals, cfg.streams)
        nums["correlation"] = {s: {st: abs(b["r"]) for st, b in by.items()} for s, by in best.items()}
        per_seed.append((nums, best))
        if first is None:
            first = (traces, best)
    params["n-gram (distinct n-grams)"] = ngram.size
    result = _gather(cfg, per_seed, signals, used, buckets, near, text, ckpt_kind, ngram)
    result["parameters"], result["training"] = params, training
    result["highlights"] = _highlights(cfg, first[0], first[1], signals, held_text, cfg.streams)
    result["saturation_units"] = {label: {g: {k: [round(float(v), 4) for v in saturation(tr.gates[g])[k]]
                                                for k in ("left", "right")} for g in GATES[label]}
                                  for label, tr in first[0].items()}
    result["setup"] = setup(cfg, result)
    result["tables"] = tables(cfg, result)
    result["figures"] = [saturation_figure(result, out), signal_figure(result, out),
                         distance_figure(cfg, result, out)]
    return result


def _gap(right: np.ndarray, ng_right: np.ndarray, where: np.ndarray) -> float:
    return float(right[where].mean() - ng_right[where].mean()) if where.any() else math.nan


def _best_units(traces: dict[str, Trace], signals: dict[str, np.ndarray], streams: int) -> dict:
    """``{signal: {state: {"unit", "r"}}}`` for the signals that vary over the held-out text."""
    best = {}
    for name, signal in signals.items():
        if signal.std() == 0:
            continue
        best[name] = {}
        for state, (label, gate) in STATES.items():
            acts = traces[label].gates[gate].reshape(-1, traces[label].gates[gate].shape[-1])
            r = pearson(acts.astype(np.float64), signal)
            unit = int(np.abs(r).argmax())
            best[name][state] = {"unit": unit, "r": float(r[unit])}
    return best


def _summaries(values: list):
    """Per-seed copies of one structure -> the same structure with a summary at each number."""
    if isinstance(values[0], dict):
        return {k: _summaries([v[k] for v in values]) for k in values[0]}
    if isinstance(values[0], list):
        return [_summaries([v[i] for v in values]) for i in range(len(values[0]))]
    return common.summarize(values)


def _gather(cfg, per_seed, signals, used, buckets, near, text, ckpt_kind, ngram) -> dict:
    nums = _summaries([n for n, _ in per_seed])
    labels = bucket_labels()
    sig = {}
    for name, signal in signals.items():
        present = name in per_seed[0][1]
        sig[name] = {"description": SIGNALS[name], "present": present, "mean": float(signal.mean()), "best": {}}
        if present:
            for state in STATES:
                sig[name]["best"][state] = {"abs_r": nums["correlation"][name][state],
                                            "unit": [b[name][state]["unit"] for _, b in per_seed],
                                            "r": [b[name][state]["r"] for _, b in per_seed]}
    distance = {"buckets": [labels[b] for b in used], "count": [int((buckets == b).sum()) for b in used],
                "accuracy": {**{m: d["accuracy"] for m, d in nums["distance"].items() if m != "n-gram"},
                             "n-gram": nums["distance"]["n-gram"]},
                "model_only": {m: d["model_only"] for m, d in nums["distance"].items() if m != "n-gram"},
                "ngram_only": {m: d["ngram_only"] for m, d in nums["distance"].items() if m != "n-gram"}}
    return {"source": {"text": text.source, "train_chars": int(text.train.numel()),
                       "held_out_chars": int(len(buckets)), "vocab_size": len(text.vocab),
                       "checkpoint": {"path": str(cfg.checkpoint), "cell": ckpt_kind} if ckpt_kind else None,
                       "ngram_order": cfg.ngram_order},
            "bpc": nums["bpc"], "accuracy": nums["accuracy"], "saturation": nums["saturation"], "kept": nums["kept"],
            "many_steps": MANY_STEPS, "signals": sig,
            "distance": distance, "near_far": nums["near_far"],
            "near_far_count": {"near": int(near.sum()), "far": int((~near).sum())}}


def _highlights(cfg: Config, traces, best, signals, held_text: str, streams: int) -> list[dict]:
    """The best :data:`HIGHLIGHTS` signals' best units on the stretch where the signal varies most."""
    ranked = sorted(((abs(b["r"]), name, state, b) for name, by in best.items() for state, b in by.items()),
                    key=lambda x: -x[0])
    chosen, out = set(), []
    for _, name, state, b in ranked:
        if name in chosen or len(out) == HIGHLIGHTS:
            continue
        chosen.add(name)
        label, gate = STATES[state]
        acts = traces[label].gates[gate][:, :, b["unit"]]  # (streams, T)
        length = min(cfg.highlight_chars, acts.shape[1])
        row, start = window_of(signals[name].reshape(streams, -1), length)
        values = acts[row, start : start + length].astype(np.float64)
        scale = ""
        if gate == "cell_state":
            peak = float(np.abs(values).max()) or 1.0
            values, scale = values / peak, f"; c_t divided by its largest |c_t| here ({peak:.3g})"
        pos = row * acts.shape[1] + start
        out.append({"title": f"{name}: {state} unit {b['unit']} (r = {b['r']:+.2f})",
                    "text": held_text[pos : pos + length],
                    "values": [round(float(v), 3) for v in np.clip(values, -1.0, 1.0)],
                    "caption": f"{label} {'cell state c_t' if gate == 'cell_state' else 'hidden state h_t'} of unit "
                               f"{b['unit']}, the unit most correlated with '{name}' ({SIGNALS[name]}) over the "
                               f"held-out text: Pearson r = {b['r']:+.2f}; colour = the unit's value after reading "
                               f"each character{scale or ' (in (-1, 1) as it is)'}.",
                    "signal": name, "state": state, "unit": b["unit"], "r": b["r"]})
    return out


# -- verdict --------------------------------------------------------------------------------------


def verdict(result: dict) -> str:
    """Kept dimensions and remembering units (LSTM vs GRU), the best unit per signal, LSTM vs n-gram."""
    many, sat, kept_ = result["many_steps"], result["saturation"], result["kept"]
    f, z = sat["LSTM"]["forget"], sat["GRU"]["update"]
    run, gru_run = kept_["LSTM"]["longest_run_max"]["mean"], kept_["GRU"]["longest_run_max"]["mean"]
    if run >= many:
        claim = f"some LSTM cells stay nearly unchanged for {run:.0f} steps in a row (>= {many}): the claim holds"
    else:
        claim = (f"no LSTM cell stays nearly unchanged for {many} steps in a row (longest {run:.0f}): the claim does "
                 "not show on our numbers")
    parts = [f"{f['right_most']['mean']:.0%} of LSTM forget-gate units are right-saturated (> {HIGH}) more than half "
             f"the time (GRU update gate: {z['right_most']['mean']:.0%}); {claim} (GRU: {gru_run:.0f})"]
    best = []
    for name, s in result["signals"].items():
        if s["present"]:
            state, b = max(s["best"].items(), key=lambda kv: kv[1]["abs_r"]["mean"])
            best.append((b["abs_r"]["mean"], f"{name} |r| = {b['abs_r']['mean']:.2f} ({state})"))
    if best:
        parts.append("best units: " + ", ".join(t for _, t in sorted(best, reverse=True)))
    absent = [n for n, s in result["signals"].items() if not s["present"]]
    if absent:
        parts.append(f"absent: {', '.join(absent)}")
    order, bpc = result["source"]["ngram_order"], result["bpc"]
    lstm, ngram = bpc["LSTM"]["mean"], bpc["n-gram"]["mean"]
    near, far = result["near_far"]["LSTM"]["near"]["mean"], result["near_far"]["LSTM"]["far"]["mean"]
    where = "larger" if far > near else "not larger"
    parts.append(f"LSTM {lstm:.2f} bpc vs {order}-gram {ngram:.2f} (GRU {bpc['GRU']['mean']:.2f}): the LSTM "
                 f"{'beats' if lstm < ngram else 'does not beat'} the n-gram; its accuracy edge is {near:+.1%} on "
                 f"characters last seen within the n-gram's context and {far:+.1%} beyond it ({where} at long "
                 "distances)")
    return "; ".join(parts)


__all__ = ["NAME", "CLAIM", "Config", "PRESETS", "RUN_TIME", "run", "verdict", "check", "Net", "train_lm", "Trace",
           "trace", "SIGNALS", "text_signals", "pearson", "window_of", "CharNGram", "distances", "bucket_labels",
           "bucket_of", "BUCKETS", "MANY_STEPS"]
