"""The attention-word-order experiment: each level's target is its declared permutation of the
source (same sources, vocabularies and lengths at every level), Kendall's tau against known values
and brute force, the scores of made-up hypotheses, matched parameter counts, config checks, a
verdict that follows the numbers, and the tiny preset end to end."""

from __future__ import annotations

import itertools
import json
import math
import random

import numpy as np
import pytest
import torch

from rnnkit.decode import Hypothesis
from rnnkit.lab import attention_word_order as exp
from rnnkit.lab import common

from .conftest import PNG_MAGIC


def test_permutations_are_the_declared_orders():
    assert exp.permutation("monotone", 4) == [0, 1, 2, 3]
    assert exp.permutation("swap-2", 5) == [1, 0, 3, 2, 4]  # an odd last token stays
    assert exp.permutation("swap-3", 8) == [2, 1, 0, 5, 4, 3, 7, 6]  # a short last window is reversed too
    assert exp.permutation("reverse", 4) == [3, 2, 1, 0]
    order = list(range(9))
    random.Random(exp.PERMUTATION_SEED + 9).shuffle(order)
    assert exp.permutation("permutation", 9) == order
    assert exp.permutation("permutation", 9) == exp.permutation("permutation", 9)  # fixed, not redrawn
    for level in exp.LEVELS:
        for n in range(1, 20):
            assert sorted(exp.permutation(level, n)) == list(range(n)), (level, n)
    with pytest.raises(ValueError, match="unknown level 'shuffle'"):
        exp.permutation("shuffle", 5)


def test_target_map_is_a_fixed_bijection_of_the_symbols():
    mapping = exp.target_map(12)
    symbols = list(range(exp.SPECIALS, exp.SPECIALS + 12))
    assert sorted(mapping) == symbols and mapping != symbols  # a translation, not a copy
    assert exp.target_map(12) == mapping


def test_each_level_targets_its_permutation_of_the_same_sources():
    vocab, low, high = 7, 3, 9
    pairs = {level: exp.make_pairs(level, 200, vocab, low, high, torch.Generator().manual_seed(5))
             for level in exp.LEVELS}
    sources = pairs["monotone"][0]
    mapping = exp.target_map(vocab)
    for level, (src, tgt) in pairs.items():
        assert src == sources  # the same symbols and lengths at every level
        for s, t in zip(src, tgt):
            assert low <= len(s) <= high and len(t) == len(s)
            perm = exp.permutation(level, len(s))
            assert t == [mapping[s[perm[i]] - exp.SPECIALS] for i in range(len(s))]
    assert {len(s) for s in sources} == set(range(low, high + 1))
    assert {x for s in sources for x in s} == set(range(exp.SPECIALS, exp.SPECIALS + vocab))
    for _, tgt in pairs.values():  # one target vocabulary at every level
        assert {x for t in tgt for x in t} == set(mapping)
    assert pairs["reverse"][1] != pairs["monotone"][1]
    with pytest.raises(ValueError, match="max_len"):
        exp.make_pairs("monotone", 2, vocab, 5, 4, torch.Generator())


def _tau_b_numpy(x, y):
    """Tau-b from the matrices of pairwise signs, an independent reference."""
    sx, sy = np.sign(np.subtract.outer(x, x)), np.sign(np.subtract.outer(y, y))
    return float((sx * sy).sum() / math.sqrt((sx * sx).sum() * (sy * sy).sum()))


def test_kendall_tau_known_values():
    assert exp.kendall_tau([0, 1, 2, 3]) == 1.0
    assert exp.kendall_tau([3, 2, 1, 0]) == -1.0
    assert exp.kendall_tau([1, 0, 3, 2]) == pytest.approx(1 / 3)  # 2 discordant pairs of 6
    # scipy.stats.kendalltau's documented example (tau-b with ties on both sides)
    assert exp.kendall_tau([1, 4, 7, 1, 0], [12, 2, 1, 12, 2]) == pytest.approx(-0.47140452079103173)
    assert math.isnan(exp.kendall_tau([4]))
    assert math.isnan(exp.kendall_tau([2, 2, 2]))  # one source position takes every target word
    with pytest.raises(ValueError, match="one length"):
        exp.kendall_tau([1, 2], [1, 2, 3])


def test_kendall_tau_against_brute_force():
    for n in range(2, 7):  # every permutation: tau = 1 - 4 inversions / (n (n - 1))
        for perm in itertools.permutations(range(n)):
            inversions = sum(perm[i] > perm[j] for i in range(n) for j in range(i + 1, n))
            assert exp.kendall_tau(perm) == pytest.approx(1 - 4 * inversions / (n * (n - 1)))
    rng = random.Random(0)
    for _ in range(50):  # with ties, as argmax alignments have
        n = rng.randint(3, 12)
        x, y = [rng.randint(0, 4) for _ in range(n)], [rng.randint(0, 4) for _ in range(n)]
        if len(set(x)) > 1 and len(set(y)) > 1:
            assert exp.kendall_tau(y, x) == pytest.approx(_tau_b_numpy(x, y))


