"""The classifier pools over valid steps only: more padding never changes a prediction."""

import itertools

import pytest
import torch

from rnnkit.models import SequenceClassifier


@pytest.mark.parametrize("cell,pooling,bidirectional",
                         list(itertools.product(["lstm", "gru", "rnn"], ["last", "mean", "max"], [False, True])))
def test_more_padding_changes_no_prediction(cell, pooling, bidirectional):
    torch.manual_seed(0)
    model = SequenceClassifier(50, 3, embedding_size=8, hidden_size=12, num_layers=2, cell=cell,
                               bidirectional=bidirectional, pooling=pooling).eval()
    ids = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0], [11, 0, 0, 0]])
    lengths = torch.tensor([4, 2, 1])
    logits = model(ids, lengths)
    padded = torch.cat([ids, torch.zeros(3, 5, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model(padded, lengths), logits)
    # garbage in the padded positions changes nothing either
    noisy = padded.clone()
    noisy[:, 4:] = 42
    noisy[1, 2:] = 17
    torch.testing.assert_close(model(noisy, lengths), logits)
    # and a sequence alone gives what it gives in the batch
    torch.testing.assert_close(model(ids[1:2, :2], lengths[1:2]), logits[1:2])


def test_empty_text_gives_finite_logits():
    model = SequenceClassifier(10, 2, embedding_size=4, hidden_size=6, pooling="max").eval()
    out = model(torch.zeros(2, 3, dtype=torch.long), torch.tensor([0, 2]))
    assert torch.isfinite(out).all()


def test_bad_options():
    with pytest.raises(ValueError, match="pooling must be one of"):
        SequenceClassifier(10, 2, pooling="attention")
    with pytest.raises(ValueError, match="cell must be one of"):
        SequenceClassifier(10, 2, cell="transformer")


def test_the_cnn_cell_drops_out_only_the_pooled_features():
    # Kim (2014) and the guide: dropout before the output layer; the embeddings reach the
    # convolutions whole (half of them were zeroed with dropout 0.5)
    torch.manual_seed(0)
    model = SequenceClassifier(30, 2, 8, 4, 1, "cnn", dropout=0.5, pooling="max").train()
    ids = torch.randint(1, 30, (3, 6))
    seen = []
    model.cnn.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    model(ids, torch.tensor([6, 4, 2]))
    torch.testing.assert_close(seen[0], model.embedding(ids))


@pytest.mark.parametrize("cell, pooling", [("lstm", "last"), ("gru", "mean"), ("rnn", "max"), ("cnn", "max"),
                                           ("tcn", "last"), ("tcn", "mean")])
def test_lengths_may_be_a_list(cell, pooling):
    torch.manual_seed(0)
    model = SequenceClassifier(30, 3, 8, 6, 1, cell, pooling=pooling).eval()
    ids = torch.randint(1, 30, (2, 5))
    torch.testing.assert_close(model(ids, [5, 3]), model(ids, torch.tensor([5, 3])))

