"""How far back can each cell remember? :mod:`rnnkit.analysis.memory`'s first-symbol recall swept
over the sequence length T, for equally large RNN, LSTM, GRU (and TCN), the gated cells with their
memory-gate bias at 0 and at 3.

The task: T one-hot symbols of ``symbols`` classes; the label is the *first* symbol, read from the
last step. Each model trains for the same number of steps at every T on fresh sequences, then is
scored on a fixed held-out batch. A model *holds* at T when its mean accuracy over seeds is at
least ``HOLDS`` (50 %, four times chance for 8 symbols: well above guessing, well below the 100 %
a model that has learnt the task reaches); it *breaks* at the first T of the sweep where it does
not. So the breaking point is what a model learns within this training budget, not what it could
learn at all.

Memory-gate bias (``SequenceNet(memory_bias=...)``, :func:`rnnkit.nn.cells.init_memory_bias`):
the LSTM's forget gate / GRU's update gate bias at initialisation, set as the ``bias_ih`` slice =
b and the ``bias_hh`` slice = 0. Bias 0 puts the gate at sigmoid(0) = 0.5 before the weights act,
so a stored value halves each step; 3 (``analysis.memory``'s value) puts it near 0.95. We use 0,
not ``None`` (torch.nn's U(-1/sqrt(H), 1/sqrt(H)) on both slices), which is also centred on 0.5
but adds random per-unit offsets: 0 isolates the gate's starting value.

Result keys beyond the contract's (T as a string, ``"50"``, so a result reads the same after JSON):

- ``lengths``: the T swept (ints); ``chance``: 1 / symbols; ``holds``: the threshold;
- ``accuracy``: ``{model: {T: summarize(held-out accuracy, one value per seed)}}``;
- ``breaks_at``: ``{model: first T with mean accuracy < holds, or None (held everywhere)}``;
- ``train_seconds``: ``{model: {T: summarize(seconds of one training run)}}``;
- ``widths``: ``{T: {model: hidden width (TCN: channels per block)}}``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..analysis import memory
from . import common, models
from .adding import parameter_entries

NAME = "memory-length"
CLAIM = ("2. A vanilla RNN's transition matrix weakens the signal at every step; the LSTM's gates can leave "
         "some dimensions unchanged over many steps (long memory).")

HOLDS = 0.5  # a model holds at T when its mean held-out accuracy is at least this
TEST_SEED = 20_000  # the held-out batch of length T is seeded TEST_SEED + T, apart from every training seed
GATED = ("lstm", "gru")


@dataclass
class Config:
    """``lengths``: the T swept; ``kinds`` (see ``models.KINDS``), the gated ones once per bias of
    ``memory_biases``, each built to ``parameters``; Adam at ``lr``, gradient norm clipped to
    ``clip``, ``train_steps`` steps of ``batch_size`` fresh sequences of ``symbols`` symbols;
    accuracy on ``test_size`` held-out sequences; ``kernel_size``: the TCN's (its depth covers T).
    ``device``: where models, batches and held-out tensors live (the runner sets it from ``--device``)."""

    lengths: tuple[int, ...] = (10, 25, 50, 100, 150, 200)
    symbols: int = 8
    kinds: tuple[str, ...] = ("rnn", "lstm", "gru", "tcn")
    memory_biases: tuple[float, ...] = (0.0, 3.0)
    parameters: int = 6000
    train_steps: int = 400
    batch_size: int = 64
    lr: float = 3e-3
    clip: float = 1.0
    test_size: int = 512
    kernel_size: int = 7
    seeds: tuple[int, ...] = (0, 1, 2)
    device: str = "cpu"


PRESETS = {
    "tiny": Config(lengths=(4, 8), kinds=("rnn", "lstm"), memory_biases=(0.0, 3.0), parameters=300, train_steps=5,
                   batch_size=8, test_size=32, seeds=(0, 1)),
    "quick": Config(lengths=(10, 25, 50, 100), kinds=("rnn", "lstm", "gru"), train_steps=300),
    "full": Config(),
}
RUN_TIME = {"quick": "1.8 min", "full": "11 min"}  # measured on the idle 2-core machine, 2 threads


def recall_batch(size: int, steps: int, symbols: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``size`` recall sequences drawn from ``generator`` (``analysis.memory.recall_batch``):
    ``x`` (B, T, symbols) one-hot and ``y`` (B,) = the first symbol of each row."""
    for name, value, least in (("size", size, 1), ("steps", steps, 1), ("symbols", symbols, 2)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name} must be an int >= {least}; got {value!r}")
    return memory.recall_batch(memory.RecallConfig(steps=steps, symbols=symbols, batch_size=size), generator)


