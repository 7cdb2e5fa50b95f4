"""How much of the loss gradient reaches an input T - t steps before the loss: ||dL/dx_t|| against
distance, for equally large RNN (tanh, ReLU), LSTM, GRU and TCN, at initialisation and after brief
training; the vanilla RNN with its recurrent matrix rescaled below and above spectral radius 1;
and what clipping the gradient norm does to an exploding RNN's updates.

The task is :mod:`rnnkit.analysis.memory`'s first-symbol recall (:func:`rnnkit.lab.memory_length.recall_batch`):
``T`` one-hot symbols, the label is the first one, read at the last step, so the loss sits at step
T and x_1 is the one input it depends on. The gradient is taken with respect to the one-hot inputs
of a fixed probe batch (the same for every model and seed); ``||dL/dx_t||`` is the norm over the
batch and the features of the mean cross-entropy's gradient (as ``analysis.memory.gradient_flow``).
A profile is that norm divided by the norm at the last step (distance 0), so 1 at distance 0. It
is computed in float64: in float32 the smallest gradients came out as exact zeros.

Profiles span tens of decades, so the plots show the geometric mean over seeds (mean of log10)
with a band of ± one std of log10; an exactly zero gradient (every path through dead ReLUs) is
counted as ``FLOOR``.

Clipping: the RNN kinds of ``radius_kinds`` at the largest radius of ``radii`` are trained with
plain SGD, once clipping the gradient norm to ``clip`` and once not. SGD, because Adam divides each
step by a running RMS of the gradient, which already bounds the update whatever the gradient's size.

Result keys beyond the contract's:

- ``distances``: ``[0, 1, ..., T-1]`` (T - t for t = T, ..., 1, the x-axis of every profile);
- ``profiles``: ``{"init"|"trained": {model: {"mean_log10", "std_log10": [per distance],
  "per_seed": [[||dL/dx_t|| / ||dL/dx_T|| per distance] per seed]}}}``;
- ``ratio``: ``{"init"|"trained": {model: summarize(||dL/dx_1|| / ||dL/dx_T||)}}`` and
  ``log10_ratio``: the same in log10 (zero counted as ``FLOOR``);
- ``spectral_radius``: ``{model: summarize(largest |eigenvalue| of W_hh at initialisation)}`` (RNNs);
- ``probe_loss``, ``probe_accuracy``: ``{model: summarize(...)}`` on the probe batch after training
  (chance accuracy ``1 / symbols``);
- ``clipping``: ``{model: {"clipped"|"unclipped": {"largest_update", "median_update",
  "largest_gradient", "final_loss", "nonfinite_steps": summarize(...), "update_curve",
  "loss_curve": {"mean", "std"} per step}}}``, the update being ||theta_new - theta_old||.
"""

from __future__ import annotations

import copy
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..train.runtime import module_device
from . import common, models
from .memory_length import recall_batch

NAME = "gradient-flow"
CLAIM = ("1. BPTT is sensitive to sequence length: the gradient reaching an input T steps before the loss "
         "vanishes or explodes with T.")

VANISHED = 1e-3  # the gradient at distance T-1 counts as vanished below this share of the last step's
FLOOR = 1e-30  # an exactly zero gradient, in log10 statistics and on log axes
PROBE_SEED = 10_000  # the probe batch is seeded apart from every training seed
PROBE_SIZE = 256
PHASES = ("init", "trained")


@dataclass
class Config:
    """Recall over ``steps`` steps of ``symbols`` symbols. Models ``kinds`` (see ``models.KINDS``)
    built to ``parameters`` each, plus the gated kinds again with each memory-gate bias of
    ``memory_biases`` (the plain ones keep torch.nn's initialisation), plus the RNN kinds of
    ``radius_kinds`` with W_hh rescaled to each spectral radius of ``radii``. Training: Adam at
    ``lr``, gradient norm clipped to ``clip``, ``train_steps`` steps of ``batch_size`` sequences.
    Clipping: SGD at ``sgd_lr`` for ``clip_steps`` steps, clipped to ``clip`` or not.
    ``device``: where models, batches and held-out tensors live (the runner sets it from ``--device``)."""

    steps: int = 50
    symbols: int = 8
    kinds: tuple[str, ...] = ("rnn", "rnn-relu", "lstm", "gru", "tcn")
    memory_biases: tuple[float, ...] = (3.0,)
    radii: tuple[float, ...] = (0.5, 1.5)
    radius_kinds: tuple[str, ...] = ("rnn", "rnn-relu")
    parameters: int = 6000
    train_steps: int = 150
    batch_size: int = 32
    lr: float = 3e-3
    clip: float = 1.0
    clip_steps: int = 100
    sgd_lr: float = 0.1
    kernel_size: int = 7
    seeds: tuple[int, ...] = (0, 1, 2)
    device: str = "cpu"


