"""The max-length experiment: padding and truncation against brute force, left alignment, lengths
that reach every step meaning no lengths, padding that never changes a prediction, parameter
matching, a verdict that follows the numbers, and the tiny preset on a synthetic polarity file."""

from __future__ import annotations

import json
import random

import pytest
import torch

from rnnkit.lab import common, data
from rnnkit.lab import max_length as exp

from .conftest import PNG_MAGIC

SEQUENCES = [[5, 6, 7], [8, 9, 10, 11, 12, 13], [14], [15, 16, 17, 18]]


@pytest.fixture
def synthetic_polarity(tmp_path, monkeypatch):
    """A tiny polarity TSV (label<TAB>text): filler words and one word that gives the label away."""
    rng = random.Random(0)
    filler = "the a film movie story plot actor scene was is very quite and but".split()
    lines = ["label\ttext"]
    for _ in range(160):
        label = rng.choice(["pos", "neg"])
        words = rng.choices(filler, k=rng.randint(2, 14))
        words.insert(rng.randint(0, len(words)), "great" if label == "pos" else "awful")
        lines.append(f"{label}\t{' '.join(words)}")
    path = tmp_path / "polarity.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setenv("RNNKIT_POLARITY", str(path))
    return path


@pytest.mark.parametrize("side", ["pre", "post"])
@pytest.mark.parametrize("lengths", [False, True])
def test_pad_against_brute_force(side, lengths):
    L = 4
    ids, kept = exp.pad(SEQUENCES, L, side, lengths)
    assert ids.shape == (4, L) and ids.dtype == torch.int64
    for row, s in zip(range(4), SEQUENCES):
        tokens = s[-L:] if side == "pre" else s[:L]  # which end truncation keeps
        if lengths:  # valid steps first, as lengths= expects, and the count of kept tokens
            assert ids[row].tolist() == tokens + [0] * (L - len(tokens)) and int(kept[row]) == len(tokens)
        else:
            padded = [0] * (L - len(tokens)) + tokens if side == "pre" else tokens + [0] * (L - len(tokens))
            assert ids[row].tolist() == padded and int(kept[row]) == L
    with pytest.raises(ValueError, match="side"):
        exp.pad(SEQUENCES, L, "middle", True)


def test_left_align_moves_the_pads_after_the_tokens():
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        rows = [torch.randint(1, 50, (int(torch.randint(1, 7, (1,), generator=gen)),), generator=gen).tolist()
                for _ in range(4)]
        T = 7
        pre = torch.tensor([[0] * (T - len(r)) + r for r in rows])
        lengths = torch.tensor([len(r) for r in rows])
        assert exp.left_align(pre, lengths).tolist() == [r + [0] * (T - len(r)) for r in rows]


def test_padding_and_truncated_fractions():
    # lengths 3, 6, 1, 4 at max_len 4: kept 3 + 4 + 1 + 4 = 12 of 16 positions; one sentence cut
    assert exp.padding_fraction(SEQUENCES, 4) == pytest.approx(4 / 16)
    assert exp.truncated_fraction(SEQUENCES, 4) == pytest.approx(1 / 4)
    assert exp.truncated_fraction(SEQUENCES, 6) == 0.0


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_full_lengths_mean_no_lengths_and_padding_never_changes_a_prediction(cell):
    cfg = exp.Config(embedding=6, hidden=5)
    torch.manual_seed(0)
    model = exp.make_model(cell, 30, 5, cfg).eval()
    ids, full = exp.pad(SEQUENCES, 6, "post", lengths=False)
    # all lengths = T is the layer run over every step with no lengths at all
    _, state = model.recurrent(model.embedding(ids))
    h = state[0] if isinstance(state, tuple) else state
    assert torch.allclose(model(ids, full), model.head(h[-1]), atol=1e-6)
    # with lengths, each row's prediction is that of the row alone, unpadded; pre and post agree
    post, kept = exp.pad(SEQUENCES, 6, "post", lengths=True)
    pre, kept_pre = exp.pad(SEQUENCES, 6, "pre", lengths=True)
    assert torch.equal(post, pre) and torch.equal(kept, kept_pre)  # nothing truncated at 6
    padded = model(post, kept)
    for row, s in enumerate(SEQUENCES):
        alone = model(torch.tensor([s]), torch.tensor([len(s)]))
        assert torch.allclose(padded[row], alone[0], atol=1e-5)


