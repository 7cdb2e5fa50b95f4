"""The adding problem of Bai, Kolter & Koltun (2018), Table 1: RNN, LSTM, GRU and TCN of equal size.

A sequence of T steps has two input channels: values uniform in [0, 1], and a marker that is 1 at
exactly two steps and 0 elsewhere. The target is the sum of the two marked values; the model reads
its output at the last step (``read="last"``) and is trained on the mean squared error. Predicting
the target's mean (1) for every sequence scores Var(U + V) = 2/12 ~ 0.167, the baseline a model must
beat clearly to have carried the two values across the sequence. Where the markers sit follows Bai
et al.'s generator (``TCN/adding_problem/utils.py``): two distinct steps drawn uniformly from the
whole sequence; ``Config.one_per_half`` puts one in each half instead, which guarantees that the
first value lies at least T/2 steps before the read-out.

Result keys beyond the contract's (``T`` below is a string, ``"50"``, so a result reads the same
after its JSON round trip):

- ``baseline_mse``: ``{T: MSE of predicting 1 on the test batch}`` (the theoretical value is 1/6);
- ``final_mse``: ``{T: {model: summarize(test MSE after the last step, one value per seed)}}``;
- ``curves``: ``{T: {model: {"steps": [...], "mean": [...], "std": [...], "per_seed": [[...]]}}}``,
  the test MSE every ``eval_every`` training steps;
- ``train_seconds``: ``{T: {model: summarize(wall seconds of one training run)}}``;
- ``widths``: ``{T: {model: hidden width (TCN: channels per block)}}``, ``tcn_levels``: ``{T: blocks}``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from . import common, models

NAME = "adding"
CLAIM = ("Claims 1, 2 and 4: carrying two values across T steps is hard for a vanilla RNN (its gradient "
         "fades with T), the gated LSTM/GRU can keep them, and Bai et al.'s TCN does at least as well.")

# Bai et al. 2018, Table 1: adding problem, T = 600, ~70k parameters, test MSE (published, not ours).
PUBLISHED = {"lstm": 0.164, "gru": 5.3e-5, "rnn": 0.177, "tcn": 5.8e-5}
PUBLISHED_T = 600
# A model "clearly beats" the baseline when its mean test MSE is below this fraction of it.
CLEAR_MARGIN = 0.5
# The held-out batch is seeded apart from every training seed: the same batch for all models and seeds.
TEST_SEED = 10_000


@dataclass
class Config:
    """``lengths``: the sequence lengths T; ``kinds``: models (see ``models.KINDS``) built to
    ``parameters`` each; Adam at ``lr`` for ``steps`` steps of ``batch_size`` fresh sequences,
    gradient norm clipped to ``clip``; the test MSE on ``test_size`` held-out sequences every
    ``eval_every`` steps; ``kernel_size``: the TCN's (its depth covers T).
    ``device``: where models, batches and held-out tensors live (the runner sets it from ``--device``)."""

    lengths: tuple[int, ...] = (50, 100, 200)
    kinds: tuple[str, ...] = ("rnn", "lstm", "gru", "tcn")
    parameters: int = 10_000
    steps: int = 1000
    batch_size: int = 64
    lr: float = 5e-3
    clip: float = 1.0
    eval_every: int = 50
    test_size: int = 500
    kernel_size: int = 7
    one_per_half: bool = False
    seeds: tuple[int, ...] = (0, 1, 2)
    device: str = "cpu"


PRESETS = {
    "tiny": Config(lengths=(12,), kinds=("rnn", "tcn"), parameters=400, steps=6, batch_size=8, eval_every=3,
                   test_size=32, seeds=(0, 1)),
    "quick": Config(lengths=(50, 100), steps=350, eval_every=25, test_size=256),
    "full": Config(),
}
RUN_TIME = {"quick": "1.5 min", "full": "11 min"}  # measured on the idle 2-core machine, 2 threads


def adding_batch(size: int, steps: int, generator: torch.Generator,
                 one_per_half: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``size`` adding-problem sequences of ``steps`` steps, drawn from ``generator``.

    Returns ``x`` (B, T, 2): channel 0 the values (uniform in [0, 1]), channel 1 the marker (1 at
    two steps, 0 elsewhere); and ``y`` (B, 1): the sum of the two marked values. The two marked
    steps are distinct and uniform over the sequence (Bai et al.'s generator), or with
    ``one_per_half`` one uniform in ``[0, T // 2)`` and one in ``[T // 2, T)``.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int (sequences in the batch); got {size!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an int >= 2 (two steps get marked); got {steps!r}")
    values = torch.rand(size, steps, generator=generator)
    if one_per_half:
        half = steps // 2
        first = torch.randint(0, half, (size,), generator=generator)
        second = torch.randint(half, steps, (size,), generator=generator)
        marked = torch.stack([first, second], dim=1)
    else:  # the first two steps of a random permutation: two distinct uniform steps per row
        marked = torch.rand(size, steps, generator=generator).argsort(dim=1)[:, :2]
    marker = torch.zeros(size, steps).scatter_(1, marked, 1.0)
    target = values.gather(1, marked).sum(dim=1, keepdim=True)
    return torch.stack([values, marker], dim=2), target


def summarize_curves(per_seed: list[list[tuple[int, float]]]) -> dict:
    """Curves of one model over seeds (``[(step, value), ...]`` each, the same steps) ->
    ``{"steps", "mean", "std", "per_seed"}`` (std over seeds, 0 for one seed)."""
    steps = [s for s, _ in per_seed[0]]
    columns = [common.summarize(v for _, v in points) for points in zip(*per_seed)]
    return {"steps": steps, "mean": [c["mean"] for c in columns], "std": [c["std"] for c in columns],
            "per_seed": [[v for _, v in points] for points in per_seed]}


def curves_figure(experiment: str, curves: dict, baselines: dict, baseline_label: str, ylabel: str,
                  out: Path, name: str, caption: str) -> dict:
    """One log-scale panel per T: each model's mean curve with a ±std band over seeds, and the
    baseline as a dashed line. ``curves``: {T: {model: summarize_curves(...)}}; ``baselines``: {T: value}."""
    fig, axes = common.new_figure(ncols=len(curves), size=(4.8, 3.8))
    for ax, (length, by_model) in zip(axes[0], curves.items()):
        for label, c in by_model.items():
            mean = torch.tensor(c["mean"])
            std = torch.tensor(c["std"])
            line, = ax.plot(c["steps"], mean, label=label)
            # a log axis cannot show values <= 0: clip the band's lower edge to a tenth of the lowest mean
            low = torch.clamp(mean - std, min=float(mean.min()) * 0.1 if float(mean.min()) > 0 else 1e-12)
            ax.fill_between(c["steps"], low, mean + std, color=line.get_color(), alpha=0.2)
        ax.axhline(baselines[length], color="black", linestyle="--", linewidth=1,
                   label=f"{baseline_label} ({baselines[length]:.3g})")
        ax.set_yscale("log")
        ax.set_xlabel("training steps")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{experiment}: T = {length}")
        ax.legend(fontsize=8)
    return common.figure(fig, out, name, caption)


def parameter_entries(counts: dict[str, dict[str, int]]) -> dict[str, int]:
    """``{T: {model: count}}`` -> ``{model: count}``, with one entry per T (``"TCN, T=50"``) for a
    model whose count changes with T (the TCN, whose depth follows T)."""
    entries: dict[str, int] = {}
    labels = next(iter(counts.values())).keys()
    for label in labels:
        per_length = {length: c[label] for length, c in counts.items()}
        if len(set(per_length.values())) == 1:
            entries[label] = next(iter(per_length.values()))
        else:
            entries.update({f"{label}, T={length}": n for length, n in per_length.items()})
    return entries


def matched_widths(kinds: tuple[str, ...], input_size: int, output_size: int, parameters: int,
                   **shape) -> dict[str, tuple[int, int]]:
    """``{kind: (width, parameter count)}`` of ``models.SequenceNet`` s matched to one count (``shape``:
    SequenceNet's keywords). The TCN's count moves in coarse steps (one more channel adds a weight to
    every kernel of every block: 10-15 % at 10k parameters), the recurrent ones' in fine steps; so when
    a TCN is among ``kinds`` it is sized to ``parameters`` first and the others to its count."""
    order = sorted(kinds, key=lambda k: k != "tcn")
    target, sized = parameters, {}
    for kind in order:
        model = models.build(kind, input_size, output_size, target, **shape)
        sized[kind] = (model.head.in_features, common.count_parameters(model))
        if kind == "tcn":
            target = sized[kind][1]
    return {kind: sized[kind] for kind in kinds}


def train_seeds(make_model: Callable[[], nn.Module], batch: Callable[[torch.Generator], tuple],
                loss_fn: Callable, evaluate: Callable[[nn.Module], float], cfg, desc: str,
                progress: bool) -> list[dict]:
    """Trains one model per seed of ``cfg.seeds`` (``cfg``: any config with seeds, steps, lr, clip,
    eval_every, device) with :func:`common.train_steps`; batches come from ``batch(generator)``, the
    generator seeded by the seed (so one seed gives every model the same initialisation seed and the
    same training sequences). The model is built on the CPU (the same initial weights on every
    device) and moved to ``cfg.device``, where ``evaluate`` must find its data. Returns per seed
    ``{"curve": [(step, evaluate(model))...], "seconds", "model"}``."""
    done = []
    for seed in cfg.seeds:
        g = common.generator(seed)
        model = make_model().to(cfg.device)
        common.synchronize(cfg.device)  # the copy of the weights is not part of the training time
        start = time.perf_counter()
        curve = common.train_steps(model, partial(batch, g), loss_fn, cfg.steps, cfg.lr, cfg.clip,
                                   evaluate=partial(evaluate, model), eval_every=cfg.eval_every,
                                   desc=f"{desc} seed {seed}", progress=progress)
        done.append({"curve": curve, "seconds": time.perf_counter() - start, "model": model})
    return done


def held_out_mse(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """The model's MSE on the held-out batch, in eval mode, without gradients."""
    model.eval()
    with torch.no_grad():
        return float(F.mse_loss(model(x), y))


def mse_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The training loss: (B, T, 2) inputs, (B, 1) targets -> the mean squared error."""
    return F.mse_loss(model(x), y)


def run(cfg: Config, out: Path, progress: bool = False) -> dict:
    curves, final, seconds, counts, widths, levels, baselines = {}, {}, {}, {}, {}, {}, {}
    for length in cfg.lengths:
        key = str(length)
        x_test, y_test = adding_batch(cfg.test_size, length, torch.Generator().manual_seed(TEST_SEED + length),
                                      cfg.one_per_half)
        baselines[key] = float(F.mse_loss(torch.ones_like(y_test), y_test))
        x_test, y_test = common.to_device((x_test, y_test), cfg.device)  # once, not at every evaluation
        curves[key], final[key], seconds[key], counts[key], widths[key] = {}, {}, {}, {}, {}
        levels[key] = models.tcn_levels(length, cfg.kernel_size)
        shape = dict(read="last", steps=length, kernel_size=cfg.kernel_size)
        for kind, (width, count) in matched_widths(cfg.kinds, 2, 1, cfg.parameters, **shape).items():
            label = models.LABELS[kind]
            counts[key][label], widths[key][label] = count, width
            runs = train_seeds(partial(models.SequenceNet, kind, 2, width, 1, **shape),
                               partial(adding_batch, cfg.batch_size, length, one_per_half=cfg.one_per_half),
                               mse_loss, partial(held_out_mse, x=x_test, y=y_test), cfg, f"adding T={length} {label}",
                               progress)
            curves[key][label] = summarize_curves([r["curve"] for r in runs])
            final[key][label] = common.summarize(r["curve"][-1][1] for r in runs)
            seconds[key][label] = common.summarize(r["seconds"] for r in runs)
    labels = [models.LABELS[k] for k in cfg.kinds]
    placement = ("one in each half" if cfg.one_per_half else
                 "two distinct steps uniform over the sequence, as Bai et al.'s generator")
    setup = (f"Adding problem (Bai et al. 2018): inputs (B, T, 2) = values uniform in [0, 1] and a 0/1 marker "
             f"on two steps ({placement}); target the sum of the two marked values, read at the last step, MSE. "
             f"T = {', '.join(map(str, cfg.lengths))}. Models {', '.join(labels)}, one layer and a linear read-out, "
             f"matched in size (~{cfg.parameters:,} parameters, the counts below; Bai et al.: ~70k, smaller here to "
             f"fit the CPU budget); TCN kernel {cfg.kernel_size}, depth covering T. Adam lr {cfg.lr}, gradient "
             f"norm clipped to {cfg.clip}, {cfg.steps} steps of {cfg.batch_size} fresh sequences; test MSE on a "
             f"fixed held-out batch of {cfg.test_size} every {cfg.eval_every} steps; {len(cfg.seeds)} seeds. "
             f"Baseline: predicting the mean 1 scores 1/6 ~ 0.167.")
    columns = ["model", *(f"T={t}" for t in cfg.lengths), f"T={PUBLISHED_T}"]
    rows = [[label, *(common.pm(final[str(t)][label]) for t in cfg.lengths), "—"] for label in labels]
    rows.append(["predict the mean (baseline)", *(f"{baselines[str(t)]:.3g}" for t in cfg.lengths), f"{1 / 6:.3g}"])
    rows += [[f"{models.LABELS[k]} (Bai et al. 2018, published, T={PUBLISHED_T}, ~70k parameters)",
              *("—" for _ in cfg.lengths), f"{PUBLISHED[k]:.3g}"] for k in cfg.kinds if k in PUBLISHED]
    tables = [common.table(f"Adding problem: test MSE after {cfg.steps} steps (mean ± std over {len(cfg.seeds)} "
                           f"seeds); published figures at T={PUBLISHED_T} for reference", columns, rows)]
    figures = [curves_figure(
        "adding", {t: curves[t] for t in curves}, baselines, "predict the mean", "test MSE (log scale)", out,
        "adding_curves.png",
        f"Adding problem: test MSE on a fixed held-out batch against training steps, one panel per T; line: mean "
        f"over {len(cfg.seeds)} seeds, band: ± std; dashed: predicting the mean, 1, on the same batch (1/6 in "
        f"expectation).")]
    return {"setup": setup, "parameters": parameter_entries(counts), "tables": tables, "figures": figures,
            "baseline_mse": baselines, "final_mse": final, "curves": curves, "train_seconds": seconds,
            "widths": widths, "tcn_levels": levels}


def verdict(result: dict) -> str:
    """Per T: which models' mean test MSE is below ``CLEAR_MARGIN`` x the baseline, and the best model."""
    parts = []
    for length, by_model in result["final_mse"].items():
        baseline = result["baseline_mse"][length]
        means = {label: s["mean"] for label, s in by_model.items()}
        finite = {label: m for label, m in means.items() if math.isfinite(m)}
        beat = [f"{label} {m:.2g}" for label, m in finite.items() if m < CLEAR_MARGIN * baseline]
        best = min(finite, key=finite.get) if finite else None
        best_text = f"best {best} {finite[best]:.2g}" if best else "every run diverged"
        margin = f"the baseline {baseline:.3g} by >{1 / CLEAR_MARGIN:g}x"
        parts.append(f"T={length}: " + (f"{', '.join(beat)} beat {margin}" if beat else f"no model beat {margin}")
                     + f" ({best_text})")
    return "; ".join(parts)


__all__ = ["NAME", "CLAIM", "Config", "PRESETS", "RUN_TIME", "run", "verdict", "adding_batch", "PUBLISHED"]
