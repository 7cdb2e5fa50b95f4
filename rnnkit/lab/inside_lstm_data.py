"""The inside-the-lstm experiment's inputs: the training and held-out text (Shakespeare's, or a
UTF-8 file's), as ids of a vocabulary, and an optional character-level LSTM/GRU checkpoint of
``rnnkit train lm``; :func:`prepare` checks them all (fields, checkpoint, text) before any training,
each problem a one-line ValueError or CheckpointError that names the fix. Apart from
:mod:`rnnkit.lab.inside_lstm`, which trains and reads the models, because reading and checking the
inputs is one concept and looking inside the cells another.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..text import CharTokenizer, Vocab
from ..train.checkpoint import CheckpointError, load_checkpoint
from . import data

if TYPE_CHECKING:  # annotations only: the experiment module imports this one
    from .inside_lstm import Config


@dataclass
class TextData:
    """``train`` ids (N,), ``held`` ids (M,) and ``held_text`` (M characters, one per id), ``vocab``."""

    source: str
    vocab: Vocab
    train: torch.Tensor
    held: torch.Tensor
    held_text: str


def _needs(cfg: Config) -> tuple[int, int]:
    """The fewest training and held-out characters ``cfg`` can work with."""
    return cfg.batch_size * (cfg.window + 1), cfg.streams * cfg.window + 1


def read_text(cfg: Config) -> tuple[str, str]:
    """``(training text, held-out text)`` of ``cfg``: Shakespeare's, or ``cfg.text``'s (its last 10 %,
    at least what ``cfg`` needs, at most ``analysis_chars + 1``, held out; the rest trains). A
    ValueError (one line) for a missing, unreadable, empty or too short file."""
    train_need, held_need = _needs(cfg)
    if cfg.text is None:
        texts = data.shakespeare()
        train = texts["train"] if cfg.train_chars is None else texts["train"][: cfg.train_chars]
        if len(train) < train_need or cfg.analysis_chars + 1 < held_need:
            raise ValueError(f"train_chars must be >= {train_need:,} (batch_size x (window + 1)) and analysis_chars "
                             f">= {held_need - 1:,} (streams x window); got {cfg.train_chars} and {cfg.analysis_chars}")
        return train, texts["validation"][: cfg.analysis_chars + 1]
    path = Path(cfg.text)
    if not path.is_file():
        raise ValueError(f"--text {path}: no such file; give a UTF-8 text file to train and analyse on")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"--text {path} is not UTF-8 text ({err.reason} at byte {err.start}); give a UTF-8 "
                         "file") from None
    except OSError as err:
        raise ValueError(f"--text {path} cannot be read ({err.strerror}); give a readable UTF-8 file") from None
    if not text.strip():
        raise ValueError(f"--text {path} is empty (or only whitespace); give a text to train and analyse on")
    held_len = min(cfg.analysis_chars + 1, max(held_need, len(text) // 10))
    if len(text) - held_len < train_need:
        raise ValueError(f"--text {path} has {len(text):,} characters; these settings need at least "
                         f"{train_need + held_need:,} ({train_need:,} to train on: batch_size x (window + 1), and "
                         f"{held_need:,} held out: streams x window + 1); give a longer text")
    rest = text[: len(text) - held_len]
    return rest if cfg.train_chars is None else rest[: cfg.train_chars], text[len(text) - held_len:]


def load_data(cfg: Config, vocab: Vocab | None = None) -> TextData:
    """:func:`read_text` as ids of ``vocab`` (a checkpoint's), or of the training text's characters."""
    train_text, held_text = read_text(cfg)
    if vocab is None:
        # Shakespeare: the vocabulary of its whole training split, so no held-out character is unknown
        # merely because the training slice is short (as charlm.char_corpus)
        whole = data.shakespeare()["train"] if cfg.text is None else train_text
        vocab = Vocab.build(Counter(whole))  # a str counts by character, in C
    encode = lambda text: torch.tensor(vocab.encode(CharTokenizer().tokenize(text)), dtype=torch.long)  # noqa: E731
    return TextData(cfg.text or "Shakespeare (bundled)", vocab, encode(train_text), encode(held_text), held_text)


def load_lm(path: str | Path, device: str | torch.device = "cpu"):
    """The :class:`rnnkit.tasks.language_model.LanguageModel` in the folder ``path``, on ``device``
    (a checkpoint written on any device loads): a CheckpointError (one line) unless it is a
    character-level LSTM or GRU language model."""
    from ..tasks.language_model import LanguageModel

    path = Path(path)
    fix = "give a folder written by rnnkit train lm --level char --cell lstm (or gru)"
    meta = load_checkpoint(path).meta  # missing, damaged or not a checkpoint: its own one-line error
    kind = meta.get("model_type")
    if kind != "lm":
        raise CheckpointError(f"--checkpoint {path} holds a {kind!r} model, not a language model; {fix}")
    lm, model = meta.get("lm"), meta.get("model")
    level = lm.get("level") if isinstance(lm, dict) else None
    cell = model.get("cell") if isinstance(model, dict) else None
    if level != "char":
        raise CheckpointError(f"--checkpoint {path} is a {level}-level language model, not a character-level "
                              f"one; {fix}")
    if cell not in ("lstm", "gru"):
        raise CheckpointError(f"--checkpoint {path} is a language model of cell {cell!r}; this experiment looks "
                              f"inside LSTM and GRU cells only; {fix}")
    return LanguageModel.load(path, device=device)


def prepare(cfg: Config):
    """``(the checkpoint's LanguageModel or None, TextData)`` of ``cfg``, checked: ValueError or
    CheckpointError (one line naming the problem and the fix) for a bad field, checkpoint or text."""
    for name in ("train_chars", "analysis_chars", "hidden", "embedding", "window", "batch_size", "train_steps",
                 "streams", "ngram_order", "highlight_chars"):
        value = getattr(cfg, name)
        if name == "train_chars" and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")
    if not cfg.seeds:
        raise ValueError("seeds is empty; give at least one seed")
    ckpt = load_lm(cfg.checkpoint, cfg.device) if cfg.checkpoint is not None else None
    return ckpt, load_data(cfg, ckpt.codec.vocab if ckpt else None)


__all__ = ["TextData", "read_text", "load_data", "load_lm", "prepare"]
