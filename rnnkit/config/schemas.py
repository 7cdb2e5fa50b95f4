"""Typed configs, one per concern. Constructors take plain arguments; ``from_config`` and the CLI
know these; every checkpoint stores them so a model can always be rebuilt.

Each field's ``metadata["help"]`` becomes the help of the CLI flag of the same name
(``hidden_size`` -> ``--hidden-size``), see :func:`add_config_arguments`.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field


def _f(default, help: str, **kw):
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class ModelConfig:
    """The network: embedding -> recurrent layers -> head."""

    cell: str = _f("lstm", "recurrent cell", choices=("lstm", "gru", "rnn"))
    embedding_size: int = _f(128, "size of the token embeddings")
    hidden_size: int = _f(256, "size of each recurrent state")
    num_layers: int = _f(1, "stacked recurrent layers")
    dropout: float = _f(0.3, "dropout on embeddings and between layers")
    bidirectional: bool = _f(False, "read the sequence in both directions")
    pooling: str = _f("max", "how a classifier summarises the steps (valid steps only)",
                      choices=("last", "mean", "max"))
    tie_weights: bool = _f(False, "language model: share the embedding and output matrices")


@dataclass
class TextConfig:
    """How text becomes ids."""

    level: str = _f("word", "tokenization", choices=("char", "word", "bpe"))
    lowercase: bool = _f(True, "lowercase words (word level)")
    max_len: int = _f(64, "tokens kept per text; longer texts are truncated")
    truncating: str = _f("post", "where long texts are cut", choices=("pre", "post"))
    min_freq: int = _f(1, "minimum count for a token to enter the vocabulary")
    max_vocab: int = _f(30000, "vocabulary size cap, special tokens included")


@dataclass
class LMConfig:
    """Language-model data and truncated BPTT."""

    corpus: str | None = _f(None, "bundled corpus to train on", choices=("shakespeare",))
    data: str | None = _f(None, "a UTF-8 text file to train on (split 90/5/5 by position)")
    level: str = _f("char", "tokenization", choices=("char", "word", "bpe"))
    bptt: int = _f(128, "truncated BPTT window length k2 (steps)")
    bptt_advance: int | None = _f(None, "steps a window advances, k1 (default: --bptt)")
    random_bptt: bool = _f(False, "randomise the window length (AWD-LSTM)")
    vocab_size: int = _f(4000, "BPE vocabulary size (bpe level)")
    min_freq: int = _f(1, "minimum count for a token to enter the vocabulary (word level)")


@dataclass
class Seq2SeqConfig:
    """Sequence-to-sequence data, attention and loss."""

    attention: str = _f("general", "attention over the source", choices=("dot", "general", "additive", "none"))
    input_feeding: bool = _f(True, "feed the previous attentional state to the decoder (Luong); --no-input-feeding "
                             "trains several times faster on a CPU")
    level: str = _f("word", "tokenization of both sides", choices=("char", "word"))
    lowercase: bool = _f(True, "lowercase both sides (word level)")
    max_src_len: int = _f(80, "longest source (tokens); longer ones are truncated with a warning")
    max_tgt_len: int = _f(80, "longest target (tokens) trained on and generated")
    min_freq: int = _f(2, "minimum count for a token to enter a vocabulary")
    max_vocab: int = _f(20000, "vocabulary size cap per side, special tokens included")
    label_smoothing: float = _f(0.0, "label smoothing of the training loss")


@dataclass
class TrainConfig:
    """The optimisation loop shared by every model."""

    out: str = _f("runs/model", "output folder (checkpoint, metrics.jsonl)")
    epochs: int = _f(10, "passes over the training data")
    max_steps: int | None = _f(None, "stop after this many optimiser steps")
    max_minutes: float | None = _f(None, "stop after this much wall-clock time")
    seed: int = _f(0, "seed for initialisation, shuffling and dropout")
    batch_size: int = _f(64, "examples per batch")
    lr: float = _f(2e-3, "learning rate")
    optimizer: str = _f("adamw", "optimiser", choices=("adamw", "sgd"))
    weight_decay: float = _f(0.0, "AdamW weight decay")
    clip: float = _f(1.0, "clip the gradient norm to this (0 = off)")
    patience: int = _f(3, "evaluations without improvement before stopping early (0 = never)")
    lr_decay: float = _f(1.0, "divide the learning rate by this when validation does not improve (1 = off)")
    schedule: str = _f("constant", "learning-rate shape over the budget (epochs, --max-steps or --max-minutes, "
                       "whichever ends first): constant, or decayed to zero", choices=("constant", "linear", "cosine"))
    warmup_steps: int = _f(0, "steps over which the learning rate rises linearly from zero")
    eval_every: int | None = _f(None, "also evaluate (and checkpoint the best model) every N steps")
    checkpoint_every: int | None = _f(None, "save the resumable training state every N steps")
    resume: bool = _f(False, "continue the run saved in --out (its resume/ state) with the configs and data it "
                      "started with; flags that would change the run are refused, except --epochs, --max-steps and "
                      "--max-minutes, which may be raised to train longer")
    overwrite: bool = _f(False, "replace the run --out holds; its files go once this run has saved its first "
                         "checkpoint")
    threads: int = _f(0, "CPU threads for torch (0 = torch's default)")
    precision: str = _f("float32", "bfloat16: mixed precision (torch.autocast) for the forward pass; weights, "
                        "optimiser and carried states stay float32; rnnkit's own recurrences stay float32. "
                        "auto: bfloat16 where the hardware has fast bfloat16 (CPU with AVX-512 BF16 or AMX, or "
                        "a GPU that supports it), else float32", choices=("float32", "bfloat16", "auto"))


# The character-level language-model recipe measured on the bundled Shakespeare with 2 CPU threads
# (benchmarks/bench_lm.py, 10-minute runs): 640 units, the widest layer before tokens/s falls off
# a cliff on this CPU (768 runs at half the speed); short windows and small batches give many
# updates per second of compute; AdamW at 3e-3 (4e-3 to 8e-3 measured worse at this width), warmed
# up briefly and decayed linearly to zero over the budget; no dropout (the model underfits in 10
# minutes: 0.1 cost 0.025 nats); bfloat16 mixed precision where the hardware has it (1.5-1.8x the
# tokens/s of float32 on an AVX-512 BF16 CPU).
# `rnnkit train lm` and `rnnkit demo` default to it.
LM_RECIPE = {"embedding_size": 64, "hidden_size": 640, "num_layers": 1, "dropout": 0.0, "bptt": 64,
             "batch_size": 16, "lr": 3e-3, "schedule": "linear", "warmup_steps": 50, "clip": 1.0,
             "precision": "auto"}
# `rnnkit demo` trains for 3 minutes, too short for 640 units to see enough text: there the
# previous recipe, 512 units at 6e-3, does better (1.44 against 1.52 nats/char in 3 minutes).
LM_DEMO_RECIPE = {**LM_RECIPE, "hidden_size": 512, "lr": 6e-3}

# The measured sequence-to-sequence recipes of benchmarks/bench_seq2seq.py, defaults of
# `rnnkit train seq2seq --corpus NAME` for every flag not given. Dates: 100 % exact match in 5
# minutes. En-es: beam 5 BLEU 31.8 in 15 minutes; no input feeding (1.4x faster to train on a
# CPU), lengths cut at 60 tokens (3 % of the pairs are longer), bfloat16 where the CPU has it.
SEQ2SEQ_RECIPES = {
    "dates": {"cell": "gru", "embedding_size": 32, "hidden_size": 128, "num_layers": 1, "dropout": 0.0,
              "bidirectional": True, "attention": "general", "level": "char", "lowercase": False, "max_src_len": 40,
              "max_tgt_len": 12, "min_freq": 1, "batch_size": 64, "lr": 3e-3, "eval_every": 300},
    "en-es": {"cell": "lstm", "embedding_size": 128, "hidden_size": 256, "num_layers": 1, "dropout": 0.2,
              "bidirectional": True, "attention": "general", "input_feeding": False, "level": "word",
              "lowercase": True, "max_src_len": 60, "max_tgt_len": 60, "min_freq": 3, "max_vocab": 12000,
              "label_smoothing": 0.1, "batch_size": 64, "lr": 3e-3, "schedule": "linear", "warmup_steps": 200,
              "precision": "auto"},
}


def recipe_config(config_cls, recipe: dict, **values):
    """``config_cls`` from the recipe's fields that belong to it, then ``values`` on top."""
    names = {f.name for f in dataclasses.fields(config_cls)}
    return config_cls(**{**{k: v for k, v in recipe.items() if k in names}, **values})