PRESETS = {
    "tiny": Config(steps=8, kinds=("rnn", "lstm", "tcn"), memory_biases=(), radii=(0.5, 1.5), radius_kinds=("rnn",),
                   parameters=300, train_steps=4, batch_size=8, clip_steps=4, kernel_size=3, seeds=(0, 1)),
    "quick": Config(),
    "full": Config(steps=100, train_steps=400, clip_steps=200, seeds=(0, 1, 2, 3, 4)),
}
RUN_TIME = {"quick": "0.5 min", "full": "3 min"}  # measured on the idle 2-core machine, 2 threads


@dataclass(frozen=True)
class Spec:
    """One model of the comparison: its label, kind, memory-gate bias (gated kinds) and the
    spectral radius W_hh is rescaled to (RNN kinds; None keeps the initialisation)."""

    label: str
    kind: str
    memory_bias: float | None = None
    radius: float | None = None


def model_specs(cfg: Config) -> list[Spec]:
    """The models ``cfg`` compares, in the order of the tables."""
    specs = [Spec(models.LABELS[k], k) for k in cfg.kinds]
    specs += [Spec(f"{models.LABELS[k]} (memory bias {b:g})", k, memory_bias=b)
              for k in cfg.kinds if k in ("lstm", "gru") for b in cfg.memory_biases]
    specs += [Spec(f"{models.LABELS[k]} ρ={r:g}", k, radius=r) for k in cfg.radius_kinds for r in cfg.radii]
    return specs


def spectral_radius(matrix: torch.Tensor) -> float:
    """The largest |eigenvalue| of a square matrix (computed on the CPU, wherever the matrix lives:
    the same LAPACK routine, so the same number, on every device)."""
    return float(torch.linalg.eigvals(matrix.detach().to("cpu", torch.float64)).abs().max())


def set_spectral_radius(layer: nn.Module, radius: float) -> None:
    """Rescales ``layer.weight_hh_l0`` (an rnnkit or torch.nn RNN's) to spectral radius ``radius``:
    below 1 a linearised RNN forgets geometrically, above 1 it amplifies."""
    if not radius > 0:
        raise ValueError(f"radius must be positive; got {radius!r}")
    with torch.no_grad():
        weight = layer.weight_hh_l0
        weight.mul_(radius / spectral_radius(weight))


