"""The trainer's task contract and the decoding protocol are typing.Protocols the real classes meet."""

from __future__ import annotations

import pytest
import torch

from rnnkit.config import TrainConfig
from rnnkit.decode.protocol import Decodable
from rnnkit.models.lm import RNNLanguageModel
from rnnkit.models.seq2seq import Seq2Seq
from rnnkit.tasks.classification import ClassificationTask
from rnnkit.tasks.language_model import LanguageModelTask
from rnnkit.tasks.translation import TranslationTask
from rnnkit.train import EpochAwareTask, SizedTask, StatefulTask, Task, Trainer


def test_the_tasks_meet_the_protocols_they_claim():
    for cls in (ClassificationTask, LanguageModelTask, TranslationTask):
        for member in ("monitor", "higher_is_better", "unit", "train_batches", "loss", "evaluate", "checkpoint_meta",
                       "batches_per_epoch"):
            assert hasattr(cls, member), (cls.__name__, member)
    # the language model carries its states between windows and starts fresh streams each epoch
    for member in ("resume_state", "restore", "start_epoch"):
        assert hasattr(LanguageModelTask, member)
    assert {Task, SizedTask, EpochAwareTask, StatefulTask}  # exported from rnnkit.train


def test_a_non_task_is_refused_with_what_it_lacks(tmp_path):
    class Half:
        model = torch.nn.Linear(2, 2)
        monitor, higher_is_better, unit = "loss", False, "examples"

        def loss(self, batch):
            return torch.zeros(()), 1

    with pytest.raises(TypeError, match="Half is not a training task: it lacks train_batches, evaluate, "
                                        "checkpoint_meta"):
        Trainer(Half(), TrainConfig(out=str(tmp_path / "run")))
    assert not (tmp_path / "run").exists()


def test_the_models_are_decodable():
    assert isinstance(RNNLanguageModel(7, 4, 4, num_layers=1), Decodable)
    assert isinstance(Seq2Seq(7, 7, 4, 4), Decodable)
    assert not isinstance(torch.nn.Linear(2, 2), Decodable)