def add_config_arguments(parser: argparse.ArgumentParser, config_cls, skip: tuple = (),
                         defaults: dict | None = None) -> None:
    """One ``--flag`` per dataclass field, typed, with the field's default and help.
    ``defaults``: a command's own defaults for some fields (its measured recipe), shown in the help."""
    hints = typing.get_type_hints(config_cls)
    defaults = defaults or {}
    for f in dataclasses.fields(config_cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        kind = hints[f.name]
        if typing.get_origin(kind) in (typing.Union, types.UnionType):
            kind = next(a for a in typing.get_args(kind) if a is not type(None))
        # The parsed value stays None when the flag is not given, so that a command can tell a
        # flag given from a default (--resume takes what is not given from the checkpoint); the
        # command's own default (``defaults``) is applied by config_from_args and shown here.
        default = defaults.get(f.name, f.default)
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                                help=f"{f.metadata['help']} (default: {'yes' if default else 'no'})")
            continue
        parser.add_argument(flag, type=_checked(kind, f.name), default=None, choices=f.metadata.get("choices"),
                            help=f"{f.metadata['help']} (default: {default})")


# Numeric fields that may be 0 (each one's help says what 0 means); every other one must be positive.
_MAY_BE_ZERO = ("seed", "weight_decay", "clip", "patience", "dropout", "threads", "warmup_steps", "label_smoothing")
# Probabilities of dropping a unit / shares of the target mass moved: 1 would leave nothing to learn from.
_BELOW_ONE = ("dropout", "label_smoothing")


