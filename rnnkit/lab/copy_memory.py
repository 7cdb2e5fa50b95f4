"""The copy memory task of Bai, Kolter & Koltun (2018), Table 1: RNN, LSTM, GRU and TCN of equal size.

Each sequence has T + 20 symbols, as Bai et al.'s generator (``TCN/copy_memory/utils.py``) writes
it: 10 digits drawn uniformly from 1-8, then T - 1 blanks (0), then 11 markers (9), the first at
position T + 9 (0-based). The target is blank (0) everywhere except the last 10 positions, which hold
the 10 digits: after the marker the model must recall what it saw T + 10 steps before. The model
predicts every position (``read="all"``, 10 classes) and is trained on the cross-entropy averaged
over all T + 20 positions. A memoryless model predicts the blanks perfectly (the input says where
they are) and guesses the 10 digits uniformly among 8, so it scores 10 ln 8 / (T + 20): the
baseline a model must get below to show it remembers. Its recall accuracy is 1/8.

Input encoding: Bai et al. feed the symbol as one scalar channel; with ``Config.one_hot`` (the
default) each symbol is a one-hot vector of 10 channels instead, so that telling digits apart is not
part of the difficulty and what is measured is the memory.

Result keys beyond the contract's (``T`` below is a string, ``"50"``, so a result reads the same
after its JSON round trip):

- ``baseline_loss``: ``{T: 10 ln 8 / (T + 20)}``;
- ``final_loss``: ``{T: {model: summarize(test cross-entropy after the last step, one value per seed)}}``;
- ``recall_accuracy``: ``{T: {model: summarize(fraction of the 10 recalled digits predicted right)}}``;
- ``curves``: ``{T: {model: {"steps", "mean", "std", "per_seed"}}}``, the test loss every ``eval_every`` steps;
- ``train_seconds``: ``{T: {model: summarize(wall seconds of one training run)}}``;
- ``widths``: ``{T: {model: hidden width (TCN: channels per block)}}``, ``tcn_levels``: ``{T: blocks}``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F

from . import common, models
from .adding import curves_figure, matched_widths, parameter_entries, summarize_curves, train_seeds

NAME = "copy-memory"
CLAIM = ("Claims 2 and 4: recalling 10 digits after T blanks needs a memory the vanilla RNN's transition "
         "erodes and the LSTM's/GRU's gates can hold; Bai et al.'s TCN recalls them best.")

MEMORY = 10  # digits to recall (Bai et al.'s default)
BLANK, MARKER, CLASSES = 0, 9, 10
# Bai et al. 2018, Table 1: copy memory, T = 1000, ~16k parameters, test loss (published, not ours).
PUBLISHED = {"lstm": 0.0204, "gru": 0.0197, "rnn": 0.0202, "tcn": 3.5e-5}
PUBLISHED_T = 1000
# A model gets "below the baseline" when its mean test loss is under this fraction of it.
CLEAR_MARGIN = 0.9
TEST_SEED = 20_000  # the held-out batch's seed, apart from every training seed


@dataclass
class Config:
    """``lengths``: the blank lengths T (sequences of T + 20); ``kinds``: models (see
    ``models.KINDS``) built to ``parameters`` each; Adam at ``lr`` for ``steps`` steps of
    ``batch_size`` fresh sequences, gradient norm clipped to ``clip``; test loss on ``test_size``
    held-out sequences every ``eval_every`` steps; ``kernel_size``: the TCN's (its depth covers
    T + 20); ``one_hot``: one-hot symbols (10 channels) or the scalar symbol (1 channel, as Bai et al.).
    ``device``: where models, batches and held-out tensors live (the runner sets it from ``--device``)."""

    lengths: tuple[int, ...] = (50, 100, 200)
    kinds: tuple[str, ...] = ("rnn", "lstm", "gru", "tcn")
    parameters: int = 16_000
    steps: int = 700
    batch_size: int = 64
    lr: float = 3e-3
    clip: float = 1.0
    eval_every: int = 50
    test_size: int = 500
    kernel_size: int = 8
    one_hot: bool = True
    seeds: tuple[int, ...] = (0, 1, 2)
    device: str = "cpu"


PRESETS = {
    "tiny": Config(lengths=(5,), kinds=("lstm", "tcn"), parameters=800, steps=6, batch_size=8, eval_every=3,
                   test_size=32, seeds=(0, 1)),
    "quick": Config(lengths=(50, 100), steps=250, eval_every=25, test_size=256),
    "full": Config(),
}
RUN_TIME = {"quick": "1.5 min", "full": "10 min"}  # measured on the idle 2-core machine, 2 threads


def baseline_loss(blank: int) -> float:
    """The cross-entropy of the best memoryless model: 10 ln 8 / (T + 20)."""
    return MEMORY * math.log(8) / (blank + 2 * MEMORY)


def copy_batch(size: int, blank: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``size`` copy-memory sequences with ``blank`` blanks, drawn from ``generator``.

    Returns ``symbols`` (B, T + 20) and ``targets`` (B, T + 20), both int64 in 0..9: symbols are the
    10 digits (1-8), T - 1 blanks (0) and 11 markers (9); targets are T + 10 blanks and the 10 digits.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int (sequences in the batch); got {size!r}")
    if isinstance(blank, bool) or not isinstance(blank, int) or blank < 1:
        raise ValueError(f"blank must be an int >= 1 (the blank length T); got {blank!r}")
    digits = torch.randint(1, 9, (size, MEMORY), generator=generator)
    symbols = torch.cat([digits, torch.full((size, blank - 1), BLANK), torch.full((size, MEMORY + 1), MARKER)], 1)
    targets = torch.cat([torch.full((size, blank + MEMORY), BLANK), digits], 1)
    return symbols, targets


def encode(symbols: torch.Tensor, one_hot: bool) -> torch.Tensor:
    """(B, L) int symbols -> the model's input: (B, L, 10) one-hot, or (B, L, 1) the symbol as a float."""
    return F.one_hot(symbols, CLASSES).float() if one_hot else symbols.unsqueeze(2).float()


