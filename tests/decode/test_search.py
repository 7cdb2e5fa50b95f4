"""Greedy search and sampling on a synthetic model with a fixed table of log-probabilities."""

import pytest
import torch

from rnnkit.decode import filter_logits, greedy_search, sample
from rnnkit.models.lm import RNNLanguageModel


class TableModel:
    """Next-token log-probs depend only on the previous token: ``table[prev]``. No network."""

    pad_id, bos_id, eos_id = 0, 1, 2

    def __init__(self, table):
        self.table = torch.log(torch.tensor(table, dtype=torch.float64))

    def init_decoder_state(self, src, src_lengths):
        return torch.zeros(src.shape[0])

    def decode_step(self, tokens, state):
        return self.table[tokens], state + 1, None

    def reorder_state(self, state, index):
        return state[index]


# vocabulary: 0 pad, 1 bos, 2 eos, 3 'a', 4 'b'
TABLE = [
    [0.2, 0.2, 0.2, 0.2, 0.2],
    [0.0, 0.0, 0.1, 0.6, 0.3],  # after bos: a (0.6) or b (0.3)
    [0.2, 0.2, 0.2, 0.2, 0.2],
    [0.0, 0.0, 0.5, 0.1, 0.4],  # after a: eos (0.5)
    [0.0, 0.0, 0.1, 0.1, 0.8],  # after b: b (0.8)
]
SRC, LENGTHS = torch.zeros(2, 0, dtype=torch.long), torch.zeros(2, dtype=torch.long)


def test_greedy_takes_the_argmax_and_stops_at_eos():
    hyps = greedy_search(TableModel(TABLE), SRC, LENGTHS, max_len=10)
    assert [h.tokens for h in hyps] == [[3], [3]]
    assert hyps[0].log_prob == pytest.approx(float(torch.log(torch.tensor(0.6 * 0.5, dtype=torch.float64))))


def test_max_len_cuts_without_eos():
    hyps = greedy_search(TableModel(TABLE), SRC, LENGTHS, max_len=1)
    assert hyps[0].tokens == [3]


def test_prefix_is_forced_and_not_scored():
    hyps = greedy_search(TableModel(TABLE), SRC, LENGTHS, max_len=3, prefix=torch.tensor([[4], [4]]))
    assert hyps[0].tokens == [4, 4, 4]  # after b comes b
    assert hyps[0].log_prob == pytest.approx(3 * float(torch.log(torch.tensor(0.8, dtype=torch.float64))))


def test_sampling_follows_the_distribution():
    gen = torch.Generator().manual_seed(0)
    hyps = [sample(TableModel(TABLE), SRC, LENGTHS, 1, generator=gen)[0] for _ in range(2000)]
    first = [h.tokens[0] if h.tokens else 2 for h in hyps]  # an immediate eos leaves no token
    for token, p in ((3, 0.6), (4, 0.3), (2, 0.1)):
        assert abs(first.count(token) / len(first) - p) < 0.04


def test_top_k_1_and_tiny_top_p_are_greedy():
    for kw in ({"top_k": 1}, {"top_p": 0.01}, {"top_p": 1e-300}, {"temperature": 1e-4}, {"temperature": 1e-300}):
        hyps = sample(TableModel(TABLE), SRC, LENGTHS, 6, generator=torch.Generator().manual_seed(3), **kw)
        assert [h.tokens for h in hyps] == [[3], [3]], kw


def test_filter_logits_by_hand():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isinf(filter_logits(logits, top_k=2)).tolist() == [[False, False, True, True]]
    assert torch.isinf(filter_logits(logits, top_p=0.8)).tolist() == [[False, False, True, True]]
    assert torch.isinf(filter_logits(logits, top_p=0.81)).tolist() == [[False, False, False, True]]
    # a top_p that float32 rounds to 0 still keeps the most likely token
    assert torch.isinf(filter_logits(logits, top_p=1e-300)).tolist() == [[False, True, True, True]]


@pytest.mark.parametrize("kw,match", [({"max_len": 0}, "max_len"), ({"temperature": 0}, "temperature"),
                                      ({"temperature": float("nan")}, "temperature"),
                                      ({"top_p": float("nan")}, "top_p"), ({"top_k": -1}, "top_k"),
                                      ({"top_p": 0}, "top_p")])
def test_bad_arguments(kw, match):
    args = {"max_len": 3, **kw}
    with pytest.raises(ValueError, match=match):
        sample(TableModel(TABLE), SRC, LENGTHS, **args)


def test_language_model_protocol_matches_its_forward():
    torch.manual_seed(0)
    lm = RNNLanguageModel(9, embedding_size=5, hidden_size=7, num_layers=2, cell="gru", tie_weights=True).eval()
    assert lm.head.weight is lm.embedding.weight
    tokens = torch.tensor([[4, 5, 6, 7]])
    logits, _ = lm(tokens)
    state = lm.init_decoder_state(torch.zeros(1, 0, dtype=torch.long), torch.zeros(1, dtype=torch.long))
    for t in range(4):
        log_probs, state, attn = lm.decode_step(tokens[:, t], state)
        torch.testing.assert_close(log_probs, logits[:, t].log_softmax(-1))
        assert attn is None
    doubled = lm.reorder_state(state, torch.tensor([0, 0]))
    assert doubled.shape == (2, 2, 7) and torch.equal(doubled[:, 0], doubled[:, 1])


class CountdownModel:
    """Source b says token 3 ``src_lengths[b]`` times, then eos; attention is one-hot on the step.
    Records the batch size of every ``decode_step`` call."""

    pad_id, bos_id, eos_id = 0, 1, 2

    def __init__(self):
        self.calls = []

    def init_decoder_state(self, src, src_lengths):
        return src_lengths.clone(), torch.zeros_like(src_lengths), src.shape[1]

    def decode_step(self, tokens, state):
        remaining, step, S = state
        self.calls.append(tokens.shape[0])
        probs = torch.full((tokens.shape[0], 5), 0.05, dtype=torch.float64)
        probs[:, 3] = torch.where(remaining > 0, 0.8, 0.05)
        probs[:, 2] = torch.where(remaining > 0, 0.05, 0.8)
        attn = torch.nn.functional.one_hot(step % S, S).float()
        return (probs / probs.sum(1, keepdim=True)).log(), (remaining - 1, step + 1, S), attn

    def reorder_state(self, state, index):
        return state[0][index], state[1][index], state[2]


def test_finished_sources_leave_the_batch_and_attention_has_a_row_per_step():
    model = CountdownModel()
    src, lengths = torch.zeros(3, 4, dtype=torch.long), torch.tensor([2, 0, 3])
    hyps = greedy_search(model, src, lengths, max_len=10)
    assert [h.tokens for h in hyps] == [[3, 3], [], [3, 3, 3]]
    assert model.calls == [3, 2, 2, 1]  # the second source ends at once, the first after 3 steps
    for h in hyps:
        assert h.attention.shape == (len(h.tokens) + 1, 4)  # the eos step included
        assert torch.equal(h.attention.argmax(1), torch.arange(len(h.tokens) + 1) % 4)
    alone = [greedy_search(CountdownModel(), src[i : i + 1], lengths[i : i + 1], max_len=10)[0] for i in range(3)]
    assert [(h.tokens, h.log_prob) for h in alone] == [(h.tokens, h.log_prob) for h in hyps]