def test_level_tau_orders_the_levels():
    taus = {lv: exp.kendall_tau(exp.permutation(lv, 12)) for lv in exp.LEVELS}
    assert taus["monotone"] == 1.0 and taus["reverse"] == -1.0
    assert taus["monotone"] > taus["swap-2"] > taus["swap-3"] > taus["reverse"]


def test_length_buckets():
    assert exp.length_buckets(5, 15, (8, 12)) == [("5-7", 5, 7), ("8-11", 8, 11), ("12-15", 12, 15)]
    assert exp.length_buckets(3, 6, (5, 20)) == [("3-4", 3, 4), ("5-6", 5, 6)]
    assert exp.length_buckets(3, 6, ()) == [("3-6", 3, 6)]


def test_score_of_made_up_hypotheses():
    sources = [[4, 5, 6], [4, 5, 6, 7]]
    targets = [[6, 5, 4], [7, 6, 5, 4]]  # reverse (identity map, to read easily)
    eye = torch.eye(4)
    hyps = [Hypothesis([6, 5, 4], 0.0, 0.0, eye[[2, 1, 0, 0], :3]),  # right, attention on the reverse order
            Hypothesis([7, 6], 0.0, 0.0, eye[[3, 0, 0]])]  # too short; second step looks at position 0, not 2
    s = exp.score(hyps, sources, targets, "reverse")
    assert s["exact"] == [1.0, 0.0]
    assert s["tokens"] == [1.0, 0.5]
    assert s["aligned"] == [1.0, 0.5]
    assert exp.score([Hypothesis([6, 5, 4], 0.0, 0.0)], sources[:1], targets[:1], "reverse")["aligned"] is None


@pytest.mark.parametrize("preset", ["quick", "full"])
def test_models_are_matched_by_parameter_count(preset):
    cfg = exp.PRESETS[preset]
    V = cfg.vocab + exp.SPECIALS
    widths = exp.matched_widths(cfg.attentions, cfg.hidden_size, (V, V), cfg.embedding_size, cfg.cell)
    counts = [common.count_parameters(exp.build(k, w, (V, V), cfg.embedding_size, cfg.cell)) for k, w in widths.items()]
    assert widths[exp.REFERENCE] == cfg.hidden_size
    assert max(counts) / min(counts) < 1.05, (widths, counts)


@pytest.mark.parametrize("bad, message", [
    ({"levels": ("monotone", "shuffle")}, "unknown level 'shuffle' in levels"),
    ({"levels": ()}, "levels is empty"),
    ({"levels": ("reverse", "reverse")}, "repeats a level"),
    ({"attentions": ("general",)}, "must hold 'none'"),
    ({"attentions": ("none",)}, "at least one attention kind"),
    ({"attentions": ("none", "luong")}, "unknown attention 'luong'"),
    ({"min_len": 6, "max_len": 4}, "max_len"),
    ({"heatmap_length": 30}, "heatmap_length"),
    ({"hidden_size": 33}, "hidden_size must be even"),
    ({"en_es_seeds": 5}, "en_es_seeds"),
    ({"seeds": ()}, "seeds is empty"),
    ({"tau_edges": (0.9, 0.5)}, "tau_edges must increase"),
    ({"en_es_max_len": 2}, "en_es_max_len must be an int >= 4"),
])
def test_bad_configs_are_refused(bad, message, tmp_path):
    cfg = exp.Config(**bad)
    with pytest.raises(ValueError, match=message):
        exp.check(cfg)
    with pytest.raises(ValueError, match=message):  # before any training
        exp.run(cfg, tmp_path)


def _s(v):
    return {"mean": v, "std": 0.0, "n": 2, "values": [v, v]}


def _fake(none: dict, general: dict, tau_gain: tuple[float, float] | None = None) -> dict:
    levels = list(none)
    result = {"levels": levels, "level_tau": {"monotone": 1.0, "swap-3": 0.7, "reverse": -1.0, "permutation": 0.0},
              "exact_match": {"none": {lv: _s(v) for lv, v in none.items()},
                              "general": {lv: _s(v) for lv, v in general.items()}},
              "gain": {lv: general[lv] - none[lv] for lv in levels}, "en_es": None}
    if tau_gain is not None:
        buckets = ["tau <= 0.7", "0.7 < tau <= 0.9", "0.9 < tau <= 1", "n/a"]
        gains = [tau_gain[0], math.nan, tau_gain[1], 0.0]  # an empty middle bucket
        result["en_es"] = {"bleu": {"none": _s(5.0), "general": _s(15.0)}, "tau_buckets": buckets,
                           "by_tau": {b: {"sentences": _s(0.0 if math.isnan(g) else 10.0), "chrf_gain": _s(g)}
                                      for b, g in zip(buckets, gains)}}
    return result