INT_MAX = 2**31 - 1  # what torch's sizes and counts take; a larger number is a typo
MAX_DECODE_LEN = 10_000  # tokens one decoded output may have: an untrained model may never stop
# Upper bounds where a value within INT_MAX would still make a run hang or allocate without end.
# (A learning rate past float32's range breaks the optimiser.)
_AT_MOST = {"seed": 2**63 - 1, "num_layers": 64, "lr": 1e3, "max_tgt_len": MAX_DECODE_LEN}


def value_problem(name: str, kind, value) -> str | None:
    """What is wrong with ``value`` for the config field ``name`` of type ``kind`` (None: nothing).
    The same rules hold for a flag and for a field read back from a checkpoint."""
    if kind is float and not math.isfinite(value):  # float() takes 'nan' and 'inf'; no setting means them
        return "must be a finite number"
    if kind not in (int, float):
        return None
    if name in _BELOW_ONE and not 0 <= value < 1:
        return "must lie in [0, 1)"
    if name == "lr_decay" and value < 1:  # a divisor below 1 would raise the rate on a plateau
        return "must be >= 1 (1 = off)"
    if value <= 0 and name not in _MAY_BE_ZERO:
        return "must be positive"
    if value < 0:
        return "must not be negative"
    limit = _AT_MOST.get(name, INT_MAX if kind is int else None)
    if limit is not None and value > limit:
        return f"must be at most {limit}"
    return None


def _checked(kind, name):
    def parse(text: str):
        try:
            value = kind(text)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"expected {kind.__name__}, got {text!r}") from None
        problem = value_problem(name, kind, value)
        if problem:
            raise argparse.ArgumentTypeError(f"{problem}, got {text!r}")
        return value

    return parse


def config_from_args(config_cls, args: argparse.Namespace, defaults: dict | None = None, **overrides):
    """The dataclass built from parsed flags; a flag left out takes ``defaults`` (a recipe), else
    the dataclass default. ``overrides`` win over both."""
    values = {}
    for f in dataclasses.fields(config_cls):
        v = overrides.get(f.name, getattr(args, f.name, None))
        if v is None:
            v = (defaults or {}).get(f.name)
        if v is not None:
            values[f.name] = v
    return config_cls(**values)
