"""TextCodec: a tokenizer and its vocabulary, and what a checkpoint stores of them."""

import pytest

from rnnkit.text.codec import CodecPair, TextCodec
from rnnkit.text.vocab import SPECIALS

TEXTS = ["The cat sat.", "the cat ran!", "A dog sat."]


def test_word_codec_lowercases_counts_and_roundtrips():
    codec = TextCodec.fit(TEXTS, "word", lowercase=True)
    assert codec.level == "word" and len(codec) == len(SPECIALS) + 8  # the cat sat . ran ! a dog
    assert codec.vocab.itos[len(SPECIALS)] == "."  # most frequent first, ties alphabetical: . cat sat the
    assert codec.decode(codec.encode("The cat sat.")) == "the cat sat."
    assert codec.encode("a zebra") == [codec.vocab["a"], codec.vocab.unk_id]
    assert codec.decode_tokens(codec.encode("cat ran")) == ["cat", "ran"]
    assert codec.normalize("A  ZEBRA !") == "a zebra!"


def test_min_freq_and_max_size():
    assert TextCodec.fit(TEXTS, "word", lowercase=True, min_freq=2).vocab.itos[len(SPECIALS):] == [
        ".", "cat", "sat", "the"]
    assert len(TextCodec.fit(TEXTS, "char", max_size=6)) == 6


@pytest.mark.parametrize("level", ["char", "word", "bpe"])
def test_to_dict_from_dict_rebuilds_the_codec(level):
    codec = TextCodec.fit(TEXTS * 20, level, bpe_vocab_size=270)
    data = codec.to_dict()
    assert list(data) == {"bpe": ["vocab", "bpe"], "word": ["vocab", "word_marks"], "char": ["vocab"]}[level]
    assert data["vocab"] == {"tokens": codec.vocab.itos}
    again = TextCodec.from_dict(data, level)
    assert again.vocab == codec.vocab and again.encode("The dog ran.") == codec.encode("The dog ran.")
    prefixed = codec.to_dict("src_")
    assert set(prefixed) == {"src_" + k for k in data}
    assert TextCodec.from_dict(prefixed, level, prefix="src_").vocab == codec.vocab


def test_codec_pair_fits_each_side_on_its_own_texts():
    pairs = [("one cat", "un chat"), ("two cats", "deux chats")]
    codec = CodecPair.fit(pairs, "word")
    assert "chat" in codec.tgt.vocab and "chat" not in codec.src.vocab
    assert CodecPair.from_dict(codec.to_dict(), "word").tgt.vocab == codec.tgt.vocab


def test_a_word_codec_saved_before_marks_were_kept_reads_as_it_was_built():
    # 0.1.0 split "नमस्ते" at its vowel signs and built its vocabulary from the pieces: read with
    # today's words, those would all be <unk>
    text = "नमस्ते दुनिया"
    codec = TextCodec.fit([text] * 3, "word")
    assert codec.tokenizer.tokenize(text) == ["नमस्ते", "दुनिया"]
    old = codec.to_dict()
    del old["word_marks"]  # what a checkpoint written before it has
    old["vocab"] = {"tokens": codec.vocab.itos[:4] + ["नमस", "्", "त", "े", "द", "ु", "न", "ि", "य", "ा"]}
    restored = TextCodec.from_dict(old, "word")
    assert restored.tokenizer.tokenize(text) == ["नमस", "्", "त", "े", "द", "ु", "न", "ि", "य", "ा"]
    assert restored.vocab.unk_id not in restored.encode(text)
    assert TextCodec.from_dict(codec.to_dict(), "word").tokenizer.marks  # new checkpoints keep marks

