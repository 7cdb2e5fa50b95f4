"""Typed configs, one per concern. Constructors take plain arguments; ``from_config`` and the CLI
know these; every checkpoint stores them so a model can always be rebuilt.

Each field declares its default, the help of the CLI flag of the same name (``hidden_size`` ->
``--hidden-size``, see :mod:`rnnkit.config.flags`) and the values it accepts (see
:mod:`rnnkit.config.limits`): a flag, a checkpoint's record and the help all read that one
declaration.

Each task has its own model config (:class:`ClassifierModelConfig`, :class:`LanguageModelConfig`,
:class:`Seq2SeqModelConfig`) holding only what its network uses, on the shared
:class:`ModelConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .limits import MAX_DECODE_LEN
from .limits import setting as _f

CELLS = ("lstm", "gru", "rnn")  # the recurrent layers of rnnkit.nn a model can be built on
CONV_HELP = ("; for a convolutional cell --hidden-size is the channels of each tcn block or the feature maps per "
             "window of the cnn, and --num-layers the tcn blocks")


@dataclass
class ModelConfig:
    """The network every task shares: embedding -> recurrent layers -> head."""

    cell: str = _f("lstm", "recurrent cell", choices=CELLS)
    embedding_size: int = _f(128, "size of the token embeddings")
    hidden_size: int = _f(256, "size of each recurrent state")
    num_layers: int = _f(1, "stacked recurrent layers", at_most=64)
    dropout: float = _f(0.3, "dropout on embeddings and between layers", low="unit")

    # Fields that versions before the per-task configs stored in every checkpoint's "model" entry;
    # a record holding them still loads, and they are dropped (they meant nothing to this task).
    RETIRED: ClassVar[tuple[str, ...]] = ("bidirectional", "pooling", "tie_weights")


@dataclass
class ClassifierModelConfig(ModelConfig):
    """The sequence classifier's network."""

    cell: str = _f("lstm", "lstm, gru, rnn: a recurrent network; cnn: Kim's text CNN (windows 3, 4, 5, max over "
                   "time); tcn: a temporal convolutional network (dilated causal convolutions)" + CONV_HELP,
                   choices=(*CELLS, "cnn", "tcn"))
    kernel_size: int = _f(3, "convolution width of the tcn cell", at_most=1024)
    bidirectional: bool = _f(False, "read the sequence in both directions")
    pooling: str = _f("max", "how a classifier summarises the steps (valid steps only)",
                      choices=("last", "mean", "max"))

    RETIRED: ClassVar[tuple[str, ...]] = ("tie_weights",)


@dataclass
class LanguageModelConfig(ModelConfig):
    """The language model's network (one direction: it predicts the next token)."""

    cell: str = _f("lstm", "lstm, gru, rnn: a recurrent network; tcn: a temporal convolutional network (dilated "
                   "causal convolutions, each token reading the previous ones only)" + CONV_HELP,
                   choices=(*CELLS, "tcn"))
    kernel_size: int = _f(3, "convolution width of the tcn cell", at_most=1024)
    tie_weights: bool = _f(False, "language model: share the embedding and output matrices")

    RETIRED: ClassVar[tuple[str, ...]] = ("bidirectional", "pooling")


@dataclass
class Seq2SeqModelConfig(ModelConfig):
    """The encoder and decoder networks of a sequence-to-sequence model."""

    bidirectional: bool = _f(False, "read the sequence in both directions")

    RETIRED: ClassVar[tuple[str, ...]] = ("pooling", "tie_weights")


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
    vocab_size: int = _f(4000, "BPE vocabulary size (bpe level)", at_most=1_000_000)  # tokenizers allocates for it
    min_freq: int = _f(1, "minimum count for a token to enter the vocabulary (word level)")


