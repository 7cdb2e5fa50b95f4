"""Decoding over the decoding protocol (see :mod:`rnnkit.decode.protocol`): options in one
:class:`DecodeConfig`, one entry point :func:`generate`, and the strategies it picks from."""

from .beam import beam_search
from .config import DecodeConfig
from .generation import generate, sampling_generator
from .search import Hypothesis, filter_logits, greedy_search, sample

__all__ = ["DecodeConfig", "generate", "sampling_generator", "Hypothesis", "greedy_search", "sample", "beam_search",
           "filter_logits"]
