"""Typed configs, one per concern, and what is built from them.

* :mod:`~rnnkit.config.schemas`: the dataclasses (model per task, text, language-model data,
  sequence-to-sequence, training), each field declaring its default, help and limits;
* :mod:`~rnnkit.config.limits`: the rules a field's numbers obey, checked in one place;
* :mod:`~rnnkit.config.recipes`: the measured defaults of the commands;
* :mod:`~rnnkit.config.flags`: the command line generated from the dataclasses.
"""

from __future__ import annotations

from .flags import add_config_arguments, config_from_args
from .limits import INT_MAX, MAX_DECODE_LEN, value_problem
from .recipes import LM_DEMO_RECIPE, LM_RECIPE, LM_TCN_RECIPE, SEQ2SEQ_RECIPES, recipe_config
from .schemas import (
    CELLS,
    ClassifierModelConfig,
    LanguageModelConfig,
    LMConfig,
    ModelConfig,
    Seq2SeqConfig,
    Seq2SeqModelConfig,
    TextConfig,
    TrainConfig,
)

__all__ = [
    "CELLS", "ModelConfig", "ClassifierModelConfig", "LanguageModelConfig", "Seq2SeqModelConfig", "TextConfig",
    "LMConfig", "Seq2SeqConfig", "TrainConfig", "LM_RECIPE", "LM_TCN_RECIPE", "LM_DEMO_RECIPE", "SEQ2SEQ_RECIPES",
    "recipe_config",
    "add_config_arguments", "config_from_args", "value_problem", "INT_MAX", "MAX_DECODE_LEN",
]
