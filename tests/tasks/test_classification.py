"""The classification task through its Python API: codec, training steps, checkpoint, predictions."""

import random

import pytest
import torch

from rnnkit.config import ClassifierModelConfig, TextConfig, TrainConfig
from rnnkit.tasks.classification import ClassificationTask, Classifier, encode_texts, fit_codec
from rnnkit.text.codec import TextCodec
from rnnkit.train.trainer import Trainer

CUES = {"good": "pos", "great": "pos", "bad": "neg", "awful": "neg"}


def make_rows(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """Three filler words and one cue word that decides the label."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        cue = rng.choice(sorted(CUES))
        rows.append((" ".join(rng.sample(["the", "film", "was", "a", "plot", "story"], 3) + [cue]), CUES[cue]))
    return rows


def make_task(out, rows=None, **text) -> ClassificationTask:
    rows = rows or make_rows(80)
    return ClassificationTask.from_rows(rows[:64], rows[64:], ClassifierModelConfig(embedding_size=8, hidden_size=16),
                                        TextConfig(**text), TrainConfig(out=str(out), epochs=1, max_steps=2,
                                                                        batch_size=16, overwrite=True))


def test_codec_encodes_decodes_and_truncates():
    cfg = TextConfig(level="word", lowercase=True, max_len=3, truncating="pre")
    codec = fit_codec(["The film was GOOD", "a bad plot"], cfg)
    assert codec.decode(codec.encode("the film was good")) == "the film was good"
    assert codec.encode("film zebra") == [codec.vocab["film"], codec.vocab.unk_id]
    ids = encode_texts(codec, ["the film was good", "", "zebra"], cfg)
    assert ids[0] == codec.encode("film was good")  # "pre" keeps the end
    assert ids[1] == [codec.vocab.unk_id] and ids[2] == [codec.vocab.unk_id]  # never empty
    post = encode_texts(codec, ["the film was good"], TextConfig(level="word", max_len=3, truncating="post"))
    assert post == [codec.encode("the film was")]


def test_task_meta_has_the_configs_and_vocabulary(tmp_path):
    task = make_task(tmp_path, level="char", max_len=20)
    meta = task.checkpoint_meta()
    assert list(meta) == ["model_type", "model", "labels", "train", "text", "vocab"]
    assert meta["model_type"] == "classifier" and meta["labels"] == ["neg", "pos"]
    assert meta["text"]["level"] == "char" and meta["text"]["max_len"] == 20
    assert meta["vocab"] == task.codec.vocab.to_dict()
    assert max(len(s) for s in task.train_ids) <= 20


def test_bpe_meta_carries_the_tokenizer(tmp_path):
    task = make_task(tmp_path, level="bpe")
    meta = task.checkpoint_meta()
    assert "bpe" in meta
    again = TextCodec.from_dict(meta, "bpe")
    assert again.encode("the film was good") == task.codec.encode("the film was good")


def test_loss_falls_with_a_few_optimizer_steps(tmp_path):
    task = make_task(tmp_path)
    batch = next(iter(task.train_batches(0)))
    opt = torch.optim.AdamW(task.model.parameters(), lr=1e-2)
    task.model.train()
    first, n = task.loss(batch)
    first = first.detach()
    assert n == len(batch[2])
    for _ in range(15):
        opt.zero_grad()
        loss, _ = task.loss(batch)
        loss.backward()
        opt.step()
    assert float(task.loss(batch)[0].detach()) < float(first) * 0.8


def test_trained_checkpoint_loads_with_the_same_model_and_codec(tmp_path):
    task = make_task(tmp_path)
    Trainer(task, task.train_cfg, progress=False).fit()
    clf = Classifier.load(tmp_path)
    assert clf.codec.vocab == task.codec.vocab and clf.text_cfg == task.text_cfg and clf.labels == task.labels
    for name, value in task.model.state_dict().items():
        assert torch.equal(clf.model.state_dict()[name], value), name
    texts = ["a good film", "the plot was awful"]
    predictions = clf.predict(texts)
    assert [label for label, _ in predictions] == [task.labels[int(i)] for i in _argmax(task, texts)]
    assert all(0.5 <= p <= 1 for _, p in predictions)
    assert clf.predict(texts[1]) == predictions[1:]  # one str is one text, not a list of characters
    result = clf.evaluate(make_rows(20, seed=1))
    assert result["examples"] == 20 and 0 <= result["accuracy"] <= 1


def _argmax(task, texts):
    from rnnkit.text.batching import pad_batch

    task.model.eval()
    ids, lengths, _ = pad_batch(encode_texts(task.codec, texts, task.text_cfg))
    with torch.no_grad():
        return task.model(ids, lengths).argmax(1)


def test_unseen_validation_label_is_refused(tmp_path):
    rows = make_rows(64)
    with pytest.raises(ValueError, match=r"validation labels 'meh' never occur"):
        make_task(tmp_path, rows + [("so so", "meh")] * 16)
