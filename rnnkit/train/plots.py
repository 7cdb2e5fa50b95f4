"""Loss curves from ``metrics.jsonl`` (matplotlib, no display needed)."""

from __future__ import annotations

import json
from pathlib import Path


def plot_loss_curve(metrics_path: str | Path, out_path: str | Path) -> Path:
    """Training loss (smoothed) and validation loss against the optimiser step, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [json.loads(line) for line in Path(metrics_path).read_text().splitlines() if line.strip()]
    evals = [r for r in records if "loss" in r and "step" in r]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["step"] for r in evals], [r["train_loss"] for r in evals], "o-", label="training (smoothed)")
    ax.plot([r["step"] for r in evals], [r["loss"] for r in evals], "s-", label="validation")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("cross-entropy (nats per token)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
    return Path(out_path)
