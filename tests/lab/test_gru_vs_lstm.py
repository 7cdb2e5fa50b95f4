"""The gru-vs-lstm experiment and the pieces it shares with cnn-vs-rnn (rnnkit.lab.charlm): data
generators against brute force, bits per character against a hand computation, the timed race's
budgets, multiply-adds against torch's FLOP counter, parameter matching, and a verdict that follows
the numbers. The tiny preset runs on a synthetic polarity file."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

import rnnkit.nn as rnn
from rnnkit.lab import charlm, common
from rnnkit.lab import gru_vs_lstm as exp

from .conftest import PNG_MAGIC

# -- charlm: data ---------------------------------------------------------------------------------


def test_random_windows_are_next_characters_and_seeded():
    ids = torch.arange(100) * 3 % 97
    x, y = charlm.random_windows(ids, 5, 8, torch.Generator().manual_seed(1))
    assert x.shape == y.shape == (5, 8)
    positions = {int(v): i for i, v in enumerate(ids)}  # ids here are all different
    for b in range(5):
        start = positions[int(x[b, 0])]
        assert x[b].tolist() == ids[start : start + 8].tolist()
        assert y[b].tolist() == ids[start + 1 : start + 9].tolist()
    x2, y2 = charlm.random_windows(ids, 5, 8, torch.Generator().manual_seed(1))
    assert torch.equal(x, x2) and torch.equal(y, y2)
    with pytest.raises(ValueError, match="window"):
        charlm.random_windows(ids[:5], 2, 8, torch.Generator())


def test_char_corpus_encodes_shakespeare():
    corpus = charlm.char_corpus(1000, 300)
    assert corpus.train.numel() == 1000 and corpus.validation.numel() == 300
    text = charlm.data.shakespeare()["train"][:1000]
    assert "".join(corpus.vocab.decode(corpus.train)) == text
    with pytest.raises(ValueError, match="train_chars"):
        charlm.char_corpus(1, 300)


class _Uniform(torch.nn.Module):
    def __init__(self, vocab: int):
        super().__init__()
        self.vocab, self.dummy = vocab, torch.nn.Parameter(torch.zeros(()))

    def forward(self, tokens):
        return torch.zeros(*tokens.shape, self.vocab)


def test_bits_per_char_uniform_and_by_hand():
    ids = torch.randint(0, 11, (53,), generator=torch.Generator().manual_seed(0))
    assert charlm.bits_per_char(_Uniform(11), ids, window=8) == pytest.approx(math.log2(11))
    torch.manual_seed(0)
    model = charlm.CharLM("gru", 11, 6, embedding_size=4, window=8)
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, 48, 8):  # 6 whole windows of 8 inside 53 ids (52 targets)
            logits = model(ids[start : start + 8].unsqueeze(0))[0]
            total += float(F.cross_entropy(logits, ids[start + 1 : start + 9], reduction="sum"))
            count += 8
    got = charlm.bits_per_char(model, ids, window=8, batch=4)
    assert got == pytest.approx(total / count / math.log(2), rel=1e-5)


def test_polarity_data_reads_splits_and_labels(polarity_file):
    pol = charlm.polarity_data(max_len=4)
    assert pol.classes == ["neg", "pos"]
    sizes = [len(s.ids) for s in (pol.train, pol.validation, pol.test)]
    assert sum(sizes) == 120 and sizes[2] == 12  # row i is test when i % 10 == 9
    assert all(1 <= len(s) <= 4 for s in pol.train.ids)
    ids, lengths, labels = charlm.polarity_batch(pol.train, 6, torch.Generator().manual_seed(3), min_steps=7)
    assert ids.shape == (6, 7) and labels.shape == (6,)
    for row, n in zip(ids, lengths):
        assert (row[n:] == 0).all() and (row[:n] != 0).all()
    again = charlm.polarity_batch(pol.train, 6, torch.Generator().manual_seed(3), min_steps=7)
    assert all(torch.equal(a, b) for a, b in zip((ids, lengths, labels), again))
    with pytest.raises(ValueError, match="max_len"):
        charlm.polarity_data(max_len=0)


def test_accuracy_on_padded_batches_counts_every_sentence_once(polarity_file):
    # the experiments pad (and move) their held-out splits once; scoring those batches must give
    # what scoring the split does, every sentence in order
    pol = charlm.polarity_data(max_len=4)
    batches = charlm.padded_batches(pol.train, batch=7, min_steps=3)
    assert torch.equal(torch.cat([labels for _, _, labels in batches]), pol.train.labels)
    assert all(ids.shape[1] >= 3 and lengths.max() <= ids.shape[1] for ids, lengths, _ in batches)
    torch.manual_seed(0)
    model = exp.PolarityRNN("gru", len(pol.vocab), 5, 4, dropout=0.5).train()
    assert charlm.accuracy(model, batches) == charlm.accuracy(model, pol.train, batch=7, min_steps=3)
    assert model.training  # put back as it was
    assert exp.Config().device == "cpu"


# -- charlm: the race and the curves ----------------------------------------------------------------


def _contestant(name: str, gen: torch.Generator) -> charlm.Contestant:
    model = torch.nn.Linear(3, 1)
    return charlm.Contestant(name, model, lambda: (torch.randn(4, 3, generator=gen),),
                             lambda m, x: m(x).pow(2).mean(), lambda m: float(m.weight.detach().abs().sum()),
                             tokens=lambda b: b[0].shape[0])


def test_race_keeps_both_budgets():
    entrants = [_contestant(n, torch.Generator().manual_seed(0)) for n in ("a", "b")]
    records = charlm.race(entrants, steps=5, seconds=None, eval_every=0)
    for rec in records.values():
        assert rec.steps == 5 and set(rec.marks) == {"steps"} and rec.marks["steps"]["step"] == 5
        assert rec.curve[0][:2] == (0, 0.0) and rec.curve[-1][0] == 5
        assert rec.tokens_per_second(0) > 0
    budget = 0.002
    records = charlm.race([_contestant("a", torch.Generator())], steps=2, seconds=budget, eval_every=0)
    rec = records["a"]
    assert rec.steps >= 2 and rec.marks["seconds"]["seconds"] >= budget
    # it stopped at the first step past the budget (or at the step budget, if later)
    assert rec.seconds - rec.step_seconds[-1] < budget or rec.steps == 2
    with pytest.raises(ValueError, match="budget"):
        charlm.race(entrants, None, None, 0)
    with pytest.raises(ValueError, match="different names"):
        charlm.race([_contestant("a", torch.Generator()), _contestant("a", torch.Generator())], 1, None, 0)


def test_race_state_copies_are_the_weights_at_the_mark():
    c = _contestant("a", torch.Generator().manual_seed(0))
    records = charlm.race([c], steps=3, seconds=None, eval_every=0)
    state = records["a"].states["steps"]
    assert all(torch.equal(state[k], v) for k, v in c.model.state_dict().items())
    before = copy.deepcopy(c.model.state_dict())
    zero = {k: torch.zeros_like(v) for k, v in state.items()}
    assert charlm.score_at(c.model, zero, lambda m: float(m.weight.detach().abs().sum())) == 0.0
    assert all(torch.equal(before[k], v) for k, v in c.model.state_dict().items())


def test_curves_on_grid_band_and_time_to_reach():
    grid = [0.0, 1.0, 2.0, 3.0]
    assert charlm.on_grid([[0, 4.0], [2, 2.0]], grid) == [4.0, 3.0, 2.0, 2.0]
    b = charlm.band([[[0, 4.0], [2, 2.0]], [[0, 2.0], [2, 2.0]]], grid)
    assert b["mean"] == [3.0, 2.5, 2.0, 2.0]
    assert b["std"][0] == pytest.approx(math.sqrt(2.0))
    assert charlm.time_to_reach(grid, [4.0, 3.0, 2.0, 2.0], 2.5, lower_is_better=True) == pytest.approx(1.5)
    assert charlm.time_to_reach(grid, [0.5, 0.6, 0.7, 0.8], 0.75, lower_is_better=False) == pytest.approx(2.5)
    assert charlm.time_to_reach(grid, [4.0, 3.0, 2.0, 2.0], 1.0, lower_is_better=True) is None


# -- the experiment ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, cell", [("lstm", rnn.LSTMCell), ("gru", rnn.GRUCell), ("rnn", rnn.RNNCell)])
def test_multiply_adds_match_torch_flop_counter(kind, cell):
    I, H = 5, 7
    step = cell(I, H)
    with FlopCounterMode(display=False) as counter:
        step(torch.randn(1, I))
    counted = exp.multiply_adds(kind, I, H)
    assert counter.get_total_flops() == 2 * counted["matrix"]  # a multiply-add is two FLOPs
    assert counted["total"] == counted["matrix"] + counted["elementwise"]


def test_multiply_adds_ratio_and_bad_input():
    lstm, gru = exp.multiply_adds("lstm", 64, 64), exp.multiply_adds("gru", 64, 64)
    assert gru["matrix"] / lstm["matrix"] == 0.75
    with pytest.raises(ValueError, match="kind"):
        exp.multiply_adds("cnn", 4, 4)
    with pytest.raises(ValueError, match="hidden_size"):
        exp.multiply_adds("gru", 4, 0)


def test_parameter_matching_of_the_quick_preset():
    cfg = exp.PRESETS["quick"]
    lm = lambda kind, w: charlm.CharLM(kind, 88, w, cfg.lm_embedding, cfg.lm_window)
    cls = lambda kind, w: exp.PolarityRNN(kind, 5000, w, cfg.cls_embedding, cfg.cls_dropout)
    for make, hidden in ((lm, cfg.lm_hidden), (cls, cfg.cls_hidden)):
        widths = exp._widths(make, hidden)
        counts = {role: common.count_parameters(make(exp.KIND[role], w)) for role, w in widths.items()}
        assert charlm.parameter_gap([counts["lstm"], counts["gru_same_params"]]) < 0.03
        assert widths["gru_same_params"] > widths["gru_same_h"] == widths["lstm"]


def test_polarity_rnn_reads_the_last_valid_word():
    torch.manual_seed(0)
    for kind in ("lstm", "gru"):
        model = exp.PolarityRNN(kind, 20, 6, 4, dropout=0.0).eval()
        ids = torch.tensor([[3, 4, 5, 0, 0], [6, 7, 8, 9, 10]])
        both = model(ids, torch.tensor([3, 5]))
        alone = model(ids[:1, :3], torch.tensor([3]))
        assert torch.allclose(both[0], alone[0], atol=1e-6)


def test_tiny_preset_runs(polarity_file, one_thread, tmp_path):
    cfg = exp.PRESETS["tiny"]
    result = exp.run(cfg, tmp_path)
    for key in ("setup", "parameters", "tables", "figures", "tasks", "comparisons"):
        assert key in result
    json.dumps(result, allow_nan=False)
    assert len(result["figures"]) == 2
    for fig in result["figures"]:
        assert (tmp_path / fig["file"]).read_bytes()[:8] == PNG_MAGIC and fig["caption"]
    for task in ("lm", "polarity"):
        t = result["tasks"][task]
        assert set(t["per_seed"]) == set(exp.ROLES)
        for runs in t["per_seed"].values():
            assert [r["seed"] for r in runs] == list(cfg.seeds)
            for r in runs:
                assert r["curve"][0][0] == 0.0 and r["steps_in_budget"] >= 1 and r["ms_per_step"] > 0
        assert len(t["bands"]["lstm"]["mean"]) == len(t["grid"])
    assert len(result["parameters"]) == 6
    assert isinstance(exp.verdict(result), str)


def _fake(gap_lm: float, gap_pol: float, time_ratio: float, reach: float | None = 0.8) -> dict:
    def comparison(gap):
        return {"parameters_ratio": 0.8, "multiply_adds_ratio": 0.75, "ms_per_step_ratio": time_ratio,
                "gap_at_steps": gap, "gap_at_seconds": gap, "time_to_lstm_final_ratio": reach}
    same = {"lm": comparison(gap_lm), "polarity": comparison(gap_pol)}
    return {"comparisons": {"gru_same_h": same, "gru_same_params": copy.deepcopy(same)}}


def test_verdict_follows_the_numbers():
    holds = exp.verdict(_fake(0.01, -0.005, 0.8))
    assert "claim holds here" in holds and "0.75 of the multiply-adds" in holds and "+0.010 bpc (worse)" in holds
    assert "slower" not in holds.split("claim")[-1]
    better = exp.verdict(_fake(-0.3, 0.05, 1.2))  # GRU much better: still "as good or better"
    assert "claim holds here" in better and "slower on lm, polarity" in better and "+5.0 pt (better)" in better
    paper = exp.verdict(_fake(0.01, -0.005, 1.4, reach=None))
    assert "on paper only" in paper and "1.40x the ms/step" in paper and "did not reach" in paper
    worse = exp.verdict(_fake(0.30, -0.005, 0.8))
    assert "does not hold" in worse and "0.05 bpc on lm" in worse and "on polarity" not in worse
    worse_pol = exp.verdict(_fake(0.0, -0.05, 0.8))
    assert "does not hold" in worse_pol and "2 pt on polarity" in worse_pol
    assert len({holds, better, paper, worse, worse_pol}) == 5
