"""Text classification: rows (text, label) -> token ids -> :class:`SequenceClassifier`.

    task = ClassificationTask.from_rows(train_rows, valid_rows, model_cfg, text_cfg, train_cfg)
    Trainer(task, train_cfg).fit()
    clf = Classifier.load("runs/classify")       # rebuilt from the checkpoint alone; device="cuda" for a GPU
    clf.predict(["a fine film"])                 # [("pos", 0.93)]

The texts' codec (tokenizer + vocabulary) is ``task.codec`` / ``clf.codec``; their length limits
are the :class:`TextConfig` ``text_cfg``. Batches go to the model's device; their lengths stay on
the CPU, where the recurrent layers read them (packing a batch for cuDNN needs them there).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..config import ClassifierModelConfig, TextConfig, TrainConfig
from ..models._common import at_least_float32
from ..models.classifier import SequenceClassifier
from ..text.batching import BucketBatchSampler, pad_batch, padding_fraction
from ..text.codec import TextCodec
from ..text.vocab import warn_if_mostly_unknown
from ..train.checkpoint import checkpoint_fields, config_from_meta, load_checkpoint
from ..train.distributed import StandIn, share
from ..train.runtime import module_device, resolve_device, seed_everything
from ._progress import progress_bar

MODEL_TYPE = "classifier"


def fit_codec(texts: Sequence[str], cfg: TextConfig) -> TextCodec:
    """The codec of the training texts: ``cfg``'s tokenizer (BPE trained on ``texts``) and vocabulary."""
    return TextCodec.fit(texts, cfg.level, cfg.lowercase, min_freq=cfg.min_freq, max_size=cfg.max_vocab)


def encode_texts(codec: TextCodec, texts: Sequence[str], cfg: TextConfig) -> list[list[int]]:
    """The ids of each text, cut to ``cfg.max_len`` at the end ``cfg.truncating`` names. Never an
    empty list: a text with no tokens (blank, or nothing the tokenizer keeps) becomes ``[<unk>]``,
    since a sequence of length zero breaks pooling and packing in the model."""
    n = cfg.max_len
    out = []
    for text in texts:
        ids = codec.encode(text) or [codec.vocab.unk_id]
        out.append(ids[-n:] if cfg.truncating == "pre" else ids[:n])
    return out


def make_batch(encoded: Sequence[list[int]], labels: Sequence[int] | None, index: Sequence[int],
               device: torch.device | None = None):
    """``(ids (B, T), lengths (B,), labels (B,) or None)`` of the texts ``index``; ids and labels on
    ``device`` (default: the CPU), lengths on the CPU."""
    ids, lengths, _ = pad_batch([encoded[i] for i in index])
    y = None if labels is None else torch.tensor([labels[i] for i in index])
    if device is not None:
        ids, y = ids.to(device), None if y is None else y.to(device)
    return ids, lengths, y


class ClassificationTask:
    """The task protocol of :class:`rnnkit.train.Trainer` for a :class:`SequenceClassifier`."""

    monitor, higher_is_better, unit = "accuracy", True, "examples"

    def __init__(self, model, codec: TextCodec, text_cfg: TextConfig, labels: list[str], train, valid,
                 model_cfg: ClassifierModelConfig, train_cfg: TrainConfig):
        self.model, self.codec, self.text_cfg, self.labels = model, codec, text_cfg, labels
        self.train_ids, self.train_y = train
        self.valid_ids, self.valid_y = valid
        self.model_cfg, self.train_cfg = model_cfg, train_cfg
        self.sampler = BucketBatchSampler([len(s) for s in self.train_ids], train_cfg.batch_size, seed=train_cfg.seed)
        self.rank, self.world_size = 0, 1  # see shard()

    @classmethod
    def from_rows(cls, train_rows, valid_rows, model_cfg: ClassifierModelConfig, text_cfg: TextConfig,
                  train_cfg: TrainConfig):
        seed_everything(train_cfg.seed)
        codec = fit_codec([t for t, _ in train_rows], text_cfg)
        labels = sorted({lab for _, lab in train_rows})
        index = {lab: i for i, lab in enumerate(labels)}
        unseen = sorted({lab for _, lab in valid_rows} - set(index))
        if unseen:
            shown = ", ".join(map(repr, unseen[:10])) + (f" and {len(unseen) - 10} more" if len(unseen) > 10 else "")
            raise ValueError(f"validation labels {shown} never occur in the training data")
        model = SequenceClassifier.from_config(model_cfg, len(codec.vocab), len(labels), codec.vocab.pad_id)
        train = (encode_texts(codec, [t for t, _ in train_rows], text_cfg), [index[lab] for _, lab in train_rows])
        valid = (encode_texts(codec, [t for t, _ in valid_rows], text_cfg), [index[lab] for _, lab in valid_rows])
        return cls(model, codec, text_cfg, labels, train, valid, model_cfg, train_cfg)

    def padding_fraction(self) -> float:
        return padding_fraction([len(s) for s in self.train_ids], self.sampler.batches())

    def batches_per_epoch(self) -> int:
        return len(self.sampler)

    def shard(self, rank: int, world_size: int) -> None:
        """Data-parallel (see :class:`rnnkit.train.task.ShardedTask`): every rank builds the same
        global batches (the length-bucketed order of the seed and epoch) and takes its contiguous
        share of each (:func:`rnnkit.train.distributed.share`)."""
        self.rank, self.world_size = rank, world_size

    def train_batches(self, epoch: int):
        self.sampler.set_epoch(epoch)
        for index in self.sampler:
            mine, real = share(index, self.rank, self.world_size)
            batch = make_batch(self.train_ids, self.train_y, mine)
            yield batch if real else StandIn(batch)

    def loss(self, batch):
        if isinstance(batch, StandIn):  # a rank with no share of this batch: runs, adds nothing
            return self.loss(batch.batch)[0], 0
        ids, lengths, y = batch
        device = module_device(self.model)
        ids, y = ids.to(device), y.to(device)
        return F.cross_entropy(at_least_float32(self.model(ids, lengths)), y), len(y)

    def evaluate(self) -> dict:
        return evaluate(self.model, self.valid_ids, self.valid_y, self.train_cfg.batch_size)

    def checkpoint_meta(self) -> dict:
        return {"model_type": MODEL_TYPE, "model": dataclasses.asdict(self.model_cfg), "labels": self.labels,
                "train": dataclasses.asdict(self.train_cfg), "text": dataclasses.asdict(self.text_cfg),
                **self.codec.to_dict()}


