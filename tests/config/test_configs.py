"""The configs: limits declared on the fields, per-task model configs, the generated flags, and
records written by older versions."""

from __future__ import annotations

import argparse
import dataclasses
import typing

import pytest

from rnnkit import config
from rnnkit.cli import build_parser
from rnnkit.config.flags import field_type
from rnnkit.config.limits import LOWS, value_problem
from rnnkit.models._common import RECURRENT_LAYERS
from rnnkit.models.seq2seq import Seq2Seq
from rnnkit.train.checkpoint import CheckpointError, config_from_meta

ALL = (config.ClassifierModelConfig, config.LanguageModelConfig, config.Seq2SeqModelConfig, config.TextConfig,
       config.LMConfig, config.Seq2SeqConfig, config.TrainConfig)


def _field(cls, name):
    return next(f for f in dataclasses.fields(cls) if f.name == name)


@pytest.mark.parametrize("cls", ALL)
def test_every_field_declares_help_and_a_known_range(cls):
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        assert f.metadata["help"], f.name
        assert f.metadata["low"] in LOWS, f.name
        default, kind = f.default, field_type(hints[f.name])
        if default is not None and kind in (int, float) and not isinstance(default, bool):
            assert value_problem(f, kind, default) is None, f"{cls.__name__}.{f.name}'s default breaks its own rule"
        if f.metadata.get("choices") and default is not None:
            assert default in f.metadata["choices"], f.name


@pytest.mark.parametrize(("cls", "name", "value", "problem"), [
    (config.TrainConfig, "lr", 0.0, "must be positive"),
    (config.TrainConfig, "lr", 1e4, "must be at most 1000.0"),
    (config.TrainConfig, "clip", -1.0, "must not be negative"),
    (config.TrainConfig, "clip", 0.0, None),
    (config.TrainConfig, "lr_decay", 0.5, "must be >= 1 (1 = off)"),
    (config.TrainConfig, "seed", 2**63, f"must be at most {2**63 - 1}"),
    (config.TrainConfig, "batch_size", 2**31, f"must be at most {config.INT_MAX}"),
    (config.TrainConfig, "max_minutes", float("inf"), "must be a finite number"),
    (config.ClassifierModelConfig, "dropout", 1.0, "must lie in [0, 1)"),
    (config.ClassifierModelConfig, "num_layers", 65, "must be at most 64"),
    (config.Seq2SeqConfig, "label_smoothing", -0.1, "must lie in [0, 1)"),
    (config.Seq2SeqConfig, "max_tgt_len", config.MAX_DECODE_LEN + 1, f"must be at most {config.MAX_DECODE_LEN}"),
])
def test_limits_come_from_the_field(cls, name, value, problem):
    assert value_problem(_field(cls, name), type(value), value) == problem


def _flags(*argv):
    parser = build_parser()
    sub = parser
    for word in argv:
        sub = next(a for a in sub._actions if isinstance(a, argparse._SubParsersAction)).choices[word]
    return {s for a in sub._actions for s in a.option_strings}


def test_each_task_has_the_model_flags_its_network_uses():
    classify, lm, s2s = _flags("train", "classify"), _flags("train", "lm"), _flags("train", "seq2seq")
    shared = {"--cell", "--embedding-size", "--hidden-size", "--num-layers", "--dropout"}
    assert shared <= classify and shared <= lm and shared <= s2s
    assert {"--pooling", "--bidirectional"} <= classify and "--tie-weights" not in classify
    assert "--tie-weights" in lm and not {"--pooling", "--bidirectional"} & lm
    assert "--bidirectional" in s2s and not {"--pooling", "--tie-weights"} & s2s


def test_a_record_of_an_older_version_loads_without_the_fields_its_task_never_used(tmp_path):
    old = {"cell": "gru", "embedding_size": 8, "hidden_size": 16, "num_layers": 1, "dropout": 0.0,
           "bidirectional": False, "pooling": "max", "tie_weights": True}
    lm = config_from_meta(config.LanguageModelConfig, {"model": old}, "model", tmp_path)
    assert lm == config.LanguageModelConfig(cell="gru", embedding_size=8, hidden_size=16, dropout=0.0,
                                            tie_weights=True)
    s2s = config_from_meta(config.Seq2SeqModelConfig, {"model": {**old, "bidirectional": True}}, "model", tmp_path)
    assert s2s.bidirectional is True and not hasattr(s2s, "pooling")
    with pytest.raises(CheckpointError, match=r"unknown field\(s\) \['attention'\]"):
        config_from_meta(config.LanguageModelConfig, {"model": {**old, "attention": "dot"}}, "model", tmp_path)
    with pytest.raises(CheckpointError, match="dropout = 1.5 must lie in"):
        config_from_meta(config.ClassifierModelConfig, {"model": {**old, "dropout": 1.5}}, "model", tmp_path)


def test_one_table_of_cells():
    assert tuple(RECURRENT_LAYERS) == config.CELLS
    assert _field(config.ModelConfig, "cell").metadata["choices"] == config.CELLS


def test_seq2seq_from_config_builds_the_model_of_its_arguments():
    import torch

    m = config.Seq2SeqModelConfig(cell="gru", embedding_size=6, hidden_size=8, num_layers=2, dropout=0.1,
                                  bidirectional=True)
    s = config.Seq2SeqConfig(attention="additive", input_feeding=False)
    torch.manual_seed(0)
    a = Seq2Seq.from_config(m, s, 11, 13, pad_id=0, bos_id=2, eos_id=3)
    torch.manual_seed(0)
    b = Seq2Seq(11, 13, embedding_size=6, hidden_size=8, num_layers=2, cell="gru", bidirectional=True,
                attention="additive", dropout=0.1, input_feeding=False)
    assert a.input_feeding is False and a.directions == 2 and type(a.encoder).__name__ == "GRU"
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_recipes_build_per_task_configs():
    recipe = config.SEQ2SEQ_RECIPES["en-es"]
    model = config.recipe_config(config.Seq2SeqModelConfig, recipe)
    assert model.bidirectional is True and model.cell == "lstm"  # a base ModelConfig would drop bidirectional
    lm = config.recipe_config(config.LanguageModelConfig, config.LM_RECIPE)
    assert lm.hidden_size == config.LM_RECIPE["hidden_size"]
