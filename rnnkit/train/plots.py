"""Loss curves from ``metrics.jsonl`` (matplotlib, no display needed)."""

from __future__ import annotations

import json
import os
from pathlib import Path


def read_records(metrics_path: str | Path) -> list[dict]:
    """The records of a ``metrics.jsonl``; a line torn by a crash, or that is not a record, is skipped."""
    records = []
    for line in Path(metrics_path).read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):  # RecursionError: nested too deep to parse
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def plot_loss_curve(metrics_path: str | Path, out_path: str | Path) -> Path:
    """Training loss (smoothed) and validation loss against the optimiser step, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    evals = [r for r in read_records(metrics_path) if "loss" in r and "step" in r and "train_loss" in r]
    fig, ax = plt.subplots(figsize=(7, 4))
    try:
        ax.plot([r["step"] for r in evals], [r["train_loss"] for r in evals], "o-", label="training (smoothed)")
        ax.plot([r["step"] for r in evals], [r["loss"] for r in evals], "s-", label="validation")
        ax.set_xlabel("optimiser step")
        ax.set_ylabel("cross-entropy (nats per token)")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out_path, dpi=100)
    finally:  # a failed save (a full disk) leaves no figure open in pyplot
        plt.close(fig)
    return Path(out_path)


def redraw_loss_png(out: str | Path) -> None:
    """Draws ``OUT/loss.png`` from ``OUT/metrics.jsonl`` into a temporary file renamed over it: a
    reader never sees half a picture. A failure raises, and leaves no temporary file."""
    out = Path(out)
    tmp = out / f".loss.{os.getpid()}.png"
    try:
        plot_loss_curve(out / "metrics.jsonl", tmp)
        os.replace(tmp, out / "loss.png")
    except BaseException:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise


def plot_attention(weights, source_tokens, target_tokens, out_path) -> Path:
    """Heatmap of an attention matrix (target x source), tokens on the axes, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w = weights.detach().cpu().numpy()
    fig, ax = plt.subplots(figsize=(max(4, 0.4 * w.shape[1] + 2), max(3, 0.4 * w.shape[0] + 1.5)))
    ax.imshow(w, cmap="viridis", aspect="auto", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(source_tokens)), [t.replace(" ", "␣") for t in source_tokens], rotation=90)
    ax.set_yticks(range(len(target_tokens)), [t.replace(" ", "␣") for t in target_tokens])
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
    return Path(out_path)
