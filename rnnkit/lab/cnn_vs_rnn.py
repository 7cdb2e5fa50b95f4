"""CNNs against RNNs (claim 4) on images, sentences and characters, at matched parameter counts.

(a) Images: scikit-learn's 8x8 digits. A small 2-D CNN against LSTM, GRU and RNN reading the image
    by rows (8 steps of 8 pixels) and by pixels (64 steps of 1), and Bai et al.'s TCN reading the
    pixels; all matched to ``digits_parameters``; test accuracy after ``digits_steps`` steps.
(b) Sentence polarity (rotten-tomatoes.tsv, not Kim's MR files): Kim's (2014) CNN with random word
    vectors ("CNN-rand": windows 3, 4, 5 of ``text_maps`` maps each, max over time, dropout 0.5)
    against a bidirectional LSTM and GRU over the valid words (``lengths=``), max-pooled over the
    valid steps (or their last states, ``text_pooling="last"``); matched on the parameters besides
    the word embedding, which is the same in all three; test accuracy after ``text_steps`` steps.
(c) The character LM on Shakespeare (:mod:`rnnkit.lab.charlm`): TCN, LSTM and GRU matched to the
    LSTM of hidden size ``lm_hidden``, each given the same ``lm_seconds`` of its own training time
    (a step of each in turn, so machine noise hits all three); validation bits per character.

Anchors (published, on other data): Kim 2014, CNN-rand 76.1 % on MR; Bai, Kolter & Koltun 2018,
PTB characters, 1.31 bpc TCN, 1.36 LSTM, 1.37 GRU, 1.48 RNN.

Result keys beyond the contract's:

- ``digits`` and ``polarity``: ``{"labels": [...], "parameters": {label: n}, "accuracy": {label:
  summarize(test accuracy)}, "seconds": {label: summarize(training seconds)}, "per_seed": {label:
  [{"seed", "accuracy", "seconds"}, ...]}}``; ``digits`` also has ``"reading"`` ({label: "image",
  "rows" or "pixels"}) and ``"widths"``; ``polarity`` has ``"embedding_parameters"`` (the shared
  V x E) and ``"sentences"``.
- ``lm``: ``{"labels", "parameters", "widths", "seconds", "bpc": {label: summarize}, "steps":
  {label: summarize(steps done in the budget)}, "ms_per_step": {label: summarize}, "per_seed":
  {label: [{"seed", "bpc", "steps", "ms_per_step", "curve"}]}, "grid", "bands": {label: {"mean",
  "std"}}}``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import rnnkit.nn as rnn

from . import charlm, common, data, models

NAME = "cnn-vs-rnn"
CLAIM = ("4. RNNs serve sequences and CNNs images; in its stronger form (Bai et al. 2018), a generic temporal "
         "CNN (TCN) beats LSTM/GRU on most sequence tasks.")

KIM_CNN_RAND_MR = 0.761  # Kim 2014, Table 2, CNN-rand on MR (test accuracy, 10-fold CV)
BAI_PTB_CHAR = {"TCN": 1.31, "LSTM": 1.36, "GRU": 1.37, "RNN": 1.48}  # Bai et al. 2018, Table 2, bpc

# (label, kind, reading) of the digit models; kind "cnn" is the 2-D CNN.
DIGIT_MODELS = (("CNN (2-D)", "cnn", "image"), ("LSTM rows", "lstm", "rows"), ("GRU rows", "gru", "rows"),
                ("RNN rows", "rnn", "rows"), ("LSTM pixels", "lstm", "pixels"), ("GRU pixels", "gru", "pixels"),
                ("RNN pixels", "rnn", "pixels"), ("TCN pixels", "tcn", "pixels"))
TEXT_MODELS = ("CNN-rand", "BiLSTM", "BiGRU")
LM_MODELS = {"TCN": "tcn", "LSTM": "lstm", "GRU": "gru"}


@dataclass
class Config:
    """(a) ``digits_*``: models matched to ``digits_parameters``, Adam at ``digits_lr`` for
    ``digits_steps`` steps of ``digits_batch`` images; the TCN's kernel ``digits_kernel``.
    (b) ``text_*``: word embedding ``text_embedding`` (Kim: 300), ``text_maps`` maps per window of
    ``text_windows``, dropout ``text_dropout``, sentences cut at ``text_max_len`` words, words seen
    ``text_min_freq`` times; RNN read-out ``text_pooling`` ("max" or "last"); Adam at ``text_lr`` for
    ``text_steps`` steps of ``text_batch`` sentences (Kim: 50). (c) ``lm_*``: as
    :mod:`rnnkit.lab.gru_vs_lstm`'s, each model trained for ``lm_seconds``; TCN kernel ``lm_kernel``;
    ``curve_points`` evaluations per budget. ``device``: where models, batches and held-out tensors
    live (the runner sets it from ``--device``)."""

    digits_parameters: int = 6000
    digits_steps: int = 150
    digits_batch: int = 64
    digits_lr: float = 5e-3
    digits_kernel: int = 7
    text_embedding: int = 64
    text_maps: int = 100
    text_windows: tuple[int, ...] = (3, 4, 5)
    text_dropout: float = 0.5
    text_max_len: int = 40
    text_min_freq: int = 2
    text_pooling: str = "max"
    text_batch: int = 50
    text_steps: int = 120
    text_lr: float = 2e-3
    lm_hidden: int = 128
    lm_embedding: int = 32
    lm_window: int = 64
    lm_batch: int = 16
    lm_train_chars: int = 1_000_000
    lm_valid_chars: int = 16_384
    lm_lr: float = 3e-3
    lm_kernel: int = 3
    lm_seconds: float = 3.5
    curve_points: int = 8
    seeds: tuple[int, ...] = (0, 1, 2)
    device: str = "cpu"


PRESETS = {
    "tiny": Config(digits_parameters=600, digits_steps=3, digits_batch=16, text_embedding=8, text_maps=4,
                   text_min_freq=1, text_batch=8, text_steps=3, lm_hidden=16, lm_embedding=8, lm_window=16, lm_batch=4,
                   lm_train_chars=5_000, lm_valid_chars=400, lm_seconds=0.05, curve_points=2, seeds=(0, 1)),
    "quick": Config(),
    "full": Config(digits_parameters=10_000, digits_steps=450, text_embedding=100, text_steps=450,
                   lm_train_chars=4_500_000, lm_valid_chars=65_536, lm_seconds=20.0, curve_points=15),
}
RUN_TIME = {"quick": "1.4 min", "full": "7 min"}  # measured on the idle 2-core machine, 2 threads


# -- (a) digits ------------------------------------------------------------------------------------


class DigitCNN(nn.Module):
    """A small 2-D CNN: 3x3 convolution to ``width`` maps, ReLU, 3x3 convolution to ``2 * width``,
    ReLU, 2x2 max-pooling, linear to 10 classes. ``forward(images (B, 8, 8)) -> logits (B, 10)``."""

    def __init__(self, width: int):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU(),
                                      nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Linear(2 * width * 16, 10)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images.unsqueeze(1)).flatten(1))


def as_sequence(images: torch.Tensor, reading: str) -> torch.Tensor:
    """Images (B, 8, 8) as a sequence: ``"rows"`` -> (B, 8, 8), step t = row t; ``"pixels"`` ->
    (B, 64, 1), step t = pixel t in reading order (row by row)."""
    if reading == "rows":
        return images
    if reading == "pixels":
        return images.reshape(images.shape[0], -1, 1)
    raise ValueError(f"reading must be 'rows' or 'pixels'; got {reading!r}")


class ImageSequenceNet(nn.Module):
    """A :class:`~rnnkit.lab.models.SequenceNet` (read at the last step) over an image read by
    ``reading`` (see :func:`as_sequence`). ``forward(images (B, 8, 8)) -> logits (B, 10)``."""

    def __init__(self, kind: str, reading: str, width: int, kernel_size: int):
        super().__init__()
        self.reading = reading
        features, steps = (8, 8) if reading == "rows" else (1, 64)
        self.net = models.SequenceNet(kind, features, width, 10, read="last", steps=steps, kernel_size=kernel_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(as_sequence(images, self.reading))


def _digit_model(kind: str, reading: str, width: int, cfg: Config) -> nn.Module:
    return DigitCNN(width) if kind == "cnn" else ImageSequenceNet(kind, reading, width, cfg.digits_kernel)


def image_batch(images: torch.Tensor, labels: torch.Tensor, batch: int, gen: torch.Generator):
    """``batch`` random (image, label) pairs drawn from ``gen``: ``(images (B, 8, 8), labels (B,))``."""
    rows = torch.randint(0, len(labels), (batch,), generator=gen)
    return images[rows], labels[rows]


@torch.no_grad()
def _image_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    return float((model(images).argmax(-1) == labels).float().mean())


def _digits(cfg: Config, progress: bool) -> dict:
    sets = data.digits()
    (x_train, y_train), (x_test, y_test) = sets["train"], sets["test"]
    # training batches are drawn on the CPU (train_steps moves them); the test set moves once
    x_test, y_test = common.to_device((x_test, y_test), cfg.device)
    widths = {label: common.match_width(lambda w, k=kind, r=reading: _digit_model(k, r, w, cfg),
                                        cfg.digits_parameters, high=512)
              for label, kind, reading in DIGIT_MODELS}
    per_seed = {label: [] for label, _, _ in DIGIT_MODELS}
    parameters = {}
    for label, kind, reading in DIGIT_MODELS:
        for seed in cfg.seeds:
            gen = common.generator(seed)  # per seed: the same initialisation stream and the same batches
            model = _digit_model(kind, reading, widths[label], cfg).to(cfg.device)
            parameters[label] = common.count_parameters(model)
            common.synchronize(cfg.device)  # the model's copy is not training time
            start = time.perf_counter()
            common.train_steps(model, lambda g=gen: image_batch(x_train, y_train, cfg.digits_batch, g),
                               lambda m, x, y: F.cross_entropy(m(x), y), cfg.digits_steps, cfg.digits_lr,
                               desc=f"{NAME} digits {label} seed {seed}", progress=progress)
            seconds = time.perf_counter() - start  # train_steps ends reading a loss: the device is done
            per_seed[label].append({"seed": seed, "accuracy": _image_accuracy(model, x_test, y_test),
                                    "seconds": seconds})
    return {"labels": [label for label, _, _ in DIGIT_MODELS], "reading": {m[0]: m[2] for m in DIGIT_MODELS},
            "widths": widths, "parameters": parameters, "per_seed": per_seed,
            "accuracy": {k: common.summarize(r["accuracy"] for r in v) for k, v in per_seed.items()},
            "seconds": {k: common.summarize(r["seconds"] for r in v) for k, v in per_seed.items()},
            "images": {"train": len(y_train), "test": len(y_test)}}


# -- (b) sentence polarity -------------------------------------------------------------------------


class KimCNN(nn.Module):
    """Kim's (2014) CNN-rand: random word vectors -> :class:`rnnkit.nn.TextCNN` (max over the valid
    windows of each width) -> dropout -> linear to 2 classes.
    ``forward(ids (B, T), lengths (B,)) -> logits (B, 2)``."""

    def __init__(self, vocab_size: int, embedding_size: int, num_maps: int, windows, dropout: float):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=0)
        self.encoder = rnn.TextCNN(embedding_size, num_maps, tuple(windows))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.encoder.output_size, 2)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.encoder(self.embedding(ids), lengths)))


class BiRNNClassifier(nn.Module):
    """Word vectors -> bidirectional LSTM or GRU over the valid words -> the maximum of each feature
    over the valid steps (``pooling="max"``) or the two directions' last states (``"last"``) ->
    dropout -> linear to 2 classes. ``forward(ids (B, T), lengths (B,)) -> logits (B, 2)``."""

    def __init__(self, kind: str, vocab_size: int, embedding_size: int, hidden_size: int, dropout: float,
                 pooling: str = "max"):
        super().__init__()
        if pooling not in ("max", "last"):
            raise ValueError(f"pooling must be 'max' or 'last'; got {pooling!r}")
        self.pooling = pooling
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=0)
        self.rnn = (rnn.LSTM if kind == "lstm" else rnn.GRU)(embedding_size, hidden_size, batch_first=True,
                                                              bidirectional=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * hidden_size, 2)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out, state = self.rnn(self.embedding(ids), lengths=lengths)  # out (B, T, 2H), zero at padding
        if self.pooling == "max":
            valid = torch.arange(out.shape[1], device=out.device).unsqueeze(0) < lengths.to(out.device).unsqueeze(1)
            pooled = out.masked_fill(~valid.unsqueeze(2), float("-inf")).amax(dim=1)
        else:
            h = state[0] if isinstance(state, tuple) else state  # (2, B, H): forward's last valid, backward's first
            pooled = torch.cat([h[-2], h[-1]], dim=1)
        return self.head(self.dropout(pooled))


def _text_model(label: str, vocab_size: int, width: int, cfg: Config) -> nn.Module:
    if label == "CNN-rand":
        return KimCNN(vocab_size, cfg.text_embedding, width, cfg.text_windows, cfg.text_dropout)
    kind = "lstm" if label == "BiLSTM" else "gru"
    return BiRNNClassifier(kind, vocab_size, cfg.text_embedding, width, cfg.text_dropout, cfg.text_pooling)


def text_widths(cfg: Config) -> dict[str, int]:
    """{label: width}: the CNN's ``text_maps``; each BiRNN's hidden size matched to the CNN's
    parameters besides the embedding (built with a one-word vocabulary, so the embedding adds the
    same ``text_embedding`` parameters to every count)."""
    target = common.count_parameters(_text_model("CNN-rand", 1, cfg.text_maps, cfg))
    widths = {"CNN-rand": cfg.text_maps}
    for label in TEXT_MODELS[1:]:
        widths[label] = common.match_width(lambda w, lab=label: _text_model(lab, 1, w, cfg), target, high=1024)
    return widths


def _polarity(cfg: Config, progress: bool) -> dict:
    pol = charlm.polarity_data(cfg.text_max_len, cfg.text_min_freq)
    V = len(pol.vocab)
    widths = text_widths(cfg)
    per_seed = {label: [] for label in TEXT_MODELS}
    parameters = {}
    loss = lambda m, ids, lengths, labels: F.cross_entropy(m(ids, lengths), labels)
    test = common.to_device(charlm.padded_batches(pol.test), cfg.device)  # padded and moved once
    for label in TEXT_MODELS:
        for seed in cfg.seeds:
            gen = common.generator(seed)
            model = _text_model(label, V, widths[label], cfg).to(cfg.device)
            parameters[label] = common.count_parameters(model) - model.embedding.weight.numel()
            common.synchronize(cfg.device)  # the model's copy is not training time
            start = time.perf_counter()
            common.train_steps(model, lambda g=gen: charlm.polarity_batch(pol.train, cfg.text_batch, g), loss,
                               cfg.text_steps, cfg.text_lr, desc=f"{NAME} polarity {label} seed {seed}",
                               progress=progress)
            seconds = time.perf_counter() - start  # train_steps ends reading a loss: the device is done
            per_seed[label].append({"seed": seed, "accuracy": charlm.accuracy(model, test), "seconds": seconds})
    return {"labels": list(TEXT_MODELS), "widths": widths, "parameters": parameters,
            "embedding_parameters": V * cfg.text_embedding, "vocabulary": V, "per_seed": per_seed,
            "accuracy": {k: common.summarize(r["accuracy"] for r in v) for k, v in per_seed.items()},
            "seconds": {k: common.summarize(r["seconds"] for r in v) for k, v in per_seed.items()},
            "sentences": {"train": len(pol.train.ids), "validation": len(pol.validation.ids),
                          "test": len(pol.test.ids)}}


# -- (c) character LM at equal time ----------------------------------------------------------------


def _lm(cfg: Config, progress: bool) -> dict:
    corpus = charlm.char_corpus(cfg.lm_train_chars, cfg.lm_valid_chars)
    V = len(corpus.vocab)
    make = lambda kind, w: charlm.CharLM(kind, V, w, cfg.lm_embedding, cfg.lm_window, cfg.lm_kernel)
    target = common.count_parameters(make("lstm", cfg.lm_hidden))
    widths = {label: cfg.lm_hidden if kind == "lstm" else common.match_width(lambda w, k=kind: make(k, w), target,
                                                                              high=1024)
              for label, kind in LM_MODELS.items()}
    validation = common.to_device(corpus.validation, cfg.device)  # once, not at every evaluation
    score = lambda m: charlm.bits_per_char(m, validation, cfg.lm_window)
    per_seed = {label: [] for label in LM_MODELS}
    for seed in cfg.seeds:
        common.generator(seed)
        entrants = []
        for label, kind in LM_MODELS.items():
            gen = torch.Generator().manual_seed(seed)  # the same batches for every model of the seed
            entrants.append(charlm.Contestant(
                label, make(kind, widths[label]).to(cfg.device),
                lambda g=gen: charlm.random_windows(corpus.train, cfg.lm_batch, cfg.lm_window, g), charlm.lm_loss,
                score, tokens=lambda b: b[0].numel(), lr=cfg.lm_lr))
        records = charlm.race(entrants, None, cfg.lm_seconds, cfg.lm_seconds / cfg.curve_points,
                              desc=f"{NAME} lm seed {seed}", progress=progress)
        for label, rec in records.items():
            info = rec.summary(warmup=min(5, rec.steps - 1))
            per_seed[label].append({"seed": seed, "bpc": rec.marks["seconds"]["score"], "steps": rec.steps,
                                    "ms_per_step": info["ms_per_step"], "curve": info["curve"]})
    grid = [float(t) for t in np.linspace(0.0, cfg.lm_seconds, 41)]
    counts = {label: common.count_parameters(make(kind, widths[label])) for label, kind in LM_MODELS.items()}
    return {"labels": list(LM_MODELS), "widths": widths, "seconds": cfg.lm_seconds, "vocabulary": V,
            "parameters": counts,
            "per_seed": per_seed,
            **{key: {k: common.summarize(r[key] for r in v) for k, v in per_seed.items()}
               for key in ("bpc", "steps", "ms_per_step")},
            "grid": grid, "bands": {k: charlm.band([r["curve"] for r in v], grid) for k, v in per_seed.items()}}


# -- figures, tables, verdict -----------------------------------------------------------------------


def _bars(title: str, labels: list[str], acc: dict, out: Path, name: str, caption: str, anchor=None,
          convolutional=()) -> dict:
    """Accuracy bars (mean, ± std whiskers), the ``convolutional`` models in their own colour."""
    fig, axes = common.new_figure(size=(max(6.0, 0.9 * len(labels)), 4.0))
    ax = axes[0][0]
    means = [100 * acc[k]["mean"] for k in labels]
    stds = [100 * acc[k]["std"] for k in labels]
    colours = ["tab:orange" if k in convolutional else "tab:blue" for k in labels]
    ax.bar(range(len(labels)), means, yerr=stds, capsize=4, color=colours, alpha=0.8)
    ax.bar([0], [0], color="tab:orange", alpha=0.8, label="convolutional (mean ± std)")  # legend entries only
    ax.bar([0], [0], color="tab:blue", alpha=0.8, label="recurrent (mean ± std)")
    if anchor is not None:
        ax.axhline(100 * anchor[1], color="black", linestyle="--", linewidth=1, label=anchor[0])
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=30, ha="right")
    ax.set_ylabel("test accuracy (%)")
    low = min(m - s for m, s in zip(means, stds))
    ax.set_ylim(max(0.0, min(low, 100 * anchor[1] if anchor else low) - 5), 100)
    ax.set_title(f"{NAME}: {title}")
    ax.legend(fontsize=8)
    return common.figure(fig, out, name, caption)


def _lm_figure(lm: dict, n_seeds: int, out: Path, device: str) -> dict:
    fig, axes = common.new_figure()
    ax = axes[0][0]
    for label in lm["labels"]:
        mean, std = np.array(lm["bands"][label]["mean"]), np.array(lm["bands"][label]["std"])
        line, = ax.plot(lm["grid"], mean, label=f"{label} ({lm['parameters'][label]:,} parameters)")
        ax.fill_between(lm["grid"], mean - std, mean + std, color=line.get_color(), alpha=0.2)
    on = "2 CPU threads, shared machine" if torch.device(device).type == "cpu" else device
    ax.set_xlabel(f"training seconds (own steps only, {on})")
    ax.set_ylabel("validation bits per character")
    ax.set_title(f"{NAME}: character LM (Shakespeare)")
    ax.legend(fontsize=8)
    return common.figure(fig, out, "cnn_vs_rnn_lm.png",
                         f"{NAME} (c): validation bits per character of the Shakespeare character LM against each "
                         f"model's own training seconds (equal budget of {lm['seconds']:g} s); line: mean over "
                         f"{n_seeds} seeds, band: ± std.")


def _best(summaries: dict, labels, lower_is_better: bool) -> str:
    sign = 1.0 if lower_is_better else -1.0
    finite = [k for k in labels if math.isfinite(summaries[k]["mean"])]
    return min(finite or list(labels), key=lambda k: sign * summaries[k]["mean"])


def _versus(name: str, summaries: dict, first: str, others, lower_is_better: bool, unit: str, scale: float,
            diff_unit: str) -> str:
    """"first X vs best other Y: wins/loses by Z (beyond/within the seeds' spread)"."""
    rival = _best(summaries, others, lower_is_better)
    a, b = summaries[first], summaries[rival]
    diff = a["mean"] - b["mean"]
    better = diff < 0 if lower_is_better else diff > 0
    spread = math.hypot(a["std"], b["std"])
    if min(a.get("n", 2), b.get("n", 2)) < 2:  # one seed has no spread: nothing is beyond it
        where = "one seed: no spread to compare with"
    else:
        where = f"{'beyond' if abs(diff) > spread else 'within'} the seeds' spread"
    return (f"{name}: {first} {a['mean'] * scale:.3g}{unit} vs best {rival} {b['mean'] * scale:.3g}{unit}, "
            f"{'wins' if better else 'loses'} by {abs(diff) * scale:.2g}{diff_unit} ({where})")


def _images_claim(accuracy: dict, rnn_labels: list) -> str:
    """'holds' (the 2-D CNN beats the best RNN beyond the seeds' spread, or wins with one seed),
    'is a tie (within the seeds' spread)', or 'does not hold'."""
    rival = _best(accuracy, rnn_labels, False)
    a, b = accuracy["CNN (2-D)"], accuracy[rival]
    diff = a["mean"] - b["mean"]
    if min(a.get("n", 2), b.get("n", 2)) >= 2 and abs(diff) <= math.hypot(a["std"], b["std"]):
        return "is a tie (within the seeds' spread)"
    return "holds" if diff > 0 else "does not hold"


