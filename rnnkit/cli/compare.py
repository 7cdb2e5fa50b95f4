"""rnnkit compare: RNN vs LSTM vs GRU on a long-memory task."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import positive, seed


def _cells(text: str) -> list[str]:
    cells = [c.strip().lower() for c in text.split(",") if c.strip()]
    bad = [c for c in cells if c not in ("rnn", "lstm", "gru")]
    if bad or not cells:
        raise argparse.ArgumentTypeError(f"cells must be a comma-separated list of rnn, lstm, gru; got {text!r}")
    return cells


def cmd_compare(args) -> None:
    """Compares RNN, LSTM and GRU: gradient flow over length, then learning a long recall task."""
    import torch

    from ..analysis.memory import RecallConfig, RecallModel, gradient_flow, train_recall

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print("rnnkit compare: how far back can RNN, LSTM and GRU remember?\n")
    print("1. Gradient flow at initialisation: ||dL/dx_1|| / ||dL/dx_T|| (1 = no decay, tiny = vanished)")
    lengths = [10, 25, 50, 100]
    flows = {}
    print(f"   {'steps':>6s}" + "".join(f"{c:>12s}" for c in args.cells))
    for T in lengths:
        cfg = RecallConfig(steps=T, seed=args.seed)
        row = {}
        for cell in args.cells:
            torch.manual_seed(args.seed)
            row[cell] = gradient_flow(RecallModel(cell, cfg.symbols, cfg.hidden_size), cfg,
                                      torch.Generator().manual_seed(args.seed))
        flows[T] = row
        print(f"   {T:6d}" + "".join(f"{row[c]:12.2e}" for c in args.cells))

    cfg = RecallConfig(steps=args.length, train_steps=args.train_steps, seed=args.seed)
    print(f"\n2. Recall the first of {cfg.steps} random symbols ({cfg.symbols} kinds; chance = "
          f"{1 / cfg.symbols:.1%}), {cfg.train_steps} Adam steps of batch {cfg.batch_size}, hidden {cfg.hidden_size}")
    results = [train_recall(cell, cfg, progress=not args.quiet) for cell in args.cells]
    print(f"\n   {'cell':6s} {'accuracy':>9s} {'parameters':>11s} {'train s':>8s}")
    for r in results:
        print(f"   {r['cell']:6s} {r['accuracy']:9.1%} {r['parameters']:11d} {r['train_seconds']:8.1f}")
    report = out / "recall.json"
    report.write_text(json.dumps({"gradient_flow": flows, "recall": results}, indent=1))
    print(f"\nResults written to {report}")


def register(sub) -> None:
    compare = sub.add_parser("compare", help="compare RNN, LSTM and GRU on a long-memory task")
    compare.add_argument("--length", type=positive, default=50,
                         help="sequence length of the recall task (default: 50)")
    compare.add_argument("--train-steps", type=positive, default=600,
                         help="Adam steps of training per cell (default: 600)")
    compare.add_argument("--cells", type=_cells, default=["gru", "lstm", "rnn"],
                         help="comma-separated cells to compare (default: gru,lstm,rnn)")
    compare.add_argument("--seed", type=seed, default=0, help="seed of the data and initialisation (default: 0)")
    compare.add_argument("--out", default="runs/compare", help="folder for the JSON results (default: runs/compare)")
    compare.add_argument("--quiet", action="store_true", help="no progress bars")
    compare.set_defaults(run=cmd_compare)
