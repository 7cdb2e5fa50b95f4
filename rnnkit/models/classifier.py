"""Sequence classifier: embedding -> a recurrent or convolutional network -> pooling over valid steps -> linear.

The network is the config's ``cell``:

* ``lstm``, ``gru``, ``rnn``: rnnkit's recurrent layers, then ``pooling`` over the valid steps;
* ``tcn``: a temporal convolutional network (Bai et al. 2018), then ``pooling`` over the valid steps;
* ``cnn``: Kim's (2014) text CNN: one convolution per window width (3, 4, 5), ReLU, the max over the
  valid positions of each feature map, dropout before the output layer.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import ClassifierModelConfig
from ..nn import TextCNN
from ._common import recurrent_layer, temporal_conv_net

CONVOLUTIONAL = ("cnn", "tcn")
POOLINGS = ("last", "mean", "max")


class SequenceClassifier(nn.Module):
    """Classifies padded token-id sequences; padding never changes a prediction.

    Args:
        vocab_size, num_classes: sizes of the input vocabulary and the label set.
        embedding_size, num_layers, cell, bidirectional, dropout: the network; ``cell`` is ``"lstm"``,
            ``"gru"``, ``"rnn"``, ``"tcn"`` or ``"cnn"``; ``bidirectional`` is for the recurrent cells only;
            the ``cnn`` has one layer.
        hidden_size: the size of each recurrent state; for ``tcn`` the channels of each block; for ``cnn``
            the feature maps of each window width.
        pooling: ``"last"`` (the last valid step: each direction's last valid state for a recurrent
            cell), ``"mean"`` or ``"max"`` over valid steps only; the ``cnn`` takes ``"max"`` (Kim's
            max over time).
        pad_id: id of the padding token.
        kernel_size: convolution width of the ``tcn`` cell.

    Shape:
        ids (B, T) int64, lengths (B,) -> logits (B, num_classes).
    """

    def __init__(self, vocab_size: int, num_classes: int, embedding_size: int = 128, hidden_size: int = 256,
                 num_layers: int = 1, cell: str = "lstm", bidirectional: bool = False, dropout: float = 0.0,
                 pooling: str = "max", pad_id: int = 0, kernel_size: int = 3):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of 'last', 'mean', 'max'; got {pooling!r}")
        if cell in CONVOLUTIONAL:
            _check_convolutional(cell, bidirectional, num_layers, pooling)
        else:
            layer = recurrent_layer(cell)
        self.cell, self.pooling, self.bidirectional = cell, pooling, bidirectional
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=pad_id)
        self.dropout = nn.Dropout(dropout)
        if cell == "cnn":
            self.cnn = TextCNN(embedding_size, hidden_size)
            features = self.cnn.output_size
        elif cell == "tcn":
            self.tcn = temporal_conv_net(embedding_size, hidden_size, num_layers, kernel_size, dropout)
            features = hidden_size
        else:
            self.recurrent = layer(embedding_size, hidden_size, num_layers=num_layers, batch_first=True,
                                   dropout=dropout if num_layers > 1 else 0.0, bidirectional=bidirectional)
            features = hidden_size * (2 if bidirectional else 1)
        self.head = nn.Linear(features, num_classes)

    @classmethod
    def from_config(cls, cfg: ClassifierModelConfig, vocab_size: int, num_classes: int,
                    pad_id: int = 0) -> SequenceClassifier:
        """The classifier ``cfg`` describes, for ``vocab_size`` token ids and ``num_classes`` labels."""
        return cls(vocab_size, num_classes, cfg.embedding_size, cfg.hidden_size, cfg.num_layers, cfg.cell,
                   cfg.bidirectional, cfg.dropout, cfg.pooling, pad_id, cfg.kernel_size)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor | list[int]) -> torch.Tensor:
        if not isinstance(lengths, torch.Tensor):  # a list, as the recurrent layers take
            lengths = torch.as_tensor(lengths, dtype=torch.long)
        if self.cell == "cnn":  # Kim: dropout on the pooled features alone, before the output layer
            return self.head(self.dropout(self.cnn(self.embedding(ids), lengths)))
        x = self.dropout(self.embedding(ids))
        if self.cell == "tcn":  # its blocks drop out after each convolution already
            output = self.tcn(x, lengths)  # (B, T, H), zero at padding
            if self.pooling == "last":
                return self.head(last_valid_step(output, lengths))
            return self.head(pool_valid_steps(output, lengths, self.pooling))
        output, state = self.recurrent(x, lengths=lengths)  # output (B, T, D*H), zero at padding
        if self.pooling == "last":
            h = state[0] if isinstance(state, tuple) else state  # (L*D, B, H): last valid states
            pooled = torch.cat([h[-2], h[-1]], dim=1) if self.bidirectional else h[-1]
        else:
            pooled = pool_valid_steps(output, lengths, self.pooling)
        return self.head(self.dropout(pooled))


def _check_convolutional(cell: str, bidirectional: bool, num_layers: int, pooling: str) -> None:
    if bidirectional:
        raise ValueError(f"a convolutional network reads the whole text at once, so the {cell} cell has no "
                         "direction; --bidirectional applies to lstm, gru, rnn")
    if cell == "cnn" and num_layers != 1:
        raise ValueError(f"the cnn cell is one layer of convolutions (Kim 2014); got num_layers={num_layers}; "
                         "--num-layers applies to lstm, gru, rnn, tcn")
    if cell == "cnn" and pooling != "max":
        raise ValueError(f"the cnn cell takes the max over time of each feature map (Kim 2014); got "
                         f"pooling={pooling!r}; --pooling last or mean applies to lstm, gru, rnn, tcn")


def pool_valid_steps(output: torch.Tensor, lengths: torch.Tensor, pooling: str) -> torch.Tensor:
    """The mean or max of ``output`` (B, T, H), zero at padded steps, over each row's valid steps:
    (B, H); an empty row (length 0) gives zeros."""
    lengths = lengths.to(output.device)
    if pooling == "mean":
        return output.sum(1) / lengths.clamp(min=1).unsqueeze(1).to(output.dtype)
    valid = (torch.arange(output.shape[1], device=output.device).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(2)
    pooled = output.masked_fill(~valid, float("-inf")).amax(1)
    return torch.where(torch.isinf(pooled), torch.zeros_like(pooled), pooled)  # empty texts


def last_valid_step(output: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``output[b, lengths[b] - 1]`` for each row of ``output`` (B, T, H): (B, H); zeros for an empty row."""
    lengths = lengths.to(output.device)
    rows = torch.arange(output.shape[0], device=output.device)
    last = output[rows, (lengths - 1).clamp(min=0)]
    return last * (lengths > 0).unsqueeze(1).to(output.dtype)
