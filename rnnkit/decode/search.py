"""Greedy search and sampling over the decoding protocol.

Strategies see a model only through:

* ``model.pad_id``, ``model.bos_id``, ``model.eos_id``;
* ``state = model.init_decoder_state(src, src_lengths)``: ``src`` (B, S) ids, ``src_lengths`` (B,);
* ``log_probs, state, attn = model.decode_step(tokens, state)``: ``tokens`` (N,), ``log_probs``
  (N, V) normalised, ``attn`` (N, S) or ``None``;
* ``state = model.reorder_state(state, index)``.

A language model implements it with an empty source (``src`` of shape (B, 0)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class Hypothesis:
    """One decoded sequence: ``tokens`` (without bos, prefix or eos), ``score`` (what it was ranked
    by), ``log_prob`` (sum of the model's log-probabilities of its tokens, eos included when
    produced), ``attention`` (one row per output step, the eos step included when eos was
    produced: (len(tokens) + 1, S), else (len(tokens), S); ``None`` without attention)."""

    tokens: list[int]
    score: float
    log_prob: float
    attention: torch.Tensor | None = None


def _check(max_len: int, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0):
    if max_len < 1:
        raise ValueError(f"max_len must be at least 1; got {max_len}")
    if not (math.isfinite(temperature) and temperature > 0):  # NaN too
        raise ValueError(f"temperature must be a positive number; got {temperature} (use greedy_search for argmax)")
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0 (0 = off); got {top_k}")
    if not 0 < top_p <= 1:  # NaN too
        raise ValueError(f"top_p must lie in (0, 1]; got {top_p}")


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """Sets to -inf every logit outside the top ``top_k`` and outside the nucleus of probability
    ``top_p`` (the smallest set of most likely tokens whose probability reaches ``top_p``). Shape (N, V)."""
    if top_k and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        drop = cumulative - sorted_logits.softmax(-1) >= top_p  # mass before this token already reaches top_p
        drop[..., 0] = False  # the most likely token always stays (a top_p below float32's range rounds to 0)
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


@torch.no_grad()
def _decode(model, src, src_lengths, max_len, choose, prefix=None):
    """One token per step for every source; a source that emits eos leaves the batch (its rows
    are dropped from the model's state), so finished sources cost nothing."""
    B = src.shape[0]
    state = model.init_decoder_state(src, src_lengths)
    tokens = torch.full((B,), model.bos_id, dtype=torch.long, device=src.device)
    if prefix is not None:  # forced tokens (a prompt): read, not scored
        for j in range(prefix.shape[1]):
            _, state, _ = model.decode_step(tokens, state)
            tokens = prefix[:, j].to(src.device)
    out: list[list[int]] = [[] for _ in range(B)]
    attns: list[list[torch.Tensor]] = [[] for _ in range(B)]
    log_prob = torch.zeros(B, dtype=torch.float64)
    alive = torch.arange(B)  # the sources still decoding, in the order of the state's rows
    for _ in range(max_len):
        log_probs, state, attn = model.decode_step(tokens, state)
        tokens = choose(log_probs)
        log_prob[alive] += log_probs.gather(1, tokens.unsqueeze(1)).squeeze(1).cpu().double()  # MPS has no float64
        chosen = tokens.cpu()
        ended = chosen == model.eos_id
        attn_cpu = None if attn is None else attn.float().cpu()
        for a, (b, token) in enumerate(zip(alive.tolist(), chosen.tolist())):
            if token != model.eos_id:
                out[b].append(token)
            if attn_cpu is not None:
                attns[b].append(attn_cpu[a])
        if bool(ended.all()):
            break
        if bool(ended.any()):
            keep = (~ended).nonzero().squeeze(1)
            alive, tokens = alive[keep], tokens[keep.to(tokens.device)]
            state = model.reorder_state(state, keep.to(src.device))
    return [Hypothesis(out[b], float(log_prob[b]), float(log_prob[b]),
                       torch.stack(attns[b]) if attns[b] else None) for b in range(B)]


MIN_TEMPERATURE = 1e-6  # below this, sampling is greedy search


def greedy_search(model, src, src_lengths, max_len: int, prefix=None) -> list[Hypothesis]:
    """The most likely token at every step. Returns one :class:`Hypothesis` per source."""
    _check(max_len)
    return _decode(model, src, src_lengths, max_len, lambda lp: lp.argmax(-1), prefix)


def sample(model, src, src_lengths, max_len: int, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
           generator: torch.Generator | None = None, prefix=None) -> list[Hypothesis]:
    """Draws each token from the model's distribution, sharpened by ``temperature`` and cut to the
    ``top_k`` most likely tokens and to the ``top_p`` nucleus (Hugging Face's ``generate``
    keywords). ``log_prob`` is under the unmodified model."""
    _check(max_len, temperature, top_k, top_p)

    def choose(log_probs):
        if temperature < MIN_TEMPERATURE:  # the limit of sampling as T -> 0 (dividing would overflow)
            return log_probs.argmax(-1)
        probs = filter_logits(log_probs / temperature, top_k, top_p).softmax(-1)
        return torch.multinomial(probs.float().cpu(), 1, generator=generator).squeeze(1).to(log_probs.device)

    return _decode(model, src, src_lengths, max_len, choose, prefix)
