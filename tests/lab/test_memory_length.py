"""The memory-length experiment: the recall task against brute force, the breaking point, the
memory-gate bias the models start with, parameter matching at every T, a verdict that follows the
numbers, and the tiny preset end to end."""

from __future__ import annotations

import json
import math

import pytest
import torch

from rnnkit.lab import common, models
from rnnkit.lab import memory_length as exp

from .conftest import PNG_MAGIC


def test_recall_batch_labels_the_first_symbol_and_is_seeded():
    x, y = exp.recall_batch(6, 9, 5, torch.Generator().manual_seed(3))
    assert x.shape == (6, 9, 5) and y.shape == (6,)
    assert torch.equal(x.sum(2), torch.ones(6, 9))  # one-hot: one symbol per step
    for b in range(6):
        first = [s for s in range(5) if x[b, 0, s] == 1]
        assert first == [int(y[b])]
    x2, y2 = exp.recall_batch(6, 9, 5, torch.Generator().manual_seed(3))
    assert torch.equal(x, x2) and torch.equal(y, y2)
    x3, _ = exp.recall_batch(6, 9, 5, torch.Generator().manual_seed(4))
    assert not torch.equal(x, x3)
    for bad in ({"size": 0}, {"steps": 1.5}, {"symbols": 1}, {"size": True}):
        args = {"size": 2, "steps": 3, "symbols": 4, **bad}
        with pytest.raises(ValueError, match=next(iter(bad))):
            exp.recall_batch(**args, generator=torch.Generator())


def test_breaking_point_is_the_first_length_below_the_threshold():
    assert exp.breaking_point([10, 50, 100], [1.0, 0.4, 0.9]) == 50  # the first, even if a later one recovers
    assert exp.breaking_point([10, 50, 100], [1.0, 0.5, 0.7]) is None  # 0.5 itself holds
    assert exp.breaking_point([10, 50], [0.2, 0.1]) == 10
    assert exp.breaking_point([10, 50], [0.9, math.nan]) == 50  # a diverged run does not hold


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("bias", [0.0, 3.0])
def test_models_start_with_the_memory_gate_bias(kind, bias):
    model = models.SequenceNet(kind, 4, 6, 4, memory_bias=bias)
    H = 6  # the memory gate is chunk 1 of both the LSTM (i, f, g, o) and the GRU (r, z, n)
    assert torch.equal(model.layer.bias_ih_l0[H : 2 * H], torch.full((H,), bias))
    assert torch.equal(model.layer.bias_hh_l0[H : 2 * H], torch.zeros(H))


def test_model_specs_give_each_gated_cell_each_bias():
    cfg = exp.Config(kinds=("rnn", "lstm", "gru", "tcn"), memory_biases=(0.0, 3.0))
    assert exp.model_specs(cfg) == [("RNN (tanh)", "rnn", None), ("LSTM (bias 0)", "lstm", 0.0),
                                    ("LSTM (bias 3)", "lstm", 3.0), ("GRU (bias 0)", "gru", 0.0),
                                    ("GRU (bias 3)", "gru", 3.0), ("TCN", "tcn", None)]


@pytest.mark.parametrize("preset", ["quick", "full"])
def test_models_are_matched_by_parameter_count_at_every_length(preset):
    cfg = exp.PRESETS[preset]
    for length in cfg.lengths:
        counts = [common.count_parameters(models.build(kind, cfg.symbols, cfg.symbols, cfg.parameters, steps=length,
                                                       kernel_size=cfg.kernel_size, memory_bias=bias))
                  for _, kind, bias in exp.model_specs(cfg)]
        assert max(counts) / min(counts) < 1.05, (length, counts)


def _fake(lstm: list[float], rnn: list[float]) -> dict:
    lengths = [10, 50, 100]
    s = lambda v: {"mean": v, "std": 0.0, "n": 3, "values": [v] * 3}  # noqa: E731
    accuracy = {"LSTM (bias 3)": {str(t): s(a) for t, a in zip(lengths, lstm)},
                "RNN (tanh)": {str(t): s(a) for t, a in zip(lengths, rnn)}}
    breaks = {label: exp.breaking_point(lengths, [a[str(t)]["mean"] for t in lengths]) for label, a in accuracy.items()}
    return {"lengths": lengths, "accuracy": accuracy, "breaks_at": breaks, "holds": exp.HOLDS, "chance": 0.125}


def test_verdict_follows_the_numbers():
    lstm_wins = exp.verdict(_fake([1.0, 0.98, 0.9], [1.0, 0.2, 0.1]))
    assert "LSTM (bias 3) holds to T=100 (90.0%)" in lstm_wins and "RNN (tanh) breaks at T=50 (20.0%)" in lstm_wins
    rnn_wins = exp.verdict(_fake([0.3, 0.1, 0.1], [1.0, 0.9, 0.8]))
    assert "LSTM (bias 3) breaks at T=10 (30.0%)" in rnn_wins and "RNN (tanh) holds to T=100 (80.0%)" in rnn_wins


def test_tiny_preset_runs(tmp_path, one_thread):
    cfg = exp.PRESETS["tiny"]
    result = json.loads(json.dumps(exp.run(cfg, tmp_path)))
    for key in ("setup", "parameters", "tables", "figures", "accuracy", "breaks_at", "train_seconds", "widths"):
        assert key in result
    labels = [label for label, _, _ in exp.model_specs(cfg)]
    assert list(result["accuracy"]) == labels and result["lengths"] == list(cfg.lengths)
    for label in labels:
        for t in cfg.lengths:
            acc = result["accuracy"][label][str(t)]
            assert acc["n"] == len(cfg.seeds) and all(0.0 <= v <= 1.0 for v in acc["values"])
        means = [result["accuracy"][label][str(t)]["mean"] for t in cfg.lengths]
        assert result["breaks_at"][label] == exp.breaking_point(list(cfg.lengths), means)
    for fig in result["figures"]:
        assert (tmp_path / fig["file"]).read_bytes().startswith(PNG_MAGIC)
    assert exp.verdict(result).count("T=") >= len(labels)
