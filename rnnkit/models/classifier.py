"""Sequence classifier: embedding -> rnnkit recurrent layers -> pooling over valid steps -> linear."""

from __future__ import annotations

import torch
from torch import nn

from ..config import ClassifierModelConfig
from ._common import recurrent_layer


class SequenceClassifier(nn.Module):
    """Classifies padded token-id sequences; padding never changes a prediction.

    Args:
        vocab_size, num_classes: sizes of the input vocabulary and the label set.
        embedding_size, hidden_size, num_layers, cell, bidirectional, dropout: the network.
        pooling: ``"last"`` (each direction's last valid state), ``"mean"`` or ``"max"`` over
            valid steps only.
        pad_id: id of the padding token.

    Shape:
        ids (B, T) int64, lengths (B,) -> logits (B, num_classes).
    """

    def __init__(self, vocab_size: int, num_classes: int, embedding_size: int = 128, hidden_size: int = 256,
                 num_layers: int = 1, cell: str = "lstm", bidirectional: bool = False, dropout: float = 0.0,
                 pooling: str = "max", pad_id: int = 0):
        super().__init__()
        if pooling not in ("last", "mean", "max"):
            raise ValueError(f"pooling must be one of 'last', 'mean', 'max'; got {pooling!r}")
        layer = recurrent_layer(cell)
        self.pooling, self.bidirectional = pooling, bidirectional
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=pad_id)
        self.dropout = nn.Dropout(dropout)
        self.recurrent = layer(embedding_size, hidden_size, num_layers=num_layers, batch_first=True,
                                      dropout=dropout if num_layers > 1 else 0.0, bidirectional=bidirectional)
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)

    @classmethod
    def from_config(cls, cfg: ClassifierModelConfig, vocab_size: int, num_classes: int,
                    pad_id: int = 0) -> SequenceClassifier:
        """The classifier ``cfg`` describes, for ``vocab_size`` token ids and ``num_classes`` labels."""
        return cls(vocab_size, num_classes, cfg.embedding_size, cfg.hidden_size, cfg.num_layers, cfg.cell,
                   cfg.bidirectional, cfg.dropout, cfg.pooling, pad_id)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = self.dropout(self.embedding(ids))
        output, state = self.recurrent(x, lengths=lengths)  # output (B, T, D*H), zero at padding
        if self.pooling == "last":
            h = state[0] if isinstance(state, tuple) else state  # (L*D, B, H): last valid states
            pooled = torch.cat([h[-2], h[-1]], dim=1) if self.bidirectional else h[-1]
        else:
            valid = (torch.arange(ids.shape[1], device=ids.device).unsqueeze(0) <
                     lengths.to(ids.device).unsqueeze(1)).unsqueeze(2)
            if self.pooling == "mean":
                pooled = output.sum(1) / lengths.to(output.device).clamp(min=1).unsqueeze(1).to(output.dtype)
            else:
                pooled = output.masked_fill(~valid, float("-inf")).amax(1)
                pooled = torch.where(torch.isinf(pooled), torch.zeros_like(pooled), pooled)  # empty texts
        return self.head(self.dropout(pooled))
