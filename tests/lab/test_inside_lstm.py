"""The inside-the-lstm experiment: text signals, saturation, kept runs, the n-gram and the distances
against brute force or hand computation, a verdict that follows the numbers, bad texts and
checkpoints refused with one clear line, and the tiny preset end to end (with a checkpoint too)."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.lab import gate_saturation as sat
from rnnkit.lab import inside_lstm as exp
from rnnkit.train.checkpoint import CheckpointError

from .conftest import PNG_MAGIC, LoadStopped, stop_loading

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checkpoints-v2"


# -- signals --------------------------------------------------------------------------------------


def test_text_signals_match_a_brute_force_reading():
    text = 'A.\nBOY.\nGo [Exit] "hi" (x y)\nACT I.\nLADY MACBETH.\nno'
    got = exp.text_signals(text)
    assert set(got) == set(exp.SIGNALS) and all(len(v) == len(text) for v in got.values())
    for i in range(len(text)):
        prefix = text[: i + 1]
        word = 0
        while word < len(prefix) and prefix[len(prefix) - 1 - word].isalpha():
            word += 1
        assert got["position in line"][i] == len(prefix.split("\n")[-1]), i
        assert got["position in word"][i] == word, i
        assert got["stage direction"][i] == (prefix.count("[") > prefix.count("]")), i
        assert got["inside parentheses"][i] == (prefix.count("(") > prefix.count(")")), i
        assert got["inside quotes"][i] == prefix.count('"') % 2, i
    speaker = [i for i, v in enumerate(got["speaker name line"]) if v]
    boy, lady = text.index("BOY."), text.index("LADY MACBETH.")
    # "A." is one letter, "ACT I." an act heading: neither is a speaker; newlines are not on the line
    assert speaker == [*range(boy, boy + 4), *range(lady, lady + 13)]


def test_pearson_matches_numpy_and_a_constant_gives_zero():
    rng = np.random.default_rng(0)
    acts = rng.normal(size=(50, 4))
    acts[:, 3] = 2.0
    signal = acts[:, 1] * 3 + rng.normal(size=50)
    r = exp.pearson(acts, signal)
    for u in range(3):
        assert r[u] == pytest.approx(np.corrcoef(acts[:, u], signal)[0, 1])
    assert r[3] == 0.0 and int(np.abs(r).argmax()) == 1
    assert not exp.pearson(acts, np.ones(50)).any()


def test_window_of_picks_the_stretch_where_the_signal_varies_most():
    signal = np.zeros((2, 40))
    signal[1, 22:26] = 1.0
    assert exp.window_of(signal, 8) == (1, 18)  # starts every 2 steps; 18, 20 and 22 tie at 4 ones of 8
    assert exp.window_of(np.zeros((2, 40)), 8) == (0, 0)  # ties: the first


# -- saturation and kept runs ---------------------------------------------------------------------


def test_saturation_fractions_and_runs_match_a_brute_force_count():
    rng = np.random.default_rng(1)
    gate = rng.choice([0.02, 0.5, 0.95, np.nan], size=(3, 11, 4), p=[0.3, 0.2, 0.4, 0.1])
    got = sat.saturation(gate)
    for u in range(4):
        values = [gate[b, t, u] for b in range(3) for t in range(11) if not math.isnan(gate[b, t, u])]
        assert got["left"][u] == pytest.approx(sum(v < sat.LOW for v in values) / len(values))
        assert got["right"][u] == pytest.approx(sum(v > sat.HIGH for v in values) / len(values))
        longest = 0
        for b in range(3):
            run = 0
            for t in range(11):
                run = run + 1 if gate[b, t, u] > sat.HIGH else 0  # NaN > x is False: it breaks a run
                longest = max(longest, run)
        assert got["longest_run"][u] == longest
    summary = sat.saturation_summary(got)
    assert summary["right_most"] == pytest.approx(float((got["right"] > 0.5).mean()))
    assert summary["longest_run_max"] == got["longest_run"].max()


def test_kept_needs_an_open_forget_gate_and_a_small_write():
    f = np.array([[[0.95, 0.95, 0.5, 0.95]]])
    i = np.array([[[0.05, 0.9, 0.05, np.nan]]])
    g = np.array([[[0.9, 0.9, 0.0, 0.1]]])
    lstm = sat.kept({"forget": f, "input": i, "cell": g})
    assert lstm.tolist() == [[[True, False, False, False]]]  # 0.045 < 0.1; 0.81 is a write; f = 0.5; NaN
    z = np.array([[[0.95], [0.99], [0.2], [0.91]]])  # one row, 4 steps, 1 unit
    gru = sat.kept({"update": z})
    assert gru[0, :, 0].tolist() == [True, True, False, True]
    summary = sat.kept_summary(gru)
    assert summary["longest_run_max"] == 2 and summary["mean"] == 0.75 and summary["most"] == 1.0


# -- n-gram and distances -------------------------------------------------------------------------


def test_ngram_probabilities_sum_to_one_and_match_a_hand_computation():
    ng = exp.CharNGram([0, 0, 1], order=2, vocab_size=3)
    # unigram, add-one: (2+1, 1+1, 0+1) / (3 + 3); after id 0: seen 0 once and 1 once, u = 2, n = 2
    assert ng.unigram.tolist() == pytest.approx([3 / 6, 2 / 6, 1 / 6])
    assert ng.distribution([0]).tolist() == pytest.approx([(1 + 2 * 3 / 6) / 4, (1 + 2 * 2 / 6) / 4, (2 / 6) / 4])
    assert ng.distribution([1]).tolist() == pytest.approx(ng.unigram.tolist())  # nothing seen after 1
    logp, best = ng.score([0, 0, 1, 2, 0])
    expected = [math.log2(0.5), math.log2(5 / 12), math.log2(1 / 6), math.log2(3 / 6)]
    assert logp.tolist() == pytest.approx(expected) and best.tolist() == [0, 0, 0, 0]
    assert -logp.mean() == pytest.approx(-sum(expected) / 4)  # bits per character
    rng = np.random.default_rng(2)
    big = exp.CharNGram(rng.integers(0, 6, 300).tolist(), order=4, vocab_size=8)  # ids 6, 7 never seen
    for context in ([], [1], [1, 2], [3, 1, 2], [7, 7, 7], [5, 4, 3, 2, 1]):
        p = big.distribution(context)
        assert p.shape == (8,) and p.sum() == pytest.approx(1.0) and (p > 0).all()
    with pytest.raises(ValueError, match="ids in"):
        exp.CharNGram([0, 5], order=2, vocab_size=3)


def test_distances_and_buckets():
    assert exp.distances([5, 3, 5, 5, 3, 9]) == [None, None, 2, 1, 3, None]
    labels = exp.bucket_labels()
    assert labels[0] == "1" and labels[1] == "2-3" and labels[-2] == "256+" and labels[-1] == "none"
    for d, label in ((1, "1"), (3, "2-3"), (4, "4-7"), (255, "128-255"), (256, "256+"), (9999, "256+"),
                     (None, "none")):
        assert labels[exp.bucket_of(d)] == label


# -- verdict --------------------------------------------------------------------------------------


def _fake(run: float, forget_most: float, lstm_bpc: float, near: float, far: float) -> dict:
    s = lambda v: {"mean": v, "std": 0.0, "n": 1, "values": [v]}  # noqa: E731
    gate = lambda most: {"right_most": s(most), "longest_run_max": s(run)}  # noqa: E731
    kept = lambda r: {"longest_run_max": s(r), "mean": s(0.1), "most": s(0.0), "longest_run_median": s(1.0)}  # noqa: E731
    best = {"LSTM c": {"abs_r": s(0.8)}, "LSTM h": {"abs_r": s(0.5)}, "GRU h": {"abs_r": s(0.7)}}
    return {"many_steps": exp.MANY_STEPS, "source": {"ngram_order": 5},
            "saturation": {"LSTM": {"forget": gate(forget_most)}, "GRU": {"update": gate(0.05)}},
            "kept": {"LSTM": kept(run), "GRU": kept(7.0)},
            "signals": {"position in line": {"present": True, "best": best},
                        "inside quotes": {"present": False, "best": {}}},
            "bpc": {"LSTM": s(lstm_bpc), "GRU": s(2.5), "n-gram": s(2.4)},
            "near_far": {"LSTM": {"near": s(near), "far": s(far)}}}


def test_verdict_follows_the_numbers():
    holds = exp.verdict(_fake(run=120, forget_most=0.25, lstm_bpc=2.1, near=-0.02, far=0.05))
    assert "25% of LSTM forget-gate units" in holds and "for 120 steps in a row (>= 50): the claim holds" in holds
    assert "position in line |r| = 0.80 (LSTM c)" in holds and "absent: inside quotes" in holds
    assert "LSTM 2.10 bpc vs 5-gram 2.40" in holds and "the LSTM beats the n-gram" in holds
    assert "(larger at long distances)" in holds
    fails = exp.verdict(_fake(run=12, forget_most=0.0, lstm_bpc=2.9, near=0.03, far=-0.01))
    assert "0% of LSTM forget-gate units" in fails and "(longest 12): the claim does not show" in fails
    assert "does not beat the n-gram" in fails and "(not larger at long distances)" in fails


# -- bad inputs -----------------------------------------------------------------------------------

TINY = exp.PRESETS["tiny"]


def _with_text(path) -> exp.Config:
    return dataclasses.replace(TINY, text=str(path))


@pytest.mark.parametrize("content, match", [
    ("", "is empty"), ("  \n\t \n", "is empty"), ("short text\n" * 10, "these settings need at least"),
    (None, "no such file"), (b"\xff\xfe bad bytes", "is not UTF-8"),
])
def test_bad_text_files_are_one_line_value_errors(tmp_path, content, match):
    path = tmp_path / "text.txt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    for call in (lambda: exp.check(_with_text(path)), lambda: exp.run(_with_text(path), tmp_path / "out")):
        with pytest.raises(ValueError, match=match) as err:
            call()
        assert "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()  # refused before any training or writing


@pytest.fixture(scope="module")
def word_lm(tmp_path_factory):
    root = tmp_path_factory.mktemp("word-lm")
    text = root / "words.txt"
    text.write_text("the king of the land and the queen of the sea rode to the old king\n" * 40)
    assert main(["train", "lm", "--data", str(text), "--out", str(root / "lm"), "--level", "word", "--bptt", "8",
                 "--batch-size", "4", "--hidden-size", "8", "--embedding-size", "8", "--epochs", "1",
                 "--quiet"]) == 0
    return root / "lm"


def _edited(src: Path, dst: Path, section: str, key: str, value) -> Path:
    shutil.copytree(src, dst)
    meta = json.loads((dst / "checkpoint.json").read_text())
    meta[section][key] = value
    (dst / "checkpoint.json").write_text(json.dumps(meta))
    return dst


def test_wrong_checkpoints_are_one_line_errors(tmp_path, word_lm):
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "checkpoint.json").write_text("{not json")
    cases = [(FIXTURES / "classify", "holds a 'classifier' model, not a language model"),
             (FIXTURES / "seq2seq", "holds a 'seq2seq' model"),
             (word_lm, "is a word-level language model, not a character-level one"),
             (_edited(FIXTURES / "lm", tmp_path / "tcn", "model", "cell", "tcn"), "of cell 'tcn'"),
             (_edited(FIXTURES / "lm", tmp_path / "rnn", "model", "cell", "rnn"), "of cell 'rnn'"),
             (tmp_path / "nowhere", "no checkpoint in"), (garbage, "is corrupted")]
    for path, match in cases:
        cfg = dataclasses.replace(TINY, checkpoint=str(path))
        with pytest.raises(CheckpointError, match=match) as err:
            exp.check(cfg)
        assert "\n" not in str(err.value) and isinstance(err.value, ValueError)
        with pytest.raises(CheckpointError, match=match):
            exp.run(cfg, tmp_path / "out")


def test_a_checkpoint_is_loaded_onto_the_run_device(monkeypatch, tmp_path):
    """cfg.device (the runner sets it from --device) reaches LanguageModel.load, so a checkpoint
    written on any device is read onto the run's; the default is the CPU. The load is stopped
    there: this machine may have no GPU."""
    from rnnkit.tasks.language_model import LanguageModel

    seen = stop_loading(monkeypatch, LanguageModel)
    assert exp.Config().device == "cpu"
    with pytest.raises(LoadStopped):
        exp.run(dataclasses.replace(TINY, checkpoint=str(FIXTURES / "lm"), device="cuda:1"), tmp_path)
    assert seen == ["cuda:1"]


# -- end to end -----------------------------------------------------------------------------------


def _check_result(result: dict, out: Path) -> None:
    for key in ("setup", "parameters", "tables", "figures", "source", "bpc", "accuracy", "saturation", "kept",
                "saturation_units", "signals", "highlights", "distance", "near_far", "near_far_count", "training"):
        assert key in result, key
    assert set(result["bpc"]) == {"LSTM", "GRU", "n-gram"}
    assert all(math.isfinite(v["mean"]) and v["mean"] > 0 for v in result["bpc"].values())
    for label, gates in sat.GATES.items():
        assert set(result["saturation"][label]) == set(gates)
        for gate in gates:
            units = result["saturation_units"][label][gate]
            assert all(0 <= a and 0 <= b and a + b <= 1 + 1e-6 for a, b in zip(units["left"], units["right"]))
    d = result["distance"]
    assert sum(d["count"]) == result["source"]["held_out_chars"] == sum(result["near_far_count"].values())
    assert all(len(d["accuracy"][m]) == len(d["buckets"]) for m in ("LSTM", "GRU", "n-gram"))
    assert result["signals"]["inside quotes"]["present"] is False  # no double quote in the held-out text
    assert result["signals"]["position in line"]["present"] is True
    assert 1 <= len(result["highlights"]) <= exp.HIGHLIGHTS
    for h in result["highlights"]:
        assert h["title"] and h["caption"] and 0 < len(h["text"]) == len(h["values"])
        assert all(-1.0 <= v <= 1.0 for v in h["values"])
    for fig in result["figures"]:
        assert (out / fig["file"]).read_bytes().startswith(PNG_MAGIC)
    assert "LSTM" in exp.verdict(result) and "bpc" in exp.verdict(result)


def test_tiny_preset_runs(tmp_path, one_thread):
    result = json.loads(json.dumps(exp.run(TINY, tmp_path)))
    _check_result(result, tmp_path)
    assert result["source"]["checkpoint"] is None and result["training"]["LSTM"]["steps"] == TINY.train_steps


def test_tiny_preset_with_a_checkpoint_and_a_text(tmp_path, one_thread):
    text = tmp_path / "play.txt"
    lines = ["HAMLET.", "To be, or not to be, that is the question [aside].", "", "OPHELIA.", "Good my lord."]
    text.write_text("\n".join(lines * 60) + "\n", encoding="utf-8")
    cfg = dataclasses.replace(TINY, checkpoint=str(FIXTURES / "lm"), text=str(text), seeds=(0, 1))
    result = json.loads(json.dumps(exp.run(cfg, tmp_path / "out")))
    _check_result(result, tmp_path / "out")
    assert result["source"]["checkpoint"]["cell"] == "LSTM" and "checkpoint" in result["training"]["LSTM"]
    assert result["training"]["GRU"]["steps"] == TINY.train_steps and result["bpc"]["GRU"]["n"] == 2
    assert result["signals"]["stage direction"]["present"] and result["signals"]["speaker name line"]["present"]
