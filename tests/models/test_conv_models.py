"""The convolutional models: the classifier's cnn and tcn cells never read padding; the TCN language
model's context state makes windows and step-by-step decoding equal one long forward."""

import pytest
import torch

from rnnkit.config import LanguageModelConfig
from rnnkit.decode import DecodeConfig, generate
from rnnkit.models import SequenceClassifier
from rnnkit.models.lm import RNNLanguageModel, language_model_from_config
from rnnkit.models.tcn_lm import TCNLanguageModel
from rnnkit.train.tbptt import TruncatedBPTT, run_window

# -- classifier ---------------------------------------------------------------------------------------

IDS = torch.tensor([[5, 6, 7, 8, 9, 10, 11], [12, 13, 14, 15, 16, 0, 0], [17, 18, 0, 0, 0, 0, 0]])
LENGTHS = torch.tensor([7, 5, 2])


def classifier(cell, pooling="max", **kw):
    torch.manual_seed(0)
    return SequenceClassifier(50, 3, embedding_size=8, hidden_size=6, num_layers=1 if cell == "cnn" else 2,
                              cell=cell, pooling=pooling, **kw).double().eval()


@pytest.mark.parametrize("cell,pooling", [("cnn", "max"), ("tcn", "last"), ("tcn", "mean"), ("tcn", "max")])
def test_padding_changes_no_prediction(cell, pooling):
    model = classifier(cell, pooling)
    logits = model(IDS, LENGTHS)
    padded = torch.cat([IDS, torch.zeros(3, 4, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model(padded, LENGTHS), logits, rtol=1e-12, atol=1e-12)
    noisy = padded.clone()  # garbage in the padded positions
    noisy[:, 7:] = 42
    noisy[1, 5:] = 17
    noisy[2, 2:] = 33
    torch.testing.assert_close(model(noisy, LENGTHS), logits, rtol=1e-12, atol=1e-12)
    for row in range(3):  # each row alone, unpadded, gives what it gives in the batch
        n = int(LENGTHS[row])
        torch.testing.assert_close(model(IDS[row : row + 1, :n], LENGTHS[row : row + 1]), logits[row : row + 1],
                                   rtol=1e-12, atol=1e-12)


def test_the_cnn_max_never_takes_a_padded_position():
    model = classifier("cnn")
    with torch.no_grad():  # two padding tokens whose windows, if read, would win every max
        model.embedding.weight[40] = 100.0
        model.embedding.weight[41] = -100.0
    logits = model(IDS, LENGTHS)
    for garbage in (40, 41):
        noisy = IDS.masked_fill(torch.arange(7) >= LENGTHS.unsqueeze(1), garbage)
        torch.testing.assert_close(model(noisy, LENGTHS), logits, rtol=1e-12, atol=1e-12)
        features = model.cnn(model.embedding(noisy), LENGTHS)
        assert features.abs().max() < 50  # a window over a garbage step would be in the hundreds


def test_tcn_last_pooling_is_the_last_valid_output():
    model = classifier("tcn", "last")
    expected = []
    for row in range(3):  # the network alone on the unpadded row: its output at the last step
        n = int(LENGTHS[row])
        expected.append(model.head(model.tcn(model.embedding(IDS[row : row + 1, :n]))[:, -1]))
    torch.testing.assert_close(model(IDS, LENGTHS), torch.cat(expected), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cell,pooling", [("cnn", "max"), ("tcn", "last"), ("tcn", "mean"), ("tcn", "max")])
def test_empty_text_gives_finite_logits(cell, pooling):
    model = classifier(cell, pooling)
    out = model(torch.zeros(2, 3, dtype=torch.long), torch.tensor([0, 2]))
    assert out.shape == (2, 3) and torch.isfinite(out).all()


def test_convolutional_cells_refuse_what_they_cannot_do():
    for cell in ("cnn", "tcn"):
        with pytest.raises(ValueError, match="a convolutional network reads .* --bidirectional applies to lstm, gru"):
            SequenceClassifier(10, 2, cell=cell, bidirectional=True)
    with pytest.raises(ValueError, match="--num-layers applies to lstm, gru, rnn, tcn"):
        SequenceClassifier(10, 2, cell="cnn", num_layers=2)
    with pytest.raises(ValueError, match="--pooling last or mean applies"):
        SequenceClassifier(10, 2, cell="cnn", pooling="mean")
    with pytest.raises(ValueError, match="use fewer --num-layers or a smaller --kernel-size"):
        SequenceClassifier(10, 2, cell="tcn", num_layers=40)
    with pytest.raises(ValueError, match="use fewer --num-layers"):
        TCNLanguageModel(10, num_layers=64)


def test_cell_sizes():
    cnn = SequenceClassifier(10, 2, embedding_size=4, hidden_size=7, cell="cnn")
    assert cnn.cnn.num_maps == 7 and cnn.head.in_features == 21  # 7 maps for each window 3, 4, 5
    tcn = SequenceClassifier(10, 2, embedding_size=4, hidden_size=7, num_layers=3, cell="tcn", kernel_size=2)
    assert tcn.tcn.num_channels == [7, 7, 7] and tcn.tcn.kernel_size == 2 and tcn.head.in_features == 7


# -- language model -----------------------------------------------------------------------------------


def tcn_lm(tie_weights=False, hidden_size=6, **kw):
    torch.manual_seed(0)
    return TCNLanguageModel(20, embedding_size=5, hidden_size=hidden_size, num_layers=2, kernel_size=3,
                            tie_weights=tie_weights, **kw).double().eval()


def test_context_is_the_receptive_field():
    model = tcn_lm()
    R = model.tcn.receptive_field
    assert R == 13 and model.context_size == 12
    tokens = torch.randint(0, 20, (2, 30), generator=torch.Generator().manual_seed(1))
    logits, state = model(tokens)
    assert state.dtype == torch.long and torch.equal(state, tokens[:, -12:])
    t = 25  # the output at t reads token t - R + 1, and no earlier one
    for source, changes in ((t - R + 1, True), (t - R, False)):
        other = tokens.clone()
        other[:, source] = (other[:, source] + 1) % 20
        assert (not torch.equal(model(other)[0][:, t], logits[:, t])) == changes
    short, state = model(tokens[:, :4])
    assert torch.equal(state, tokens[:, :4])  # fewer tokens than the context: all of them


@pytest.mark.parametrize("tie_weights,hidden_size", [(False, 6), (True, 6), (True, 5)])
def test_decoding_step_by_step_equals_the_full_forward(tie_weights, hidden_size):
    model = tcn_lm(tie_weights, hidden_size)
    assert (model.head.weight is model.embedding.weight) == tie_weights
    assert (model.projection is not None) == (tie_weights and hidden_size != 5)
    tokens = torch.randint(0, 20, (3, 40), generator=torch.Generator().manual_seed(2))  # 40 > receptive field 13
    full = torch.log_softmax(model(tokens)[0], -1)
    state = model.init_decoder_state(torch.zeros(3, 0, dtype=torch.long), torch.zeros(3, dtype=torch.long))
    assert state.shape == (3, 0)
    for t in range(40):
        log_probs, state, attention = model.decode_step(tokens[:, t], state)
        assert attention is None and state.shape == (3, min(t + 1, 12))
        torch.testing.assert_close(log_probs, full[:, t], rtol=0, atol=1e-12)


@pytest.mark.parametrize("k2,k1,random_length", [(7, 7, False), (9, 4, False), (8, 8, True), (30, 30, False)])
def test_windows_with_carried_state_equal_one_long_forward(k2, k1, random_length):
    model = tcn_lm()
    streams = torch.randint(0, 20, (3, 61), generator=torch.Generator().manual_seed(3))
    full = model(streams[:, :-1])[0]
    state, outputs = None, []
    for window in TruncatedBPTT(streams, k2, k1, random_length, seed=4).windows(0):
        logits, state = run_window(model, window, state)
        outputs.append(logits)
    torch.testing.assert_close(torch.cat(outputs, 1), full, rtol=0, atol=1e-12)


def test_reorder_state_and_bad_states():
    model = tcn_lm()
    state = torch.arange(12).view(3, 4)
    assert torch.equal(model.reorder_state(state, torch.tensor([2, 2, 0])), state[[2, 2, 0]])
    tokens = torch.zeros(3, 2, dtype=torch.long)
    for bad in (torch.zeros(3, 4), torch.zeros(2, 4, dtype=torch.long), torch.zeros(3, 13, dtype=torch.long),
                (torch.zeros(3, 4, dtype=torch.long),)):
        with pytest.raises(ValueError, match="the state of a TCN language model is its context"):
            model(tokens, bad)
    with pytest.raises(ValueError, match=r"tokens must be a \(batch, steps\) int64 tensor"):
        model(torch.zeros(3, dtype=torch.long))


@torch.no_grad()
def _log_prob(model, tokens, prefix, eos):
    """The summed log-probability a full forward gives ``tokens`` (then eos) after bos + prefix."""
    sequence = [model.bos_id, *prefix, *tokens] + ([model.eos_id] if eos else [])
    log_probs = torch.log_softmax(model(torch.tensor([sequence[:-1]]))[0][0], -1)
    scored = sequence[1 + len(prefix) :]
    return float(log_probs[torch.arange(len(prefix), len(sequence) - 1), torch.tensor(scored)].sum())


@pytest.mark.parametrize("config", [DecodeConfig(max_new_tokens=20),
                                    DecodeConfig(num_beams=3, num_return_sequences=2, max_new_tokens=20,
                                                 length_penalty=0.0),
                                    DecodeConfig(do_sample=True, num_return_sequences=2, max_new_tokens=20, seed=0)])
@torch.no_grad()
def test_generation_scores_what_the_full_forward_scores(config):
    model = tcn_lm(bos_id=1, eos_id=2)
    prefix = [4, 5, 6]
    src = torch.zeros(2, 0, dtype=torch.long)
    hyps = generate(model, src, torch.zeros(2, dtype=torch.long), config, prefix=torch.tensor([prefix, prefix]))
    assert len(hyps) == 2 and all(len(row) == config.num_return_sequences for row in hyps)
    for hyp in (h for row in hyps for h in row):
        eos = len(hyp.tokens) < 20
        assert hyp.log_prob == pytest.approx(_log_prob(model, hyp.tokens, prefix, eos), abs=1e-9)
    if config.strategy == "greedy":  # greedy by brute force: the argmax of a full forward, step by step
        sequence = [1, *prefix]
        for _ in range(20):
            token = int(model(torch.tensor([sequence]))[0][0, -1].argmax())
            if token == 2:
                break
            sequence.append(token)
        assert hyps[0][0].tokens == hyps[1][0].tokens == sequence[4:]


def test_the_factory_picks_the_network():
    tcn = language_model_from_config(LanguageModelConfig(cell="tcn", embedding_size=4, hidden_size=6, num_layers=3,
                                                         kernel_size=2, tie_weights=True), 11)
    assert isinstance(tcn, TCNLanguageModel) and tcn.tcn.receptive_field == 1 + 2 * 1 * 7
    assert tcn.head.weight is tcn.embedding.weight and tcn.head.out_features == 11
    rnn = language_model_from_config(LanguageModelConfig(cell="gru", embedding_size=4, hidden_size=6), 11)
    assert isinstance(rnn, RNNLanguageModel) and rnn.cell == "gru"
    with pytest.raises(ValueError, match="tcn cell's"):
        TCNLanguageModel.from_config(LanguageModelConfig(cell="lstm"), 11)
