"""The adding experiment: its generator against a row-by-row loop, the mean-predictor baseline,
parameter matching, the curve helpers it shares with copy-memory, the tiny preset's result and a
verdict that follows the numbers."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest
import torch

from rnnkit.lab import adding as exp
from rnnkit.lab import common, models

from .conftest import PNG_MAGIC


@pytest.mark.parametrize("one_per_half", [False, True])
def test_adding_batch_against_a_loop(one_per_half):
    x, y = exp.adding_batch(64, 9, torch.Generator().manual_seed(3), one_per_half)
    assert x.shape == (64, 9, 2) and y.shape == (64, 1)
    for row in range(64):
        values, marker = x[row, :, 0].tolist(), x[row, :, 1].tolist()
        marked = [t for t in range(9) if marker[t] == 1.0]
        assert len(marked) == 2 and sum(marker) == 2.0  # exactly two ones, zeros elsewhere
        assert all(0.0 <= v <= 1.0 for v in values)
        assert y[row, 0].item() == pytest.approx(values[marked[0]] + values[marked[1]], abs=1e-6)
        if one_per_half:
            assert marked[0] < 9 // 2 <= marked[1]


def test_markers_anywhere_reach_both_ends_and_a_half_twice():
    # Bai et al.'s placement: two distinct steps uniform over the sequence, so both marks fall in
    # one half of some rows (never with one_per_half)
    x, _ = exp.adding_batch(400, 6, torch.Generator().manual_seed(0))
    marked = x[:, :, 1].nonzero()[:, 1].reshape(400, 2)
    assert set(marked.flatten().tolist()) == set(range(6))
    assert ((marked < 3).all(dim=1)).any() and ((marked >= 3).all(dim=1)).any()


def test_adding_batch_is_seeded_and_checks_its_input():
    a = exp.adding_batch(5, 10, torch.Generator().manual_seed(7))
    b = exp.adding_batch(5, 10, torch.Generator().manual_seed(7))
    c = exp.adding_batch(5, 10, torch.Generator().manual_seed(8))
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not torch.equal(a[0], c[0])
    with pytest.raises(ValueError, match="steps"):
        exp.adding_batch(5, 1, torch.Generator())
    with pytest.raises(ValueError, match="size"):
        exp.adding_batch(0, 10, torch.Generator())
    with pytest.raises(ValueError, match="size"):
        exp.adding_batch(2.0, 10, torch.Generator())


def test_predicting_the_mean_scores_one_sixth():
    _, y = exp.adding_batch(20000, 20, torch.Generator().manual_seed(1))
    mse = float(((y - 1.0) ** 2).mean())  # the sum of two U(0, 1) has mean 1, variance 2/12
    assert mse == pytest.approx(1 / 6, abs=0.006)


def test_parameter_matching_of_the_quick_and_full_presets():
    for cfg in (exp.PRESETS["quick"], exp.PRESETS["full"]):
        for length in cfg.lengths:
            shape = dict(read="last", steps=length, kernel_size=cfg.kernel_size)
            sized = exp.matched_widths(cfg.kinds, 2, 1, cfg.parameters, **shape)
            assert list(sized) == list(cfg.kinds)
            counts = []
            for kind, (width, count) in sized.items():
                model = models.SequenceNet(kind, 2, width, 1, **shape)  # what run() trains
                assert common.count_parameters(model) == count
                counts.append(count)
            assert max(counts) / min(counts) < 1.03, (length, counts)
            assert abs(sum(counts) / len(counts) - cfg.parameters) / cfg.parameters < 0.1


def test_summarize_curves_and_parameter_entries():
    c = exp.summarize_curves([[(10, 1.0), (20, 3.0)], [(10, 3.0), (20, 3.0)]])
    assert c["steps"] == [10, 20] and c["mean"] == [2.0, 3.0] and c["per_seed"] == [[1.0, 3.0], [3.0, 3.0]]
    assert c["std"][0] == pytest.approx(2**0.5) and c["std"][1] == 0.0
    entries = exp.parameter_entries({"50": {"LSTM": 100, "TCN": 90}, "100": {"LSTM": 100, "TCN": 95}})
    assert entries == {"LSTM": 100, "TCN, T=50": 90, "TCN, T=100": 95}


def test_tiny_preset_result(tmp_path, one_thread):
    cfg = exp.PRESETS["tiny"]
    result = exp.run(cfg, tmp_path)
    result = json.loads(json.dumps(result, allow_nan=False))  # JSON-able, and read back as the report does
    assert {"setup", "parameters", "tables", "figures", "baseline_mse", "final_mse", "curves",
            "train_seconds", "widths", "tcn_levels"} <= result.keys()
    labels = [models.LABELS[k] for k in cfg.kinds]
    key = str(cfg.lengths[0])
    assert set(result["final_mse"][key]) == set(labels)
    for label in labels:
        assert result["final_mse"][key][label]["n"] == len(cfg.seeds)
        curve = result["curves"][key][label]
        assert curve["steps"] == [3, 6] and len(curve["per_seed"]) == len(cfg.seeds)
        assert result["final_mse"][key][label]["values"] == [s[-1] for s in curve["per_seed"]]
    assert 0.05 < result["baseline_mse"][key] < 0.3
    rows = result["tables"][0]["rows"]
    assert any("Bai et al. 2018" in r[0] and "T=600" in r[0] for r in rows)
    assert any("baseline" in r[0] for r in rows)
    for f in result["figures"]:
        assert (tmp_path / f["file"]).read_bytes()[:8] == PNG_MAGIC and f["caption"]
    assert exp.verdict(result).startswith(f"T={key}: ")


def test_tiny_preset_is_seeded(tmp_path, one_thread):
    cfg = dataclasses.replace(exp.PRESETS["tiny"], kinds=("lstm",), seeds=(0,))
    a, b = exp.run(cfg, tmp_path / "a"), exp.run(cfg, tmp_path / "b")
    assert a["curves"] == b["curves"]


def _fake(mse: dict[str, dict[str, float]]) -> dict:
    return {"baseline_mse": {t: 1 / 6 for t in mse},
            "final_mse": {t: {m: {"mean": v, "std": 0.0, "n": 3, "values": [v] * 3} for m, v in by.items()}
                          for t, by in mse.items()}}


def test_verdict_follows_the_numbers():
    gru_wins = _fake({"50": {"LSTM": 0.16, "GRU": 0.001, "TCN": 0.05}, "100": {"LSTM": 0.17, "GRU": 0.16}})
    tcn_wins = copy.deepcopy(gru_wins)
    tcn_wins["final_mse"]["50"]["TCN"]["mean"] = 1e-4
    v1, v2 = exp.verdict(gru_wins), exp.verdict(tcn_wins)
    assert "T=50: GRU 0.001, TCN 0.05 beat the baseline" in v1 and "best GRU" in v1
    assert "best TCN" in v2 and v1 != v2
    assert "T=100: no model beat the baseline" in v1 and "best GRU 0.16" in v1
    nan = _fake({"50": {"LSTM": float("nan")}})
    assert "every run diverged" in exp.verdict(nan)
