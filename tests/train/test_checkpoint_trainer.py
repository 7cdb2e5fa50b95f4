"""Checkpoints (atomic, pickle-free, integrity-checked) and the shared training loop."""

import json
import math

import pytest
import torch

from rnnkit.config import TrainConfig
from rnnkit.train import (
    CheckpointError,
    Trainer,
    TrainingError,
    load_checkpoint,
    load_weights,
    read_meta,
    save_checkpoint,
)


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
    state = load_checkpoint(tmp_path).optimizer_state()
    assert state["state"][0]["step"] == 1
    fresh = torch.optim.AdamW(Tied().parameters())
    fresh.load_state_dict(state)  # the optimizer takes it back (no pickle on the way)
    before, after = opt.state_dict()["state"], fresh.state_dict()["state"]
    assert before.keys() == after.keys()
    for i in before:
        assert all(torch.equal(before[i][k], after[i][k]) for k in before[i])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.json", "model-000001.safetensors",
                                                          "optimizer-000001.safetensors"]


def test_weights_in_one_flat_buffer_round_trip_each_stored_once(tmp_path):
    """safetensors' own de-duplication refused a layer whose weights are views of one buffer ("None
    is covering the entire storage"); each is stored as a copy of its own, a tied weight once."""
    import rnnkit.nn as rnn
    from rnnkit.train.checkpoint import _safetensors_metadata
    from tests.nn.harness import into_one_buffer

    torch.manual_seed(0)
    model = torch.nn.ModuleDict({"rnn": rnn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2),
                                 "tied": Tied()})
    into_one_buffer(model["rnn"])
    assert len({w.untyped_storage().data_ptr() for w in model["rnn"].parameters()}) == 1
    save_checkpoint(tmp_path, model, {"model_type": "toy"})
    ckpt = load_checkpoint(tmp_path)
    assert sorted(ckpt.weights) == sorted(n for n in model.state_dict() if n != "tied.b.weight")
    for name, value in model.state_dict().items():
        assert torch.equal(ckpt.weights.get(name, ckpt.weights["tied.a.weight"]), value), name
    blob = next(tmp_path.glob("model-*.safetensors")).read_bytes()
    assert _safetensors_metadata(blob) == {"tied.b.weight": "tied.a.weight"}
    stored = sum(v.numel() for v in ckpt.weights.values())
    assert stored == sum(p.numel() for p in model.parameters())  # nothing stored twice


def test_two_views_of_one_storage_are_stored_each_on_its_own(tmp_path):
    """A buffer that is another view of a weight (a reshape, a transpose) covers the same storage:
    safetensors refused the pair with a raw error."""
    model = torch.nn.Linear(3, 4)
    model.register_buffer("flat", model.weight.detach().view(-1))
    model.register_buffer("bits", model.weight.detach().view(torch.int32))
    model.register_buffer("transposed", model.weight.detach().t())  # not contiguous either
    save_checkpoint(tmp_path, model, {"model_type": "toy"})
    weights = load_checkpoint(tmp_path).weights
    for name, value in model.state_dict().items():
        assert torch.equal(weights[name], value), name


def test_missing_corrupted_and_foreign_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint in"):
        read_meta(tmp_path / "nothing")
    save_checkpoint(tmp_path, _model(), {"model_type": "classifier"})
    with pytest.raises(CheckpointError, match="holds a 'classifier' model, not a 'lm' one"):
        read_meta(tmp_path, "lm")
    weights = tmp_path / read_meta(tmp_path)["files"]["model"]["name"]
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

    monkeypatch.setattr("rnnkit.train.checkpoint._model_bytes", boom)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path, _model(), {"model_type": "toy", "version": 2})
    assert read_meta(tmp_path)["version"] == 1
    assert not list(tmp_path.glob(".*.tmp")) and len(list(tmp_path.iterdir())) == 2


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


class LrRecorder(ToyTask):
    """Records the learning rate each optimiser step used (read when the next batch's loss is taken)."""

    def __init__(self, constant_metric=False):
        super().__init__()
        self.trainer, self.rates, self.constant_metric = None, [], constant_metric

    def batches_per_epoch(self):
        return 8

    def evaluate(self):
        return {"accuracy": 0.5} if self.constant_metric else super().evaluate()

    def loss(self, batch):
        if self.calls:
            self.rates.append(self.trainer.optimizer.param_groups[0]["lr"])
        return super().loss(batch)


def _rates(tmp_path, constant_metric=False, **cfg):
    task = LrRecorder(constant_metric)
    task.trainer = Trainer(task, TrainConfig(out=str(tmp_path), lr=0.1, **cfg), progress=False)
    task.trainer.fit()
    return task.rates


@pytest.mark.parametrize("schedule,shape", [
    ("constant", lambda p: 1.0), ("linear", lambda p: 1 - p), ("cosine", lambda p: 0.5 * (1 + math.cos(math.pi * p)))])
def test_schedules_follow_the_step_budget(tmp_path, schedule, shape):
    rates = _rates(tmp_path, epochs=50, max_steps=20, schedule=schedule)
    assert rates == pytest.approx([0.1 * shape(s / 20) for s in range(19)])


def test_warmup_then_decay_over_the_epoch_budget(tmp_path):
    rates = _rates(tmp_path, epochs=2, schedule="linear", warmup_steps=4)  # 8 batches per epoch
    expected = [0.1 * min(1, (s + 1) / 4) * (1 - s / 16) for s in range(15)]
    assert rates == pytest.approx(expected)


def test_plateau_decay_multiplies_the_schedule(tmp_path):
    # the metric never improves after the first evaluation: each later one halves the rate
    rates = _rates(tmp_path, constant_metric=True, epochs=4, lr_decay=2.0, patience=0, schedule="linear")
    scale = [1.0] * 16 + [0.5] * 8 + [0.25] * 7
    assert rates == pytest.approx([0.1 * k * (1 - s / 32) for s, k in enumerate(scale)])


def test_a_schedule_needs_a_budget(tmp_path):
    # ToyTask does not say how many batches an epoch has: only a step or time budget will do
    with pytest.raises(ValueError, match="needs a known budget"):
        Trainer(ToyTask(), TrainConfig(out=str(tmp_path), schedule="cosine"), progress=False)
    Trainer(ToyTask(), TrainConfig(out=str(tmp_path), schedule="cosine", max_minutes=1.0), progress=False)


def test_progress_is_the_furthest_along_budget(tmp_path):
    trainer = Trainer(ToyTask(), TrainConfig(out=str(tmp_path), epochs=4, max_steps=100, max_minutes=2.0),
                      progress=False)
    trainer.step, trainer.epoch, trainer.batch_in_epoch = 10, 2, 3
    assert trainer._progress(30.0, None) == pytest.approx(0.25)  # a quarter of the time beats 10 % of the steps
    assert trainer._progress(6.0, 8) == pytest.approx(11 / 32)  # 11 of 4 x 8 batches
    assert trainer._progress(500.0, 8) == 1.0
