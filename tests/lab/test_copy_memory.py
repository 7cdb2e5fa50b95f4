"""The copy-memory experiment: its generator against Bai et al.'s layout written out by hand, the
memoryless baseline against a hand-built memoryless model, recall accuracy, parameter matching, the
tiny preset's result and a verdict that follows the numbers."""

from __future__ import annotations

import copy
import dataclasses
import json
import math

import pytest
import torch

from rnnkit.lab import common, models
from rnnkit.lab import copy_memory as exp
from rnnkit.lab.adding import matched_widths

from .conftest import PNG_MAGIC


@pytest.mark.parametrize("blank", [1, 7])
def test_copy_batch_is_bai_et_al_layout(blank):
    symbols, targets = exp.copy_batch(16, blank, torch.Generator().manual_seed(2))
    assert symbols.shape == targets.shape == (16, blank + 20) and symbols.dtype == targets.dtype == torch.int64
    for row in range(16):
        digits = symbols[row, :10].tolist()
        assert all(1 <= d <= 8 for d in digits)
        # Bai et al.: cat(seq, zeros[:-1], 9 * ones(11)) and cat(zeros(10), zeros(T), seq)
        assert symbols[row].tolist() == digits + [0] * (blank - 1) + [9] * 11
        assert targets[row].tolist() == [0] * (blank + 10) + digits
        assert symbols[row].tolist().index(9) == blank + 9  # the first marker, 0-based


def test_copy_batch_digits_cover_one_to_eight_and_are_seeded():
    a = exp.copy_batch(200, 3, torch.Generator().manual_seed(5))
    b = exp.copy_batch(200, 3, torch.Generator().manual_seed(5))
    c = exp.copy_batch(200, 3, torch.Generator().manual_seed(6))
    assert all(torch.equal(u, v) for u, v in zip(a, b)) and not torch.equal(a[0], c[0])
    assert set(a[0][:, :10].flatten().tolist()) == set(range(1, 9))
    with pytest.raises(ValueError, match="blank"):
        exp.copy_batch(2, 0, torch.Generator())
    with pytest.raises(ValueError, match="size"):
        exp.copy_batch(-1, 5, torch.Generator())


def test_encode_one_hot_and_scalar():
    symbols, _ = exp.copy_batch(3, 4, torch.Generator().manual_seed(0))
    one_hot = exp.encode(symbols, True)
    assert one_hot.shape == (3, 24, 10) and torch.equal(one_hot.argmax(dim=2), symbols)
    assert torch.equal(one_hot.sum(dim=2), torch.ones(3, 24))
    scalar = exp.encode(symbols, False)
    assert scalar.shape == (3, 24, 1) and torch.equal(scalar[..., 0], symbols.float())


class _Memoryless(torch.nn.Module):
    """Sees only the current symbol: a blank is predicted as blank for sure, and after the markers
    the digits are guessed uniformly among 1-8. The best any model without memory can do."""

    def __init__(self, blank: int):
        super().__init__()
        self.blank, self.dummy = blank, torch.nn.Parameter(torch.zeros(()))

    def forward(self, x):
        logits = torch.full((*x.shape[:2], 10), -1e4)
        logits[:, : self.blank + 10, 0] = 0.0
        logits[:, self.blank + 10 :, 1:9] = 0.0
        return logits


class _Oracle(torch.nn.Module):
    """Reads the digits from the start of the (one-hot) input: perfect memory."""

    def forward(self, x):
        symbols = x.argmax(dim=2)
        targets = torch.zeros_like(symbols)
        targets[:, -10:] = symbols[:, :10]
        return torch.nn.functional.one_hot(targets, 10).float() * 1e4


@pytest.mark.parametrize("blank", [3, 50, 1000])
def test_memoryless_baseline_by_hand(blank):
    assert exp.baseline_loss(blank) == pytest.approx(10 * math.log(8) / (blank + 20))
    symbols, targets = exp.copy_batch(32, blank, torch.Generator().manual_seed(1))
    x = exp.encode(symbols, True)
    loss, recall = exp.held_out_scores(_Memoryless(blank), x, targets)
    assert loss == pytest.approx(exp.baseline_loss(blank), rel=1e-5)
    assert float(exp.copy_loss(_Memoryless(blank), x, targets)) == pytest.approx(loss)
    # argmax picks digit 1 among the tied eight: right for the digits that are 1
    assert recall == pytest.approx(float((targets[:, -10:] == 1).float().mean()))


