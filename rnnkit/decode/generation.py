"""The one entry point of decoding: a :class:`DecodeConfig` picks the strategy.

    >>> hyps = generate(model, src, src_lengths, DecodeConfig(num_beams=5, num_return_sequences=2))
    >>> hyps[0][0].tokens                                    # the best output of the first source

The strategies themselves (:func:`greedy_search`, :func:`sample`, :func:`beam_search`) stay public
for callers that want one directly.
"""

from __future__ import annotations

import torch

from .beam import beam_search
from .config import DEFAULT_MAX_NEW_TOKENS, DecodeConfig
from .protocol import Decodable
from .search import Hypothesis, greedy_search, sample


def sampling_generator(config: DecodeConfig) -> torch.Generator | None:
    """The random-number generator sampling under ``config`` draws from: a CPU one seeded with
    ``config.seed``; ``None`` (torch's global one) without a seed or without sampling."""
    if config.strategy != "sample" or config.seed is None:
        return None
    return torch.Generator().manual_seed(config.seed)


def generate(model: Decodable, src: torch.Tensor, src_lengths: torch.Tensor, config: DecodeConfig,
             prefix: torch.Tensor | None = None, generator: torch.Generator | None = None) -> list[list[Hypothesis]]:
    """Decodes every source with the strategy ``config`` names.

    Args:
        model: implements the decoding protocol (:class:`rnnkit.decode.protocol.Decodable`).
        src, src_lengths: (B, S) source ids and (B,) lengths; a language model's source is empty, (B, 0).
        config: the strategy and its options.
        prefix: (B, P) forced tokens read before decoding (a language model's prompt), not scored.
        generator: what sampling draws from; ``None``: :func:`sampling_generator` of ``config`` (give
            one to go on drawing across calls, e.g. batch after batch).

    Returns:
        For each source, ``config.num_return_sequences`` :class:`Hypothesis`: the best of the beam,
        best first, or independent samples (greedy search gives one).
    """
    max_len = config.max_new_tokens or DEFAULT_MAX_NEW_TOKENS
    if config.strategy == "beam":
        return beam_search(model, src, src_lengths, beam_size=config.num_beams, max_len=max_len,
                           min_len=config.min_new_tokens, length_penalty=config.length_penalty,
                           n_best=config.num_return_sequences, no_repeat_ngram_size=config.no_repeat_ngram_size,
                           penalty=config.length_penalty_kind, prefix=prefix, early_stopping=config.early_stopping)
    if config.strategy == "greedy":
        return [[h] for h in greedy_search(model, src, src_lengths, max_len, prefix=prefix)]
    n, B = config.num_return_sequences, src.shape[0]
    if n > 1:  # the samples of one source are rows next to each other in one batch
        src, src_lengths = src.repeat_interleave(n, 0), src_lengths.repeat_interleave(n, 0)
        prefix = None if prefix is None else prefix.repeat_interleave(n, 0)
    generator = generator if generator is not None else sampling_generator(config)
    hyps = sample(model, src, src_lengths, max_len, config.temperature, config.top_k, config.top_p, generator,
                  prefix=prefix)
    return [hyps[b * n : (b + 1) * n] for b in range(B)]
