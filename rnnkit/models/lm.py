"""Recurrent language model: embedding -> rnnkit recurrent layers -> output head.

It returns its state instead of hiding it on the module, so truncated BPTT can carry and detach
it (:mod:`rnnkit.train.tbptt`), and it implements the decoding protocol, with an empty source,
so generation shares :mod:`rnnkit.decode` with sequence-to-sequence models.
:func:`language_model_from_config` builds it, or the convolutional :class:`TCNLanguageModel` that
shares its interface, from a config.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import LanguageModelConfig
from ._common import log_softmax, output_head, recurrent_layer
from .tcn_lm import TCNLanguageModel

# The recurrent layer's state: (L, B, H), or an (h, c) pair of them for the LSTM.
State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


class RNNLanguageModel(nn.Module):
    """Predicts each next token of a stream.

    Args:
        vocab_size: tokens in the vocabulary (V).
        embedding_size, hidden_size, num_layers, cell, dropout: the network.
        tie_weights: share the embedding and output matrices (Press & Wolf 2017); then the last
            layer's output is projected to ``embedding_size`` first when the sizes differ.
        pad_id, bos_id, eos_id: special token ids, for the decoding protocol.

    Shape:
        ``forward(tokens (B, T), state=None) -> (logits (B, T, V), state)``; the state is the
        recurrent layer's (``(L, B, H)``, or an ``(h, c)`` pair for the LSTM).
    """

    def __init__(self, vocab_size: int, embedding_size: int = 128, hidden_size: int = 512, num_layers: int = 2,
                 cell: str = "lstm", dropout: float = 0.0, tie_weights: bool = False, pad_id: int = 0,
                 bos_id: int = 2, eos_id: int = 3):
        super().__init__()
        layer = recurrent_layer(cell)
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.cell = cell
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.dropout = nn.Dropout(dropout)
        self.recurrent = layer(embedding_size, hidden_size, num_layers=num_layers, batch_first=True,
                                      dropout=dropout if num_layers > 1 else 0.0)
        self.projection, self.head = output_head(self.embedding, hidden_size, vocab_size, tie_weights)

    @classmethod
    def from_config(cls, cfg: LanguageModelConfig, vocab_size: int) -> RNNLanguageModel:
        """The language model ``cfg`` describes, over ``vocab_size`` tokens."""
        return cls(vocab_size, cfg.embedding_size, cfg.hidden_size, cfg.num_layers, cfg.cell, cfg.dropout,
                   cfg.tie_weights)

    def forward(self, tokens: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        output, state = self.recurrent(self.dropout(self.embedding(tokens)), state)
        # under mixed precision the state comes back in bfloat16: it is carried in the weights' dtype
        dtype = self.head.weight.dtype
        state = tuple(s.to(dtype) for s in state) if isinstance(state, tuple) else state.to(dtype)
        output = self.dropout(output)
        if self.projection is not None:
            output = self.projection(output)
        return self.head(output), state

    # -- decoding protocol (see rnnkit.decode) ------------------------------------------------

    def init_decoder_state(self, src: torch.Tensor, src_lengths: torch.Tensor) -> State:
        """A language model has no source: ``src`` is (B, 0); the state starts at zeros."""
        return self._zeros(src.shape[0], src.device)

    def _zeros(self, batch: int, device) -> State:
        p = self.recurrent.weight_hh_l0
        h = torch.zeros(self.recurrent.num_layers, batch, self.recurrent.hidden_size, device=device, dtype=p.dtype)
        return (h, h.clone()) if self.cell == "lstm" else h

    def decode_step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State, None]:
        """``tokens`` (N,) -> ``(log_probs (N, V), state, None)``."""
        logits, state = self(tokens.unsqueeze(1), state)
        return log_softmax(logits[:, -1]), state, None

    def reorder_state(self, state: State, index: torch.Tensor) -> State:
        """Keeps or duplicates rows of the state (the batch is dim 1)."""
        if isinstance(state, tuple):
            return tuple(s.index_select(1, index) for s in state)
        return state.index_select(1, index)



def language_model_from_config(cfg: LanguageModelConfig, vocab_size: int) -> RNNLanguageModel | TCNLanguageModel:
    """The language model ``cfg`` describes, over ``vocab_size`` tokens: a :class:`TCNLanguageModel`
    for the ``tcn`` cell, else an :class:`RNNLanguageModel`."""
    if cfg.cell == "tcn":
        return TCNLanguageModel.from_config(cfg, vocab_size)
    return RNNLanguageModel.from_config(cfg, vocab_size)