def encoded_batch(size: int, blank: int, generator: torch.Generator,
                  one_hot: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """A training batch: (the encoded :func:`copy_batch` symbols, its targets)."""
    symbols, targets = copy_batch(size, blank, generator)
    return encode(symbols, one_hot), targets


def copy_loss(model: torch.nn.Module, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy averaged over every position of every sequence (as Bai et al.)."""
    return F.cross_entropy(model(x).reshape(-1, CLASSES), targets.reshape(-1))


def held_out_scores(model: torch.nn.Module, x: torch.Tensor, targets: torch.Tensor) -> tuple[float, float]:
    """``(loss, recall accuracy)`` on the held-out batch: the cross-entropy over all positions and
    the fraction of the last 10 positions (the recalled digits) predicted right."""
    model.eval()
    with torch.no_grad():
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, CLASSES), targets.reshape(-1))
        recalled = logits[:, -MEMORY:].argmax(dim=2) == targets[:, -MEMORY:]
    return float(loss), float(recalled.float().mean())


def held_out_loss(model: torch.nn.Module, x: torch.Tensor, targets: torch.Tensor) -> float:
    """The held-out batch's cross-entropy (what the learning curves plot)."""
    return held_out_scores(model, x, targets)[0]


def run(cfg: Config, out: Path, progress: bool = False) -> dict:
    channels = CLASSES if cfg.one_hot else 1
    curves, final, accuracy, seconds, counts, widths, levels, baselines = {}, {}, {}, {}, {}, {}, {}, {}
    for blank in cfg.lengths:
        key, length = str(blank), blank + 2 * MEMORY
        symbols, y_test = copy_batch(cfg.test_size, blank, torch.Generator().manual_seed(TEST_SEED + blank))
        # moved once, not at every evaluation
        x_test, y_test = common.to_device((encode(symbols, cfg.one_hot), y_test), cfg.device)
        baselines[key] = baseline_loss(blank)
        curves[key], final[key], accuracy[key], seconds[key], counts[key], widths[key] = {}, {}, {}, {}, {}, {}
        levels[key] = models.tcn_levels(length, cfg.kernel_size)
        shape = dict(read="all", steps=length, kernel_size=cfg.kernel_size)
        for kind, (width, count) in matched_widths(cfg.kinds, channels, CLASSES, cfg.parameters, **shape).items():
            label = models.LABELS[kind]
            counts[key][label], widths[key][label] = count, width
            runs = train_seeds(partial(models.SequenceNet, kind, channels, width, CLASSES, **shape),
                               partial(encoded_batch, cfg.batch_size, blank, one_hot=cfg.one_hot), copy_loss,
                               partial(held_out_loss, x=x_test, targets=y_test), cfg, f"copy-memory T={blank} {label}",
                               progress)
            curves[key][label] = summarize_curves([r["curve"] for r in runs])
            final[key][label] = common.summarize(r["curve"][-1][1] for r in runs)
            accuracy[key][label] = common.summarize(held_out_scores(r["model"], x_test, y_test)[1] for r in runs)
            seconds[key][label] = common.summarize(r["seconds"] for r in runs)
    labels = [models.LABELS[k] for k in cfg.kinds]
    encoding = "one-hot (10 channels)" if cfg.one_hot else "the symbol as one scalar channel (as Bai et al.)"
    setup = (f"Copy memory (Bai et al. 2018): 10 digits from 1-8, T-1 blanks, 11 markers (9), fed as "
             f"{encoding}; target blank except the last 10 positions, which hold the 10 digits; cross-entropy over "
             f"all T+20 positions (10 classes). T = {', '.join(map(str, cfg.lengths))}. Models {', '.join(labels)}, "
             f"one layer and a linear read-out at every step, matched in size (~{cfg.parameters:,} parameters, the "
             f"counts below; Bai et al.: ~16k); TCN kernel {cfg.kernel_size}, depth covering T+20. Adam lr "
             f"{cfg.lr}, gradient norm clipped to {cfg.clip}, {cfg.steps} steps of {cfg.batch_size} fresh "
             f"sequences; test loss on a fixed held-out batch of {cfg.test_size} every {cfg.eval_every} steps, "
             f"recall accuracy on its 10 digits at the end; {len(cfg.seeds)} seeds. Baseline: a memoryless model "
             f"scores 10 ln 8/(T+20) and recalls 1/8 of the digits.")
    columns = ["model", *(f"T={t}" for t in cfg.lengths), f"T={PUBLISHED_T}"]
    loss_rows = [[label, *(common.pm(final[str(t)][label]) for t in cfg.lengths), "—"] for label in labels]
    loss_rows.append(["memoryless baseline 10 ln 8/(T+20)", *(f"{baselines[str(t)]:.3g}" for t in cfg.lengths),
                      f"{baseline_loss(PUBLISHED_T):.3g}"])
    loss_rows += [[f"{models.LABELS[k]} (Bai et al. 2018, published, T={PUBLISHED_T}, ~16k parameters)",
                   *("—" for _ in cfg.lengths), f"{PUBLISHED[k]:.3g}"] for k in cfg.kinds if k in PUBLISHED]
    recall_rows = [[label, *(common.pm(accuracy[str(t)][label], percent=True) for t in cfg.lengths)]
                   for label in labels]
    recall_rows.append(["memoryless baseline (1/8)", *("12.5 %" for _ in cfg.lengths)])
    tables = [
        common.table(f"Copy memory: test cross-entropy after {cfg.steps} steps (mean ± std over {len(cfg.seeds)} "
                     f"seeds); published figures at T={PUBLISHED_T} for reference", columns, loss_rows),
        common.table("Copy memory: recall accuracy on the 10 digits after the marker (mean ± std over seeds)",
                     columns[:-1], recall_rows),
    ]
    figures = [curves_figure(
        "copy-memory", curves, baselines, "memoryless", "test cross-entropy (log scale)", out,
        "copy_memory_curves.png",
        f"Copy memory: test cross-entropy on a fixed held-out batch against training steps, one panel per T; "
        f"line: mean over {len(cfg.seeds)} seeds, band: ± std; dashed: the memoryless baseline 10 ln 8/(T+20).")]
    return {"setup": setup, "parameters": parameter_entries(counts), "tables": tables, "figures": figures,
            "baseline_loss": baselines, "final_loss": final, "recall_accuracy": accuracy, "curves": curves,
            "train_seconds": seconds, "widths": widths, "tcn_levels": levels}


def verdict(result: dict) -> str:
    """Per T: which models' mean test loss is below ``CLEAR_MARGIN`` x the memoryless baseline, by
    what factor, with their recall accuracy; the rest are at (or above) it."""
    parts = []
    for blank, by_model in result["final_loss"].items():
        baseline = result["baseline_loss"][blank]
        recall = result["recall_accuracy"][blank]
        below = {label: s["mean"] for label, s in by_model.items()
                 if math.isfinite(s["mean"]) and s["mean"] < CLEAR_MARGIN * baseline}
        rest = [label for label in by_model if label not in below]
        text = ", ".join(f"{label} at {m / baseline:.2g}x it (recall {recall[label]['mean']:.0%})"
                         for label, m in sorted(below.items(), key=lambda item: item[1]))
        parts.append(f"T={blank}: " + (f"below the memoryless {baseline:.3g}: {text}" if below
                                       else f"no model below the memoryless {baseline:.3g}")
                     + (f"; {', '.join(rest)} at or above it" if rest else ""))
    return "; ".join(parts)


__all__ = ["NAME", "CLAIM", "Config", "PRESETS", "RUN_TIME", "run", "verdict", "copy_batch", "encode",
           "baseline_loss", "PUBLISHED"]
