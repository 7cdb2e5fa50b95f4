"""Attention over a source memory: Luong dot and general, Bahdanau additive.

    score(q, k) = q . k                      dot      (query and key sizes equal)
    score(q, k) = q . (W k)                  general
    score(q, k) = v . tanh(W1 k + W2 q)      additive
    weights = softmax over valid source positions;  context = sum_s weights_s k_s

A source mask gives padded positions exactly zero weight (their score is -inf before the softmax);
a source with no valid position gets all-zero weights and a zero context rather than NaN. What the
padded keys hold never reaches the context or a gradient (NaN there would, as 0 * NaN): they are
zeroed first, unless the caller passes ``projected`` (a decoder's fast path, whose encoder already
gives zeros at padding).
"""

from __future__ import annotations

import torch
from torch import nn

from ._checks import check_choice

KINDS = ("dot", "general", "additive")


class Attention(nn.Module):
    """Args:
        kind: ``"dot"``, ``"general"`` or ``"additive"``.
        query_size: features of the query (the decoder state), Hq.
        key_size: features of each memory position (the encoder output), Hk; defaults to Hq.
        hidden_size: size of the additive score's hidden layer (additive only); defaults to Hq.

    Shape:
        query (B, Hq) or (B, T, Hq); keys (B, S, Hk); mask (B, S) bool, True at real positions.
        Returns ``(context (B, Hk) or (B, T, Hk), weights (B, S) or (B, T, S))``.
    """

    def __init__(self, kind: str, query_size: int, key_size: int | None = None, hidden_size: int | None = None):
        super().__init__()
        check_choice("kind", kind, KINDS)
        key_size = query_size if key_size is None else key_size
        if kind == "dot" and key_size != query_size:
            raise ValueError(f"dot attention needs equal query and key sizes; got {query_size} and {key_size} "
                             "(use kind='general')")
        self.kind, self.query_size, self.key_size = kind, query_size, key_size
        if kind == "general":
            self.W = nn.Linear(key_size, query_size, bias=False)
        elif kind == "additive":
            hidden_size = hidden_size or query_size
            self.W_key = nn.Linear(key_size, hidden_size, bias=False)
            self.W_query = nn.Linear(query_size, hidden_size, bias=True)
            self.v = nn.Linear(hidden_size, 1, bias=False)

    def extra_repr(self) -> str:
        return f"{self.kind!r}, query_size={self.query_size}, key_size={self.key_size}"

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """The part of the score that depends on the keys alone: ``W k`` (general), ``W1 k``
        (additive) or ``k`` (dot). A decoder computes it once per source, not at every step."""
        if self.kind == "general":
            return self.W(keys)
        if self.kind == "additive":
            return self.W_key(keys)
        return keys

    def scores(self, query: torch.Tensor, projected: torch.Tensor) -> torch.Tensor:
        """Unnormalised scores (B, T, S) for queries (B, T, Hq) and :meth:`project_keys` output."""
        if self.kind != "additive":
            return query @ projected.transpose(1, 2)
        mixed = projected.unsqueeze(1) + self.W_query(query).unsqueeze(2)  # (B, T, S, A)
        return self.v(torch.tanh(mixed)).squeeze(-1)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor | None = None,
                projected: torch.Tensor | None = None):
        """``projected``: ``project_keys(keys)`` when the caller has it already (its keys must then
        be finite at padded positions: only zero weights keep them out)."""
        if keys.dim() != 3 or keys.shape[-1] != self.key_size:
            raise ValueError(f"keys must have shape (batch, source, {self.key_size}); got {tuple(keys.shape)}")
        single = query.dim() == 2
        q = query.unsqueeze(1) if single else query
        if q.dim() != 3 or q.shape[-1] != self.query_size or q.shape[0] != keys.shape[0]:
            raise ValueError(f"query must have shape ({keys.shape[0]}, {self.query_size}) or "
                             f"({keys.shape[0]}, T, {self.query_size}); got {tuple(query.shape)}")
        if mask is not None and mask.shape != keys.shape[:2]:
            raise ValueError(f"mask must have shape {tuple(keys.shape[:2])}; got {tuple(mask.shape)}")
        if mask is not None and projected is None:
            keys = keys.masked_fill(~mask.unsqueeze(2), 0.0)
        scores = self.scores(q, self.project_keys(keys) if projected is None else projected)
        if mask is not None:
            scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        if mask is not None:
            weights = torch.nan_to_num(weights, nan=0.0)  # a source with no valid position
        context = weights @ keys
        return (context.squeeze(1), weights.squeeze(1)) if single else (context, weights)
