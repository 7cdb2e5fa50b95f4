"""The decoding protocol: all a decoding strategy knows of a model.

Greedy search, sampling and beam search (:mod:`rnnkit.decode`) never touch a model's layers; they
call these three methods and read three ids, so any model that implements them decodes with every
strategy. A language model implements it with an empty source (``src`` of shape (B, 0)).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch


@runtime_checkable
class Decodable(Protocol):
    """A model that decodes step by step.

    The state is the model's own business (a tensor, a tuple, a NamedTuple): strategies only hand
    it back and reorder its rows.
    """

    pad_id: int
    bos_id: int  # the first input token of every output
    eos_id: int  # ends an output

    def init_decoder_state(self, src: torch.Tensor, src_lengths: torch.Tensor) -> Any:
        """The state before the first output token, for sources ``src`` (B, S) of ``src_lengths`` (B,)."""
        ...

    def decode_step(self, tokens: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any, torch.Tensor | None]:
        """One step for N rows: ``tokens`` (N,) -> ``(log_probs (N, V), state, attention (N, S) or None)``;
        the log-probabilities are normalised."""
        ...

    def reorder_state(self, state: Any, index: torch.Tensor) -> Any:
        """The state of rows ``index`` (M,), in that order (rows may repeat: beam search copies
        the rows of the hypotheses it keeps)."""
        ...