def verdict(result: dict) -> str:
    """Per part: the CNN (or TCN) against the best RNN, by how much and whether beyond the seeds'
    spread (the root-sum-square of the two stds); then whether each form of the claim holds."""
    dig, pol, lm = result["digits"], result["polarity"], result["lm"]
    rnn_labels = [k for k in dig["labels"] if k != "CNN (2-D)" and not k.startswith("TCN")]
    pixel_rnns = [k for k in rnn_labels if dig["reading"][k] == "pixels"]
    parts = [_versus("digits", dig["accuracy"], "CNN (2-D)", rnn_labels, False, " %", 100, " pt"),
             _versus("digit pixels", dig["accuracy"], "TCN pixels", pixel_rnns, False, " %", 100, " pt"),
             _versus("polarity", pol["accuracy"], "CNN-rand", [k for k in pol["labels"] if k != "CNN-rand"], False,
                     " %", 100, " pt"),
             _versus(f"Shakespeare at {lm['seconds']:g} s", lm["bpc"], "TCN", [k for k in lm["labels"] if k != "TCN"],
                     True, " bpc", 1, " bpc")]

    def wins(summaries, first, others, lower):
        rival = _best(summaries, others, lower)
        diff = summaries[first]["mean"] - summaries[rival]["mean"]
        return diff < 0 if lower else diff > 0

    cnn_images = _images_claim(dig["accuracy"], rnn_labels)
    sequence_wins = [wins(dig["accuracy"], "TCN pixels", pixel_rnns, False),
                     wins(pol["accuracy"], "CNN-rand", [k for k in pol["labels"] if k != "CNN-rand"], False),
                     wins(lm["bpc"], "TCN", [k for k in lm["labels"] if k != "TCN"], True)]
    return ("; ".join(parts) + f". CNN-on-images {cnn_images} here; the convolutional "
            f"model beat the best RNN on {sum(sequence_wins)} of 3 sequence tasks (pixels, polarity, characters), so "
            f"'a CNN beats LSTM/GRU on most sequence tasks' {'holds' if sum(sequence_wins) >= 2 else 'does not hold'} "
            f"here")


