"""Slow end-to-end training runs (`make test-slow`): real tasks, short budgets, loose bars."""

import json

import pytest

from rnnkit.cli import main

pytestmark = pytest.mark.slow


def test_dates_translation_learns_in_ninety_seconds(tmp_path, capsys):
    out = tmp_path / "dates"
    assert main(["train", "seq2seq", "--corpus", "dates", "--out", str(out), "--cell", "gru", "--bidirectional",
                 "--hidden-size", "128", "--embedding-size", "32", "--max-minutes", "1.5", "--eval-every", "300",
                 "--patience", "0", "--quiet", "--threads", "2"]) == 0
    capsys.readouterr()
    assert main(["eval", "seq2seq", "--checkpoint", str(out), "--corpus", "dates", "--beam", "3", "--limit",
                 "500"]) == 0
    report = capsys.readouterr().out
    exact = float(report.split("greedy")[1].split("exact match")[1].split()[0])
    assert exact >= 0.95, report


def test_shakespeare_char_lm_learns_in_a_minute(tmp_path):
    out = tmp_path / "lm"
    assert main(["train", "lm", "--corpus", "shakespeare", "--out", str(out), "--hidden-size", "256",
                 "--embedding-size", "32", "--num-layers", "1", "--bptt", "64", "--batch-size", "32",
                 "--max-minutes", "1", "--eval-every", "200", "--lr", "0.003", "--quiet", "--threads", "2"]) == 0
    best = json.loads((out / "checkpoint.json").read_text())["metrics"]
    assert best["loss"] < 2.0 and best["bits_per_char"] < 2.9
