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
  state is nearly unchanged (LSTM: f > 0.9 and |i g| < 0.1; GRU: z > 0.9; :func:`kept`): the mean share
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
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import rnnkit.nn as rnn

from ..text import CharTokenizer, Vocab
from ..train.checkpoint import CheckpointError, load_checkpoint
from ..train.tbptt import batchify, detach_state
from . import charlm, common, data
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

LOW, HIGH = 0.1, 0.9  # a gate value below LOW is left-saturated, above HIGH right-saturated
GATES = {"LSTM": ("input", "forget", "output"), "GRU": ("reset", "update")}
STATES = {"LSTM c": ("LSTM", "cell_state"), "LSTM h": ("LSTM", "hidden"), "GRU h": ("GRU", "hidden")}
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
# estimates (quick: 37 s on one thread of a busy 2-core machine); one seed: training the models is the cost
RUN_TIME = {"quick": "40 s", "full": "8 min"}


# -- data -----------------------------------------------------------------------------------------


@dataclass
class TextData:
    """``train`` ids (N,), ``held`` ids (M,) and ``held_text`` (M characters, one per id), ``vocab``."""

    source: str
    vocab: Vocab
    train: torch.Tensor
    held: torch.Tensor
    held_text: str


def _needs(cfg: Config) -> tuple[int, int]:
    """The fewest training and held-out characters ``cfg`` can work with."""
    return cfg.batch_size * (cfg.window + 1), cfg.streams * cfg.window + 1


