"""One options object for decoding, after Hugging Face's ``GenerationConfig``.

    >>> DecodeConfig(num_beams=5).strategy
    'beam'
    >>> DecodeConfig(do_sample=True, temperature=0.8, top_p=0.9, seed=0).strategy
    'sample'

The options are declared and checked here once; :func:`rnnkit.decode.generate` picks the strategy
from them, and the tasks (``Translator.translate``, ``LanguageModel.generate``) and the CLI build
one instead of passing the options along one by one. Keyword names are Hugging Face's where it has
the option; ``length_penalty_kind`` and ``seed`` are ours.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

STRATEGIES = ("greedy", "sample", "beam")
PENALTY_KINDS = ("power", "gnmt")
DEFAULT_MAX_NEW_TOKENS = 100  # where neither the config nor the model sets a limit


@dataclass(frozen=True)
class DecodeConfig:
    """How to decode: the strategy and its options. Checked when built (``ValueError``).

    The strategy follows Hugging Face's rule: beam search when ``num_beams > 1``, else sampling when
    ``do_sample``, else greedy search.

    Lengths count output tokens after the prompt (a language model's) or from the start (a
    translation), the eos included.

    Attributes:
        num_beams: beam width (1 = no beam search).
        do_sample: draw each token instead of taking the most likely one (needs ``num_beams=1``).
        max_new_tokens: most output tokens; ``None``: the model's own limit where it has one (a
            translator's ``max_tgt_len + 1``), else :data:`DEFAULT_MAX_NEW_TOKENS`.
        min_new_tokens: fewest output tokens before the eos, which is not counted (1 forbids an
            empty output, as in Hugging Face); beam search only.
        num_return_sequences: outputs per source: the best of the beam (at most ``num_beams``), or
            independent samples; greedy search gives one.
        length_penalty: alpha of the beam's length normalisation (0 = raw log-probability).
        length_penalty_kind: ``"power"`` (``length ** alpha``) or ``"gnmt"`` (``((5 + length) / 6) ** alpha``).
        no_repeat_ngram_size: a beam hypothesis never repeats an n-gram of this size (0 = off; beam only).
        early_stopping: when a beam stops: ``True``, ``False`` or ``"never"`` (see :func:`beam_search`).
        temperature: sampling temperature, > 0 (below 1 sharper, above 1 flatter); unused, and
            0 allowed, without sampling.
        top_k: sample among the ``top_k`` most likely tokens only (0 = all).
        top_p: sample within the smallest set of tokens holding this probability, in (0, 1].
        seed: seed of the sampling's own random-number generator; ``None`` draws from torch's global one.
    """

    num_beams: int = 1
    do_sample: bool = False
    max_new_tokens: int | None = None
    min_new_tokens: int = 0
    num_return_sequences: int = 1
    length_penalty: float = 1.0
    length_penalty_kind: str = "power"
    no_repeat_ngram_size: int = 0
    early_stopping: bool | str = False
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int | None = None

    def __post_init__(self) -> None:
        self.validate()

    @property
    def strategy(self) -> str:
        """``"beam"``, ``"sample"`` or ``"greedy"``."""
        return "beam" if self.num_beams > 1 else "sample" if self.do_sample else "greedy"

    def validate(self) -> None:
        """Raises ``ValueError`` naming the first option of the wrong type, out of its range or in
        conflict with another."""
        for name in ("num_beams", "max_new_tokens", "min_new_tokens", "num_return_sequences", "no_repeat_ngram_size",
                     "top_k", "seed"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
                raise ValueError(f"{name} must be an integer; got {value!r}")
        for name in ("length_penalty", "temperature", "top_p"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ValueError(f"{name} must be a number; got {value!r}")
        if not isinstance(self.do_sample, bool):
            raise ValueError(f"do_sample must be True or False; got {self.do_sample!r}")
        if self.num_beams < 1:
            raise ValueError(f"num_beams must be at least 1; got {self.num_beams}")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1; got {self.max_new_tokens}")
        if self.min_new_tokens < 0 or (self.max_new_tokens is not None and self.min_new_tokens > self.max_new_tokens):
            raise ValueError(f"need 0 <= min_new_tokens <= max_new_tokens; got min_new_tokens={self.min_new_tokens}, "
                             f"max_new_tokens={self.max_new_tokens}")
        if self.num_return_sequences < 1:
            raise ValueError(f"num_return_sequences must be at least 1; got {self.num_return_sequences}")
        if self.num_return_sequences > self.num_beams and self.strategy != "sample":
            raise ValueError(f"num_return_sequences must lie in [1, num_beams={self.num_beams}] without sampling "
                             f"(a beam keeps at most num_beams outputs, greedy search one); "
                             f"got {self.num_return_sequences}")
        if self.do_sample and self.num_beams > 1:
            raise ValueError(f"sampling within a beam is not supported: give do_sample=True or num_beams > 1, "
                             f"not both (num_beams={self.num_beams})")
        if self.strategy != "beam" and (self.min_new_tokens or self.no_repeat_ngram_size):
            raise ValueError("min_new_tokens and no_repeat_ngram_size apply to beam search only (num_beams > 1)")
        if not math.isfinite(self.length_penalty):
            raise ValueError(f"length_penalty must be a finite number; got {self.length_penalty}")
        if self.length_penalty_kind not in PENALTY_KINDS:
            raise ValueError(f"length_penalty_kind must be 'power' or 'gnmt'; got {self.length_penalty_kind!r}")
        if self.no_repeat_ngram_size < 0:
            raise ValueError(f"no_repeat_ngram_size must be >= 0 (0 = off); got {self.no_repeat_ngram_size}")
        if self.early_stopping not in (True, False, "never"):
            raise ValueError(f"early_stopping must be True, False or 'never'; got {self.early_stopping!r}")
        # the same rules as the strategy functions' own checks (decode/search.py)
        if not (math.isfinite(self.temperature) and self.temperature >= 0):
            raise ValueError(f"temperature must be a positive number; got {self.temperature}")
        if self.strategy == "sample" and self.temperature == 0:
            raise ValueError("temperature must be positive when sampling; got 0 (do_sample=False takes the argmax)")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0 = off); got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must lie in (0, 1]; got {self.top_p}")
        if self.seed is not None and not 0 <= self.seed < 2**63:
            raise ValueError(f"seed must lie in [0, 2**63) or be None; got {self.seed}")
