"""The ``rnnkit`` command line.

    rnnkit demo [--length 50] [--train-steps 600] [--cells gru,lstm,rnn] [--out runs/demo]

A user's mistake (a bad option, a missing file) ends with one line on stderr and exit status 2,
never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


class UserError(Exception):
    """A mistake in what the user asked for: reported as one line, exit status 2."""


def _cells(text: str) -> list[str]:
    cells = [c.strip().lower() for c in text.split(",") if c.strip()]
    bad = [c for c in cells if c not in ("rnn", "lstm", "gru")]
    if bad or not cells:
        raise argparse.ArgumentTypeError(f"cells must be a comma-separated list of rnn, lstm, gru; got {text!r}")
    return cells


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text!r}")
    return value


def cmd_demo(args) -> None:
    """Compares RNN, LSTM and GRU: gradient flow over length, then learning a long recall task."""
    import torch

    from .analysis.memory import RecallConfig, RecallModel, gradient_flow, train_recall

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print("rnnkit demo: how far back can RNN, LSTM and GRU remember?\n")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnnkit", description="Recurrent sequence models on PyTorch.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="compare RNN, LSTM and GRU on a long-memory task")
    demo.add_argument("--length", type=_positive, default=50, help="sequence length of the recall task")
    demo.add_argument("--train-steps", type=_positive, default=600)
    demo.add_argument("--cells", type=_cells, default=["gru", "lstm", "rnn"])
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--out", default="runs/demo", help="folder for the JSON results")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(run=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (UserError, ValueError, FileNotFoundError, PermissionError) as err:
        print(f"rnnkit {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rnnkit {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
