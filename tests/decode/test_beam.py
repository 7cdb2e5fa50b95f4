"""Beam search on a synthetic model with a fixed table of log-probabilities (no network)."""

import itertools
import math

import pytest
import torch

from rnnkit.decode import beam_search, greedy_search

PAD, BOS, EOS, A, B_, C = 0, 1, 2, 3, 4, 5


class TableModel:
    """Next-token probabilities depend on the previous token only; ``attn`` is a made-up (N, S) row
    per step so attention bookkeeping can be checked."""

    pad_id, bos_id, eos_id = PAD, BOS, EOS

    def __init__(self, table, src_len=3):
        self.logp = torch.log(torch.tensor(table, dtype=torch.float64))
        self.src_len = src_len

    def init_decoder_state(self, src, src_lengths):
        return torch.zeros(src.shape[0], dtype=torch.long)

    def decode_step(self, tokens, state):
        attn = torch.nn.functional.one_hot(tokens % self.src_len, self.src_len).float()
        return self.logp[tokens], state + 1, attn

    def reorder_state(self, state, index):
        return state[index]


# Greedy takes A (0.5) then is stuck with a flat continuation; the best sequence is B_ EOS (0.4 * 0.9).
TABLE = [
    [1 / 6] * 6,
    [1e-9, 1e-9, 0.1, 0.5, 0.4, 1e-9 + 0.0],
    [1 / 6] * 6,
    [1e-9, 1e-9, 0.3, 0.35, 0.2, 0.15],
    [1e-9, 1e-9, 0.9, 0.04, 0.03, 0.03],
    [1e-9, 1e-9, 0.5, 0.2, 0.2, 0.1],
]
SRC = torch.zeros(2, 3, dtype=torch.long)
LEN = torch.tensor([3, 3])


def exhaustive(model, max_len, alpha=0.0, min_len=0, kind="power", ngram=0):
    """Brute force: every sequence of real tokens up to max_len, ended by eos or cut at max_len."""
    best = []
    logp = model.logp
    for n in range(0, max_len + 1):
        for seq in itertools.product([A, B_, C], repeat=n):
            if ngram and any(seq[i : i + ngram] == seq[j : j + ngram] for i in range(n) for j in range(i + 1, n)
                             if j + ngram <= n):
                continue
            prev, lp = BOS, 0.0
            for t in seq:
                lp += float(logp[prev, t])
                prev = t
            if n < max_len and n >= min_len:  # min_len real tokens before the eos
                total, length = lp + float(logp[prev, EOS]), n + 1
            elif n == max_len:
                total, length = lp, n
            else:
                continue
            pen = 1.0 if alpha == 0 else (((5 + length) / 6) ** alpha if kind == "gnmt" else length ** alpha)
            best.append((total / pen, list(seq)))
    return sorted(best, key=lambda x: -x[0])


def test_beam_beats_greedy_where_greedy_is_wrong():
    model = TableModel(TABLE)
    greedy = greedy_search(model, SRC, LEN, max_len=4)[0]
    beam = beam_search(model, SRC, LEN, beam_size=3, max_len=4, length_penalty=0.0)[0][0]
    assert beam.tokens == [B_] and beam.log_prob == pytest.approx(math.log(0.4 * 0.9))
    assert beam.log_prob > greedy.log_prob


def test_beam_of_one_equals_greedy():
    model = TableModel(TABLE)
    for max_len in (1, 2, 5):
        g = greedy_search(model, SRC, LEN, max_len=max_len)
        b = beam_search(model, SRC, LEN, beam_size=1, max_len=max_len, length_penalty=0.0)
        for gh, bh in zip(g, b):
            assert bh[0].tokens == gh.tokens and bh[0].log_prob == pytest.approx(gh.log_prob)


@pytest.mark.parametrize("alpha,kind", [(0.0, "power"), (1.0, "power"), (0.6, "gnmt"), (2.0, "power"),
                                        (-1.0, "power"), (-0.5, "gnmt")])
