"""Language-model metrics from the mean cross-entropy in nats per token."""

from __future__ import annotations

import math


def perplexity(nats_per_token: float) -> float:
    return math.exp(min(nats_per_token, 700.0))


def bits_per_char(nats_per_token: float, chars_per_token: float = 1.0) -> float:
    """Bits per character: nats per token / ln 2 / characters per token."""
    return nats_per_token / math.log(2) / chars_per_token
