"""Seq2Seq: teacher forcing equals step-by-step decoding, padding never leaks, it learns to copy."""

import pytest
import torch

from rnnkit.decode import beam_search, greedy_search
from rnnkit.models.seq2seq import Seq2Seq


@pytest.mark.parametrize("input_feeding", [True, False])
@pytest.mark.parametrize("attention", ["dot", "general", "additive", "none"])
@pytest.mark.parametrize("cell,bidirectional", [("lstm", True), ("gru", False), ("rnn", True)])
def test_teacher_forcing_equals_decode_steps_and_padding_is_ignored(attention, cell, bidirectional, input_feeding):
    torch.manual_seed(0)
    model = Seq2Seq(12, 9, embedding_size=6, hidden_size=8, num_layers=2, cell=cell, bidirectional=bidirectional,
                    attention=attention, input_feeding=input_feeding).double().eval()
    src = torch.tensor([[4, 5, 6, 7], [8, 9, 0, 0]])
    lengths = torch.tensor([4, 2])
    tgt_in = torch.tensor([[2, 4, 5], [2, 6, 7]])
    logits = model(src, lengths, tgt_in)
    state = model.init_decoder_state(src, lengths)
    for t in range(3):
        log_probs, state, attn = model.decode_step(tgt_in[:, t], state)
        torch.testing.assert_close(log_probs, logits[:, t].log_softmax(-1))
        if attention != "none":
            assert torch.all(attn[1, 2:] == 0) and torch.allclose(attn.sum(-1), torch.ones(2, dtype=torch.float64))
    padded = torch.cat([src, torch.full((2, 3), 11)], dim=1)  # more padding, with garbage ids
    torch.testing.assert_close(model(padded, lengths, tgt_in), logits)
    torch.testing.assert_close(model(src[1:, :2], lengths[1:], tgt_in[1:]), logits[1:])


@pytest.mark.parametrize("input_feeding", [True, False])
def test_loss_is_the_mean_over_real_target_tokens(input_feeding):
    torch.manual_seed(0)
    model = Seq2Seq(12, 9, embedding_size=6, hidden_size=8, attention="general",
                    input_feeding=input_feeding).double().eval()
    src, lengths = torch.tensor([[4, 5, 6], [8, 9, 0]]), torch.tensor([3, 2])
    tgt_in, tgt_out = torch.tensor([[2, 4, 5, 6], [2, 6, 0, 0]]), torch.tensor([[4, 5, 6, 3], [6, 3, 0, 0]])
    loss, n = model.loss(src, lengths, tgt_in, tgt_out, label_smoothing=0.1)
    log_probs = model(src, lengths, tgt_in).log_softmax(-1)
    real = [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1)]
    smooth = [0.9 * -log_probs[b, t, tgt_out[b, t]] + 0.1 * -log_probs[b, t].mean() for b, t in real]
    assert n == 6
    torch.testing.assert_close(loss, torch.stack(smooth).mean())


def test_learns_to_reverse_and_beam_search_returns_attention():
    torch.manual_seed(0)
    model = Seq2Seq(10, 10, embedding_size=16, hidden_size=32, cell="gru", attention="general")
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    g = torch.Generator().manual_seed(0)
    for _ in range(500):
        src = torch.randint(4, 10, (32, 5), generator=g)
        rev = src.flip(1)
        tgt_in = torch.cat([torch.full((32, 1), 2), rev], 1)
        tgt_out = torch.cat([rev, torch.full((32, 1), 3)], 1)
        loss, _ = model.loss(src, torch.full((32,), 5), tgt_in, tgt_out)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    src = torch.randint(4, 10, (20, 5), generator=g)
    lengths = torch.full((20,), 5)
    greedy = greedy_search(model, src, lengths, max_len=8)
    correct = sum(h.tokens == src[i].flip(0).tolist() for i, h in enumerate(greedy))
    assert correct >= 18, correct
    beams = beam_search(model, src, lengths, beam_size=4, max_len=8, n_best=2)
    h = beams[0][0]
    assert h.attention.shape == (len(h.tokens) + 1, 5)
    assert int(h.attention[0].argmax()) == 4  # the first output token is read from the last source position


def test_bad_options():
    with pytest.raises(ValueError, match="attention must be one of"):
        Seq2Seq(5, 5, attention="luong")
    with pytest.raises(ValueError, match="cell must be one of"):
        Seq2Seq(5, 5, cell="tcn")


