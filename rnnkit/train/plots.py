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
