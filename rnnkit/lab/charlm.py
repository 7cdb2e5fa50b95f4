"""What the comparisons of claims 3 and 4 (``gru-vs-lstm``, ``cnn-vs-rnn``) share.

* A small character-level language model on the bundled Shakespeare (:class:`CharLM`), its data
  (:func:`char_corpus`, :func:`random_windows`) and its score in bits per character
  (:func:`bits_per_char`).
* Sentence-polarity batches (:func:`polarity_data`, :func:`polarity_batch`, :func:`accuracy`).
* A timed training loop, :func:`race`: several models train side by side, one step of each in
  turn, each timing its own steps and stopping when its budget of steps and of seconds is spent.
  Why in turn: on a shared 2-core machine the speed of a step changes with whatever else runs; when
  the models alternate step by step a slow spell hits all of them alike, so their times stay
  comparable (the same reason ``benchmarks/bench_lm.py`` interleaves its loops).
* Curves on a common time grid (:func:`on_grid`, :func:`band`, :func:`time_to_reach`) for the
  quality-against-seconds figures.

Devices: data is drawn on the CPU (with CPU generators, so a seed gives the same batches on every
device); the race moves each batch to its model's device, and the scores take their held-out
tensors on the model's device (moved once by the caller; :func:`padded_batches` for polarity).
"""

from __future__ import annotations

import copy
import math
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..text import CharTokenizer, Vocab, WordTokenizer, pad_batch
from ..train.runtime import module_device
from . import data
from .common import match_width, steps_bar, synchronize, to_device
from .models import SequenceNet

# -- the character-level language model ---------------------------------------------------------


@dataclass
class CharCorpus:
    """Shakespeare as character ids: ``train`` and ``validation`` (N,) int64, and their ``vocab``."""

    vocab: Vocab
    train: torch.Tensor
    validation: torch.Tensor


@cache
def _char_vocab() -> Vocab:
    return Vocab.build(Counter(data.shakespeare()["train"]))  # a str counts by character, in C