@torch.no_grad()
def evaluate(model, encoded, labels, batch_size: int = 256, progress: bool = False) -> dict:
    """Accuracy and mean cross-entropy over ``encoded`` texts, on ``model``'s device; ``progress``:
    a bar on a terminal."""
    model.eval()
    device = module_device(model)
    correct, total_loss = 0, 0.0
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))  # little padding
    starts = range(0, len(order), batch_size)
    for start in progress_bar(starts, len(starts), "evaluate", progress):
        ids, lengths, y = make_batch(encoded, labels, order[start : start + batch_size], device)
        logits = model(ids, lengths)
        total_loss += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
    n = max(len(encoded), 1)
    return {"accuracy": correct / n, "loss": total_loss / n, "examples": len(encoded)}


class Classifier:
    """A trained classifier rebuilt from its checkpoint folder alone."""

    def __init__(self, model: SequenceClassifier, codec: TextCodec, text_cfg: TextConfig, labels: list[str]):
        self.model, self.codec, self.text_cfg, self.labels = model.eval(), codec, text_cfg, labels

    @classmethod
    def load(cls, directory, device: str | torch.device = "cpu") -> Classifier:
        """The classifier saved in ``directory``, on ``device`` (see
        :func:`~rnnkit.train.runtime.resolve_device`; ``"auto"``: a GPU where there is one). The
        weights are read onto the CPU and then moved, so a checkpoint saved on any device loads."""
        device = resolve_device(device)
        ckpt = load_checkpoint(directory, MODEL_TYPE)
        meta = ckpt.meta
        with checkpoint_fields(directory):
            text_cfg = config_from_meta(TextConfig, meta, "text", directory)
            codec = TextCodec.from_dict(meta, text_cfg.level, text_cfg.lowercase)
            labels = [str(label) for label in meta["labels"]]
            model = SequenceClassifier.from_config(config_from_meta(ClassifierModelConfig, meta, "model", directory),
                                                   len(codec.vocab), len(labels), codec.vocab.pad_id)
        ckpt.load_into(model)
        return cls(model.to(device), codec, text_cfg, labels)

    @property
    def device(self) -> torch.device:
        """Where the model runs (prediction and evaluation run there too)."""
        return module_device(self.model)

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """The ids the model reads for each text (see :func:`encode_texts`)."""
        return encode_texts(self.codec, texts, self.text_cfg)

    @torch.no_grad()
    def predict(self, texts: Sequence[str], batch_size: int = 256, progress: bool = False) -> list[tuple[str, float]]:
        """``(label, probability)`` of each text (one str is one text, as a Hugging Face pipeline
        reads it, not a sequence of characters); warns when most tokens are unknown to the model;
        ``progress``: a bar on a terminal."""
        if isinstance(texts, str):
            texts = [texts]
        encoded = self.encode(texts)
        warn_if_mostly_unknown(encoded, self.codec.vocab, "input")
        out: list[tuple[str, float]] = []
        starts = range(0, len(encoded), batch_size)
        for start in progress_bar(starts, len(starts), "predict", progress):
            ids, lengths, _ = make_batch(encoded, None, range(start, min(start + batch_size, len(encoded))),
                                         self.device)
            probs = self.model(ids, lengths).softmax(1)
            p, k = (t.cpu() for t in probs.max(1))  # one copy from the device, not one per text
            out += [(self.labels[int(i)], float(q)) for q, i in zip(p, k)]
        return out

    def evaluate(self, rows, progress: bool = False) -> dict:
        """Accuracy and loss on ``(text, label)`` rows; warns when most tokens are unknown to the
        model; ``progress``: a bar on a terminal."""
        index = {lab: i for i, lab in enumerate(self.labels)}
        unknown = sorted({lab for _, lab in rows} - set(index))
        if unknown:
            raise ValueError(f"labels {unknown} are not among this model's labels {self.labels}")
        encoded = self.encode([t for t, _ in rows])
        warn_if_mostly_unknown(encoded, self.codec.vocab, "evaluated")
        return evaluate(self.model, encoded, [index[lab] for _, lab in rows], progress=progress)
