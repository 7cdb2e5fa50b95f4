"""The examples in docstrings run and print what they show (a wrong example misleads more than none)."""

import doctest
import importlib

import pytest

# the modules whose examples are whole programs (generation.py's need a model, and say so)
MODULES = ["rnnkit.decode.config", "rnnkit.text.codec", "rnnkit.text.dates", "rnnkit.text.corpora",
           "rnnkit.nn.text_cnn", "rnnkit.nn.recurrent"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, one_thread):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0, result
