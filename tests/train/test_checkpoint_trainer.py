"""Checkpoints (atomic, pickle-free, integrity-checked) and the shared training loop."""

import json

import pytest
import torch

from rnnkit.config import TrainConfig
from rnnkit.train import CheckpointError, Trainer, TrainingError, load_weights, read_meta, save_checkpoint
from rnnkit.train.checkpoint import load_optimizer_state


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))


class Tied(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = torch.nn.Linear(3, 3), torch.nn.Linear(3, 3)
        self.b.weight = self.a.weight  # shared, as a language model ties embedding and output

    def forward(self, x):
        return self.b(torch.tanh(self.a(x)))


def test_round_trip_with_tied_weights_and_optimizer(tmp_path):
    torch.manual_seed(0)
    model = Tied()
    opt = torch.optim.AdamW(model.parameters())
    model(torch.randn(5, 3)).sum().backward()
    opt.step()
    save_checkpoint(tmp_path, model, {"model_type": "toy", "note": "ñ"}, opt.state_dict())
    meta = read_meta(tmp_path, "toy")
    assert meta["note"] == "ñ"
    other = Tied()
    load_weights(other, tmp_path)
    for a, b in zip(model.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b)
    assert other.b.weight is other.a.weight
    state = load_optimizer_state(tmp_path)
    assert state["state"][0]["step"] == 1
    assert not list(tmp_path.glob("*.tmp"))  # no temporary files left behind


def test_missing_corrupted_and_foreign_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint in"):
        read_meta(tmp_path / "nothing")
    save_checkpoint(tmp_path, _model(), {"model_type": "classifier"})
    with pytest.raises(CheckpointError, match="holds a 'classifier' model, not a 'lm' one"):
        read_meta(tmp_path, "lm")
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"12345678")
    with pytest.raises(CheckpointError, match="does not match"):
        read_meta(tmp_path)
    (tmp_path / "checkpoint.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupted"):
        read_meta(tmp_path)


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, _model(), {"model_type": "toy", "version": 1})

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("rnnkit.train.checkpoint.save_model", boom)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path, _model(), {"model_type": "toy", "version": 2})
    assert read_meta(tmp_path)["version"] == 1
    assert not list(tmp_path.glob(".*.tmp"))


class ToyTask:
    """Learn y = x0 > 0 with a linear model; loss can be poisoned to test the NaN stop."""

    monitor, higher_is_better, unit = "accuracy", True, "examples"

    def __init__(self, poison_at=None):
        torch.manual_seed(0)
        self.model = torch.nn.Linear(2, 2)
        self.x = torch.randn(256, 2)
        self.y = (self.x[:, 0] > 0).long()
        self.poison_at, self.calls = poison_at, 0

    def train_batches(self, epoch):
        for i in range(0, 256, 32):
            yield self.x[i : i + 32], self.y[i : i + 32]

    def loss(self, batch):
        self.calls += 1
        loss = torch.nn.functional.cross_entropy(self.model(batch[0]), batch[1])
        return (loss * float("nan") if self.calls == self.poison_at else loss), len(batch[1])

    def evaluate(self):
        with torch.no_grad():
            return {"accuracy": float((self.model(self.x).argmax(1) == self.y).float().mean())}

    def checkpoint_meta(self):
        return {"model_type": "toy"}


def test_trainer_learns_logs_and_checkpoints(tmp_path):
    best = Trainer(ToyTask(), TrainConfig(out=str(tmp_path), epochs=5, lr=0.1), progress=False).fit()
    assert best["accuracy"] > 0.9
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines[:-1]] == list(range(1, len(lines)))
    assert lines[-1]["best"] == best and read_meta(tmp_path, "toy")["metrics"] == best


def test_trainer_step_budget(tmp_path):
    trainer = Trainer(ToyTask(), TrainConfig(out=str(tmp_path), epochs=50, max_steps=11), progress=False)
    trainer.fit()
    assert trainer.step == 11
    assert json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])["stopped"] == "max_steps"


def test_trainer_early_stopping(tmp_path):
    cfg = TrainConfig(out=str(tmp_path), epochs=50, lr=0.0, patience=2)  # lr 0: never improves
    trainer = Trainer(ToyTask(), cfg, progress=False)
    trainer.fit()
    assert trainer.step == 3 * 8  # the first evaluation sets the best; two more without improvement


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    with pytest.raises(TrainingError, match="loss became nan at step 12.*last good checkpoint"):
        Trainer(ToyTask(poison_at=12), TrainConfig(out=str(tmp_path), epochs=5, lr=0.1), progress=False).fit()
    assert read_meta(tmp_path, "toy")["epoch"] == 1