@dataclass
class Seq2SeqConfig:
    """Sequence-to-sequence data, attention and loss."""

    attention: str = _f("general", "attention over the source", choices=("dot", "general", "additive", "none"))
    input_feeding: bool = _f(True, "feed the previous attentional state to the decoder (Luong); --no-input-feeding "
                             "trained about 1.4x faster on a CPU in one measurement (the en-es recipe)")
    level: str = _f("word", "tokenization of both sides", choices=("char", "word"))
    lowercase: bool = _f(True, "lowercase both sides (word level)")
    max_src_len: int = _f(80, "longest source (tokens); longer ones are truncated with a warning")
    max_tgt_len: int = _f(80, "longest target (tokens) trained on and generated", at_most=MAX_DECODE_LEN)
    min_freq: int = _f(2, "minimum count for a token to enter a vocabulary")
    max_vocab: int = _f(20000, "vocabulary size cap per side, special tokens included")
    label_smoothing: float = _f(0.0, "label smoothing of the training loss", low="unit")


@dataclass
class TrainConfig:
    """The optimisation loop shared by every model."""

    out: str = _f("runs/model", "output folder (checkpoint, metrics.jsonl)")
    epochs: int = _f(10, "passes over the training data")
    max_steps: int | None = _f(None, "stop after this many optimiser steps")
    max_minutes: float | None = _f(None, "stop after this much wall-clock time")
    seed: int = _f(0, "seed for initialisation, shuffling and dropout", low="non_negative", at_most=2**63 - 1)
    batch_size: int = _f(64, "examples per batch")
    # (a learning rate past float32's range breaks the optimiser)
    lr: float = _f(2e-3, "learning rate", at_most=1e3)
    optimizer: str = _f("adamw", "optimiser", choices=("adamw", "sgd"))
    weight_decay: float = _f(0.0, "AdamW weight decay", low="non_negative")
    clip: float = _f(1.0, "clip the gradient norm to this (0 = off)", low="non_negative")
    patience: int = _f(3, "evaluations without improvement before stopping early (0 = never)", low="non_negative")
    lr_decay: float = _f(1.0, "divide the learning rate by this when validation does not improve (1 = off)",
                         low="at_least_one")
    schedule: str = _f("constant", "learning-rate shape over the budget (epochs, --max-steps or --max-minutes, "
                       "whichever ends first): constant, or decayed to zero", choices=("constant", "linear", "cosine"))
    warmup_steps: int = _f(0, "steps over which the learning rate rises linearly from zero", low="non_negative")
    eval_every: int | None = _f(None, "also evaluate (and checkpoint the best model) every N steps")
    checkpoint_every: int | None = _f(None, "save the resumable training state every N steps")
    resume: bool = _f(False, "continue the run saved in --out (its resume/ state) with the configs and data it "
                      "started with; flags that would change the run are refused, except --epochs, --max-steps and "
                      "--max-minutes, which may be raised to train longer, and --device and --precision")
    overwrite: bool = _f(False, "replace the run --out holds; its files go once this run has saved its first "
                         "checkpoint")
    threads: int = _f(0, "CPU threads for torch (0 = torch's default)", low="non_negative")
    # How this invocation runs, not what it trains: a run may resume on another device, and
    # --resume never takes it from the saved run (see rnnkit.cli.run).
    device: str = _f("auto", "where to train: auto (the first CUDA device if there is one, else the CPU), cpu, cuda, "
                     "cuda:N or mps")
    precision: str = _f("float32", "bfloat16: mixed precision (torch.autocast) for the forward pass; weights, "
                        "optimiser and carried states stay float32; rnnkit's own recurrences stay float32. "
                        "float16: the same in float16 with a gradient scaler (CUDA only). "
                        "auto: on a CUDA device bfloat16 where it computes it natively, else float16; elsewhere "
                        "bfloat16 where the CPU has fast bfloat16 (AVX-512 BF16 or AMX), else float32",
                        choices=("float32", "bfloat16", "float16", "auto"))

    def __post_init__(self):
        # A torch.device is taken as its name: the config is saved as JSON in every checkpoint.
        if type(self.device).__name__ == "device" and type(self.device).__module__.startswith("torch"):
            self.device = str(self.device)