def run(cfg: Config, out: Path, progress: bool = False) -> dict:
    if cfg.text_pooling not in ("max", "last"):
        raise ValueError(f"text_pooling must be 'max' or 'last'; got {cfg.text_pooling!r}")
    dig, pol, lm = _digits(cfg, progress), _polarity(cfg, progress), _lm(cfg, progress)
    n = len(cfg.seeds)
    timed = ("2 threads of a shared machine, so timing is noisy" if torch.device(cfg.device).type == "cpu"
             else f"on {cfg.device}, the device synchronised before each clock read")
    parameters = {**{f"digits: {k}": v for k, v in dig["parameters"].items()},
                  **{f"polarity: {k} (besides the embedding)": v for k, v in pol["parameters"].items()},
                  **{f"LM: {k}": v for k, v in lm["parameters"].items()}}
    setup = (
        f"(a) 8x8 digits (scikit-learn, {dig['images']['train']:,} train / {dig['images']['test']} test images): a "
        f"2-D CNN (two 3x3 convolutions, 2x2 max-pool, linear) vs LSTM, GRU and tanh RNN reading rows (8 steps x 8) "
        f"or pixels (64 steps x 1) and a TCN over the pixels (kernel {cfg.digits_kernel}), each one layer/stack and "
        f"a linear read-out matched to ~{cfg.digits_parameters:,} parameters; Adam lr {cfg.digits_lr}, "
        f"{cfg.digits_steps} steps of {cfg.digits_batch}. (b) Sentence polarity (rotten-tomatoes.tsv, "
        f"{pol['sentences']['train']:,}/{pol['sentences']['validation']:,}/{pol['sentences']['test']:,} sentences; "
        f"not Kim's MR files): Kim's CNN-rand (random {cfg.text_embedding}-d word vectors — Kim: 300 —, windows "
        f"{', '.join(map(str, cfg.text_windows))} x {cfg.text_maps} maps, max over time, dropout {cfg.text_dropout}) "
        f"vs BiLSTM and BiGRU over the valid words ({cfg.text_pooling} over the valid steps, dropout "
        f"{cfg.text_dropout}), matched on the parameters besides the shared embedding ({pol['vocabulary']:,} words x "
        f"{cfg.text_embedding}; words seen at least {cfg.text_min_freq} times in training); sentences cut at "
        f"{cfg.text_max_len} words; Adam lr {cfg.text_lr}, {cfg.text_steps} "
        f"steps of {cfg.text_batch} (Kim: Adadelta, max-norm 3, 25 epochs). (c) Character LM on the bundled "
        f"Shakespeare: embedding {cfg.lm_embedding}, TCN (kernel {cfg.lm_kernel}, depth covering windows of "
        f"{cfg.lm_window}), LSTM (H={cfg.lm_hidden}) and GRU matched to the LSTM's parameters, each given "
        f"{cfg.lm_seconds:g} s of its own training time (a step of each in turn, on the same batches of "
        f"{cfg.lm_batch} windows, {timed}); validation bits per "
        f"character on {cfg.lm_valid_chars:,} characters. {n} seeds; test accuracy / bpc as mean ± std.")
    dig_rows = [[k, dig["reading"][k], dig["parameters"][k], common.pm(dig["accuracy"][k], percent=True),
                 common.pm(dig["seconds"][k])] for k in dig["labels"]]
    pol_rows = [[k, pol["parameters"][k], common.pm(pol["accuracy"][k], percent=True), common.pm(pol["seconds"][k])]
                for k in pol["labels"]]
    pol_rows.append(["CNN-rand (Kim 2014, published; MR, a different polarity set, 10-fold CV)", "—",
                     f"{100 * KIM_CNN_RAND_MR:.1f} %", "—"])
    lm_rows = [[k, lm["parameters"][k], common.pm(lm["steps"][k]), common.pm(lm["ms_per_step"][k]),
                common.pm(lm["bpc"][k]), "—"] for k in lm["labels"]]
    lm_rows += [[f"{k} (Bai et al. 2018, published; PTB characters, a different corpus)", "—", "—", "—", "—",
                 f"{v:.2f}"] for k, v in BAI_PTB_CHAR.items()]
    tables = [
        common.table(f"{NAME} (a): 8x8 digits, test accuracy after {cfg.digits_steps} steps (mean ± std, {n} seeds)",
                     ["model", "reads", "parameters", "test accuracy", "train seconds"], dig_rows),
        common.table(f"{NAME} (b): sentence polarity, test accuracy after {cfg.text_steps} steps (mean ± std, {n} "
                     "seeds); parameters besides the shared word embedding",
                     ["model", "parameters", "test accuracy", "train seconds"], pol_rows),
        common.table(f"{NAME} (c): Shakespeare character LM after {cfg.lm_seconds:g} s of training each (mean ± std, "
                     f"{n} seeds); Bai et al.'s PTB figures for reference",
                     ["model", "parameters", "steps", "ms / step", "validation bpc (ours)", "PTB char bpc (published)"],
                     lm_rows)]
    figures = [
        _bars("8x8 digits", dig["labels"], dig["accuracy"], out, "cnn_vs_rnn_digits.png",
              f"{NAME} (a): test accuracy on scikit-learn's 8x8 digits, models matched to ~{cfg.digits_parameters:,} "
              f"parameters; bar: mean over {n} seeds, whisker: ± std; orange: convolutional, blue: recurrent.",
              convolutional=("CNN (2-D)", "TCN pixels")),
        _bars("sentence polarity", pol["labels"], pol["accuracy"], out, "cnn_vs_rnn_polarity.png",
              f"{NAME} (b): test accuracy on rotten-tomatoes.tsv polarity; bar: mean over {n} seeds, whisker: ± std "
              "(orange: convolutional, blue: recurrent); "
              "dashed: Kim 2014's CNN-rand on MR (a different polarity set).",
              anchor=("Kim 2014 CNN-rand, MR (published)", KIM_CNN_RAND_MR), convolutional=("CNN-rand",)),
        _lm_figure(lm, n, out, cfg.device)]
    return {"setup": setup, "parameters": parameters, "tables": tables, "figures": figures, "digits": dig,
            "polarity": pol, "lm": lm}


__all__ = ["NAME", "CLAIM", "Config", "PRESETS", "RUN_TIME", "run", "verdict", "DigitCNN", "ImageSequenceNet",
           "KimCNN", "BiRNNClassifier", "as_sequence", "image_batch", "text_widths"]
