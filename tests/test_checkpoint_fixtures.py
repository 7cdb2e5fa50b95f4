"""Checkpoints written by an earlier rnnkit load and give the same outputs.

``tests/fixtures/checkpoints-v2`` holds three small runs (classify, lm, seq2seq) trained before
the package was reorganised, and ``expected.json`` the exact standard output that version
printed for each command below. A change that alters a saved model's meaning, the vocabularies'
reading, or the decoding's arithmetic or random-number use shows up here as a different line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rnnkit.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = json.loads((ROOT / "tests/fixtures/checkpoints-v2/expected.json").read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED["cases"]))
def test_old_checkpoint_gives_the_same_output(name, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)  # the recorded argv names the fixtures relative to the repository
    assert main(EXPECTED["cases"][name]) == 0
    assert capsys.readouterr().out == EXPECTED["stdout"][name]


def test_fixtures_are_checkpoints_of_the_current_format():
    for task in ("classify", "lm", "seq2seq"):
        manifest = json.loads((ROOT / "tests/fixtures/checkpoints-v2" / task / "checkpoint.json").read_text())
        assert manifest["format"] == 2, task
        assert os.path.exists(ROOT / "tests/fixtures/checkpoints-v2" / task / manifest["files"]["model"]["name"])
