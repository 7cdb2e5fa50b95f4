"""Data-parallel training of the language-model recipe: 1 process against 2, and DDP at 1 process
against no DDP.

Three ways to run the same command, ``rnnkit train lm --data TEXT`` with the recipe
(``rnnkit.config.LM_RECIPE``: global batch 16, windows of 64, LSTM 640 x 1, precision auto), TEXT
the first ``--chars`` characters of the bundled Shakespeare (split 90/5/5: a validation part small
enough that the evaluation at each run's end stays short):

* ``single``: one process, no torch.distributed (torch's default threads: every core);
* ``ddp1``: ``torchrun --standalone --nproc-per-node 1``: one process inside DDP (gloo), every
  core; what DDP's machinery costs (loss all-reduce, stop broadcast, gradient reduction hooks);
* ``ddp2``: ``rnnkit train lm --nproc 2``: two processes (gloo), each one core's share
  (OMP_NUM_THREADS = cores / 2), each 8 of the 16 streams.

Each run trains for ``--seconds`` (``--max-minutes``), evaluating once at its end; its throughput
is the trainer's own ``tokens_per_second`` (global tokens over the training loop's time, start-up
and the final evaluation excluded), read from ``metrics.jsonl``. The three alternate ``--repeats``
times (interleaved, so machine noise hits each); medians and their ratios go to
``benchmarks/results/bench_distributed.json``. On a 2-core machine little speed-up is expected:
the single process already uses both cores for its matrix products.

    python benchmarks/bench_distributed.py [--seconds 15] [--repeats 3] [--chars 600000] [--out runs/bench_distributed]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
RESULT = REPO / "benchmarks" / "results" / "bench_distributed.json"
WAYS = ("single", "ddp1", "ddp2")


def command(way: str, text: Path, out: Path, seconds: float) -> list[str]:
    train = ["train", "lm", "--data", str(text), "--out", str(out), "--overwrite", "--quiet",
             "--max-minutes", f"{seconds / 60:.6f}", "--patience", "0", "--device", "cpu"]
    if way == "single":
        return [sys.executable, "-m", "rnnkit", *train]
    if way == "ddp1":
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1", "-m",
                "rnnkit", *train]
    return [sys.executable, "-m", "rnnkit", *train, "--nproc", "2"]


def run(way: str, text: Path, out: Path, seconds: float) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}  # each way's own thread rule
    start = time.perf_counter()
    proc = subprocess.run(command(way, text, out, seconds), env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=4 * seconds + 120)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"{way} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in records if "tokens_per_second" in r][-1]
    return {"tokens_per_second": last["tokens_per_second"], "steps": last["step"], "precision": last["precision"],
            "wall_seconds": round(wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="training time of each run (default: 15)")
    parser.add_argument("--chars", type=int, default=600_000, help="characters of Shakespeare (default: 600000)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each way, interleaved (default: 3)")
    parser.add_argument("--out", default="runs/bench_distributed", help="folder for the runs")
    args = parser.parse_args()
    from rnnkit.text import corpora

    text = Path(args.out) / "text.txt"
    text.parent.mkdir(parents=True, exist_ok=True)
    text.write_text(corpora.load("shakespeare")["train"][: args.chars], encoding="utf-8")
    runs: dict[str, list[dict]] = {way: [] for way in WAYS}
    for repeat in range(args.repeats):
        for way in WAYS:
            result = run(way, text, Path(args.out) / way, args.seconds)
            runs[way].append(result)
            print(f"repeat {repeat + 1} {way}: {result['tokens_per_second']:.0f} tokens/s, {result['steps']} steps, "
                  f"{result['wall_seconds']} s wall", flush=True)
    median = {way: statistics.median(r["tokens_per_second"] for r in runs[way]) for way in WAYS}
    result = {
        "benchmark": "rnnkit train lm (LM_RECIPE) on Shakespeare, data-parallel on the CPU (gloo)",
        "text_characters": args.chars,
        "machine": {"cpus": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version(),
                    "processor": platform.processor() or platform.machine()},
        "seconds_per_run": args.seconds, "repeats": args.repeats,
        "ways": {"single": "one process, no torch.distributed, torch's default threads",
                 "ddp1": "torchrun --nproc-per-node 1: DDP (gloo) in one process, torch's default threads",
                 "ddp2": "rnnkit train --nproc 2: DDP (gloo), 2 processes, OMP_NUM_THREADS = cores / 2 each"},
        "median_tokens_per_second": {way: round(v, 1) for way, v in median.items()},
        "ratios": {"ddp1_over_single": round(median["ddp1"] / median["single"], 3),
                   "ddp2_over_single": round(median["ddp2"] / median["single"], 3),
                   "ddp2_over_ddp1": round(median["ddp2"] / median["ddp1"], 3)},
        "runs": runs,
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("median_tokens_per_second", "ratios")}, indent=1))
    print(f"written to {RESULT}")


if __name__ == "__main__":
    main()
