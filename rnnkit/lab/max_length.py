"""Sentence polarity with text cut to a maximum length and zero-padded: (a) accuracy against
``max_len`` per cell, and (b) pre- against post-padding (and truncation), with and without
``lengths=``, for a classifier that reads the last state.

The classifier is :class:`rnnkit.models.SequenceClassifier` with ``pooling="last"``: embedding
(``<pad>`` = id 0 embeds to zeros) -> one rnnkit recurrent layer -> linear on the final state. The
cells are matched to the LSTM's total parameter count (the embedding is the same for all). Every
batch is a fixed ``(B, max_len)`` array from :func:`rnnkit.text.pad_sequences` (Keras' function:
``padding`` and ``truncating`` "pre" or "post"; Keras' default is "pre" for both).

- Without lengths the layer runs over every step, padding included, and the read-out takes the
  state after step ``max_len``. Pre-padding puts the pads first, so the text is what the layer
  read last; post-padding puts them between the text and the read-out, and the state must carry
  the sentence across them. (The model is called with every length equal to ``max_len``, which
  rnnkit treats exactly as no ``lengths``.)
- With lengths the layer returns each row's last valid state and padding never changes a state.
  rnnkit's ``lengths=`` counts the valid steps from the start of the row, so a pre-padded row is
  left-aligned first (:func:`left_align`; passing a pre-padded row unaligned would make the layer
  read the pads and drop the end of the sentence). With lengths, "pre" and "post" then differ only
  in which end of a long sentence truncation drops: where no sentence is longer than ``max_len``
  the two inputs are the same array and the run is reused, not repeated.

Part (a) uses lengths, post-padding and post-truncation (the first ``max_len`` words, as
``benchmarks/bench_classify.py``'s sweep; it pools by max where we read the last state).

Result keys beyond the contract's (max_len as a string, ``"32"``):

- ``sweep``: ``{cell: {max_len: summarize(test accuracy)}}`` (part a);
- ``padding``: ``{cell: {combination: summarize(test accuracy)}}`` (part b), combinations
  ``"pre, no lengths"``, ``"post, no lengths"``, ``"pre, lengths"``, ``"post, lengths"``;
- ``padding_gap``: ``{cell: {"no lengths"|"lengths": summarize(pre - post accuracy, per seed)}}``;
- ``padding_fraction``, ``truncated_fraction``: ``{max_len: share of padded positions / of
  training sentences longer than max_len}`` (the training rows used);
- ``widths``: ``{cell: hidden width}``; ``rows``: ``{"train", "test"}`` sentences used;
- ``majority``: test accuracy of always answering the commoner label (the labels are unbalanced).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..models.classifier import SequenceClassifier
from ..text import pad_sequences
from . import charlm, common

NAME = "max-length"
CLAIM = ("1. BPTT is sensitive to sequence length, so text is truncated to a maximum length and zero-padded: "
         "accuracy against max_len, and where the padding goes.")

COMBINATIONS = ("pre, no lengths", "post, no lengths", "pre, lengths", "post, lengths")
LABELS = {"rnn": "RNN (tanh)", "lstm": "LSTM", "gru": "GRU"}
DATA_SEED = 30_000  # the training subset is drawn with this seed, the same for every model and seed
UNCUT = 10**9  # polarity_data's max_len when the sentences are wanted whole


@dataclass
class Config:
    """(a) ``max_lens`` for the ``cells``; (b) the four padding combinations at ``padding_len`` for
    ``padding_cells``. ``train_rows``: a fixed random subset of the training sentences (0 = all);
    ``test_rows``: the first of the test split (0 = all). Model: embedding ``embedding`` wide, the
    LSTM of ``hidden`` units and the other cells matched to its parameter count; vocabulary: words
    seen ``min_freq`` times in the training rows. Adam at ``lr`` (gradient norm clipped to
    ``clip``), ``epochs`` passes in batches of ``batch_size``.
    ``device``: where models, batches and held-out tensors live (the runner sets it from ``--device``)."""

    max_lens: tuple[int, ...] = (8, 16, 32, 64)
    cells: tuple[str, ...] = ("rnn", "lstm", "gru")
    padding_len: int = 64
    padding_cells: tuple[str, ...] = ("rnn", "lstm", "gru")
    train_rows: int = 0
    test_rows: int = 0
    embedding: int = 64
    hidden: int = 32
    min_freq: int = 2
    epochs: int = 2
    batch_size: int = 64
    lr: float = 1e-2
    clip: float = 1.0
    seeds: tuple[int, ...] = (0, 1, 2)
    device: str = "cpu"


PRESETS = {
    "tiny": Config(max_lens=(4, 12), cells=("rnn", "lstm"), padding_len=12, padding_cells=("lstm",), embedding=8,
                   hidden=8, min_freq=1, epochs=2, batch_size=16, seeds=(0, 1)),
    "quick": Config(padding_cells=("lstm", "gru"), train_rows=5000),
    "full": Config(),
}
RUN_TIME = {"quick": "1.4 min", "full": "3 min"}  # measured on the idle 2-core machine, 2 threads


def pad(sequences: list[list[int]], max_len: int, side: str, lengths: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids (N, max_len) int64, lengths (N,))`` of token-id ``sequences`` padded with 0 and
    truncated at ``side`` ("pre" or "post") by :func:`rnnkit.text.pad_sequences`; with ``lengths``
    the rows are then left-aligned (:func:`left_align`), as ``lengths=`` expects, and ``lengths``
    holds each row's kept tokens; without, every length is ``max_len`` (the layer reads every step)."""
    if side not in ("pre", "post"):
        raise ValueError(f"side must be 'pre' or 'post' (where pads go and long texts are cut); got {side!r}")
    ids = torch.from_numpy(pad_sequences(sequences, maxlen=max_len, dtype="int64", padding=side, truncating=side))
    kept = torch.tensor([min(len(s), max_len) for s in sequences], dtype=torch.long)
    if not lengths:
        return ids, torch.full_like(kept, max_len)
    return (left_align(ids, kept) if side == "pre" else ids), kept