def test_cells_are_matched_by_parameter_count():
    cfg = exp.PRESETS["quick"]
    vocab = 1000
    widths = exp.matched_widths(("rnn", "lstm", "gru"), vocab, cfg)
    assert widths["lstm"] == cfg.hidden
    embedding = vocab * cfg.embedding  # the same for every cell: compare what differs
    counts = {c: common.count_parameters(exp.make_model(c, vocab, w, cfg)) - embedding for c, w in widths.items()}
    assert max(counts.values()) / min(counts.values()) < 1.05, counts


def _fake(no_lengths_gap: float, lengths_gap: float, lstm_by_len=(0.6, 0.7, 0.75, 0.74), truncated=0.0) -> dict:
    s = lambda v: {"mean": v, "std": 0.0, "n": 3, "values": [v] * 3}  # noqa: E731
    return {"sweep": {"LSTM": {str(n): s(a) for n, a in zip((8, 16, 32, 64), lstm_by_len)}},
            "padding_gap": {"LSTM": {"no lengths": s(no_lengths_gap), "lengths": s(lengths_gap)}},
            "padding_len": 64, "padding_fraction": {"64": 0.67}, "truncated_fraction": {"64": truncated},
            "majority": 0.596}


def test_verdict_follows_the_numbers():
    post_hurts = exp.verdict(_fake(0.123, 0.004))
    assert "LSTM best at max_len=32 (75.0%, 60.0% at worst)" in post_hurts
    assert "without lengths post-padding costs 12.3 points, with lengths the gap is +0.4" in post_hurts
    assert "inputs are identical" in post_hurts and "(majority class 59.6%)" in post_hurts
    post_helps = exp.verdict(_fake(-0.05, -0.02, lstm_by_len=(0.8, 0.7, 0.6, 0.5), truncated=0.1))
    assert "LSTM best at max_len=8 (80.0%, 50.0% at worst)" in post_helps
    assert "without lengths post-padding gains 5.0 points, with lengths the gap is -2.0" in post_helps
    assert "identical" not in post_helps


def test_tiny_preset_runs(tmp_path, synthetic_polarity, one_thread):
    cfg = exp.PRESETS["tiny"]
    result = json.loads(json.dumps(exp.run(cfg, tmp_path / "out")))
    for key in ("setup", "parameters", "tables", "figures", "sweep", "padding", "padding_gap", "padding_fraction",
                "truncated_fraction", "widths", "rows", "majority"):
        assert key in result
    assert set(result["sweep"]) == {exp.LABELS[c] for c in cfg.cells}
    for acc in result["sweep"].values():
        assert list(acc) == [str(n) for n in cfg.max_lens]
        assert all(0.0 <= v <= 1.0 for s in acc.values() for v in s["values"])
    for cell, acc in result["padding"].items():
        assert list(acc) == list(exp.COMBINATIONS)
        # post-padding with lengths at padding_len is the sweep's setting: the same runs
        if str(cfg.padding_len) in result["sweep"].get(cell, {}):
            assert acc["post, lengths"] == result["sweep"][cell][str(cfg.padding_len)]
        gap = result["padding_gap"][cell]["no lengths"]["values"]
        assert gap == pytest.approx([a - b for a, b in zip(acc["pre, no lengths"]["values"],
                                                           acc["post, no lengths"]["values"])])
    for fig in result["figures"]:
        assert (tmp_path / "out" / fig["file"]).read_bytes().startswith(PNG_MAGIC)
    labels = [label for _, label in data.polarity()[2]]  # the test rows
    assert result["majority"] == pytest.approx(max(map(labels.count, set(labels))) / len(labels))
    assert "(b) at max_len=12" in exp.verdict(result)
