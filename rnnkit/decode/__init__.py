"""Decoding strategies over the decoding protocol (see :mod:`rnnkit.decode.search`)."""

from .beam import beam_search
from .search import Hypothesis, filter_logits, greedy_search, sample

__all__ = ["Hypothesis", "greedy_search", "sample", "beam_search", "filter_logits"]
