"""Tokenizers: characters, words, and byte-level BPE (through the ``tokenizers`` library).

Each has ``tokenize(text) -> list[str]`` and ``detokenize(tokens) -> str``. Characters and BPE are
lossless (``detokenize(tokenize(s)) == s``); words are not (spacing is normalised), which is
the price of a readable vocabulary.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Iterable


@functools.cache
def _word_pattern() -> re.Pattern:
    """A word is a run of letters/digits and combining marks (any script), with inner apostrophes
    or hyphens kept ("don't", "well-known"); every other non-space character is a token of its own.

    The marks must be named: ``re``'s ``\\w`` leaves out the vowel signs and viramas of Devanagari
    or Tamil and the accents of decomposed (NFD) Latin, which would split "नमस्ते" or "café" into
    pieces. Built on first use (a scan of the code points, ~0.2 s), from this Python's own tables."""
    ranges, start = [], None
    for point in range(sys.maxunicode + 2):
        mark = point <= sys.maxunicode and unicodedata.category(chr(point)).startswith("M")
        if mark and start is None:
            start = point
        elif not mark and start is not None:
            ranges.append(re.escape(chr(start)) + ("-" + re.escape(chr(point - 1)) if point - 1 > start else ""))
            start = None
    letter = rf"[\w{''.join(ranges)}]"
    return re.compile(rf"{letter}+(?:['’-]{letter}+)*|[^\w\s]")


# The words of rnnkit 0.1.0 and of checkpoints written before marks were kept: a vocabulary built
# from these pieces must be read with them again, or its words with marks would become <unk>.
_WORD_WITHOUT_MARKS = re.compile(r"\w+(?:['’-]\w+)*|[^\w\s]")
_NO_SPACE_BEFORE = set(".,;:!?%)]}»”’'")
_NO_SPACE_AFTER = set("([{«“¿¡")


class CharTokenizer:
    """One token per Unicode character. Lossless."""

    name = "char"

    def tokenize(self, text: str) -> list[str]:
        return list(text)

    def detokenize(self, tokens: Iterable[str]) -> str:
        return "".join(tokens)


class WordTokenizer:
    """Unicode words and punctuation marks; optional lowercasing.

    ``detokenize`` rejoins with single spaces, none before closing punctuation or after opening
    punctuation, so ``"Hello, world!"`` round-trips; runs of whitespace do not.
    """

    name = "word"

    def __init__(self, lowercase: bool = False, marks: bool = True):
        self.lowercase = lowercase
        self.marks = marks  # False: the words of checkpoints written before marks were kept

    def tokenize(self, text: str) -> list[str]:
        pattern = _word_pattern() if self.marks else _WORD_WITHOUT_MARKS
        return pattern.findall(text.lower() if self.lowercase else text)

    def detokenize(self, tokens: Iterable[str]) -> str:
        out: list[str] = []
        for tok in tokens:
            if out and tok not in _NO_SPACE_BEFORE and out[-1] not in _NO_SPACE_AFTER:
                out.append(" ")
            out.append(tok)
        return "".join(out)

    def join(self, left: str, right: str) -> str:
        """``left + right`` with the space :meth:`detokenize` would put between the last token of
        ``left`` and the first of ``right`` (e.g. a prompt and the words generated after it), unless
        either side already has whitespace there."""
        if not left or not right or left[-1].isspace() or right[0].isspace():
            return left + right
        space = right[0] not in _NO_SPACE_BEFORE and left[-1] not in _NO_SPACE_AFTER
        return left + (" " if space else "") + right


class BPETokenizer:
    """Byte-level BPE trained on a corpus with Hugging Face ``tokenizers``. Lossless.

    Tokens are byte-level strings (a leading space shows as ``Ġ``); ``detokenize`` decodes them
    back to the exact text.
    """

    name = "bpe"

    def __init__(self, backend):
        self._tok = backend

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 2000, min_frequency: int = 2) -> BPETokenizer:
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        if vocab_size < 260:
            raise ValueError(f"vocab_size must be at least 260 (256 bytes and a few merges); got {vocab_size}")
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size, min_frequency=min_frequency,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
        )
        tok.train_from_iterator(texts, trainer)
        return cls(tok)

    def tokenize(self, text: str) -> list[str]:
        return self._tok.encode(text).tokens

    def detokenize(self, tokens: Iterable[str]) -> str:
        return self._tok.decoder.decode(list(tokens))

    def to_json(self) -> str:
        return self._tok.to_str()

    @classmethod
    def from_json(cls, text: str) -> BPETokenizer:
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_str(text))


def make_tokenizer(level: str, lowercase: bool = False, corpus: Iterable[str] | None = None, vocab_size: int = 2000):
    """``"char"``, ``"word"`` or ``"bpe"`` (trained on ``corpus``)."""
    if level == "char":
        return CharTokenizer()
    if level == "word":
        return WordTokenizer(lowercase=lowercase)
    if level == "bpe":
        if corpus is None:
            raise ValueError("a BPE tokenizer needs a corpus to train on")
        return BPETokenizer.train(corpus, vocab_size=vocab_size)
    raise ValueError(f"level must be one of 'char', 'word', 'bpe'; got {level!r}")


def tokenizer_state(tokenizer) -> dict:
    """What a checkpoint must store to rebuild ``tokenizer``: BPE's learnt merges; for words, that
    combining marks stay inside them (a checkpoint without it was written before they did)."""
    if isinstance(tokenizer, BPETokenizer):
        return {"bpe": tokenizer.to_json()}
    return {"word_marks": tokenizer.marks} if isinstance(tokenizer, WordTokenizer) else {}


STATE_KEYS = ("bpe", "word_marks")  # the keys tokenizer_state may write


def restore_tokenizer(level: str, lowercase: bool, state: dict):
    """The tokenizer a checkpoint describes: ``level``/``lowercase`` and :func:`tokenizer_state`."""
    if level == "bpe":
        return BPETokenizer.from_json(state["bpe"])
    if level == "word":
        return WordTokenizer(lowercase, marks=state.get("word_marks") is True)
    return make_tokenizer(level, lowercase)
