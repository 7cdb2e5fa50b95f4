"""The lab on a CUDA device: every experiment's tiny preset trains and measures there.

Marked ``gpu`` and skipped without a CUDA device: run with ``make test-gpu``. The CPU side of the
same contract (the device reaching each config, errors, the report's line) is in
``test_runner_report.py``.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch

import rnnkit.lab.runner as runner
from rnnkit.lab import EXPERIMENTS, charlm, common
from rnnkit.train.runtime import module_device

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def _numbers(value):
    """Every float of a result, nested anywhere."""
    if isinstance(value, float):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _numbers(v)


@pytest.fixture
def trained_on(monkeypatch):
    """The devices of the models trained during the test, by ``common.train_steps`` and by the
    timed race (``charlm.race``: gru-vs-lstm, cnn-vs-rnn's language models)."""
    devices, steps, race = [], common.train_steps, charlm.race

    def recording_steps(model, *args, **kwargs):
        devices.append(module_device(model).type)
        return steps(model, *args, **kwargs)

    def recording_race(contestants, *args, **kwargs):
        devices.extend(module_device(c.model).type for c in contestants)
        return race(contestants, *args, **kwargs)

    monkeypatch.setattr(common, "train_steps", recording_steps)
    monkeypatch.setattr(charlm, "race", recording_race)
    return devices


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_tiny_preset_runs_on_cuda(name, tmp_path, polarity_file, trained_on):
    result = runner.run(name, "tiny", out=tmp_path, log=lambda s: None, device="cuda")
    assert result["config"]["device"] == result["machine"]["device"] == f"cuda:{torch.cuda.current_device()}"
    assert result["machine"]["accelerator"] == torch.cuda.get_device_name()
    assert set(trained_on) <= {"cuda"}
    if name != "beam-vs-greedy":  # it trains through its own loop
        assert trained_on, "no model of the experiment was seen training"
    assert result["verdict"] and result["tables"]
    # a diverged run is a finding, not a device bug; but a tiny preset diverging everywhere is one
    numbers = list(_numbers({k: v for k, v in result.items() if k not in ("config", "machine", "versions")}))
    assert numbers and sum(map(math.isfinite, numbers)) > len(numbers) // 2


def _train(argv: list[str], out: Path) -> str:
    from rnnkit.cli import main

    assert main(["train", *argv, "--out", str(out), "--max-steps", "2", "--hidden-size", "8",
                 "--embedding-size", "4", "--batch-size", "8", "--device", "cuda", "--quiet"]) == 0
    return str(out)


@pytest.mark.parametrize("device", ["cuda:0", "cpu"])
def test_a_gpu_written_checkpoint_is_analysed_on_either_device(device, tmp_path, capsys):
    from rnnkit.lab import experiment

    seq2seq = _train(["seq2seq", "--corpus", "dates"], tmp_path / "s2s")
    lm = _train(["lm", "--corpus", "shakespeare", "--level", "char", "--cell", "lstm"], tmp_path / "lm")
    capsys.readouterr()
    for name, checkpoint, extra in [("beam-vs-greedy", seq2seq, {"beam_sizes": (2,), "test_sentences": 3}),
                                    ("inside-the-lstm", lm, {})]:
        module = experiment(name)
        cfg = dataclasses.replace(module.PRESETS["tiny"], checkpoint=checkpoint, device=device, **extra)
        module.check(cfg)
        result = module.run(cfg, tmp_path / name / device, False)
        assert result["tables"], name