def test_wide_beam_equals_exhaustive_search(alpha, kind):
    model = TableModel(TABLE)
    ref = exhaustive(model, max_len=4, alpha=alpha, kind=kind)
    hyps = beam_search(model, SRC, LEN, beam_size=90, max_len=4, length_penalty=alpha, n_best=5, penalty=kind,
                       early_stopping="never")
    for source in hyps:
        assert [h.tokens for h in source] == [seq for _, seq in ref[:5]]
        assert [h.score for h in source] == pytest.approx([s for s, _ in ref[:5]])


# An early eos (0.3) against a longer output that is nearly certain once begun (0.7 * 0.999): with
# alpha < 0 the penalty falls with length, so the longer one wins, and the bound for "never" must
# not take max_len's penalty (then the early eos looked unbeatable and the search stopped at once).
EARLY_EOS = [[1 / 6] * 6, [1e-9, 1e-9, 0.3, 0.7, 1e-9, 1e-9], [1 / 6] * 6, [1e-9, 1e-9, 0.999, 1e-9, 5e-4, 5e-4],
             [1 / 6] * 6, [1 / 6] * 6]


@pytest.mark.parametrize("alpha", [-1.0, -0.3, 0.5, 1.0])
def test_exact_stopping_holds_for_every_length_penalty(alpha):
    model = TableModel(EARLY_EOS)
    ref = exhaustive(model, max_len=6, alpha=alpha)
    best = beam_search(model, SRC, LEN, beam_size=4, max_len=6, length_penalty=alpha, early_stopping="never")[0][0]
    assert best.tokens == ref[0][1] and best.score == pytest.approx(ref[0][0])
    if alpha < 0:
        assert best.tokens == [A]


@pytest.mark.parametrize("tied", [B_, C])
def test_an_eos_tied_with_a_live_candidate_is_never_pushed_out(tied):
    # After bos: A 0.4, then eos tied with another token at 0.2, the second of K = 2 places. The
    # eos takes no place, so it must finish whichever token id it ties with (it was lost for one
    # of the two: the beam then returned a hypothesis 5x less likely).
    after_bos = [1e-9, 1e-9, 0.2, 0.4, 1e-9, 1e-9]
    after_bos[tied], after_bos[B_ + C - tied] = 0.2, 0.0999
    table = [[1 / 6] * 6, after_bos] + [[1e-9, 1e-9, 0.1, 0.3, 0.3, 0.3]] * 4
    for stopping in (False, "never"):
        best = beam_search(TableModel(table), SRC, LEN, beam_size=2, max_len=3, length_penalty=0.0,
                           early_stopping=stopping)[0][0]
        assert best.tokens == [] and best.log_prob == pytest.approx(math.log(0.2))


def test_n_best_sorted_and_distinct():
    hyps = beam_search(TableModel(TABLE), SRC, LEN, beam_size=6, max_len=5, n_best=6)[0]
    scores = [h.score for h in hyps]
    assert scores == sorted(scores, reverse=True) and len(hyps) == 6
    assert len({tuple(h.tokens) for h in hyps}) == 6


def test_min_len_is_honoured_and_matches_brute_force():
    hyps = beam_search(TableModel(TABLE), SRC, LEN, beam_size=90, max_len=5, min_len=3, length_penalty=0.0,
                       n_best=4)[0]
    assert all(len(h.tokens) >= 3 for h in hyps)
    ref = exhaustive(TableModel(TABLE), max_len=5, min_len=3)
    assert [h.tokens for h in hyps] == [seq for _, seq in ref[:4]]


def test_min_len_counts_the_tokens_before_the_eos():
    # as Hugging Face's min_new_tokens and OpenNMT's min_length: 1 forbids the (likeliest) empty output
    eos_first = [[1 / 6] * 6, [1e-9, 1e-9, 0.9, 0.05, 0.04, 0.01]] + [[1 / 6] * 6] * 4
    for min_len in (0, 1, 2, 4):
        best = beam_search(TableModel(eos_first), SRC, LEN, beam_size=3, max_len=4, min_len=min_len,
                           length_penalty=0.0)[0][0]
        assert len(best.tokens) == min_len, (min_len, best.tokens)  # the eos as soon as it is allowed


