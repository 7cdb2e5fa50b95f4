"""A vocabulary: tokens <-> ids, with special tokens at fixed ids (``<pad>`` = 0)."""

from __future__ import annotations

import json
import os
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS)
# Above this share of <unk> among the tokens a model is given, its figures or outputs say little
# about the model: the text is most likely not of the kind (language, casing, tokenization) it learnt.
UNKNOWN_WARNING = 0.2


class Vocab:
    """Ids 0..3 are ``<pad>``, ``<unk>``, ``<bos>``, ``<eos>``; then tokens by falling frequency.

    Build with :meth:`build`; unknown tokens encode to ``<unk>``.
    """

    def __init__(self, tokens: Sequence[str]):
        tokens = list(tokens)
        if not all(isinstance(t, str) for t in tokens):
            raise ValueError("a vocabulary holds strings only")
        if tokens[: len(SPECIALS)] != list(SPECIALS):
            raise ValueError(f"a vocabulary must start with the special tokens {list(SPECIALS)}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("a vocabulary cannot hold the same token twice")
        self.itos = tokens
        self.stoi = {t: i for i, t in enumerate(tokens)}

    pad_id, unk_id, bos_id, eos_id = 0, 1, 2, 3

    @classmethod
    def build(cls, sequences: Iterable[Iterable[str]] | Counter, min_freq: int = 1,
              max_size: int | None = None) -> Vocab:
        """From token sequences (or a ``Counter``): tokens seen ``min_freq`` times or more, most
        frequent first (ties alphabetical, so the result is deterministic), at most ``max_size``
        entries in all, specials included."""
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1; got {min_freq}")
        if max_size is not None and max_size < len(SPECIALS):
            raise ValueError(f"max_size must be at least {len(SPECIALS)} (the special tokens); got {max_size}")
        counts = sequences if isinstance(sequences, Counter) else Counter(t for seq in sequences for t in seq)
        ranked = sorted((t for t, c in counts.items() if c >= min_freq and t not in SPECIALS),
                        key=lambda t: (-counts[t], t))
        if max_size is not None:
            ranked = ranked[: max_size - len(SPECIALS)]
        return cls([*SPECIALS, *ranked])

    def __len__(self) -> int:
        return len(self.itos)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __getitem__(self, token: str) -> int:
        return self.stoi.get(token, self.unk_id)

    def encode(self, tokens: Iterable[str], add_bos: bool = False, add_eos: bool = False) -> list[int]:
        ids = [self.stoi.get(t, self.unk_id) for t in tokens]
        return ([self.bos_id] if add_bos else []) + ids + ([self.eos_id] if add_eos else [])

    def decode(self, ids: Iterable[int], skip_special: bool = True) -> list[str]:
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.itos):
                raise ValueError(f"id {i} is outside this vocabulary of {len(self.itos)} tokens")
            if skip_special and i < len(SPECIALS):
                continue
            out.append(self.itos[i])
        return out

    def to_dict(self) -> dict:
        return {"tokens": self.itos}

    @classmethod
    def from_dict(cls, data: dict) -> Vocab:
        return cls(data["tokens"])

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def caller_stacklevel() -> int:
    """The ``stacklevel`` of a warning raised by the function calling this one that points at the
    first caller outside rnnkit and torch: a fixed number would point into ``torch.no_grad``'s
    wrapper, or into rnnkit, depending on the path taken."""
    import sys

    import torch

    packages = (Path(__file__).resolve().parents[1], Path(torch.__file__).resolve().parent)
    inside = tuple(str(p) + os.sep for p in packages)  # the separator: not a sibling "rnnkit_user/"
    frame, level = sys._getframe(1), 1
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(inside):
        frame, level = frame.f_back, level + 1
    return level


def warn_if_mostly_unknown(sequences: Iterable, vocab: Vocab, what: str, threshold: float = UNKNOWN_WARNING,
                           stacklevel: int | None = None) -> float:
    """Warns (one line) when more than ``threshold`` of the ids in ``sequences`` (lists of ids or
    1-D tensors) are ``<unk>``; returns that share. ``what`` names the tokens ("evaluated", "source")."""
    total = unknown = 0
    for seq in sequences:
        if hasattr(seq, "numel"):  # a tensor: counted without a Python loop
            total, unknown = total + int(seq.numel()), unknown + int((seq == vocab.unk_id).sum())
        else:
            seq = list(seq)
            total, unknown = total + len(seq), unknown + seq.count(vocab.unk_id)
    share = unknown / total if total else 0.0
    if share > threshold:
        warnings.warn(f"{share:.0%} of the {total} {what} tokens are {UNK} (not in the model's vocabulary): "
                      "is this text of the kind the model was trained on?",
                      stacklevel=caller_stacklevel() if stacklevel is None else stacklevel)
    return share