def test_oracle_recalls_everything():
    symbols, targets = exp.copy_batch(16, 9, torch.Generator().manual_seed(4))
    loss, recall = exp.held_out_scores(_Oracle(), exp.encode(symbols, True), targets)
    assert loss == pytest.approx(0.0, abs=1e-6) and recall == 1.0


def test_parameter_matching_of_the_quick_and_full_presets():
    for cfg in (exp.PRESETS["quick"], exp.PRESETS["full"]):
        for blank in cfg.lengths:
            shape = dict(read="all", steps=blank + 20, kernel_size=cfg.kernel_size)
            sized = matched_widths(cfg.kinds, 10, 10, cfg.parameters, **shape)
            counts = []
            for kind, (width, count) in sized.items():
                model = models.SequenceNet(kind, 10, width, 10, **shape)
                assert common.count_parameters(model) == count
                if kind == "tcn":  # its receptive field covers the whole sequence
                    assert model.layer.receptive_field >= blank + 20
                counts.append(count)
            assert max(counts) / min(counts) < 1.03, (blank, counts)
            assert abs(sum(counts) / len(counts) - cfg.parameters) / cfg.parameters < 0.1


def test_tiny_preset_result(tmp_path, one_thread):
    cfg = exp.PRESETS["tiny"]
    result = json.loads(json.dumps(exp.run(cfg, tmp_path), allow_nan=False))
    assert {"setup", "parameters", "tables", "figures", "baseline_loss", "final_loss", "recall_accuracy",
            "curves", "train_seconds", "widths", "tcn_levels"} <= result.keys()
    key = str(cfg.lengths[0])
    assert result["baseline_loss"][key] == pytest.approx(exp.baseline_loss(cfg.lengths[0]))
    for label in (models.LABELS[k] for k in cfg.kinds):
        curve = result["curves"][key][label]
        assert curve["steps"] == [3, 6] and len(curve["per_seed"]) == len(cfg.seeds)
        assert result["final_loss"][key][label]["values"] == [s[-1] for s in curve["per_seed"]]
        assert all(0.0 <= a <= 1.0 for a in result["recall_accuracy"][key][label]["values"])
    loss_table, recall_table = result["tables"]
    assert any("Bai et al. 2018" in r[0] and "T=1000" in r[0] for r in loss_table["rows"])
    assert any("memoryless" in r[0] for r in loss_table["rows"]) and recall_table["rows"][-1][1] == "12.5 %"
    for f in result["figures"]:
        assert (tmp_path / f["file"]).read_bytes()[:8] == PNG_MAGIC and f["caption"]
    assert exp.verdict(result).startswith(f"T={key}: ")


def test_tiny_preset_is_seeded(tmp_path, one_thread):
    cfg = dataclasses.replace(exp.PRESETS["tiny"], kinds=("tcn",), seeds=(0,), one_hot=False)
    a, b = exp.run(cfg, tmp_path / "a"), exp.run(cfg, tmp_path / "b")
    assert a["curves"] == b["curves"] and a["recall_accuracy"] == b["recall_accuracy"]


def _fake(losses: dict[str, dict[str, float]], recall: float = 0.125) -> dict:
    summary = lambda v: {"mean": v, "std": 0.0, "n": 3, "values": [v] * 3}
    return {"baseline_loss": {t: exp.baseline_loss(int(t)) for t in losses},
            "final_loss": {t: {m: summary(v) for m, v in by.items()} for t, by in losses.items()},
            "recall_accuracy": {t: {m: summary(recall) for m in by} for t, by in losses.items()}}


def test_verdict_follows_the_numbers():
    base = exp.baseline_loss(50)  # 0.297
    at_baseline = _fake({"50": {"LSTM": base, "TCN": base * 1.01}})
    tcn_learns = copy.deepcopy(at_baseline)
    tcn_learns["final_loss"]["50"]["TCN"]["mean"] = base / 100
    tcn_learns["recall_accuracy"]["50"]["TCN"]["mean"] = 0.99
    v1, v2 = exp.verdict(at_baseline), exp.verdict(tcn_learns)
    assert v1 == "T=50: no model below the memoryless 0.297; LSTM, TCN at or above it"
    assert v2 == "T=50: below the memoryless 0.297: TCN at 0.01x it (recall 99%); LSTM at or above it"