def test_verdict_follows_the_numbers():
    grows = exp.verdict(_fake({"monotone": 0.5, "reverse": 0.0, "permutation": 0.0},
                              {"monotone": 0.6, "reverse": 0.9, "permutation": 0.8}, (12.0, 4.0)))
    assert "+10 pt at monotone" in grows and "+90 pt at reverse" in grows
    assert ("against monotone, of 2 reordered levels: larger at 2 (permutation, reverse), similar (within 2 pt) at 0, "
            "smaller at 0") in grows
    assert "+10.0 BLEU" in grows and "chrF gain +12.0 for tau <= 0.7 against +4.0 for 0.9 < tau <= 1: larger" in grows
    shrinks = exp.verdict(_fake({"monotone": 0.0, "reverse": 0.0, "permutation": 0.0},
                                {"monotone": 0.9, "reverse": 0.5, "permutation": 0.0}, (2.0, 4.0)))
    assert "larger at 0, similar (within 2 pt) at 0, smaller at 2 (permutation, reverse)" in shrinks
    close = exp.verdict(_fake({"monotone": 0.1, "reverse": 0.1}, {"monotone": 0.9, "reverse": 0.89}))
    assert "larger at 0, similar (within 2 pt) at 1 (reverse), smaller at 0" in close
    assert "general exact match 90%, 0%, 50% (none 0%, 0%, 0%)" in shrinks  # levels by tau: 1, 0, -1
    assert "not larger for reordered sentences" in shrinks
    one = exp.verdict(_fake({"swap-3": 0.1}, {"swap-3": 0.4}))
    assert "+30 pt at swap-3" in one and "en-es" not in one


def test_tiny_preset_runs(tmp_path, one_thread):
    cfg = exp.PRESETS["tiny"]
    result = json.loads(json.dumps(exp.run(cfg, tmp_path)))
    for key in ("setup", "parameters", "tables", "figures", "levels", "models", "widths", "level_tau", "exact_match",
                "token_accuracy", "by_length", "length_buckets", "alignment_accuracy", "gain", "heatmaps",
                "train_seconds", "en_es"):
        assert key in result, key
    assert result["levels"] == list(cfg.levels) and result["models"] == list(cfg.attentions)
    for name in ("exact_match", "token_accuracy"):
        for k in cfg.attentions:
            for lv in cfg.levels:
                s = result[name][k][lv]
                assert s["n"] == len(cfg.seeds) and all(0.0 <= v <= 1.0 for v in s["values"])
    assert list(result["alignment_accuracy"]) == ["general"]
    assert list(result["by_length"]["none"]["reverse"]) == result["length_buckets"] == ["3-4", "5-6"]
    for lv, ex in result["heatmaps"]["examples"].items():
        assert len(ex["source"]) == cfg.heatmap_length and ex["permutation"] == exp.permutation(lv, len(ex["source"]))
        assert ex["target"] == exp.translate(lv, ex["source"], cfg.vocab)
        assert all(abs(sum(row) - 1) < 1e-3 for row in ex["attention"])
    e = result["en_es"]
    for key in ("pairs", "parameters", "bleu", "chrf", "tau", "by_tau", "by_length", "tau_buckets", "length_buckets"):
        assert key in e, key
    assert sum(e["by_tau"][b]["sentences"]["mean"] for b in e["tau_buckets"]) == e["pairs"]["test"]
    assert sum(e["by_length"][b]["sentences"]["mean"] for b in e["length_buckets"]) == e["pairs"]["test"]
    assert len(result["figures"]) == 3
    for fig in result["figures"]:
        assert (tmp_path / fig["file"]).read_bytes().startswith(PNG_MAGIC)
    assert "synthetic:" in exp.verdict(result) and "en-es:" in exp.verdict(result)


def test_an_empty_bucket_of_tau_shows_a_dash_not_nan():
    from rnnkit.lab.attention_word_order_report import _scores

    nan = common.summarize([math.nan, math.nan])
    empty = {"sentences": common.summarize([0, 0]), "bleu_attention": nan, "bleu_none": nan, "bleu_gain": nan,
             "chrf_gain": nan}
    assert _scores(empty) == ["—"] * 4
    one_seed_filled = {**empty, "sentences": common.summarize([0, 3]), "bleu_gain": common.summarize([math.nan, 2.0])}
    assert _scores(one_seed_filled)[2] == "nan"  # measured on one seed only: not hidden behind a dash
    filled = {name: common.summarize([1.0, 2.0]) for name in empty}
    assert _scores(filled) == ["1.5 ± 0.71"] * 4
