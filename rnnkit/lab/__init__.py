"""The lab: the study notes' claims about RNN, LSTM, GRU and CNN, beam search and attention, each
as an experiment that trains the models side by side at matched size and measures; and a look
inside a trained LSTM and GRU (gate saturation, interpretable units).

One module per experiment (see :mod:`rnnkit.lab.common` for what a module holds);
:func:`experiment` imports one by its command-line name, :func:`rnnkit.lab.runner.run` runs it and
:mod:`rnnkit.lab.report` writes the report. From the command line: ``rnnkit lab list``,
``rnnkit lab run NAME... | all``, ``rnnkit lab report``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# command-line name -> module, in the order of the report (claims 1, 2, 3, 4, then the
# sequence-to-sequence claims and the look inside a trained LSTM)
EXPERIMENTS = {
    "gradient-flow": "gradient_flow",
    "max-length": "max_length",
    "adding": "adding",
    "copy-memory": "copy_memory",
    "memory-length": "memory_length",
    "gru-vs-lstm": "gru_vs_lstm",
    "cnn-vs-rnn": "cnn_vs_rnn",
    "beam-vs-greedy": "beam_vs_greedy",
    "attention-word-order": "attention_word_order",
    "inside-the-lstm": "inside_lstm",
}
PRESETS = ("tiny", "quick", "full")


def experiment(name: str) -> ModuleType:
    """The module of experiment ``name``; a ValueError listing the names otherwise."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; the experiments are: {', '.join(EXPERIMENTS)} "
                         "(rnnkit lab list describes them)")
    return importlib.import_module(f"{__name__}.{EXPERIMENTS[name]}")


__all__ = ["EXPERIMENTS", "PRESETS", "experiment"]
