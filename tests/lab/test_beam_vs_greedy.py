"""The beam-vs-greedy experiment: search/model error counting on made-up hypotheses, the error
propagation counts against a brute force over every small case, the teacher-forced alignment on a
fake model, a verdict that follows the numbers, bad beam sizes and checkpoints refused with one
line, a seq2seq checkpoint measured on the corpus its record names, and the tiny preset end to end."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import random
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from rnnkit.cli import main
from rnnkit.lab import beam_vs_greedy as exp

from .conftest import PNG_MAGIC, LoadStopped, stop_loading

# -- search errors and model errors -------------------------------------------------------------------


def test_search_model_errors_on_made_up_hypotheses():
    counts = exp.search_model_errors(
        greedy_logp=[-1.0, -2.0, -3.0, -4.0, -5.0, -2.0],
        beam_logp=[-1.0, -1.0, -1.0, -5.0, -5.0 + 1e-7, -1.0],
        greedy_quality=[1.0, 1.0, 0.0, 0.0, 0.0, 0.5],
        beam_quality=[1.0, 0.0, 1.0, 0.0, 0.0, 0.5],
        same=[True, False, False, False, False, False])
    # 0: same output; 1: beam more likely but worse (model error); 2: more likely and better; 3: beam lost
    # greedy's more likely output; 4: a tie within TIE; 5: more likely, equally good
    assert counts == {"sentences": 6, "same_output": 1, "beam_higher": 3, "beam_lower": 1, "tied": 1,
                      "model_errors": 1, "model_fixes": 1}
    with pytest.raises(ValueError):  # one value per sentence on every side
        exp.search_model_errors([0.0], [0.0, 1.0], [1.0], [1.0], [False])


def test_sentence_quality_is_exact_match_or_sentence_bleu():
    assert exp.sentence_quality(["a b", "c"], ["a b", "d"], "exact_match") == [1.0, 0.0]
    same, other = exp.sentence_quality(["el dia cuarto .", "x y"], ["el dia cuarto .", "el dia cuarto ."], "bleu")
    assert same == pytest.approx(100.0) and other == 0.0
    assert exp.corpus_quality(["a", "b", "c"], ["a", "x", "c"], "exact_match") == pytest.approx(2 / 3)


# -- error propagation ----------------------------------------------------------------------------------


def _brute(out, ref, forced, max_offset):
    """The counts of one sentence from prefixes: position i had a right prefix when out[:i] == ref[:i]."""
    right = [i for i in range(len(ref)) if list(out[:i]) == list(ref[:i])]
    after = [i for i in range(len(ref)) if i not in right]
    ok = lambda i: i < len(out) and out[i] == ref[i]  # noqa: E731
    d = max(right)
    c = {"sentences": 1, "with_error": int(list(out) != list(ref)), "before_correct": sum(map(ok, right)),
         "before_total": len(right), "after_free": sum(map(ok, after)),
         "after_forced": sum(forced[i] == ref[i] for i in after), "after_total": len(after),
         "forced_correct": sum(f == r for f, r in zip(forced, ref)), "forced_total": len(ref),
         "offset_free": [0] * max_offset, "offset_forced": [0] * max_offset, "offset_total": [0] * max_offset}
    for i in after:
        if i - d <= max_offset:
            c["offset_free"][i - d - 1] += ok(i)
            c["offset_forced"][i - d - 1] += forced[i] == ref[i]
            c["offset_total"][i - d - 1] += 1
    return c


def _words(alphabet, longest, shortest=0):
    return [w for n in range(shortest, longest + 1) for w in itertools.product(alphabet, repeat=n)]


def test_propagation_counts_match_brute_force_on_every_small_case():
    cases = 0
    for ref in _words((0, 1), 3, shortest=1):
        for out in _words((0, 1), 4):
            for forced in _words((0, 1), len(ref), shortest=len(ref)):
                got = exp.propagation_counts([list(out)], [list(ref)], [list(forced)], max_offset=2)
                assert got == _brute(out, ref, forced, 2), (out, ref, forced)
                cases += 1
    assert cases > 1000
    # over several sentences the counts add up
    rng = random.Random(0)
    batch = []
    for _ in range(20):
        ref = [rng.randrange(3) for _ in range(rng.randint(1, 5))]
        batch.append((ref[: rng.randint(0, len(ref))] + [rng.randrange(3) for _ in range(rng.randint(0, 3))], ref,
                      [rng.randrange(3) for _ in ref]))
    total = exp.propagation_counts(*map(list, zip(*batch)), max_offset=3)
    each = [_brute(o, r, f, 3) for o, r, f in batch]
    for key, value in total.items():
        expected = [sum(c[key][i] for c in each) for i in range(3)] if isinstance(value, list) \
            else sum(c[key] for c in each)
        assert value == expected, key


def test_first_divergence_and_rates_on_a_hand_case():
    assert exp.first_divergence([1, 2, 9], [1, 2, 9]) is None
    assert exp.first_divergence([1, 5, 9], [1, 2, 9]) == 1
    assert exp.first_divergence([1, 2], [1, 2, 9]) == 2  # stopped early
    assert exp.first_divergence([1, 2, 9, 4], [1, 2, 9]) == 3  # runs on past the reference
    ref, forced = [1, 2, 3, 9], [1, 2, 3, 9]
    substituted = exp.propagation_counts([[1, 5, 3, 9]], [ref], [forced])  # one wrong token, then back in step
    inserted = exp.propagation_counts([[1, 5, 2, 3, 9]], [ref], [forced])  # a token too many: the rest shifted
    for counts, free in ((substituted, 1.0), (inserted, 0.0)):
        rates = exp.propagation_rates(counts)
        assert rates["with_error"] == 1.0 and rates["before_error"] == 0.5  # position 0 right, position 1 wrong
        assert rates["after_error_free"] == free and rates["after_error_forced"] == 1.0
        assert rates["by_offset"]["free"][:2] == [free, free] and math.isnan(rates["by_offset"]["free"][2])
    with pytest.raises(ValueError, match="one per position"):
        exp.propagation_counts([[1]], [[1, 9]], [[1]])


class _NextToken(torch.nn.Module):
    """A fake model whose teacher-forced arg-max at each step is the input token + 1."""

    def forward(self, src, src_lengths, tgt_in):
        return torch.nn.functional.one_hot((tgt_in + 1) % 20, 20).float()


def test_teacher_forced_reads_the_true_prefix_position_by_position():
    vocab = SimpleNamespace(bos_id=2, eos_id=3)
    translator = SimpleNamespace(model=_NextToken(), codec=SimpleNamespace(tgt=SimpleNamespace(vocab=vocab)))
    forced = exp.teacher_forced(translator, [[5, 6], [7], [8, 8, 8]], [[10, 11, 12], [4], [15, 16]], batch_size=2)
    # position 0 reads bos, position i reads reference token i - 1; one more position for eos
    assert forced == [[3, 11, 12, 13], [3, 5], [3, 16, 17]]


def test_learning_rate_warms_up_holds_and_decays():
    steps = 100
    factors = [exp.lr_factor(s, steps) for s in range(steps)]
    assert factors[0] == pytest.approx(0.2) and factors[4] == 1.0  # warm-up over 5 steps
    assert all(f == 1.0 for f in factors[5:80]) and factors[80] == 1.0 and factors[-1] == pytest.approx(1 / 20)
    assert factors[80:] == sorted(factors[80:], reverse=True)
    assert exp.lr_factor(0, 1) == 1.0


# -- verdict ----------------------------------------------------------------------------------------------


def _s(v):
    return {"mean": v, "std": 0.0, "n": 1, "values": [v]}


def _fake(no_penalty, penalty, metric="bleu"):
    ks = ["1", "5", "50"]
    corpus = {"metric": metric,
              "by_beam": {k: {"no_penalty": _s(a), "penalty": _s(b)} for k, a, b in zip(ks, no_penalty, penalty)},
              "search_errors": {"5": _s(0.2), "50": _s(0.6)}, "model_errors": {"5": _s(0.3), "50": _s(0.75)},
              "propagation": {"after_error_free": _s(0.1), "after_error_forced": _s(0.4)}}
    return {"corpora": {"en-es": corpus}}


def test_trend_finds_the_best_beam_and_whether_the_largest_falls():
    by_beam = _fake([10.0, 12.0, 8.0], [10.0, 12.0, 12.0])["corpora"]["en-es"]["by_beam"]
    t = exp.trend(by_beam, "no_penalty", "bleu")
    assert (t["greedy"], t["best_beam"], t["best"], t["largest_beam"], t["largest"]) == (10.0, 5, 12.0, 50, 8.0)
    assert t["falls"] and t["drop"] == pytest.approx(4.0)
    tied = exp.trend(by_beam, "penalty", "bleu")
    assert tied["best_beam"] == 5 and not tied["falls"]  # equal quality: the smaller beam is the best
    small = _fake([0.8, 0.9, 0.895], [0.8, 0.9, 0.85], metric="exact_match")["corpora"]["en-es"]["by_beam"]
    assert not exp.trend(small, "no_penalty", "exact_match")["falls"]  # half a point: within FLAT
    assert exp.trend(small, "penalty", "exact_match")["falls"]


def test_verdict_follows_the_numbers():
    falling = exp.verdict(_fake([10.0, 12.0, 8.0], [10.0, 12.5, 12.2]))
    assert "beam beats greedy on en-es" in falling and "falls at large beams (Koehn & Knowles 2017) on en-es" in falling
    assert "best 12.0 at k=5, 8.0 at k=50 (falls)" in falling and "best 12.5 at k=5, 12.2 at k=50 (no fall)" in falling
    assert "beam out-scores greedy on 60% of sentences, 75% of those worse" in falling
    assert "10% of later tokens right free-running vs 40% teacher-forced" in falling
    rising = exp.verdict(_fake([10.0, 11.0, 12.0], [10.0, 11.0, 12.5]))
    assert "on no corpus (not there: en-es)" in rising and "best 12.0 at k=50" in rising
    greedy_wins = exp.verdict(_fake([12.0, 11.0, 11.0], [12.0, 11.0, 11.0]))
    assert "beam beats greedy on no corpus" in greedy_wins
    exact = exp.verdict(_fake([0.5, 0.75, 0.6], [0.5, 0.75, 0.75], metric="exact_match"))
    assert "en-es (exact match): greedy 50.0%, best 75.0% at k=5, 60.0% at k=50 (falls)" in exact


# -- bad inputs ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sizes", [(1, 0), (5, -1), (0,), (), (2.5,), (True,), "5", None])
def test_bad_beam_sizes_are_refused(sizes):
    with pytest.raises(ValueError, match="beam sizes must be integers >= 1; got"):
        exp.Config(beam_sizes=sizes)
    with pytest.raises(ValueError, match="beam sizes must be integers >= 1"):
        dataclasses.replace(exp.PRESETS["tiny"], beam_sizes=sizes)
    cfg = dataclasses.replace(exp.PRESETS["tiny"])
    cfg.beam_sizes = sizes  # set after construction (as a caller might): check() and run() still refuse
    with pytest.raises(ValueError, match="beam sizes must be integers >= 1"):
        exp.check(cfg)
    with pytest.raises(ValueError, match="beam sizes must be integers >= 1"):
        exp.run(cfg, None)


def test_other_config_mistakes_are_refused():
    for bad, match in (({"corpora": ("fr-en",)}, "corpora must name"), ({"seeds": ()}, "seeds is empty"),
                       ({"test_sentences": 0}, "test_sentences"), ({"en_es_hidden": 15}, "must be even"),
                       ({"length_penalty": 0.0}, "length_penalty"), ({"train_pairs": 0}, "train_pairs")):
        with pytest.raises(ValueError, match=match):
            exp.Config(**bad)


def _refused(cfg, tmp_path, match):
    for call in (lambda: exp.check(cfg), lambda: exp.run(cfg, tmp_path / "out")):
        with pytest.raises(ValueError, match=match) as err:
            call()
        assert "\n" not in str(err.value) and "rnnkit train seq2seq" in str(err.value)
    assert not (tmp_path / "out").exists()  # refused before anything ran


def test_a_language_model_checkpoint_is_refused(tmp_path, capsys, one_thread):
    text, out = tmp_path / "text.txt", tmp_path / "lm"
    text.write_text("the cat sat on the mat.\n" * 40)
    assert main(["train", "lm", "--data", str(text), "--out", str(out), "--bptt", "8", "--batch-size", "4",
                 "--hidden-size", "8", "--embedding-size", "4", "--max-steps", "2", "--quiet"]) == 0
    capsys.readouterr()
    cfg = dataclasses.replace(exp.PRESETS["tiny"], checkpoint=str(out))
    _refused(cfg, tmp_path, "holds a 'lm' model, not a 'seq2seq' one")


def test_a_missing_or_damaged_checkpoint_is_refused(tmp_path):
    cfg = dataclasses.replace(exp.PRESETS["tiny"], checkpoint=str(tmp_path / "nowhere"))
    _refused(cfg, tmp_path, "no checkpoint in")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "checkpoint.json").write_text("not json at all")
    _refused(dataclasses.replace(cfg, checkpoint=str(tmp_path / "junk")), tmp_path, "is corrupted")


def test_a_seq2seq_checkpoint_is_measured_on_the_corpus_its_record_names(tmp_path, capsys, one_thread):
    out = tmp_path / "dates"
    assert main(["train", "seq2seq", "--corpus", "dates", "--out", str(out), "--max-steps", "2", "--hidden-size", "8",
                 "--embedding-size", "4", "--batch-size", "8", "--quiet"]) == 0
    capsys.readouterr()
    cfg = dataclasses.replace(exp.PRESETS["tiny"], checkpoint=str(out), beam_sizes=(2,), test_sentences=3)
    exp.check(cfg)
    result = exp.run(cfg, tmp_path / "result")
    assert list(result["corpora"]) == ["dates"] and result["beam_sizes"] == [1, 2]  # greedy always added
    dates = result["corpora"]["dates"]
    assert dates["train"] is None and "bundled dates" in dates["source"] and dates["test_sentences"] == 3
    assert dates["search_counts"]["2"]["sentences"] == 3


def test_a_checkpoint_is_loaded_onto_the_run_device(monkeypatch, tmp_path):
    """cfg.device (the runner sets it from --device) reaches Translator.load, so a checkpoint
    written on any device is decoded on the run's; the default is the CPU. The load is stopped
    there: this machine may have no GPU."""
    seen = stop_loading(monkeypatch, exp.Translator)
    assert exp.Config().device == "cpu"
    checkpoint = Path(__file__).resolve().parents[1] / "fixtures" / "checkpoints-v2" / "seq2seq"
    with pytest.raises(LoadStopped):
        exp.run(dataclasses.replace(exp.PRESETS["tiny"], checkpoint=str(checkpoint), device="cuda:1"), tmp_path)
    assert seen == ["cuda:1"]


# -- the tiny preset end to end --------------------------------------------------------------------------


def test_tiny_preset_runs(tmp_path, one_thread):
    cfg = exp.PRESETS["tiny"]
    result = json.loads(json.dumps(exp.run(cfg, tmp_path)))
    for key in ("setup", "parameters", "tables", "figures", "beam_sizes", "length_penalty", "corpora", "trend"):
        assert key in result
    assert result["beam_sizes"] == [1, 2, 3] and list(result["corpora"]) == ["dates", "en-es"]
    assert set(result["parameters"]) == {"dates seq2seq", "en-es seq2seq"}
    for name, c in result["corpora"].items():
        assert c["metric"] == exp.METRIC[name] and c["test_sentences"] == cfg.test_sentences
        assert list(c["by_beam"]) == ["1", "2", "3"] and list(c["search_errors"]) == ["2", "3"]
        top = 1.0 if c["metric"] == "exact_match" else 100.0
        for entry in c["by_beam"].values():
            for key in ("no_penalty", "penalty"):
                assert entry[key]["n"] == len(cfg.seeds) and 0.0 <= entry[key]["mean"] <= top
        assert c["by_beam"]["1"]["no_penalty"] == c["by_beam"]["1"]["penalty"]  # greedy has no penalty
        for k, counts in c["search_counts"].items():
            assert counts["sentences"] == cfg.test_sentences
            assert counts["same_output"] + counts["beam_higher"] + counts["beam_lower"] + counts["tied"] == \
                counts["sentences"]
            assert c["search_errors"][k]["mean"] == pytest.approx(counts["beam_higher"] / counts["sentences"])
        p = c["propagation"]
        assert p["counts"]["sentences"] == cfg.test_sentences and len(p["by_offset"]["free"]) == exp.MAX_OFFSET
        assert 0.0 <= p["forced_all"]["mean"] <= 1.0 and c["train"]["steps"] > 0
    assert len(result["tables"]) == 3
    assert any("Koehn & Knowles" in row[0] for row in result["tables"][0]["rows"])
    for fig in result["figures"]:
        assert (tmp_path / fig["file"]).read_bytes().startswith(PNG_MAGIC)
    verdict = exp.verdict(result)
    assert "dates (exact match): greedy" in verdict and "en-es (BLEU): greedy" in verdict