def model_specs(cfg: Config) -> list[tuple[str, str, float | None]]:
    """``(label, kind, memory_bias)`` of each model ``cfg`` compares."""
    specs = []
    for kind in cfg.kinds:
        if kind in GATED:
            specs += [(f"{models.LABELS[kind]} (bias {b:g})", kind, float(b)) for b in cfg.memory_biases]
        else:
            specs.append((models.LABELS[kind], kind, None))
    return specs


def breaking_point(lengths: list[int], means: list[float], holds: float = HOLDS) -> int | None:
    """The first T of ``lengths`` whose mean accuracy is below ``holds`` (NaN counts as below);
    None when every one is at least ``holds``."""
    for length, mean in zip(lengths, means):
        if not (math.isfinite(mean) and mean >= holds):
            return length
    return None


def test_accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of rows whose arg-max prediction is the label (eval mode, no gradients)."""
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def _loss(model, x, y):
    return F.cross_entropy(model(x), y)


def run(cfg: Config, out: Path, progress: bool = False) -> dict:
    specs = model_specs(cfg)
    accuracy = {label: {} for label, _, _ in specs}
    seconds = {label: {} for label, _, _ in specs}
    counts, widths = {}, {}
    for length in cfg.lengths:
        key = str(length)
        test_gen = torch.Generator().manual_seed(TEST_SEED + length)
        x_test, y_test = recall_batch(cfg.test_size, length, cfg.symbols, test_gen)
        x_test, y_test = common.to_device((x_test, y_test), cfg.device)  # once, not per model and seed
        counts[key], widths[key] = {}, {}
        for label, kind, bias in specs:
            width = models.build(kind, cfg.symbols, cfg.symbols, cfg.parameters, steps=length,
                                 kernel_size=cfg.kernel_size).head.in_features
            scores, times = [], []
            for seed in cfg.seeds:
                g = common.generator(seed)  # the same seed: the same initial weights and training sequences
                # built on the CPU (the same initial weights on every device), then moved
                model = models.SequenceNet(kind, cfg.symbols, width, cfg.symbols, steps=length,
                                           kernel_size=cfg.kernel_size, memory_bias=bias).to(cfg.device)
                common.synchronize(cfg.device)  # the copy of the weights is not part of the training time
                start = time.perf_counter()
                common.train_steps(model, lambda g=g, n=length: recall_batch(cfg.batch_size, n, cfg.symbols, g), _loss,
                                   cfg.train_steps, cfg.lr, cfg.clip, progress=progress,
                                   desc=f"memory-length T={length} {label} seed {seed}")
                times.append(time.perf_counter() - start)
                scores.append(test_accuracy(model, x_test, y_test))
            counts[key][label], widths[key][label] = common.count_parameters(model), width
            accuracy[label][key] = common.summarize(scores)
            seconds[label][key] = common.summarize(times)
    lengths = list(cfg.lengths)
    breaks = {label: breaking_point(lengths, [a[str(t)]["mean"] for t in lengths]) for label, a in accuracy.items()}
    result = {"setup": _setup(cfg, specs), "parameters": parameter_entries(counts), "lengths": lengths,
              "chance": 1 / cfg.symbols, "holds": HOLDS, "accuracy": accuracy, "breaks_at": breaks,
              "train_seconds": seconds, "widths": widths}
    result["tables"] = [_table(cfg, result)]
    result["figures"] = [_figure(cfg, result, out)]
    return result


def _setup(cfg: Config, specs) -> str:
    return (f"First-symbol recall (rnnkit.analysis.memory's task): T one-hot symbols of {cfg.symbols}, label = the "
            f"first symbol, read from the last step; T = {', '.join(map(str, cfg.lengths))}. Models, one layer and a "
            f"linear read-out, each matched to ~{cfg.parameters:,} parameters at every T: "
            f"{', '.join(label for label, _, _ in specs)}; bias b = the LSTM forget / GRU update gate's initial bias "
            f"(bias_ih slice b, bias_hh slice 0; 0 = gate at 0.5, 3 = gate near 0.95, analysis.memory's value); TCN "
            f"kernel {cfg.kernel_size}, depth covering T. Each trains {cfg.train_steps} Adam steps (lr {cfg.lr}, "
            f"gradient norm clipped to {cfg.clip}) on batches of {cfg.batch_size} fresh sequences, then is scored on "
            f"a fixed held-out batch of {cfg.test_size}; {len(cfg.seeds)} seeds. A model holds at T when its mean "
            f"accuracy is >= {HOLDS:.0%} (chance {1 / cfg.symbols:.1%}) and breaks at the first T where it is not.")


def _table(cfg: Config, r: dict) -> dict:
    rows = [[label, *(common.pm(acc[str(t)], percent=True) for t in r["lengths"]),
             "holds throughout" if r["breaks_at"][label] is None else f"T={r['breaks_at'][label]}"]
            for label, acc in r["accuracy"].items()]
    rows.append(["chance", *(f"{100 / cfg.symbols:.1f} %" for _ in r["lengths"]), "—"])
    return common.table(
        f"First-symbol recall: held-out accuracy after {cfg.train_steps} steps (mean ± std over {len(cfg.seeds)} "
        f"seeds) and where each model breaks (first T with mean accuracy < {HOLDS:.0%})",
        ["model", *(f"T={t}" for t in r["lengths"]), "breaks at"], rows)


def _figure(cfg: Config, r: dict, out: Path) -> dict:
    fig, axes = common.new_figure(size=(6.5, 4.5))
    ax = axes[0][0]
    lengths = r["lengths"]
    for label, acc in r["accuracy"].items():
        mean = torch.tensor([acc[str(t)]["mean"] for t in lengths])
        std = torch.tensor([acc[str(t)]["std"] for t in lengths])
        line, = ax.plot(lengths, mean, marker="o", label=label)
        ax.fill_between(lengths, mean - std, mean + std, color=line.get_color(), alpha=0.15)
    ax.axhline(r["chance"], color="black", linestyle="--", linewidth=1, label=f"chance ({r['chance']:.1%})")
    ax.axhline(HOLDS, color="grey", linestyle=":", linewidth=1, label=f"holds ({HOLDS:.0%})")
    ax.set_xlabel("sequence length T (steps between the symbol and the read-out)")
    ax.set_ylabel("held-out accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_title("memory-length: first-symbol recall")
    ax.legend(fontsize=7)
    return common.figure(fig, out, "memory_length.png",
                         f"First-symbol recall accuracy against T after {cfg.train_steps} training steps; line: mean "
                         f"over {len(cfg.seeds)} seeds, band: ± std; dashed: chance, dotted: the {HOLDS:.0%} "
                         "threshold.")


def verdict(result: dict) -> str:
    """Where each model breaks, from ``breaks_at`` and the accuracies."""
    longest = max(result["lengths"])
    parts = []
    for label, at in result["breaks_at"].items():
        acc = result["accuracy"][label]
        if at is None:
            parts.append(f"{label} holds to T={longest} ({acc[str(longest)]['mean']:.1%})")
        else:
            parts.append(f"{label} breaks at T={at} ({acc[str(at)]['mean']:.1%})")
    return "; ".join(parts) + f" (holds = mean accuracy >= {result['holds']:.0%}, chance {result['chance']:.1%})"


__all__ = ["NAME", "CLAIM", "Config", "PRESETS", "RUN_TIME", "run", "verdict", "recall_batch", "model_specs",
           "breaking_point", "HOLDS"]
