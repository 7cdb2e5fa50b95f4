"""The language-model task through its Python API: codec, training steps, checkpoint, generation."""

import pytest
import torch

from rnnkit.config import LanguageModelConfig, LMConfig, TrainConfig
from rnnkit.decode import DecodeConfig
from rnnkit.tasks.language_model import (
    LanguageModel,
    LanguageModelTask,
    decode_config,
    encode_stream,
    fit_codec,
    start_id,
)
from rnnkit.text.codec import TextCodec
from rnnkit.train.trainer import Trainer

TEXT = "the cat sat on the mat.\nthe dog sat on the log.\n" * 12


def make_task(out, level="char") -> LanguageModelTask:
    return LanguageModelTask.from_text(
        TEXT, TEXT[:200], LanguageModelConfig(embedding_size=8, hidden_size=16), LMConfig(level=level, bptt=8),
        TrainConfig(out=str(out), epochs=1, max_steps=2, batch_size=4, overwrite=True))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("lm")
    task = make_task(out)
    Trainer(task, task.train_cfg, progress=False).fit()
    return task, LanguageModel.load(out)


@pytest.mark.parametrize("level", ["char", "bpe"])
def test_codec_is_lossless_and_starts_after_a_newline(level):
    codec = fit_codec(TEXT, LMConfig(level=level, vocab_size=300))
    ids = encode_stream(codec, TEXT)
    assert ids.dtype == torch.long and ids.dim() == 1
    assert codec.decode(ids.tolist()) == TEXT
    assert codec.decode_tokens([start_id(codec.vocab)]) in (["\n"], ["Ċ"])
    again = TextCodec.from_dict(codec.to_dict(), level)
    assert again.vocab == codec.vocab and encode_stream(again, TEXT).equal(ids)


def test_start_id_falls_back_to_bos():
    codec = fit_codec("no line break here", LMConfig(level="char"))
    assert start_id(codec.vocab) == codec.vocab.bos_id


def test_task_meta_and_loss_falls(tmp_path):
    task = make_task(tmp_path, level="word")
    meta = task.checkpoint_meta()
    assert list(meta) == ["model_type", "model", "train", "lm", "vocab", "word_marks"]
    assert meta["lm"]["level"] == "word" and meta["lm"]["bptt"] == 8 and meta["vocab"] == task.codec.vocab.to_dict()
    window = next(iter(task.train_batches(0)))
    opt = torch.optim.AdamW(task.model.parameters(), lr=1e-2)
    task.model.train()
    losses = []
    for _ in range(15):
        task.state = None  # the same window each time, from a fresh state
        opt.zero_grad()
        loss, n = task.loss(window)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert n == window.targets.numel() and losses[-1] < losses[0] * 0.8


def test_checkpoint_loads_the_same_model(trained):
    task, lm = trained
    assert lm.codec.vocab == task.codec.vocab and lm.lm_cfg == task.lm_cfg
    for name, value in task.model.state_dict().items():
        assert torch.equal(lm.model.state_dict()[name], value), name
    assert lm.encode("the cat").equal(encode_stream(task.codec, "the cat"))
    assert lm.evaluate(TEXT)["tokens"] > 0


def test_keywords_and_config_generate_the_same(trained):
    _, lm = trained
    greedy = lm.generate("the ", max_tokens=10, greedy=True)
    assert greedy == lm.generate("the ", config=DecodeConfig(max_new_tokens=10))
    assert len(greedy) == 1 and len(greedy[0]) <= 10  # characters: one per token
    sampled = lm.generate("the ", max_tokens=10, seed=3, top_k=4, temperature=0.8, num=3)
    assert sampled == lm.generate("the ", config=DecodeConfig(do_sample=True, max_new_tokens=10, seed=3, top_k=4,
                                                              temperature=0.8, num_return_sequences=3))
    assert len(sampled) == 3
    beams = lm.generate("the ", max_tokens=6, beam=3, num=2)
    assert len(beams) == 2 and beams == lm.generate("the ", config=decode_config(max_tokens=6, beam=3, num=2))


def test_a_continuation_never_holds_a_special_token_and_runs_to_max_tokens(trained):
    # a stream never holds <pad>, <bos> or <eos>: a weak model that drew <eos> ended early
    _, lm = trained
    vocab = lm.codec.vocab
    bias = lm.model.head.bias.detach().clone()
    try:
        with torch.no_grad():  # make the specials the likeliest tokens: they must still never come out
            lm.model.head.bias[[vocab.pad_id, vocab.bos_id, vocab.eos_id, vocab.unk_id]] = 50.0  # (char level)
        for kwargs in ({"greedy": True}, {"seed": 0}, {"beam": 3}):
            (text,) = lm.generate("the ", max_tokens=25, **kwargs)
            assert len(text) == 25, kwargs  # characters: one per token
            assert not {"<pad>", "<bos>", "<eos>", "<unk>"} & set(lm.codec.tokenizer.tokenize(text)), kwargs
    finally:
        with torch.no_grad():
            lm.model.head.bias.copy_(bias)


def test_greedy_copies_and_beam_width(trained):
    _, lm = trained
    assert lm.generate(max_tokens=5, greedy=True, num=3) == lm.generate(max_tokens=5, greedy=True) * 3
    cfg = decode_config(max_tokens=7, beam=1, num=4)
    assert (cfg.strategy, cfg.num_beams, cfg.num_return_sequences, cfg.length_penalty) == ("beam", 4, 4, 0.0)
    assert decode_config(greedy=True, num=5).strategy == "greedy"
    assert decode_config(top_p=0.5).strategy == "sample"


def test_join_puts_a_space_between_words_only_at_word_level(trained):
    _, lm = trained
    assert lm.join("ROMEO:", "hi") == "ROMEO:hi"  # characters concatenate
