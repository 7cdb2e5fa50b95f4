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