@cache
def char_corpus(train_chars: int, valid_chars: int) -> CharCorpus:
    """The first ``train_chars`` characters of Shakespeare's training split and the first
    ``valid_chars`` of its validation split, as ids of the vocabulary of the whole training split
    (so no validation character is unknown merely because the training slice is short)."""
    for name, value in (("train_chars", train_chars), ("valid_chars", valid_chars)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 2:
            raise ValueError(f"{name} must be an integer >= 2 (characters of text); got {value!r}")
    texts, vocab = data.shakespeare(), _char_vocab()
    encode = lambda text: torch.tensor(vocab.encode(CharTokenizer().tokenize(text)), dtype=torch.long)
    return CharCorpus(vocab, encode(texts["train"][:train_chars]), encode(texts["validation"][:valid_chars]))


def random_windows(ids: torch.Tensor, batch: int, window: int, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    """``batch`` windows of ``window`` characters at random places of ``ids`` (N,), drawn from ``gen``:
    ``(inputs (B, T), targets (B, T))`` with ``targets[b, t] = inputs[b, t + 1]``, T = ``window``."""
    if ids.dim() != 1 or ids.numel() < window + 1:
        raise ValueError(f"ids must be a 1-D tensor of at least window + 1 = {window + 1} ids; got shape "
                         f"{tuple(ids.shape)} (use a longer text or a shorter window)")
    starts = torch.randint(0, ids.numel() - window, (batch,), generator=gen)
    chunk = ids[starts.unsqueeze(1) + torch.arange(window + 1)]
    return chunk[:, :-1], chunk[:, 1:]


class CharLM(nn.Module):
    """Embedding -> one sequence layer of ``kind`` (rnn, lstm, gru, tcn; see
    :class:`~rnnkit.lab.models.SequenceNet`) -> a linear layer to next-character logits.

    Args:
        kind: the sequence layer.
        vocab_size: characters (V).
        width: hidden size (TCN: channels of every block).
        embedding_size: features per character (E).
        window: the training window; a TCN gets enough blocks to see across it.
        kernel_size: the TCN's convolution width.

    Shape: ``forward(tokens (B, T) int64) -> logits (B, T, V)``; each window starts from a zero
    state, so the recurrent and the convolutional models see the same context.
    """

    def __init__(self, kind: str, vocab_size: int, width: int, embedding_size: int = 32, window: int = 64,
                 kernel_size: int = 3):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.net = SequenceNet(kind, embedding_size, width, vocab_size, read="all", steps=window,
                               kernel_size=kernel_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.net(self.embedding(tokens))


def build_lm(kind: str, vocab_size: int, parameters: int, **kwargs) -> CharLM:
    """A :class:`CharLM` whose width brings its parameter count closest to ``parameters``."""
    make = lambda w: CharLM(kind, vocab_size, w, **kwargs)
    return make(match_width(make, parameters, high=1024))


def lm_loss(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-character cross-entropy (nats) of ``model`` on a batch (B, T)."""
    logits = model(inputs)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


@torch.no_grad()
def bits_per_char(model: nn.Module, ids: torch.Tensor, window: int, batch: int = 256) -> float:
    """Bits per character of ``model`` on ``ids`` (N,): the text cut into consecutive windows of
    ``window`` characters, each predicted from a zero state; every character after a window's
    first is scored once (the tail shorter than a window is left out). ``ids`` elsewhere than on the
    model's device are copied there on every call: move held-out text there once beforehand."""
    n = (ids.numel() - 1) // window
    if n < 1:
        raise ValueError(f"the text must hold more than window = {window} characters; got {ids.numel()}")
    ids = ids.to(module_device(model))
    inputs, targets = ids[: n * window].view(n, window), ids[1 : n * window + 1].view(n, window)
    was_training = model.training
    model.eval()
    total = 0.0
    for i in range(0, n, batch):
        logits = model(inputs[i : i + batch])
        total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets[i : i + batch].reshape(-1),
                                       reduction="sum"))
    model.train(was_training)
    return total / (n * window) / math.log(2)


# -- sentence polarity --------------------------------------------------------------------------


@dataclass
class PolaritySplit:
    """Encoded sentences: ``ids`` (lists of word ids, at most ``max_len``) and ``labels`` (N,) int64."""

    ids: list[list[int]]
    labels: torch.Tensor


@dataclass
class PolarityData:
    """The polarity data as word ids: ``vocab`` (lower-cased words of the training rows seen
    ``min_freq`` times or more), ``classes`` (label names, sorted; index = class id), splits."""

    vocab: Vocab
    classes: list[str]
    train: PolaritySplit
    validation: PolaritySplit
    test: PolaritySplit


def polarity_data(max_len: int, min_freq: int = 1) -> PolarityData:
    """:func:`rnnkit.lab.data.polarity` tokenised into lower-cased words, truncated to ``max_len``
    words (the first ones kept) and encoded with a vocabulary of the training rows."""
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1:
        raise ValueError(f"max_len must be a positive integer (words kept per sentence); got {max_len!r}")
    train, valid, test = data.polarity()
    tokenizer = WordTokenizer(lowercase=True)
    classes = sorted({label for _, label in train})
    if len(classes) != 2:
        raise ValueError(f"the polarity data must have exactly two labels in its training rows; got {classes}")
    vocab = Vocab.build([tokenizer.tokenize(text) for text, _ in train], min_freq=min_freq)
    index = {c: i for i, c in enumerate(classes)}

    def encode(rows) -> PolaritySplit:
        unknown = sorted({label for _, label in rows} - set(classes))
        if unknown:
            raise ValueError(f"labels {unknown} occur outside the training rows (which have {classes})")
        # an empty sentence keeps one <unk>, so every length is at least 1
        ids = [vocab.encode(tokenizer.tokenize(text))[:max_len] or [vocab.unk_id] for text, _ in rows]
        return PolaritySplit(ids, torch.tensor([index[label] for _, label in rows], dtype=torch.long))

    return PolarityData(vocab, classes, encode(train), encode(valid), encode(test))


def polarity_batch(split: PolaritySplit, batch: int, gen: torch.Generator,
                   min_steps: int = 1) -> tuple[torch.Tensor, ...]:
    """``batch`` random sentences of ``split`` (drawn from ``gen``): ``(ids (B, T), lengths (B,),
    labels (B,))``, post-padded with 0 to the longest of them (at least ``min_steps`` steps, for a
    convolution wider than a short batch)."""
    rows = torch.randint(0, len(split.ids), (batch,), generator=gen).tolist()
    return _padded([split.ids[i] for i in rows], min_steps) + (split.labels[rows],)


def _padded(sequences: Sequence[Sequence[int]], min_steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    ids, lengths, _ = pad_batch(sequences)
    if ids.shape[1] < min_steps:
        ids = F.pad(ids, (0, min_steps - ids.shape[1]))
    return ids, lengths


def padded_batches(split: PolaritySplit, batch: int = 512, min_steps: int = 1) -> list[tuple[torch.Tensor, ...]]:
    """``split`` in order as batches ``(ids (B, T), lengths (B,), labels (B,))`` of ``batch``
    sentences (padded as :func:`polarity_batch`'s), for :func:`accuracy`; move them to the model's
    device once (:func:`rnnkit.lab.common.to_device`) rather than on every evaluation."""
    return [_padded(split.ids[i : i + batch], min_steps) + (split.labels[i : i + batch],)
            for i in range(0, len(split.ids), batch)]


@torch.no_grad()
def accuracy(model: nn.Module, split: PolaritySplit | Sequence[tuple[torch.Tensor, ...]], batch: int = 512,
             min_steps: int = 1) -> float:
    """Share of ``split``'s sentences whose class is the arg-max of ``model(ids, lengths)`` (B, classes).
    ``split``: a :class:`PolaritySplit` (padded into batches of ``batch`` and moved to the model's
    device on every call) or its :func:`padded_batches`, already on the model's device."""
    if isinstance(split, PolaritySplit):
        split = to_device(padded_batches(split, batch, min_steps), module_device(model))
    was_training = model.training
    model.eval()
    right, total = 0, 0
    for ids, lengths, labels in split:
        right += int((model(ids, lengths).argmax(-1) == labels).sum())
        total += len(labels)
    model.train(was_training)
    return right / total


# -- timed training, side by side ---------------------------------------------------------------


@dataclass
class Contestant:
    """One model of a :func:`race`.

    Args:
        name: its label.
        model: what trains (Adam, learning rate ``lr``, gradient norm clipped to ``clip``; 0 = off).
        batch: the next training batch (a tuple, the arguments of ``loss`` after the model).
        loss: ``loss(model, *batch)`` -> a scalar tensor.
        evaluate: the validation score of the model (for the curve).
        tokens: the tokens of a batch (for tokens per second); None counts batches.
    """

    name: str
    model: nn.Module
    batch: Callable[[], tuple]
    loss: Callable[..., torch.Tensor]
    evaluate: Callable[[nn.Module], float]
    tokens: Callable[[tuple], int] | None = None
    lr: float = 2e-3
    clip: float = 1.0


@dataclass
class RaceRecord:
    """What one contestant did: ``curve`` ``[(step, seconds, score)]`` (from step 0), ``step_seconds``
    and ``step_tokens`` of every step, and ``marks``/``states``: the score and a copy of the weights
    at the budget points ``"steps"`` (the step budget reached) and ``"seconds"`` (the first step that
    brings its own training time to the seconds budget); the copies stay on the model's device."""

    curve: list[tuple[int, float, float]] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)
    step_tokens: list[int] = field(default_factory=list)
    marks: dict[str, dict] = field(default_factory=dict)
    states: dict[str, dict] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return len(self.step_seconds)

    @property
    def seconds(self) -> float:
        return float(sum(self.step_seconds))

    def ms_per_step(self, warmup: int) -> float:
        """Median milliseconds of a training step after the first ``warmup`` steps."""
        kept = self.step_seconds[warmup:] or self.step_seconds
        return 1000.0 * statistics.median(kept)

    def tokens_per_second(self, warmup: int) -> float:
        """Median over steps (after ``warmup``) of the tokens of a step divided by its time."""
        rates = [n / s for n, s in zip(self.step_tokens, self.step_seconds, strict=True)][warmup:]
        return statistics.median(rates or [n / s for n, s in zip(self.step_tokens, self.step_seconds, strict=True)])

    def summary(self, warmup: int) -> dict:
        """The JSON-able part: curve as ``[[seconds, score], ...]``, steps, seconds, speeds and marks."""
        return {"curve": [[round(s, 4), v] for _, s, v in self.curve], "curve_steps": [k for k, _, _ in self.curve],
                "steps": self.steps, "seconds": self.seconds, "ms_per_step": self.ms_per_step(warmup),
                "tokens_per_second": self.tokens_per_second(warmup), "marks": self.marks}


def race(contestants: Sequence[Contestant], steps: int | None, seconds: float | None, eval_every: float,
         desc: str = "", progress: bool = False) -> dict[str, RaceRecord]:
    """Trains every contestant, one step of each in turn, until each has done ``steps`` steps and
    spent ``seconds`` seconds of its own training time (either may be None: no such budget).

    Only the training step is timed (forward, backward, clipping, Adam); drawing the batch, moving
    it to the model's device and evaluating are not. The device is synchronised before both clock
    reads of a step, so on a GPU a step's time is its work, not its kernel launches (nor the tail
    of the work before it). Each contestant is evaluated at step 0, whenever its training time
    passes another ``eval_every`` seconds (0: never), and at its budget points (see
    :class:`RaceRecord`).
    """
    if steps is None and seconds is None:
        raise ValueError("give a budget: steps, seconds or both (None means no such budget)")
    if steps is not None and steps < 1 or seconds is not None and seconds <= 0:
        raise ValueError(f"steps must be >= 1 and seconds > 0; got steps={steps!r}, seconds={seconds!r}")
    names = [c.name for c in contestants]
    if len(set(names)) != len(names):
        raise ValueError(f"contestants need different names; got {names}")
    records = {c.name: RaceRecord() for c in contestants}
    optimizers = {c.name: torch.optim.Adam(c.model.parameters(), lr=c.lr) for c in contestants}
    devices = {c.name: module_device(c.model) for c in contestants}
    next_eval = {c.name: eval_every for c in contestants}
    for c in contestants:
        records[c.name].curve.append((0, 0.0, float(c.evaluate(c.model))))
    active = list(contestants)
    bar = steps_bar(steps or 0, desc, progress and steps is not None)
    while active:
        for c in list(active):
            rec, opt, device = records[c.name], optimizers[c.name], devices[c.name]
            batch = c.batch()
            moved = to_device(batch, device)
            synchronize(device)  # the batch's copy is not part of the step
            start = time.perf_counter()
            c.model.train()
            loss = c.loss(c.model, *moved)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if c.clip:
                nn.utils.clip_grad_norm_(c.model.parameters(), c.clip)
            opt.step()
            synchronize(device)
            rec.step_seconds.append(time.perf_counter() - start)
            rec.step_tokens.append(c.tokens(batch) if c.tokens else 1)  # the batch as drawn: no device read
            marks = []
            if steps is not None and rec.steps == steps:
                marks.append("steps")
            if seconds is not None and "seconds" not in rec.marks and rec.seconds >= seconds:
                marks.append("seconds")
            due = eval_every > 0 and rec.seconds >= next_eval[c.name]
            if marks or due:
                score = float(c.evaluate(c.model))
                rec.curve.append((rec.steps, rec.seconds, score))
                while eval_every > 0 and next_eval[c.name] <= rec.seconds:
                    next_eval[c.name] += eval_every
                for mark in marks:
                    rec.marks[mark] = {"step": rec.steps, "seconds": rec.seconds, "score": score}
                    rec.states[mark] = copy.deepcopy(c.model.state_dict())
            if (steps is None or rec.steps >= steps) and (seconds is None or "seconds" in rec.marks):
                active.remove(c)
        if steps is not None and bar.n < min(steps, min(r.steps for r in records.values())):
            bar.update(min(steps, min(r.steps for r in records.values())) - bar.n)
    bar.close()
    return records


def score_at(model: nn.Module, state: dict, score: Callable[[nn.Module], float]) -> float:
    """``score(model)`` with the weights ``state`` (a record's budget-point copy; loading copies it
    into the model's parameters, wherever it lives); the model's own weights are put back afterwards."""
    own = copy.deepcopy(model.state_dict())
    model.load_state_dict(state)
    try:
        return float(score(model))
    finally:
        model.load_state_dict(own)


# -- curves on a common time grid ---------------------------------------------------------------


def on_grid(curve: Sequence[Sequence[float]], grid: Sequence[float]) -> list[float]:
    """A ``[[seconds, score], ...]`` curve (seconds increasing) at the times of ``grid``, linearly
    interpolated (held at its last score past its end)."""
    xs, ys = zip(*curve, strict=True)
    return [float(v) for v in np.interp(np.asarray(grid, dtype=float), xs, ys)]


def band(curves: Sequence[Sequence[Sequence[float]]], grid: Sequence[float]) -> dict:
    """Mean and sample std (0 for one curve) over seeds of ``curves`` on ``grid``: ``{"mean", "std"}``."""
    values = np.array([on_grid(c, grid) for c in curves])
    std = values.std(axis=0, ddof=1) if len(values) > 1 else np.zeros(len(grid))
    return {"mean": values.mean(axis=0).tolist(), "std": std.tolist()}


def time_to_reach(grid: Sequence[float], values: Sequence[float], target: float, lower_is_better: bool) -> float | None:
    """The first time at which ``values`` (on ``grid``) reaches ``target``, interpolated linearly
    between grid points; None when it never does."""
    sign = 1.0 if lower_is_better else -1.0
    for i, v in enumerate(values):
        if sign * (v - target) <= 0:
            if i == 0:
                return float(grid[0])
            v0, t0, t1 = values[i - 1], grid[i - 1], grid[i]
            return float(t0 + (t1 - t0) * (v0 - target) / (v0 - v)) if v0 != v else float(t1)
    return None


def parameter_gap(counts: Sequence[int]) -> float:
    """The largest relative difference of ``counts`` from their largest: (max - min) / max."""
    return (max(counts) - min(counts)) / max(counts)


__all__ = ["CharCorpus", "char_corpus", "random_windows", "CharLM", "build_lm", "lm_loss", "bits_per_char",
           "PolaritySplit", "PolarityData", "polarity_data", "polarity_batch", "padded_batches", "accuracy",
           "Contestant", "RaceRecord", "race", "score_at", "on_grid", "band", "time_to_reach", "parameter_gap"]