@pytest.mark.parametrize("attention", ["general", "additive", "none"])
def test_reordered_state_equals_decoding_the_picked_sources(attention):
    torch.manual_seed(0)
    model = Seq2Seq(12, 9, embedding_size=6, hidden_size=8, attention=attention).double().eval()
    src, lengths = torch.tensor([[4, 5, 6, 7], [8, 9, 0, 0], [5, 5, 5, 0]]), torch.tensor([4, 2, 3])
    for index in ([1, 0, 1], [2, 2, 0, 0], [0, 0, 1, 1, 2, 2], [2]):  # scattered, grouped, dropping
        index, tokens = torch.tensor(index), torch.full((len(index),), 2)
        state = model.reorder_state(model.init_decoder_state(src, lengths), index)
        log_probs, state, attn = model.decode_step(tokens, state)
        expected, _, expected_attn = model.decode_step(tokens, model.init_decoder_state(src[index], lengths[index]))
        torch.testing.assert_close(log_probs, expected)
        if attention != "none":
            torch.testing.assert_close(attn, expected_attn)


def test_batched_beam_search_equals_each_source_alone():
    torch.manual_seed(0)
    model = Seq2Seq(12, 9, embedding_size=6, hidden_size=8, attention="general").double().eval()
    src = torch.tensor([[4, 5, 6, 7, 8], [8, 9, 0, 0, 0], [5, 5, 5, 0, 0], [11, 4, 0, 0, 0]])
    lengths = torch.tensor([5, 2, 3, 2])
    batched = beam_search(model, src, lengths, beam_size=3, max_len=7, n_best=2)
    for i in range(4):
        one = src[i : i + 1, : lengths[i]]
        alone = beam_search(model, one, lengths[i : i + 1], beam_size=3, max_len=7, n_best=2)[0]
        for a, b in zip(alone, batched[i]):
            assert a.tokens == b.tokens and a.score == pytest.approx(b.score)
            torch.testing.assert_close(a.attention, b.attention[:, : lengths[i]])


def test_decoding_without_gradient_packs_the_generator_and_matches_the_module():
    """Under no_grad the generator's weight is packed for oneDNN and the log-softmax runs in place;
    the log-probabilities equal the plain module's (computed with gradients enabled)."""
    from rnnkit.nn._step_matmul import _ONEDNN, StepMatmul

    torch.manual_seed(0)
    model = Seq2Seq(30, 500, embedding_size=16, hidden_size=32, attention="general").eval()
    src, lengths = torch.tensor([[4, 5, 6, 7], [8, 9, 0, 0]]), torch.tensor([4, 2])
    tokens = torch.tensor([2, 2])
    reference, _, _ = model.decode_step(tokens, model.init_decoder_state(src, lengths))
    assert reference.requires_grad
    with torch.no_grad():
        state = model.init_decoder_state(src, lengths)
        assert isinstance(state.generator, StepMatmul) == _ONEDNN
        for index in (None, torch.tensor([0, 0, 1, 1, 1])):  # also after a beam-like reorder
            rows = state if index is None else model.reorder_state(state, index)
            log_probs, _, _ = model.decode_step(tokens if index is None else tokens[index], rows)
            expected = reference if index is None else reference[index]
            torch.testing.assert_close(log_probs, expected.detach(), rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(len(log_probs)))


@pytest.mark.parametrize("max_len", [4, 12])  # 4: most hypotheses are cut at max_len, without eos
def test_beam_attention_is_each_hypothesis_own_attention(max_len):
    """Beam search keeps attention as back-pointers; each returned matrix must equal the attention
    the model gives when fed that hypothesis' tokens alone."""
    torch.manual_seed(1)
    model = Seq2Seq(12, 9, embedding_size=6, hidden_size=8, attention="additive").double().eval()
    src = torch.tensor([[4, 5, 6, 7, 8], [8, 9, 0, 0, 0], [5, 5, 5, 0, 0]])
    lengths = torch.tensor([5, 2, 3])
    hyps = beam_search(model, src, lengths, beam_size=4, max_len=max_len, n_best=3)
    for b, per_source in enumerate(hyps):
        for h in per_source:
            state = model.init_decoder_state(src[b : b + 1], lengths[b : b + 1])
            rows, token = [], model.bos_id
            for next_token in h.tokens + [model.eos_id]:
                _, state, attn = model.decode_step(torch.tensor([token]), state)
                rows.append(attn[0])
                token = next_token
            steps = h.attention.shape[0]
            assert steps in (len(h.tokens), len(h.tokens) + 1)
            torch.testing.assert_close(h.attention, torch.stack(rows[:steps]).float())  # kept in float32