def input_gradient_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                         dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``||dL/dx_t||`` for t = 1..T: (T,), the norm over the batch and the features of the gradient
    of L = mean cross-entropy of ``model(x)`` (B, classes) against ``y`` (B,); x is (B, T, C), x and
    y on the model's device, where the norms are returned.

    Computed on a copy of the model in ``dtype`` (float64 by default: a gradient 1e-25 of the last
    step's is real, but in float32 it came out as an exact 0); the copy stays on the model's device
    (on the CPU for Apple's MPS, which has no float64), and the model is left untouched."""
    where = module_device(model)
    where = torch.device("cpu") if where.type == "mps" else where
    probe = copy.deepcopy(model).to(where, dtype)
    x = x.detach().to(where, dtype).requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(probe(x), y.to(where)), x)
    return grad.norm(dim=(0, 2))


def profile(norms: torch.Tensor) -> list[float]:
    """``||dL/dx_t|| / ||dL/dx_T||`` by distance T - t = 0, 1, ..., T-1 (NaN when the last step's is 0)."""
    by_distance = norms.detach().flip(0).tolist()  # one copy off the device, not one per step
    last = by_distance[0]
    return [v / last if last > 0 else math.nan for v in by_distance]


def log10(value: float) -> float:
    """log10 with an exact zero counted as ``FLOOR`` (NaN stays NaN, inf stays inf)."""
    return math.log10(max(value, FLOOR)) if math.isfinite(value) else value


def _profile_stats(per_seed: list[list[float]]) -> dict:
    logs = [[log10(v) for v in seed] for seed in per_seed]
    columns = [common.summarize(c) for c in zip(*logs)]
    return {"mean_log10": [c["mean"] for c in columns], "std_log10": [c["std"] for c in columns],
            "per_seed": per_seed}


def make_model(spec: Spec, width: int, cfg: Config) -> models.SequenceNet:
    """``spec``'s model at ``width``, initialised from torch's global generator, on the CPU (the
    same initial weights on every device; the caller moves it)."""
    model = models.SequenceNet(spec.kind, cfg.symbols, width, cfg.symbols, steps=cfg.steps,
                               kernel_size=cfg.kernel_size, memory_bias=spec.memory_bias)
    if spec.radius is not None:
        set_spectral_radius(model.layer, spec.radius)
    return model


def _recall_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(model(x), y)


def clipping_run(model: nn.Module, batch, steps: int, lr: float, clip: float, desc: str = "",
                 progress: bool = False) -> dict[str, list[float]]:
    """SGD at ``lr`` for ``steps`` steps on the recall loss of ``batch()``, clipping the gradient
    norm to ``clip`` (0 = off); the tensors of each batch are moved to the model's device first. Per
    step: ``loss``, ``gradient`` (norm before clipping) and ``update`` (||theta after - theta before||)."""
    device = module_device(model)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    params = list(model.parameters())
    record: dict[str, list[float]] = {"loss": [], "gradient": [], "update": []}
    for _ in common.steps_bar(steps, desc, progress):
        loss = _recall_loss(model, *common.to_device(batch(), device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gradient = nn.utils.clip_grad_norm_(params, clip if clip else math.inf)
        before = [p.detach().clone() for p in params]
        opt.step()
        with torch.no_grad():
            update = math.sqrt(sum(float((p - b).pow(2).sum()) for p, b in zip(params, before)))
        record["loss"].append(loss.item())
        record["gradient"].append(float(gradient))
        record["update"].append(update)
    return record


def _finite_max(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return max(finite) if finite else math.nan


def _clipping_summary(records: list[dict[str, list[float]]]) -> dict:
    tail = lambda r: r["loss"][-max(1, len(r["loss"]) // 10):]  # noqa: E731  (the last tenth of training)
    curve = lambda key: {  # noqa: E731
        "mean": [common.summarize(log10(v) for v in step)["mean"] for step in zip(*(r[key] for r in records))],
        "std": [common.summarize(log10(v) for v in step)["std"] for step in zip(*(r[key] for r in records))]}
    return {
        "largest_update": common.summarize(_finite_max(r["update"]) for r in records),
        "median_update": common.summarize(statistics.median(r["update"]) for r in records),
        "largest_gradient": common.summarize(_finite_max(r["gradient"]) for r in records),
        "final_loss": common.summarize(statistics.fmean(tail(r)) for r in records),
        "nonfinite_steps": common.summarize(sum(not math.isfinite(v) for v in r["loss"]) for r in records),
        "update_curve": curve("update"), "loss_curve": curve("loss"),
    }


def _probe_scores(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    with torch.no_grad():
        logits = model(x)
    return float(F.cross_entropy(logits, y)), float((logits.argmax(1) == y).float().mean())


def run(cfg: Config, out: Path, progress: bool = False) -> dict:
    if cfg.steps < 2:
        raise ValueError(f"steps must be at least 2 (a first and a last step); got {cfg.steps}")
    specs = model_specs(cfg)
    x_probe, y_probe = recall_batch(PROBE_SIZE, cfg.steps, cfg.symbols, torch.Generator().manual_seed(PROBE_SEED))
    x_probe, y_probe = common.to_device((x_probe, y_probe), cfg.device)  # once, for every model and seed
    widths = {k: models.build(k, cfg.symbols, cfg.symbols, cfg.parameters, steps=cfg.steps,
                              kernel_size=cfg.kernel_size).head.in_features
              for k in {s.kind for s in specs}}
    counts, per_seed, ratios, radius, probe_loss, probe_acc = {}, {p: {} for p in PHASES}, {}, {}, {}, {}
    for spec in specs:
        prof = {p: [] for p in PHASES}
        losses, accs, radii = [], [], []
        for seed in cfg.seeds:
            g = common.generator(seed)  # the same seed: the same initialisation and training batches
            model = make_model(spec, widths[spec.kind], cfg).to(cfg.device)
            counts[spec.label] = common.count_parameters(model)
            if spec.kind in ("rnn", "rnn-relu"):
                radii.append(spectral_radius(model.layer.weight_hh_l0))
            prof["init"].append(profile(input_gradient_norms(model, x_probe, y_probe)))
            common.train_steps(model, lambda g=g: recall_batch(cfg.batch_size, cfg.steps, cfg.symbols, g),
                               _recall_loss, cfg.train_steps, cfg.lr, cfg.clip,
                               desc=f"gradient-flow {spec.label} seed {seed}", progress=progress)
            prof["trained"].append(profile(input_gradient_norms(model, x_probe, y_probe)))
            loss, acc = _probe_scores(model, x_probe, y_probe)
            losses.append(loss)
            accs.append(acc)
        for phase in PHASES:
            per_seed[phase][spec.label] = _profile_stats(prof[phase])
            ratios.setdefault(phase, {})[spec.label] = [p[-1] for p in prof[phase]]
        if radii:
            radius[spec.label] = common.summarize(radii)
        probe_loss[spec.label], probe_acc[spec.label] = common.summarize(losses), common.summarize(accs)

    clipping = {}
    for kind in cfg.radius_kinds if cfg.radii else ():
        spec = Spec(f"{models.LABELS[kind]} ρ={max(cfg.radii):g}", kind, radius=max(cfg.radii))
        clipping[spec.label] = {}
        for mode, clip in (("unclipped", 0.0), ("clipped", cfg.clip)):
            records = []
            for seed in cfg.seeds:
                g = common.generator(seed)
                model = make_model(spec, widths[kind], cfg).to(cfg.device)
                records.append(clipping_run(model, lambda g=g: recall_batch(cfg.batch_size, cfg.steps, cfg.symbols, g),
                                            cfg.clip_steps, cfg.sgd_lr, clip,
                                            desc=f"gradient-flow {spec.label} {mode} seed {seed}", progress=progress))
            clipping[spec.label][mode] = _clipping_summary(records)

    ratio = {p: {label: common.summarize(v) for label, v in ratios[p].items()} for p in PHASES}
    log_ratio = {p: {label: common.summarize(log10(x) for x in v) for label, v in ratios[p].items()} for p in PHASES}
    result = {
        "setup": _setup(cfg, specs),
        "parameters": counts,
        "distances": list(range(cfg.steps)),
        "profiles": per_seed,
        "ratio": ratio,
        "log10_ratio": log_ratio,
        "spectral_radius": radius,
        "probe_loss": probe_loss,
        "probe_accuracy": probe_acc,
        "clipping": clipping,
        "chance": 1 / cfg.symbols,
    }
    result["tables"] = _tables(cfg, specs, result)
    result["figures"] = _figures(cfg, specs, result, out)
    return result


def _setup(cfg: Config, specs: list[Spec]) -> str:
    return (f"First-symbol recall (rnnkit.analysis.memory's task): {cfg.steps} one-hot symbols of {cfg.symbols}, "
            f"label = the first, read from the last step (cross-entropy), so the loss sits at step T={cfg.steps}. "
            f"Models, one layer and a linear read-out, each matched to ~{cfg.parameters:,} parameters: "
            f"{', '.join(s.label for s in specs)} (plain LSTM/GRU: torch.nn's initialisation, forget/update gate "
            f"near 0.5; ρ: W_hh rescaled to that spectral radius; TCN kernel {cfg.kernel_size}, depth covering T). "
            f"Measured: ||dL/dx_t|| (norm over a fixed probe batch of {PROBE_SIZE} sequences and the features) "
            f"against the distance T - t, relative to the last step, at initialisation and after {cfg.train_steps} "
            f"Adam steps (lr {cfg.lr}, clip {cfg.clip}, batch {cfg.batch_size}); {len(cfg.seeds)} seeds. Clipping: "
            f"the RNNs at ρ={max(cfg.radii, default=0):g} trained {cfg.clip_steps} steps with SGD (lr {cfg.sgd_lr}) "
            f"with the gradient norm clipped to {cfg.clip} and without (SGD: Adam's normalisation bounds steps by "
            f"itself).")


def _tables(cfg: Config, specs: list[Spec], r: dict) -> list[dict]:
    rows = [[s.label, r["parameters"][s.label], common.pm(r["ratio"]["init"][s.label]),
             common.pm(r["ratio"]["trained"][s.label]), common.pm(r["log10_ratio"]["init"][s.label]),
             common.pm(r["log10_ratio"]["trained"][s.label]), common.pm(r["probe_accuracy"][s.label], percent=True)]
            for s in specs]
    tables = [common.table(
        f"||dL/dx_1|| / ||dL/dx_T|| (distance {cfg.steps - 1}) at initialisation and after {cfg.train_steps} steps, "
        f"mean ± std over {len(cfg.seeds)} seeds; below {VANISHED:g} = vanished, above 1 = grows with distance",
        ["model", "parameters", "ratio at init", "ratio trained", "log10 at init", "log10 trained",
         f"recall accuracy trained (chance {100 / cfg.symbols:.1f} %)"], rows)]
    if r["spectral_radius"]:
        tables.append(common.table("Spectral radius of W_hh at initialisation (mean ± std over seeds)",
                                   ["model", "spectral radius"],
                                   [[label, common.pm(s)] for label, s in r["spectral_radius"].items()]))
    clip_rows = [[label, mode, common.pm(c["largest_gradient"]), common.pm(c["largest_update"]),
                  common.pm(c["median_update"]), common.pm(c["final_loss"]), common.pm(c["nonfinite_steps"])]
                 for label, modes in r["clipping"].items() for mode, c in modes.items()]
    if clip_rows:
        tables.append(common.table(
            f"Gradient-norm clipping (to {cfg.clip}) on exploding RNNs, SGD lr {cfg.sgd_lr}, {cfg.clip_steps} steps "
            f"(mean ± std over seeds; final loss: mean of the last tenth of training; chance loss "
            f"{math.log(cfg.symbols):.3g})",
            ["model", "training", "largest gradient norm", "largest update", "median update", "final loss",
             "steps with a non-finite loss"], clip_rows))
    return tables


def _profile_panel(ax, distances, stats: dict, title: str) -> None:
    for label, s in stats.items():
        mean = torch.tensor(s["mean_log10"], dtype=torch.float64)
        std = torch.tensor(s["std_log10"], dtype=torch.float64)
        line, = ax.plot(distances, 10**mean, label=label)
        ax.fill_between(distances, 10 ** (mean - std), 10 ** (mean + std), color=line.get_color(), alpha=0.15)
    ax.axhline(VANISHED, color="black", linestyle=":", linewidth=1, label=f"{VANISHED:g} (vanished)")
    ax.set_yscale("log")
    ax.set_xlabel("distance to the loss T - t (steps)")
    ax.set_ylabel("||dL/dx_t|| / ||dL/dx_T|| (log scale)")
    ax.set_title(title)
    ax.legend(fontsize=7)


def _figures(cfg: Config, specs: list[Spec], r: dict, out: Path) -> list[dict]:
    figures = []
    groups = {"cells": [s.label for s in specs if s.radius is None],
              "radius": [s.label for s in specs if s.kind in cfg.radius_kinds]}
    captions = {"cells": "each cell (LSTM/GRU with torch.nn's initialisation and with a memory-gate bias)",
                "radius": "the vanilla RNNs at their initialisation and with W_hh rescaled to spectral radius ρ"}
    for group, labels in groups.items():
        if not labels:
            continue
        fig, axes = common.new_figure(ncols=2, size=(5.5, 4.2))
        for ax, phase in zip(axes[0], PHASES):
            when = "at initialisation" if phase == "init" else f"after {cfg.train_steps} training steps"
            _profile_panel(ax, r["distances"], {lab: r["profiles"][phase][lab] for lab in labels},
                           f"gradient-flow: {when}")
        figures.append(common.figure(
            fig, out, f"gradient_flow_{group}.png",
            f"Gradient reaching the input T - t steps before the loss, relative to the last step's, for "
            f"{captions[group]} (recall task, T={cfg.steps}); left at initialisation, right after {cfg.train_steps} "
            f"Adam steps. Line: geometric mean over {len(cfg.seeds)} seeds, band: ± one std of log10; dotted: "
            f"{VANISHED:g}."))
    if r["clipping"]:
        fig, axes = common.new_figure(ncols=2, size=(5.5, 4.2))
        for label, modes in r["clipping"].items():
            for mode, c in modes.items():
                for ax, key in zip(axes[0], ("update_curve", "loss_curve")):
                    mean = torch.tensor(c[key]["mean"], dtype=torch.float64)
                    std = torch.tensor(c[key]["std"], dtype=torch.float64)
                    steps = list(range(1, len(mean) + 1))
                    line, = ax.plot(steps, 10**mean, label=f"{label}, {mode}",
                                    linestyle="-" if mode == "clipped" else "--")
                    ax.fill_between(steps, 10 ** (mean - std), 10 ** (mean + std), color=line.get_color(), alpha=0.15)
        for ax, ylabel in zip(axes[0], ("update norm ||Δθ|| (log scale)", "training loss (log scale)")):
            ax.set_yscale("log")
            ax.set_xlabel("SGD step")
            ax.set_ylabel(ylabel)
            ax.set_title(f"gradient-flow: clipping to {cfg.clip}")
            ax.legend(fontsize=7)
        figures.append(common.figure(
            fig, out, "gradient_flow_clipping.png",
            f"Exploding RNNs (ρ={max(cfg.radii):g}) trained with SGD (lr {cfg.sgd_lr}), gradient norm clipped to "
            f"{cfg.clip} (solid) or not (dashed): left the size of each update, right the training loss; geometric "
            f"mean over {len(cfg.seeds)} seeds, band ± one std of log10 (a diverged run leaves a gap)."))
    return figures


def verdict(result: dict) -> str:
    """Which models' gradient at distance T-1 is below ``VANISHED`` of the last step's (geometric mean
    over seeds), at init and after training; the TCN's ratio; the spectral radii's; clipping's effect."""
    T = len(result["distances"])
    parts = []
    for phase in PHASES:
        logs = {label: s["mean"] for label, s in result["log10_ratio"][phase].items()}
        gone = [label for label, v in logs.items() if math.isfinite(v) and v < math.log10(VANISHED)]
        kept = [f"{label} {10**v:.2g}" for label, v in logs.items() if label not in gone]
        when = "at init" if phase == "init" else "after training"
        parts.append(f"{when}, the gradient {T - 1} steps back is below {VANISHED:g} of the last step's for "
                     f"{', '.join(gone) if gone else 'no model'}"
                     + (f" (not for {', '.join(kept)})" if kept else ""))
    radius_parts = [f"{label} {10**s['mean']:.2g}" for label, s in result["log10_ratio"]["init"].items()
                    if "ρ=" in label]
    if radius_parts:
        parts.append("rescaled W_hh at init: " + ", ".join(radius_parts))
    for label, modes in result["clipping"].items():
        u, c = modes["unclipped"], modes["clipped"]
        parts.append(f"clipping {label}: largest update {u['largest_update']['mean']:.3g} -> "
                     f"{c['largest_update']['mean']:.3g}, final loss {u['final_loss']['mean']:.3g} -> "
                     f"{c['final_loss']['mean']:.3g}"
                     + (f", non-finite steps {u['nonfinite_steps']['mean']:.3g} -> {c['nonfinite_steps']['mean']:.3g}"
                        if u["nonfinite_steps"]["mean"] or c["nonfinite_steps"]["mean"] else ""))
    return "; ".join(parts)


__all__ = ["NAME", "CLAIM", "Config", "PRESETS", "RUN_TIME", "run", "verdict", "Spec", "model_specs",
           "input_gradient_norms", "profile", "set_spectral_radius", "spectral_radius", "clipping_run", "VANISHED"]
