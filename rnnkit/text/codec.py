"""A text codec: a tokenizer and its vocabulary, text <-> token ids.

    >>> codec = TextCodec.fit(["a fine film", "a dull film"], level="word")
    >>> codec.encode("a fine film")
    [4, 7, 5]
    >>> codec.decode([4, 7, 5])
    'a fine film'

Every task holds one (a translation model two, in a :class:`CodecPair`), and a checkpoint stores
what :meth:`TextCodec.to_dict` returns. "Codec", not "encoder": a sequence-to-sequence model's
``encoder`` is a network, and the two must never be confused.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .tokenize import STATE_KEYS, make_tokenizer, restore_tokenizer, tokenizer_state
from .vocab import Vocab


class TextCodec:
    """A tokenizer (``char``, ``word`` or ``bpe``) and a :class:`Vocab` built on its tokens.

    Args:
        tokenizer: has ``tokenize(text) -> list[str]``, ``detokenize(tokens) -> str`` and ``name``
            (see :mod:`rnnkit.text.tokenize`).
        vocab: the vocabulary of the tokenizer's tokens.
    """

    def __init__(self, tokenizer, vocab: Vocab):
        self.tokenizer, self.vocab = tokenizer, vocab

    @classmethod
    def fit(cls, texts: Iterable[str], level: str, lowercase: bool = False, min_freq: int = 1,
            max_size: int | None = None, bpe_vocab_size: int = 2000,
            bpe_corpus: Sequence[str] | None = None) -> TextCodec:
        """A codec learnt from ``texts``: the tokenizer of ``level`` (BPE trained on ``bpe_corpus``,
        ``texts`` by default), then a vocabulary of the tokens of ``texts`` seen ``min_freq`` times
        or more, at most ``max_size`` entries (see :meth:`Vocab.build`)."""
        texts = list(texts)
        tokenizer = make_tokenizer(level, lowercase, corpus=texts if bpe_corpus is None else bpe_corpus,
                                   vocab_size=bpe_vocab_size)
        vocab = Vocab.build((tokenizer.tokenize(t) for t in texts), min_freq=min_freq, max_size=max_size)
        return cls(tokenizer, vocab)

    @property
    def level(self) -> str:
        """``"char"``, ``"word"`` or ``"bpe"``."""
        return self.tokenizer.name

    def __len__(self) -> int:
        return len(self.vocab)

    def tokenize(self, text: str) -> list[str]:
        return self.tokenizer.tokenize(text)

    def encode(self, text: str) -> list[int]:
        """The ids of ``text``'s tokens; tokens outside the vocabulary become ``<unk>``."""
        return self.vocab.encode(self.tokenizer.tokenize(text))

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids`` (special tokens skipped)."""
        return self.tokenizer.detokenize(self.vocab.decode(ids))

    def decode_tokens(self, ids: Iterable[int]) -> list[str]:
        """The tokens of ``ids`` (special tokens skipped), e.g. to label an attention plot."""
        return self.vocab.decode(ids)

    def normalize(self, text: str) -> str:
        """``text`` as this codec writes it (tokenized, lowercased where the tokenizer lowercases,
        detokenized), with no token replaced by ``<unk>``: the form a reference is compared in."""
        return self.tokenizer.detokenize(self.tokenizer.tokenize(text))

    def to_dict(self, prefix: str = "") -> dict:
        """What a checkpoint stores: ``{prefix + "vocab": ...}``, and ``prefix + "bpe"`` for a BPE
        tokenizer (the other tokenizers are rebuilt from their level alone)."""
        return {f"{prefix}vocab": self.vocab.to_dict(),
                **{prefix + k: v for k, v in tokenizer_state(self.tokenizer).items()}}

    @classmethod
    def from_dict(cls, data: dict, level: str, lowercase: bool = False, prefix: str = "") -> TextCodec:
        """The codec :meth:`to_dict` described; ``level`` and ``lowercase`` come from the task's
        config, which the checkpoint stores beside it."""
        state = {k[len(prefix):]: v for k, v in data.items() if k in {prefix + key for key in STATE_KEYS}}
        return cls(restore_tokenizer(level, lowercase, state), Vocab.from_dict(data[f"{prefix}vocab"]))


class CodecPair:
    """The two codecs of a translation model: ``src`` for the sources, ``tgt`` for the targets.

    Each side has its own vocabulary; the tokenizers are of the same level. Stored as
    ``src_vocab`` and ``tgt_vocab``.
    """

    def __init__(self, src: TextCodec, tgt: TextCodec):
        self.src, self.tgt = src, tgt

    @classmethod
    def fit(cls, pairs: Sequence[tuple[str, str]], level: str, lowercase: bool = False, min_freq: int = 1,
            max_size: int | None = None) -> CodecPair:
        """Codecs of both sides of ``(source, target)`` pairs (see :meth:`TextCodec.fit`)."""
        src, tgt = (TextCodec.fit((p[k] for p in pairs), level, lowercase, min_freq, max_size) for k in (0, 1))
        return cls(src, tgt)

    def to_dict(self) -> dict:
        return {**self.src.to_dict("src_"), **self.tgt.to_dict("tgt_")}

    @classmethod
    def from_dict(cls, data: dict, level: str, lowercase: bool = False) -> CodecPair:
        return cls(*(TextCodec.from_dict(data, level, lowercase, side) for side in ("src_", "tgt_")))
