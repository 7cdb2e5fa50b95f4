"""Text classification: rows (text, label) -> token ids -> :class:`SequenceClassifier`.

    task = ClassificationTask.from_rows(train_rows, valid_rows, model_cfg, text_cfg, train_cfg)
    Trainer(task, train_cfg).fit()
    clf = Classifier.load("runs/classify")       # rebuilt from the checkpoint alone
    clf.predict(["a fine film"])                 # [("pos", 0.93)]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..config import ModelConfig, TextConfig, TrainConfig
from ..models._common import at_least_float32
from ..models.classifier import SequenceClassifier
from ..text.batching import BucketBatchSampler, pad_batch, padding_fraction
from ..text.tokenize import make_tokenizer, restore_tokenizer, tokenizer_state
from ..text.vocab import Vocab, warn_if_mostly_unknown
from ..train.checkpoint import checkpoint_fields, config_from_meta, load_checkpoint
from ..train.trainer import seed_everything
from ._progress import progress_bar

MODEL_TYPE = "classifier"


class TextEncoder:
    """Tokenizer + vocabulary + truncation: texts -> lists of ids (at most ``max_len`` each)."""

    def __init__(self, tokenizer, vocab: Vocab, cfg: TextConfig):
        self.tokenizer, self.vocab, self.cfg = tokenizer, vocab, cfg

    @classmethod
    def fit(cls, texts: Sequence[str], cfg: TextConfig) -> TextEncoder:
        tokenizer = make_tokenizer(cfg.level, cfg.lowercase, corpus=texts)
        vocab = Vocab.build((tokenizer.tokenize(t) for t in texts), min_freq=cfg.min_freq, max_size=cfg.max_vocab)
        return cls(tokenizer, vocab, cfg)

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Never an empty list: a text with no tokens (blank, or nothing the tokenizer keeps) becomes
        ``[<unk>]``, since a sequence of length zero breaks pooling and packing in the model."""
        n = self.cfg.max_len
        out = []
        for text in texts:
            ids = self.vocab.encode(self.tokenizer.tokenize(text)) or [self.vocab.unk_id]
            out.append(ids[-n:] if self.cfg.truncating == "pre" else ids[:n])
        return out

    def to_dict(self) -> dict:
        return {"text": dataclasses.asdict(self.cfg), "vocab": self.vocab.to_dict(),
                **tokenizer_state(self.tokenizer)}

    @classmethod
    def from_dict(cls, d: dict, directory=".") -> TextEncoder:
        cfg = config_from_meta(TextConfig, d, "text", directory)
        return cls(restore_tokenizer(cfg.level, cfg.lowercase, d), Vocab.from_dict(d["vocab"]), cfg)


def make_batch(encoded: Sequence[list[int]], labels: Sequence[int] | None, index: Sequence[int]):
    ids, lengths, _ = pad_batch([encoded[i] for i in index])
    y = None if labels is None else torch.tensor([labels[i] for i in index])
    return ids, lengths, y


class ClassificationTask:
    """The task protocol of :class:`rnnkit.train.Trainer` for a :class:`SequenceClassifier`."""

    monitor, higher_is_better, unit = "accuracy", True, "examples"

    def __init__(self, model, encoder: TextEncoder, labels: list[str], train, valid, model_cfg: ModelConfig,
                 train_cfg: TrainConfig):
        self.model, self.encoder, self.labels = model, encoder, labels
        self.train_ids, self.train_y = train
        self.valid_ids, self.valid_y = valid
        self.model_cfg, self.train_cfg = model_cfg, train_cfg
        self.sampler = BucketBatchSampler([len(s) for s in self.train_ids], train_cfg.batch_size, seed=train_cfg.seed)

    @classmethod
    def from_rows(cls, train_rows, valid_rows, model_cfg: ModelConfig, text_cfg: TextConfig, train_cfg: TrainConfig):
        seed_everything(train_cfg.seed)
        encoder = TextEncoder.fit([t for t, _ in train_rows], text_cfg)
        labels = sorted({lab for _, lab in train_rows})
        index = {lab: i for i, lab in enumerate(labels)}
        unseen = sorted({lab for _, lab in valid_rows} - set(index))
        if unseen:
            raise ValueError(f"validation labels {unseen} never occur in the training data")
        model = SequenceClassifier.from_config(model_cfg, len(encoder.vocab), len(labels), encoder.vocab.pad_id)
        train = (encoder.encode([t for t, _ in train_rows]), [index[lab] for _, lab in train_rows])
        valid = (encoder.encode([t for t, _ in valid_rows]), [index[lab] for _, lab in valid_rows])
        return cls(model, encoder, labels, train, valid, model_cfg, train_cfg)

    def padding_fraction(self) -> float:
        return padding_fraction([len(s) for s in self.train_ids], self.sampler.batches())

    def batches_per_epoch(self) -> int:
        return len(self.sampler)

    def train_batches(self, epoch: int):
        self.sampler.set_epoch(epoch)
        for index in self.sampler:
            yield make_batch(self.train_ids, self.train_y, index)

    def loss(self, batch):
        ids, lengths, y = batch
        return F.cross_entropy(at_least_float32(self.model(ids, lengths)), y), len(y)

    def evaluate(self) -> dict:
        return evaluate(self.model, self.valid_ids, self.valid_y, self.train_cfg.batch_size)

    def checkpoint_meta(self) -> dict:
        return {"model_type": MODEL_TYPE, "model": dataclasses.asdict(self.model_cfg), "labels": self.labels,
                "train": dataclasses.asdict(self.train_cfg), **self.encoder.to_dict()}


