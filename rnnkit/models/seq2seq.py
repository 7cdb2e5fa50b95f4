"""Encoder-decoder with attention (Luong, with or without input feeding) or without attention (the
encoder's final state alone starts the decoder), implementing the decoding protocol used by
:mod:`rnnkit.decode`.

    encoder:  embedding -> rnnkit layers (optionally bidirectional) over the padded source
    bridge:   the encoder's final state of each layer (both directions) -> the decoder's initial state
    decoder:  per step, input [embedding of the previous token; previous attentional state]
              -> rnnkit layers -> h_t;  context c_t = attention(h_t, encoder outputs, source mask);
              attentional state ~h_t = tanh(W [h_t; c_t]);  p(y_t) = softmax(V ~h_t)

Input feeding (the bracketed previous attentional state) makes teacher-forced training a loop of
single steps. Without it the decoder reads the whole target in one layer call and attention is
one batched product over all steps, about 1.4x faster to train on a CPU (the en-es recipe; less
with short targets); decoding is the
same step either way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn

import rnnkit.nn as rnn

from ..config import Seq2SeqConfig, Seq2SeqModelConfig
from ..nn._step_matmul import StepMatmul
from ._common import log_softmax, recurrent_layer

ATTENTION = ("dot", "general", "additive", "none")


# A recurrent layer's state: (L, B, H), or an (h, c) pair of them for the LSTM.
State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


class DecoderState(NamedTuple):
    """What :class:`Seq2Seq` carries between decoding steps; N decoding rows read G sources.

    dec_state: the decoder's recurrent state, (L, N, H) or an (h, c) pair of them.
    memory, mask, projected: the encoder outputs (G, S, H), the source mask (G, S) and the
        attention's projected keys (``None`` without attention), kept once per source.
    feed: the previous attentional state (N, H) with input feeding, else ``None``.
    sources: (N,) the memory row each decoding row reads.
    generator: the output layer used for this decoding run (see ``_decoding_generator``).
    """

    dec_state: State
    memory: torch.Tensor
    mask: torch.Tensor
    feed: torch.Tensor | None
    projected: torch.Tensor | None
    sources: torch.Tensor
    generator: Callable[[torch.Tensor], torch.Tensor]


class Seq2Seq(nn.Module):
    """Args:
        src_vocab_size, tgt_vocab_size: vocabulary sizes.
        embedding_size, hidden_size, num_layers, cell, dropout: both recurrent stacks.
        bidirectional: a bidirectional encoder; as in OpenNMT each direction has ``hidden_size / 2``
            units, so the encoder's outputs and states are ``hidden_size`` wide either way.
        attention: ``"dot"``, ``"general"``, ``"additive"`` or ``"none"``.
        input_feeding: feed the previous attentional state to the decoder (Luong); attention only.
        pad_id, bos_id, eos_id: special ids of the target vocabulary (the source shares pad).

    Shape:
        ``forward(src (B, S), src_lengths (B,), tgt_in (B, T)) -> logits (B, T, V)`` with teacher
        forcing; ``tgt_in`` starts with bos.
    """

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, embedding_size: int = 128, hidden_size: int = 256,
                 num_layers: int = 1, cell: str = "lstm", bidirectional: bool = True, attention: str = "general",
                 dropout: float = 0.0, pad_id: int = 0, bos_id: int = 2, eos_id: int = 3, input_feeding: bool = True):
        super().__init__()
        layer = recurrent_layer(cell)
        if attention not in ATTENTION:
            raise ValueError(f"attention must be one of {', '.join(ATTENTION)}; got {attention!r}")
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.cell, self.hidden_size, self.num_layers = cell, hidden_size, num_layers
        D = 2 if bidirectional else 1
        if hidden_size % D:
            raise ValueError(f"a bidirectional encoder needs an even hidden_size; got {hidden_size}")
        self.directions = D
        self.src_embedding = nn.Embedding(src_vocab_size, embedding_size, padding_idx=pad_id)
        self.tgt_embedding = nn.Embedding(tgt_vocab_size, embedding_size, padding_idx=pad_id)
        self.dropout = nn.Dropout(dropout)
        inner = dropout if num_layers > 1 else 0.0
        self.encoder = layer(embedding_size, hidden_size // D, num_layers, batch_first=True, dropout=inner,
                                    bidirectional=bidirectional)
        parts = 2 if cell == "lstm" else 1
        self.bridge = nn.ModuleList(nn.Linear(hidden_size, hidden_size) for _ in range(parts)) if D > 1 else None
        self.attention = None if attention == "none" else rnn.Attention(attention, hidden_size, hidden_size)
        self.input_feeding = input_feeding and self.attention is not None
        feed = hidden_size if self.input_feeding else 0
        self.decoder = layer(embedding_size + feed, hidden_size, num_layers, batch_first=True, dropout=inner)
        self.combine = nn.Linear(2 * hidden_size, hidden_size) if self.attention is not None else None
        self.generator = nn.Linear(hidden_size, tgt_vocab_size)

    @classmethod
    def from_config(cls, model_cfg: Seq2SeqModelConfig, s2s: Seq2SeqConfig, src_vocab_size: int,
                    tgt_vocab_size: int, pad_id: int = 0, bos_id: int = 2, eos_id: int = 3) -> Seq2Seq:
        """The model ``model_cfg`` (the networks) and ``s2s`` (attention, input feeding) describe;
        the special ids are the target vocabulary's."""
        return cls(src_vocab_size, tgt_vocab_size, model_cfg.embedding_size, model_cfg.hidden_size,
                   model_cfg.num_layers, model_cfg.cell, model_cfg.bidirectional, s2s.attention, model_cfg.dropout,
                   pad_id, bos_id, eos_id, s2s.input_feeding)

    # -- encoder --------------------------------------------------------------------------------

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, State]:
        """Returns ``(memory (B, S, H), mask (B, S), initial decoder state)``."""
        memory, final = self.encoder(self.dropout(self.src_embedding(src)), lengths=src_lengths)
        mask = torch.arange(src.shape[1], device=src.device).unsqueeze(0) < src_lengths.to(src.device).unsqueeze(1)
        parts = final if isinstance(final, tuple) else (final,)
        if self.bridge is not None:  # (L*2, B, H/2) -> (L, B, H): both directions' final states, bridged
            L, B, half = self.num_layers, src.shape[0], self.hidden_size // 2
            parts = tuple(torch.tanh(lin(p.view(L, 2, B, half).permute(0, 2, 1, 3).reshape(L, B, 2 * half)))
                          for lin, p in zip(self.bridge, parts))
        state = parts if self.cell == "lstm" else parts[0]
        return memory, mask, state

    # -- one decoder step, shared by training and decoding ----------------------------------------

    def _step(self, tokens, dec_state, memory, mask, feed, projected=None, sources=None):
        """tokens (B,) -> (output (B, H) before the generator, dec_state, feed, attention (B, S) or None).
        ``projected``: the attention's :meth:`~rnnkit.nn.Attention.project_keys` of ``memory``;
        ``sources``: which row of ``memory`` each of the B rows reads (``None``: row b reads row b)."""
        x = self.dropout(self.tgt_embedding(tokens))
        if self.input_feeding:
            x = torch.cat([x, feed], dim=1)
        out, dec_state = self.decoder(x.unsqueeze(1), dec_state)
        h = out[:, 0]
        if self.attention is None:
            return h, dec_state, None, None
        context, weights = self._attend(h, memory, mask, projected, sources)
        attentional = torch.tanh(self.combine(torch.cat([h, context], dim=-1)))
        return attentional, dec_state, attentional if self.input_feeding else None, weights

    def _attend(self, h, memory, mask, projected, sources):
        """Attention of rows ``h`` (N, H) over ``memory`` (G, S, H), row n reading ``sources[n]``.
        Beam search keeps each source's rows together, so the N rows usually form G equal
        consecutive groups: then they attend as (G, N/G) queries and the memory is never copied
        per row; any other arrangement gathers the memory rows."""
        N, G = h.shape[0], memory.shape[0]
        if sources is None or (N == G and torch.equal(sources, torch.arange(G))):
            return self.attention(h, memory, mask, projected)
        if N % G == 0 and torch.equal(sources, torch.arange(G).repeat_interleave(N // G)):
            context, weights = self.attention(h.view(G, N // G, -1), memory, mask, projected)
            return context.reshape(N, -1), weights.reshape(N, -1)
        rows = sources.to(memory.device)
        return self.attention(h, memory.index_select(0, rows), mask.index_select(0, rows),
                              projected.index_select(0, rows))

    def _initial_feed(self, memory):
        return memory.new_zeros(memory.shape[0], self.hidden_size) if self.input_feeding else None

    def decoder_outputs(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: the outputs (B, T, H) that the generator turns into logits."""
        memory, mask, dec_state = self.encode(src, src_lengths)
        if not self.input_feeding:  # the whole target in one call, attention over all steps at once
            out, _ = self.decoder(self.dropout(self.tgt_embedding(tgt_in)), dec_state)
            if self.attention is None:
                return out
            context, _ = self.attention(out, memory, mask)
            return torch.tanh(self.combine(torch.cat([out, context], dim=-1)))
        feed, outs, projected = self._initial_feed(memory), [], self.attention.project_keys(memory)
        for t in range(tgt_in.shape[1]):
            out, dec_state, feed, _ = self._step(tgt_in[:, t], dec_state, memory, mask, feed, projected)
            outs.append(out)
        return torch.stack(outs, dim=1)

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        return self.generator(self.dropout(self.decoder_outputs(src, src_lengths, tgt_in)))

    def loss(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor, tgt_out: torch.Tensor,
             label_smoothing: float = 0.0) -> tuple[torch.Tensor, int]:
        """Mean cross-entropy over real target tokens (padding ignored); also returns their count.
        The generator, the largest product, runs on the real tokens only."""
        real = tgt_out != self.pad_id
        out = self.dropout(self.decoder_outputs(src, src_lengths, tgt_in)[real])  # (N, H)
        # generator + cross-entropy fused chunk by chunk: 1.9x faster than the two modules on
        # this CPU at 2,000 tokens x 10,000 words (see rnnkit/nn/_linear_cross_entropy.py)
        loss = rnn.linear_cross_entropy(out, self.generator.weight, self.generator.bias, tgt_out[real],
                                        label_smoothing)
        return loss, out.shape[0]

    # -- decoding protocol ------------------------------------------------------------------------

    def init_decoder_state(self, src: torch.Tensor, src_lengths: torch.Tensor) -> DecoderState:
        """A :class:`DecoderState` for the B sources, one decoding row each."""
        memory, mask, dec_state = self.encode(src, src_lengths)
        projected = None if self.attention is None else self.attention.project_keys(memory)
        return DecoderState(dec_state, memory, mask, self._initial_feed(memory), projected,
                            torch.arange(src.shape[0]), self._decoding_generator(src.shape[0]))

    def _decoding_generator(self, rows: int):
        """The generator for a decoding run: its weight packed once for oneDNN (the largest product
        of each step, 1.6-2x faster packed) when no gradient is wanted and the model is on the CPU,
        else the module itself (oneDNN's packed product is a CPU kernel; a GPU runs the module)."""
        weight, bias = self.generator.weight, self.generator.bias
        if (torch.is_grad_enabled() and weight.requires_grad) or weight.device.type != "cpu":
            return self.generator
        product = StepMatmul(weight.detach(), rows, None if bias is None else bias.detach())
        return product if product.uses_onednn else self.generator

    def decode_step(self, tokens: torch.Tensor,
                    state: DecoderState) -> tuple[torch.Tensor, DecoderState, torch.Tensor | None]:
        out, dec_state, feed, weights = self._step(tokens, state.dec_state, state.memory, state.mask, state.feed,
                                                   state.projected, state.sources)
        log_probs = log_softmax(state.generator(out), inplace=True)
        return log_probs, state._replace(dec_state=dec_state, feed=feed), weights

    def reorder_state(self, state: DecoderState, index: torch.Tensor) -> DecoderState:
        dec_state = tuple(s.index_select(1, index) for s in state.dec_state) if isinstance(state.dec_state, tuple) \
            else state.dec_state.index_select(1, index)
        feed = None if state.feed is None else state.feed.index_select(0, index)
        memory, mask, projected = state.memory, state.mask, state.projected
        # The memory (source x hidden per source) is not copied per row: rows point into it. Only
        # when some source is no longer read (a finished one) is it compacted to the rows in use.
        sources = state.sources[index.cpu()]
        used = torch.unique(sources)
        if used.numel() < memory.shape[0]:
            keep = used.to(memory.device)
            memory, mask = memory.index_select(0, keep), mask.index_select(0, keep)
            projected = None if projected is None else projected.index_select(0, keep)
            sources = torch.searchsorted(used, sources)
        return state._replace(dec_state=dec_state, memory=memory, mask=mask, feed=feed, projected=projected,
                              sources=sources)