def left_align(ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Pre-padded rows (B, T) with ``lengths`` (B,) real tokens at their ends -> the same tokens at
    the start of each row and the pads after them (the layout ``lengths=`` expects)."""
    T = ids.shape[1]
    steps = torch.arange(T).unsqueeze(0)
    source = (steps + (T - lengths).unsqueeze(1)) % T  # row b's step t reads step t + pads, wrapping the pads round
    return ids.gather(1, source)


def padding_fraction(sequences: list[list[int]], max_len: int) -> float:
    """Share of the positions of a (N, max_len) padded array that are padding."""
    return 1.0 - sum(min(len(s), max_len) for s in sequences) / (len(sequences) * max_len)


def truncated_fraction(sequences: list[list[int]], max_len: int) -> float:
    """Share of the sequences longer than ``max_len`` (cut by truncation)."""
    return sum(len(s) > max_len for s in sequences) / len(sequences)


def make_model(cell: str, vocab_size: int, width: int, cfg: Config) -> SequenceClassifier:
    return SequenceClassifier(vocab_size, 2, embedding_size=cfg.embedding, hidden_size=width, cell=cell,
                              pooling="last")


def matched_widths(cells, vocab_size: int, cfg: Config) -> dict[str, int]:
    """Each cell's hidden width whose model's parameter count is closest to the LSTM's at ``cfg.hidden``."""
    target = common.count_parameters(make_model("lstm", vocab_size, cfg.hidden, cfg))
    return {c: cfg.hidden if c == "lstm" else
            common.match_width(lambda w, c=c: make_model(c, vocab_size, w, cfg), target, high=4 * cfg.hidden + 8)
            for c in cells}


def epoch_batches(n: int, batch_size: int, generator: torch.Generator):
    """Endless row indices: each epoch a fresh permutation of ``range(n)`` in batches (the last may be short)."""
    while True:
        order = torch.randperm(n, generator=generator)
        yield from order.split(batch_size)


@torch.no_grad()
def accuracy(model: torch.nn.Module, ids: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor,
             batch: int = 512) -> float:
    """Share of rows whose arg-max class is the label (eval mode)."""
    model.eval()
    right = sum(int((model(ids[i : i + batch], lengths[i : i + batch]).argmax(1) == labels[i : i + batch]).sum())
                for i in range(0, len(labels), batch))
    return right / len(labels)


def train_and_score(cell: str, width: int, vocab_size: int, train, test, seed: int, cfg: Config, desc: str,
                    progress: bool) -> float:
    """Trains one classifier on ``train = (ids, lengths, labels)`` and returns its accuracy on ``test``
    (the same, already on ``cfg.device``). The training rows stay on the CPU, where the batches are
    drawn; :func:`common.train_steps` moves each batch to the model's device."""
    ids, lengths, labels = train
    g = common.generator(seed)
    # built on the CPU (the same initial weights on every device), then moved
    model = make_model(cell, vocab_size, width, cfg).to(cfg.device)
    batches = epoch_batches(len(labels), cfg.batch_size, g)

    def batch():
        rows = next(batches)
        return ids[rows], lengths[rows], labels[rows]

    steps = cfg.epochs * math.ceil(len(labels) / cfg.batch_size)
    common.train_steps(model, batch, lambda m, x, n, y: F.cross_entropy(m(x, n), y), steps, cfg.lr, cfg.clip,
                       desc=desc, progress=progress)
    return accuracy(model, *test)


def _key(*arrays: torch.Tensor) -> str:
    return hashlib.sha1(b"".join(np.ascontiguousarray(a.cpu().numpy()).tobytes() for a in arrays)).hexdigest()


def run(cfg: Config, out: Path, progress: bool = False) -> dict:
    data = charlm.polarity_data(UNCUT, cfg.min_freq)
    train_ids, train_labels = data.train.ids, data.train.labels
    if cfg.train_rows and cfg.train_rows < len(train_ids):
        rows = torch.randperm(len(train_ids), generator=torch.Generator().manual_seed(DATA_SEED))[: cfg.train_rows]
        train_ids, train_labels = [train_ids[i] for i in rows.tolist()], train_labels[rows]
    test_ids, test_labels = data.test.ids, data.test.labels
    if cfg.test_rows:
        test_ids, test_labels = test_ids[: cfg.test_rows], test_labels[: cfg.test_rows]
    vocab_size = len(data.vocab)
    cells = list(dict.fromkeys([*cfg.cells, *cfg.padding_cells]))
    widths = matched_widths(cells, vocab_size, cfg)
    counts = {LABELS[c]: common.count_parameters(make_model(c, vocab_size, widths[c], cfg)) for c in cells}
    done: dict[str, list[float]] = {}  # runs by (cell, inputs): the same inputs and seeds give the same numbers

    def scores(cell: str, max_len: int, side: str, lengths: bool, what: str) -> list[float]:
        train = (*pad(train_ids, max_len, side, lengths), train_labels)
        test = (*pad(test_ids, max_len, side, lengths), test_labels)
        key = cell + _key(*train, *test)  # of the CPU arrays, before any move
        if key not in done:
            test = common.to_device(test, cfg.device)  # once for the seeds, not per evaluation batch
            done[key] = [train_and_score(cell, widths[cell], vocab_size, train, test, seed, cfg,
                                         f"max-length {what} {LABELS[cell]} seed {seed}", progress)
                         for seed in cfg.seeds]
        return done[key]

    sweep = {LABELS[c]: {str(n): common.summarize(scores(c, n, "post", True, f"max_len={n}")) for n in cfg.max_lens}
             for c in cfg.cells}
    padding, gaps = {}, {}
    for c in cfg.padding_cells:
        per = {f"{side}, {'lengths' if lengths else 'no lengths'}": scores(c, cfg.padding_len, side, lengths,
                                                                           f"{side}-padding len={lengths}")
               for lengths in (False, True) for side in ("pre", "post")}
        padding[LABELS[c]] = {name: common.summarize(per[name]) for name in COMBINATIONS}
        gaps[LABELS[c]] = {mode: common.summarize(a - b for a, b in zip(per[f"pre, {mode}"], per[f"post, {mode}"]))
                           for mode in ("no lengths", "lengths")}
    lens = sorted({*cfg.max_lens, cfg.padding_len})
    result = {
        "setup": _setup(cfg, len(train_ids), len(test_ids), vocab_size, widths),
        "parameters": counts,
        "sweep": sweep,
        "padding": padding,
        "padding_gap": gaps,
        "padding_len": cfg.padding_len,
        "padding_fraction": {str(n): padding_fraction(train_ids, n) for n in lens},
        "truncated_fraction": {str(n): truncated_fraction(train_ids, n) for n in lens},
        "widths": {LABELS[c]: w for c, w in widths.items()},
        "rows": {"train": len(train_ids), "test": len(test_ids)},
        # the labels are not balanced: always answering the commoner one is the baseline to beat
        "majority": max(float(test_labels.float().mean()), 1.0 - float(test_labels.float().mean())),
    }
    result["tables"] = _tables(cfg, result)
    result["figures"] = _figures(cfg, result, out)
    return result


def _setup(cfg: Config, n_train: int, n_test: int, vocab_size: int, widths: dict) -> str:
    return (f"Sentence polarity (rotten-tomatoes.tsv, the lab's fixed split): {n_train:,} training sentences"
            f"{' (a fixed random subset)' if cfg.train_rows else ''}, {n_test:,} test sentences, lower-cased words "
            f"(vocabulary {vocab_size:,}: words seen >= {cfg.min_freq} times in training). Classifier: embedding "
            f"{cfg.embedding} -> one rnnkit layer -> linear on the final state (SequenceClassifier, pooling 'last'); "
            f"hidden widths {', '.join(f'{LABELS[c]} {w}' for c, w in widths.items())}, matched to the LSTM's "
            f"parameter count. Adam lr {cfg.lr}, clip {cfg.clip}, {cfg.epochs} epochs of batches of "
            f"{cfg.batch_size}; test accuracy; {len(cfg.seeds)} seeds. (a) max_len = "
            f"{', '.join(map(str, cfg.max_lens))} with lengths=, post-padding and post-truncation. (b) at max_len "
            f"{cfg.padding_len}: rnnkit.text.pad_sequences with padding = truncating = 'pre' (Keras' default) or "
            f"'post', the layer given each row's length (pre-padded rows left-aligned first) or run over every step.")


def _tables(cfg: Config, r: dict) -> list[dict]:
    lens = [str(n) for n in cfg.max_lens]
    rows = [[cell, *(common.pm(acc[n], percent=True) for n in lens)] for cell, acc in r["sweep"].items()]
    rows.append(["padding (share of positions)", *(f"{r['padding_fraction'][n]:.1%}" for n in lens)])
    rows.append(["sentences truncated", *(f"{r['truncated_fraction'][n]:.1%}" for n in lens)])
    rows.append(["always the majority class", *(f"{r['majority']:.1%}" for _ in lens)])
    tables = [common.table(
        f"(a) Test accuracy against max_len (lengths=, post-padding, first max_len words kept; mean ± std over "
        f"{len(cfg.seeds)} seeds)", ["model", *(f"max_len={n}" for n in lens)], rows)]
    if r["padding"]:
        n = str(cfg.padding_len)
        rows = [[cell, *(common.pm(acc[c], percent=True) for c in COMBINATIONS),
                 common.pm(r["padding_gap"][cell]["no lengths"], percent=True),
                 common.pm(r["padding_gap"][cell]["lengths"], percent=True)] for cell, acc in r["padding"].items()]
        tables.append(common.table(
            f"(b) Test accuracy at max_len={cfg.padding_len} ({r['padding_fraction'][n]:.1%} of positions are padding,"
            f" {r['truncated_fraction'][n]:.1%} of sentences truncated): padding and truncation 'pre' or 'post', with "
            f"and without lengths= (mean ± std over seeds; gap = pre - post, per seed)",
            ["model", *COMBINATIONS, "gap pre - post, no lengths", "gap pre - post, lengths"], rows))
    return tables


def _figures(cfg: Config, r: dict, out: Path) -> list[dict]:
    ncols = 2 if r["padding"] else 1
    fig, axes = common.new_figure(ncols=ncols, size=(5.5, 4.2))
    ax = axes[0][0]
    lens = list(cfg.max_lens)
    for cell, acc in r["sweep"].items():
        mean = torch.tensor([acc[str(n)]["mean"] for n in lens])
        std = torch.tensor([acc[str(n)]["std"] for n in lens])
        line, = ax.plot(lens, mean, marker="o", label=cell)
        ax.fill_between(lens, mean - std, mean + std, color=line.get_color(), alpha=0.15)
    ax.axhline(r["majority"], color="black", linestyle="--", linewidth=1, label=f"majority class ({r['majority']:.1%})")
    ax.set_xscale("log", base=2)
    ax.set_xticks(lens, [str(n) for n in lens])
    ax.set_xlabel("max_len (words kept)")
    ax.set_ylabel("test accuracy")
    ax.set_title("max-length: accuracy against max_len")
    ax.legend(fontsize=8)
    if r["padding"]:
        ax = axes[0][1]
        cells = list(r["padding"])
        width = 0.8 / len(COMBINATIONS)
        for i, combo in enumerate(COMBINATIONS):
            xs = [j + (i - (len(COMBINATIONS) - 1) / 2) * width for j in range(len(cells))]
            ax.bar(xs, [r["padding"][c][combo]["mean"] for c in cells], width,
                   yerr=[r["padding"][c][combo]["std"] for c in cells], capsize=3, label=combo,
                   hatch="" if "no lengths" in combo else "//")
        ax.axhline(r["majority"], color="black", linestyle="--", linewidth=1)
        ax.set_xticks(range(len(cells)), cells)
        ax.set_ylim(0.4, 1.0)
        ax.set_ylabel("test accuracy")
        ax.set_title(f"max-length: padding side at max_len={cfg.padding_len}")
        ax.legend(fontsize=8)
    return [common.figure(
        fig, out, "max_length.png",
        f"Left: test accuracy against max_len (log2 axis; lengths=, post-padding; mean over {len(cfg.seeds)} seeds, "
        f"band ± std; dashed: always answering the majority class). " + (
            f"Right: at max_len={cfg.padding_len}, padding/truncation 'pre' or 'post' with and without lengths= "
            f"(bars: mean, whiskers: ± std over seeds)." if r["padding"] else ""))]


def verdict(result: dict) -> str:
    """(a) each cell's best max_len and its range; (b) the pre - post gap without and with lengths."""
    parts = []
    for cell, acc in result["sweep"].items():
        means = {int(n): s["mean"] for n, s in acc.items()}
        best = max(means, key=lambda n: means[n])
        parts.append(f"{cell} best at max_len={best} ({means[best]:.1%}, {min(means.values()):.1%} at worst)")
    text = "(a) " + ", ".join(parts) + f" (majority class {result['majority']:.1%})"
    gaps = []
    for cell, g in result["padding_gap"].items():
        no, yes = g["no lengths"]["mean"] * 100, g["lengths"]["mean"] * 100
        cost = f"costs {no:.1f} points" if no >= 0 else f"gains {-no:.1f} points"
        gaps.append(f"{cell}: without lengths post-padding {cost}, with lengths the gap is {yes:+.1f}")
    if gaps:
        n = str(result["padding_len"])
        # with lengths, pre and post differ only in truncation: with none, the inputs are the same
        same = " (no sentence truncated, so with lengths the inputs are identical)" if not \
            result["truncated_fraction"][n] else ""
        text += (f"; (b) at max_len={n} ({result['padding_fraction'][n]:.0%} padding) " + "; ".join(gaps)
                 + f" (gap = pre - post accuracy){same}")
    return text


__all__ = ["NAME", "CLAIM", "Config", "PRESETS", "RUN_TIME", "run", "verdict", "pad", "left_align",
           "padding_fraction", "truncated_fraction", "matched_widths", "COMBINATIONS"]