@torch.no_grad()
def evaluate(model, encoded, labels, batch_size: int = 256, progress: bool = False) -> dict:
    """Accuracy and mean cross-entropy over ``encoded`` texts; ``progress``: a bar on a terminal."""
    model.eval()
    correct, total_loss = 0, 0.0
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))  # little padding
    starts = range(0, len(order), batch_size)
    for start in progress_bar(starts, len(starts), "evaluate", progress):
        ids, lengths, y = make_batch(encoded, labels, order[start : start + batch_size])
        logits = model(ids, lengths)
        total_loss += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
    n = max(len(encoded), 1)
    return {"accuracy": correct / n, "loss": total_loss / n, "examples": len(encoded)}


class Classifier:
    """A trained classifier rebuilt from its checkpoint folder alone."""

    def __init__(self, model: SequenceClassifier, encoder: TextEncoder, labels: list[str]):
        self.model, self.encoder, self.labels = model.eval(), encoder, labels

    @classmethod
    def load(cls, directory) -> Classifier:
        ckpt = load_checkpoint(directory, MODEL_TYPE)
        meta = ckpt.meta
        with checkpoint_fields(directory):
            encoder = TextEncoder.from_dict(meta, directory)
            labels = [str(label) for label in meta["labels"]]
            model = SequenceClassifier.from_config(config_from_meta(ModelConfig, meta, "model", directory),
                                                   len(encoder.vocab), len(labels), encoder.vocab.pad_id)
        ckpt.load_into(model)
        return cls(model, encoder, labels)

    @torch.no_grad()
    def predict(self, texts: Sequence[str], batch_size: int = 256, progress: bool = False) -> list[tuple[str, float]]:
        """``(label, probability)`` of each text; warns when most tokens are unknown to the model;
        ``progress``: a bar on a terminal."""
        encoded = self.encoder.encode(texts)
        warn_if_mostly_unknown(encoded, self.encoder.vocab, "input")
        out: list[tuple[str, float]] = []
        starts = range(0, len(encoded), batch_size)
        for start in progress_bar(starts, len(starts), "predict", progress):
            ids, lengths, _ = make_batch(encoded, None, range(start, min(start + batch_size, len(encoded))))
            probs = self.model(ids, lengths).softmax(1)
            p, k = probs.max(1)
            out += [(self.labels[int(i)], float(q)) for q, i in zip(p, k)]
        return out

    def evaluate(self, rows, progress: bool = False) -> dict:
        """Accuracy and loss on ``(text, label)`` rows; warns when most tokens are unknown to the
        model; ``progress``: a bar on a terminal."""
        index = {lab: i for i, lab in enumerate(self.labels)}
        unknown = sorted({lab for _, lab in rows} - set(index))
        if unknown:
            raise ValueError(f"labels {unknown} are not among this model's labels {self.labels}")
        encoded = self.encoder.encode([t for t, _ in rows])
        warn_if_mostly_unknown(encoded, self.encoder.vocab, "evaluated")
        return evaluate(self.model, encoded, [index[lab] for _, lab in rows], progress=progress)
