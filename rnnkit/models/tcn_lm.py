"""Convolutional language model: embedding -> temporal convolutional network -> output head.

A causal TCN's output at step t reads the inputs of steps ``t - R + 1 .. t`` only (R: its receptive
field), so the last ``R - 1`` tokens are all a model needs to go on from where it stopped. That
context is its state: ``forward`` runs the network over context + new tokens and returns the
logits of the new tokens, so truncated BPTT (:mod:`rnnkit.train.tbptt`) and step-by-step decoding
(:mod:`rnnkit.decode`) carry it exactly as they carry a recurrent state, and a stream read in
windows gives the outputs of one long forward.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import LanguageModelConfig
from ._common import log_softmax, output_head, temporal_conv_net


class TCNLanguageModel(nn.Module):
    """Predicts each next token of a stream with a temporal convolutional network (Bai et al. 2018).

    Args:
        vocab_size: tokens in the vocabulary (V).
        embedding_size, dropout: the embedding and the dropout on it, in the blocks and before the head.
        hidden_size, num_layers, kernel_size: channels of each residual block, the blocks (block i
            dilated by 2**i), the width of every convolution.
        tie_weights: share the embedding and output matrices (Press & Wolf 2017); then the network's
            output is projected to ``embedding_size`` first when the sizes differ.
        pad_id, bos_id, eos_id: special token ids, for the decoding protocol.

    Attributes:
        context_size: tokens of context the state keeps, ``receptive_field - 1``.

    Shape:
        ``forward(tokens (B, T), state=None) -> (logits (B, T, V), state)``; the state is the context,
        the last ``min(context_size, tokens seen)`` tokens, (B, C) int64 (None or (B, 0) at the start).
        One decoding step runs the network over ``context_size + 1`` positions.
    """

    def __init__(self, vocab_size: int, embedding_size: int = 128, hidden_size: int = 256, num_layers: int = 4,
                 kernel_size: int = 3, dropout: float = 0.0, tie_weights: bool = False, pad_id: int = 0,
                 bos_id: int = 2, eos_id: int = 3):
        super().__init__()
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.dropout = nn.Dropout(dropout)
        self.tcn = temporal_conv_net(embedding_size, hidden_size, num_layers, kernel_size, dropout)
        self.context_size = self.tcn.receptive_field - 1
        self.projection, self.head = output_head(self.embedding, hidden_size, vocab_size, tie_weights)

    @classmethod
    def from_config(cls, cfg: LanguageModelConfig, vocab_size: int) -> TCNLanguageModel:
        """The language model ``cfg`` describes (its ``cell`` is ``"tcn"``), over ``vocab_size`` tokens."""
        if cfg.cell != "tcn":
            raise ValueError(f"TCNLanguageModel is the tcn cell's; got cell={cfg.cell!r}")
        return cls(vocab_size, cfg.embedding_size, cfg.hidden_size, cfg.num_layers, cfg.kernel_size, cfg.dropout,
                   cfg.tie_weights)

    def forward(self, tokens: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        context = self._context(tokens, state)
        stream = torch.cat([context, tokens], dim=1)
        # The context only feeds the convolutions: its outputs were returned by the call that read it.
        output = self.tcn(self.dropout(self.embedding(stream)))[:, context.shape[1] :]
        output = self.dropout(output)
        if self.projection is not None:
            output = self.projection(output)
        return self.head(output), stream[:, max(0, stream.shape[1] - self.context_size) :]

    def _context(self, tokens: torch.Tensor, state: torch.Tensor | None) -> torch.Tensor:
        if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2 or tokens.dtype != torch.long:
            raise ValueError("tokens must be a (batch, steps) int64 tensor; got "
                             + (f"{tokens.dtype} of shape {tuple(tokens.shape)}" if isinstance(tokens, torch.Tensor)
                                else type(tokens).__name__))
        if state is None:
            return tokens.new_zeros(tokens.shape[0], 0)
        if (not isinstance(state, torch.Tensor) or state.dtype != torch.long or state.dim() != 2
                or state.shape[0] != tokens.shape[0] or state.shape[1] > self.context_size):
            got = f"{state.dtype} of shape {tuple(state.shape)}" if isinstance(state, torch.Tensor) \
                else type(state).__name__
            raise ValueError(f"the state of a TCN language model is its context, a ({tokens.shape[0]}, <= "
                             f"{self.context_size}) int64 tensor of the last tokens read; got {got}")
        return state.to(tokens.device)

    # -- decoding protocol (see rnnkit.decode) ------------------------------------------------

    def init_decoder_state(self, src: torch.Tensor, src_lengths: torch.Tensor) -> torch.Tensor:
        """A language model has no source: ``src`` is (B, 0); the context starts empty, (B, 0)."""
        return torch.zeros(src.shape[0], 0, dtype=torch.long, device=src.device)

    def decode_step(self, tokens: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
        """``tokens`` (N,) -> ``(log_probs (N, V), state, None)``."""
        logits, state = self(tokens.unsqueeze(1), state)
        return log_softmax(logits[:, -1]), state, None

    def reorder_state(self, state: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Keeps or duplicates rows of the context (the batch is dim 0)."""
        return state.index_select(0, index)