def read_text(cfg: Config) -> tuple[str, str]:
    """``(training text, held-out text)`` of ``cfg``: Shakespeare's, or ``cfg.text``'s (its last 10 %,
    at least what ``cfg`` needs, at most ``analysis_chars + 1``, held out; the rest trains). A
    ValueError (one line) for a missing, unreadable, empty or too short file."""
    train_need, held_need = _needs(cfg)
    if cfg.text is None:
        texts = data.shakespeare()
        train = texts["train"] if cfg.train_chars is None else texts["train"][: cfg.train_chars]
        if len(train) < train_need or cfg.analysis_chars + 1 < held_need:
            raise ValueError(f"train_chars must be >= {train_need:,} (batch_size x (window + 1)) and analysis_chars "
                             f">= {held_need - 1:,} (streams x window); got {cfg.train_chars} and {cfg.analysis_chars}")
        return train, texts["validation"][: cfg.analysis_chars + 1]
    path = Path(cfg.text)
    if not path.is_file():
        raise ValueError(f"--text {path}: no such file; give a UTF-8 text file to train and analyse on")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"--text {path} is not UTF-8 text ({err.reason} at byte {err.start}); give a UTF-8 "
                         "file") from None
    except OSError as err:
        raise ValueError(f"--text {path} cannot be read ({err.strerror}); give a readable UTF-8 file") from None
    if not text.strip():
        raise ValueError(f"--text {path} is empty (or only whitespace); give a text to train and analyse on")
    held_len = min(cfg.analysis_chars + 1, max(held_need, len(text) // 10))
    if len(text) - held_len < train_need:
        raise ValueError(f"--text {path} has {len(text):,} characters; these settings need at least "
                         f"{train_need + held_need:,} ({train_need:,} to train on: batch_size x (window + 1), and "
                         f"{held_need:,} held out: streams x window + 1); give a longer text")
    rest = text[: len(text) - held_len]
    return rest if cfg.train_chars is None else rest[: cfg.train_chars], text[len(text) - held_len:]


def load_data(cfg: Config, vocab: Vocab | None = None) -> TextData:
    """:func:`read_text` as ids of ``vocab`` (a checkpoint's), or of the training text's characters."""
    train_text, held_text = read_text(cfg)
    if vocab is None:
        # Shakespeare: the vocabulary of its whole training split, so no held-out character is unknown
        # merely because the training slice is short (as charlm.char_corpus)
        whole = data.shakespeare()["train"] if cfg.text is None else train_text
        vocab = Vocab.build(Counter(whole))  # a str counts by character, in C
    encode = lambda text: torch.tensor(vocab.encode(CharTokenizer().tokenize(text)), dtype=torch.long)  # noqa: E731
    return TextData(cfg.text or "Shakespeare (bundled)", vocab, encode(train_text), encode(held_text), held_text)


def load_lm(path: str | Path, device: str | torch.device = "cpu"):
    """The :class:`rnnkit.tasks.language_model.LanguageModel` in the folder ``path``, on ``device``
    (a checkpoint written on any device loads): a CheckpointError (one line) unless it is a
    character-level LSTM or GRU language model."""
    from ..tasks.language_model import LanguageModel

    path = Path(path)
    fix = "give a folder written by rnnkit train lm --level char --cell lstm (or gru)"
    meta = load_checkpoint(path).meta  # missing, damaged or not a checkpoint: its own one-line error
    kind = meta.get("model_type")
    if kind != "lm":
        raise CheckpointError(f"--checkpoint {path} holds a {kind!r} model, not a language model; {fix}")
    lm, model = meta.get("lm"), meta.get("model")
    level = lm.get("level") if isinstance(lm, dict) else None
    cell = model.get("cell") if isinstance(model, dict) else None
    if level != "char":
        raise CheckpointError(f"--checkpoint {path} is a {level}-level language model, not a character-level "
                              f"one; {fix}")
    if cell not in ("lstm", "gru"):
        raise CheckpointError(f"--checkpoint {path} is a language model of cell {cell!r}; this experiment looks "
                              f"inside LSTM and GRU cells only; {fix}")
    return LanguageModel.load(path, device=device)


def prepare(cfg: Config):
    """``(the checkpoint's LanguageModel or None, TextData)`` of ``cfg``, checked: ValueError or
    CheckpointError (one line naming the problem and the fix) for a bad field, checkpoint or text."""
    for name in ("train_chars", "analysis_chars", "hidden", "embedding", "window", "batch_size", "train_steps",
                 "streams", "ngram_order", "highlight_chars"):
        value = getattr(cfg, name)
        if name == "train_chars" and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")
    if not cfg.seeds:
        raise ValueError("seeds is empty; give at least one seed")
    ckpt = load_lm(cfg.checkpoint, cfg.device) if cfg.checkpoint is not None else None
    return ckpt, load_data(cfg, ckpt.codec.vocab if ckpt else None)


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


# -- 1. saturation --------------------------------------------------------------------------------


def longest_run(mask: np.ndarray) -> np.ndarray:
    """Per unit of ``mask`` (rows, T, units) bool: the most consecutive True steps within one row."""
    run = np.zeros((mask.shape[0], mask.shape[2]), dtype=np.int64)
    longest = np.zeros_like(run)
    for t in range(mask.shape[1]):
        run = (run + 1) * mask[:, t]
        longest = np.maximum(longest, run)
    return longest.max(axis=0)


def saturation(gate: np.ndarray, low: float = LOW, high: float = HIGH) -> dict[str, np.ndarray]:
    """Per unit of ``gate`` (rows, T, units), NaN steps skipped: ``left`` / ``right``, the fractions
    of steps below ``low`` / above ``high``; ``longest_run``, the most consecutive steps above ``high``
    within one row (a NaN step breaks a run)."""
    valid = ~np.isnan(gate)
    steps = np.maximum(valid.sum(axis=(0, 1)), 1)
    with np.errstate(invalid="ignore"):
        below, above = (gate < low) & valid, (gate > high) & valid
    return {"left": below.sum(axis=(0, 1)) / steps, "right": above.sum(axis=(0, 1)) / steps,
            "longest_run": longest_run(above)}


def kept(gates: dict[str, np.ndarray], low: float = LOW, high: float = HIGH) -> np.ndarray:
    """Where a unit's state is nearly unchanged by a step, (rows, T, units) bool: an LSTM's c_t
    when f > ``high`` and |i * g| < ``low`` (c_t - c_(t-1) = (f - 1) c_(t-1) + i g); a GRU's h_t when
    z > ``high`` (h_t - h_(t-1) = (1 - z)(n - h_(t-1)), at most 2 (1 - z)). NaN steps are not kept."""
    with np.errstate(invalid="ignore"):
        if "forget" in gates:
            return (gates["forget"] > high) & (np.abs(gates["input"] * gates["cell"]) < low)
        return gates["update"] > high


def kept_summary(mask: np.ndarray) -> dict[str, float]:
    """The numbers the result keeps of one model's :func:`kept` mask."""
    share, runs = mask.mean(axis=(0, 1)), longest_run(mask)
    return {"mean": float(share.mean()), "most": float((share > 0.5).mean()),
            "longest_run_max": float(runs.max()), "longest_run_median": float(np.median(runs))}


def saturation_summary(s: dict[str, np.ndarray]) -> dict[str, float]:
    """The numbers of one gate's :func:`saturation` that the result keeps."""
    return {"mean_left": float(s["left"].mean()), "mean_right": float(s["right"].mean()),
            "right_most": float((s["right"] > 0.5).mean()), "left_most": float((s["left"] > 0.5).mean()),
            "longest_run_max": float(s["longest_run"].max()), "longest_run_median": float(np.median(s["longest_run"]))}


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
    result["setup"] = _setup(cfg, result)
    result["tables"] = _tables(cfg, result)
    result["figures"] = [_saturation_figure(result, out), _signal_figure(result, out),
                         _distance_figure(cfg, result, out)]
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


# -- setup, tables, figures, verdict --------------------------------------------------------------


def _model_line(cfg: Config, r: dict, label: str) -> str:
    t = r["training"][label]
    if "checkpoint" in t:
        return f"{label}: the checkpoint {t['checkpoint']} ({t['layers']} layer(s) of {t['hidden']} units)"
    return f"{label}: {cfg.train_steps} steps ({t['seconds']:.0f} s)"


def _setup(cfg: Config, r: dict) -> str:
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


def _tables(cfg: Config, r: dict) -> list[dict]:
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


def _saturation_figure(r: dict, out: Path) -> dict:
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


def _signal_figure(r: dict, out: Path) -> dict:
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


def _distance_figure(cfg: Config, r: dict, out: Path) -> dict:
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


__all__ = ["NAME", "CLAIM", "Config", "PRESETS", "RUN_TIME", "run", "verdict", "check", "prepare", "TextData",
           "read_text", "load_data", "load_lm", "Net", "train_lm", "Trace", "trace", "longest_run", "saturation",
           "saturation_summary", "kept", "kept_summary", "SIGNALS", "text_signals", "pearson", "window_of",
           "CharNGram", "distances", "bucket_labels", "bucket_of", "BUCKETS", "LOW", "HIGH", "GATES", "MANY_STEPS"]
