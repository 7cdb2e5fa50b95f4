"""The translation task through its Python API: codecs, training steps, checkpoint, translation."""

import random
import warnings

import pytest
import torch

from rnnkit.config import Seq2SeqConfig, Seq2SeqModelConfig, TrainConfig
from rnnkit.decode import DecodeConfig
from rnnkit.tasks.translation import TranslationTask, Translator, encode_sources, fit_codec
from rnnkit.text.codec import CodecPair
from rnnkit.train.trainer import Trainer

NUMBERS = {"one": "uno", "two": "dos", "three": "tres", "four": "cuatro", "five": "cinco"}


def make_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """Two to four English number words -> the Spanish words, reversed."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        words = [rng.choice(sorted(NUMBERS)) for _ in range(rng.randint(2, 4))]
        pairs.append((" ".join(words), " ".join(NUMBERS[w] for w in reversed(words))))
    return pairs


S2S = Seq2SeqConfig(min_freq=1, max_src_len=6, max_tgt_len=6, attention="dot")


def make_task(out) -> TranslationTask:
    pairs = make_pairs(60)
    return TranslationTask.from_pairs(pairs[:48], pairs[48:], Seq2SeqModelConfig(embedding_size=8, hidden_size=16),
                                      S2S, TrainConfig(out=str(out), epochs=1, max_steps=2, batch_size=16,
                                                       overwrite=True))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("seq2seq")
    task = make_task(out)
    Trainer(task, task.train_cfg, progress=False).fit()
    return task, Translator.load(out)


def test_codec_pair_has_a_vocabulary_per_side():
    codec = fit_codec(make_pairs(30), S2S)
    assert "uno" in codec.tgt.vocab and "uno" not in codec.src.vocab and "one" in codec.src.vocab
    assert codec.tgt.decode(codec.tgt.encode("dos uno")) == "dos uno"
    data = codec.to_dict()
    assert list(data) == ["src_vocab", "src_word_marks", "tgt_vocab", "tgt_word_marks"]
    again = CodecPair.from_dict(data, S2S.level, S2S.lowercase)
    assert again.src.vocab == codec.src.vocab and again.tgt.vocab == codec.tgt.vocab
    assert again.src.normalize("One  TWO") == "one two"  # lowercased, spacing normalised, nothing <unk>


def test_long_sources_are_cut_with_one_warning():
    codec = fit_codec(make_pairs(30), S2S)
    with pytest.warns(UserWarning, match=r"2 source\(s\) longer than the model's maximum of 3 tokens"):
        ids = encode_sources(codec.src, ["one two three four", "one", "five four three two"], 3)
    assert [len(i) for i in ids] == [3, 1, 3]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        encode_sources(codec.src, ["one two three four"], 3, warn=False)


def test_task_meta_and_loss_falls(tmp_path):
    task = make_task(tmp_path)
    meta = task.checkpoint_meta()
    assert list(meta) == ["model_type", "model", "train", "seq2seq", "src_vocab", "src_word_marks", "tgt_vocab",
                          "tgt_word_marks"]
    assert meta["seq2seq"]["max_tgt_len"] == 6 and meta["tgt_vocab"] == task.codec.tgt.vocab.to_dict()
    batch = next(iter(task.train_batches(0)))
    opt = torch.optim.AdamW(task.model.parameters(), lr=1e-2)
    task.model.train()
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss, _ = task.loss(batch)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0] * 0.8
    assert set(task.evaluate()) == {"loss", "exact_match_greedy"}


def test_checkpoint_loads_the_same_model(trained):
    task, tr = trained
    assert tr.s2s_cfg == task.s2s_cfg and tr.codec.src.vocab == task.codec.src.vocab
    for name, value in task.model.state_dict().items():
        assert torch.equal(tr.model.state_dict()[name], value), name


def test_keywords_and_config_translate_the_same(trained):
    _, tr = trained
    sources = ["one two", "three four five"]
    greedy = tr.translate(sources)
    assert [h[0].text for h in greedy] == [h[0].text for h in tr.translate(sources, config=DecodeConfig())]
    assert greedy[0][0].source_tokens == ["one", "two"]
    assert len(greedy[0][0].target_tokens) <= S2S.max_tgt_len + 1  # the model's limit by default
    beams = tr.translate(sources, beam=3, n_best=2)
    same = tr.translate(sources, config=DecodeConfig(num_beams=3, num_return_sequences=2))
    assert [[h.text for h in b] for b in beams] == [[h.text for h in b] for b in same]
    assert all(len(b) == 2 and b[0].score >= b[1].score for b in beams)
    short = tr.translate(sources, config=DecodeConfig(max_new_tokens=1))
    assert all(len(h[0].target_tokens) <= 1 for h in short)
    one = tr.translate("one two")  # one str is one source, not a list of characters
    assert [[h.text for h in s] for s in one] == [[h.text for h in greedy[0]]]
    with pytest.raises(ValueError, match="max_new_tokens must be at least 1; got 0"):
        tr.translate(sources, max_len=0)  # not read as "no limit"


def test_seeded_sampling_goes_on_across_batches(trained):
    _, tr = trained
    config = DecodeConfig(do_sample=True, seed=5, num_return_sequences=2, temperature=2.0)
    sources = ["one two", "four five one"] * 3
    one_batch = tr.translate(sources, config=config)
    assert [[h.text for h in s] for s in one_batch] == [[h.text for h in s] for s in tr.translate(sources,
                                                                                                 config=config)]
    # batches of one draw where the last stopped: not each the first batch's draw again
    small = tr.translate(["one two"] * 4, batch_size=1, config=config)
    assert len({tuple(h.text for h in s) for s in small}) > 1


def test_bad_options_fail_before_decoding(trained):
    _, tr = trained
    with pytest.raises(ValueError, match="num_return_sequences must lie in"):
        tr.translate(["one"], beam=2, n_best=3)
    with pytest.raises(ValueError, match="num_beams must be at least 1"):
        tr.translate(["one"], beam=0)
    with pytest.raises(ValueError, match="source 2 is empty"):
        tr.translate(["one", " "])


def test_warnings_point_at_the_callers_line(trained):
    # a fixed stacklevel pointed into torch.no_grad's wrapper
    _, tr = trained
    with pytest.warns(UserWarning, match="are <unk>") as record:
        tr.translate(["zzz qqq xxx"])
    assert {w.filename for w in record} == {__file__}

