"""Sentence polarity (rotten-tomatoes.tsv): test accuracy of rnnkit classifiers, 2 CPU threads.

Fixed split by line number: data row i is test when i % 10 == 9 (1,280 rows), else training; of
the training rows every 10th is held out for validation (early stopping, checkpoint choice). The
file is sorted by label, so a split by position would not do.

Bidirectional LSTM and GRU, max length 64, reported against the target of >= 75 % test accuracy
within 10 minutes.

The sweep of accuracy against maximum length for RNN, LSTM and GRU moved to the lab, with seeds
and the padding side: ``rnnkit lab run max-length``. The ``sweep`` entry of the committed
``results/bench_classify.json`` was written by this script's earlier version; a rerun drops it.

    python benchmarks/bench_classify.py [--data ../shared/data/rotten-tomatoes.tsv]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from rnnkit.config import ClassifierModelConfig, TextConfig, TrainConfig
from rnnkit.tasks.classification import ClassificationTask, Classifier
from rnnkit.text.datasets import read_labeled_rows
from rnnkit.train.trainer import Trainer

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "rotten-tomatoes.tsv"


def split(rows):
    test = [r for i, r in enumerate(rows) if i % 10 == 9]
    rest = [r for i, r in enumerate(rows) if i % 10 != 9]
    train = [r for i, r in enumerate(rest) if i % 10 != 9]
    valid = [r for i, r in enumerate(rest) if i % 10 == 9]
    return train, valid, test


def run(cell, max_len, bidirectional, data, epochs, out_root, minutes=10.0):
    train, valid, test = data
    model = ClassifierModelConfig(cell=cell, embedding_size=128, hidden_size=128, bidirectional=bidirectional,
                                  dropout=0.5, pooling="max")
    out = out_root / f"{cell}{'-bi' if bidirectional else ''}-len{max_len}"
    cfg = TrainConfig(out=str(out), epochs=epochs, batch_size=64, lr=2e-3, patience=2, max_minutes=minutes, seed=0,
                      overwrite=True)  # a rerun of the benchmark replaces its own runs
    start = time.perf_counter()
    task = ClassificationTask.from_rows(train, valid, model, TextConfig(max_len=max_len, min_freq=1), cfg)
    best = Trainer(task, cfg, progress=False).fit()
    seconds = time.perf_counter() - start
    acc = Classifier.load(out).evaluate(test)["accuracy"]
    row = {"cell": cell, "bidirectional": bidirectional, "max_len": max_len, "test_accuracy": acc,
           "valid_accuracy": best["accuracy"], "seconds": seconds, "padding_fraction": task.padding_fraction()}
    print(f"{cell:5s} {'bi' if bidirectional else 'uni':3s} max_len {max_len:3d}  test {acc:.4f}  "
          f"valid {best['accuracy']:.4f}  {seconds:6.1f} s  padding {row['padding_fraction']:.1%}", flush=True)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "bench_classify.json"))
    ap.add_argument("--work", default="runs/bench_classify", help="folder for the checkpoints")
    args = ap.parse_args()
    torch.set_num_threads(2)
    data = split(read_labeled_rows(args.data))
    print(f"train {len(data[0])}, validation {len(data[1])}, test {len(data[2])} sentences")
    work = Path(args.work)
    main_runs = [run(cell, 64, True, data, 8, work) for cell in ("lstm", "gru")]
    for r in main_runs:
        ok = r["test_accuracy"] >= 0.75 and r["seconds"] <= 600
        print(f"target (>= 75 % within 10 min), bidirectional {r['cell']}: {'met' if ok else 'NOT met'}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "bench_classify", "torch": torch.__version__, "threads": 2,
                               "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "main": main_runs},
                              indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