def test_no_repeat_ngram_is_honoured():
    loop = [[1 / 6] * 6, [1e-9, 1e-9, 0.01, 0.98, 0.01, 1e-9], [1 / 6] * 6,
            [1e-9, 1e-9, 0.01, 0.01, 0.97, 0.01], [1e-9, 1e-9, 0.01, 0.97, 0.01, 0.01], [0.2] * 5 + [1e-9]]
    model = TableModel(loop)
    free = beam_search(model, SRC, LEN, beam_size=2, max_len=6, length_penalty=0.0)[0][0]
    assert free.tokens == [A, B_, A, B_, A, B_]  # the model loops
    for n in (1, 2, 3):
        hyps = beam_search(model, SRC, LEN, beam_size=4, max_len=6, no_repeat_ngram_size=n, n_best=4)[0]
        for h in hyps:
            grams = [tuple(h.tokens[i : i + n]) for i in range(len(h.tokens) - n + 1)]
            assert len(grams) == len(set(grams)), (n, h.tokens)


def test_prefix_is_read_before_the_search():
    model = TableModel(TABLE)
    after_b = beam_search(model, SRC, LEN, beam_size=3, max_len=3, length_penalty=0.0,
                          prefix=torch.tensor([[B_], [A]]))
    assert after_b[0][0].tokens == [] and after_b[0][0].log_prob == pytest.approx(math.log(0.9))  # b -> eos
    assert after_b[1][0].log_prob == pytest.approx(
        max(math.log(0.3), math.log(0.35 * 0.2 * 0.9), math.log(0.2 * 0.9)))  # a -> eos is best


def test_attention_matrix_per_hypothesis():
    hyps = beam_search(TableModel(TABLE), SRC, LEN, beam_size=3, max_len=4, length_penalty=0.0)[0]
    h = hyps[0]
    assert h.attention.shape == (len(h.tokens) + 1, 3)  # one row per output token, eos included
    assert torch.equal(h.attention[0], torch.tensor([0.0, 1.0, 0.0]))  # the step that read bos (1 % 3)


@pytest.mark.parametrize("kw,match", [({"beam_size": 0}, "beam_size"), ({"n_best": 6}, "n_best"),
                                      ({"min_len": 9}, "min_len"), ({"penalty": "log"}, "penalty")])
def test_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        beam_search(TableModel(TABLE), SRC, LEN, **{"beam_size": 5, "max_len": 4, **kw})


def test_finished_sources_leave_the_batch_and_equal_decoding_alone():
    from tests.decode.test_search import CountdownModel

    model = CountdownModel()
    src, lengths = torch.zeros(3, 4, dtype=torch.long), torch.tensor([2, 0, 5])
    hyps = beam_search(model, src, lengths, beam_size=3, max_len=12, n_best=2)
    assert model.calls[:2] == [3, 9] and model.calls[-1] == 3  # one row per source first; done sources leave
    assert hyps[0][0].tokens == [3, 3] and hyps[2][0].tokens == [3] * 5
    for i in range(3):
        alone = beam_search(CountdownModel(), src[i : i + 1], lengths[i : i + 1], beam_size=3, max_len=12, n_best=2)[0]
        assert [(h.tokens, h.score) for h in alone] == [(h.tokens, h.score) for h in hyps[i]]
        assert all(torch.equal(a.attention, h.attention) for a, h in zip(alone, hyps[i]))


def test_early_stopping_modes():
    from tests.decode.test_search import CountdownModel

    src, lengths = torch.zeros(2, 4, dtype=torch.long), torch.tensor([2, 3])
    calls = {}
    for mode in (True, False, "never"):
        model = CountdownModel()
        hyps = beam_search(model, src, lengths, beam_size=3, max_len=20, n_best=1, early_stopping=mode)
        calls[mode] = len(model.calls)
        if mode is True:  # Hugging Face's rule: done once beam_size (3) hypotheses are finished; the
            # second source has then finished [], [3] and [3, 3] (one each step) but not [3, 3, 3]
            assert [h[0].tokens for h in hyps] == [[3, 3], [3, 3]] and calls[mode] == 3
        else:
            assert [h[0].tokens for h in hyps] == [[3, 3], [3, 3, 3]], mode
    # exact stopping keeps searching (a longer hypothesis could still win under the length
    # penalty); the heuristic stops once the live ones trail at their current length
    assert calls[False] < calls["never"], calls
    with pytest.raises(ValueError, match="early_stopping"):
        beam_search(CountdownModel(), src, lengths, early_stopping="sometimes")
