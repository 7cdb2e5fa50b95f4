"""Tokenizer round trips and the vocabulary."""

import pytest

from rnnkit.text import BPETokenizer, CharTokenizer, Vocab, WordTokenizer, make_tokenizer

TEXTS = ["To be, or not to be: that is the question.", "¿Qué es esto? ¡Señor!", "naïve café — 3.5 × 2", "",
         "  spaces\tand\nlines  "]


@pytest.mark.parametrize("text", TEXTS)
def test_char_round_trip_is_lossless(text):
    tok = CharTokenizer()
    assert tok.detokenize(tok.tokenize(text)) == text


def test_word_tokens_are_unicode_words_and_punctuation():
    assert WordTokenizer().tokenize("Don't stop, señor! well-known 42") == [
        "Don't", "stop", ",", "señor", "!", "well-known", "42"]
    assert WordTokenizer(lowercase=True).tokenize("ÉTÉ Hot") == ["été", "hot"]


def test_combining_marks_stay_inside_their_word():
    # re's \\w leaves out marks (Unicode category M): vowel signs and viramas, decomposed accents
    import unicodedata

    tok = WordTokenizer()
    assert tok.tokenize("नमस्ते दुनिया, வணக்கம்!") == ["नमस्ते", "दुनिया", ",", "வணக்கம்", "!"]
    decomposed = unicodedata.normalize("NFD", "café résumé's")
    assert tok.tokenize(decomposed) == decomposed.split(" ") and len(tok.tokenize(decomposed)) == 2
    assert WordTokenizer(lowercase=True).tokenize("İstanbul") == ["i\u0307stanbul"]  # "İ".lower() has a mark


@pytest.mark.parametrize("text", ["Hello, world!", "It is (very) good.", "¿Qué es esto?", "Yes; no: maybe.",
                                  "नमस्ते दुनिया!"])
def test_word_round_trip_for_normally_spaced_text(text):
    tok = WordTokenizer()
    assert tok.detokenize(tok.tokenize(text)) == text


def test_bpe_round_trip_is_lossless_and_survives_serialisation():
    corpus = ["the cat sat on the mat", "the dog sat on the log", "¡olé! the mat"] * 20
    tok = BPETokenizer.train(corpus, vocab_size=300)
    for text in [*TEXTS, "the cat and the dog"]:
        assert tok.detokenize(tok.tokenize(text)) == text
    again = BPETokenizer.from_json(tok.to_json())
    assert again.tokenize("the mat sat") == tok.tokenize("the mat sat")
    assert len(tok.tokenize("the mat")) < len("the mat")  # merges were learnt


def test_make_tokenizer_errors():
    with pytest.raises(ValueError, match="level must be one of"):
        make_tokenizer("sentencepiece")
    with pytest.raises(ValueError, match="needs a corpus"):
        make_tokenizer("bpe")


def test_vocab_specials_frequency_order_and_unknowns():
    v = Vocab.build([["b", "a", "b"], ["c", "b", "a"], ["d"]], min_freq=1)
    assert v.itos[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"] and v.pad_id == 0
    assert v.itos[4:] == ["b", "a", "c", "d"]  # by count, ties alphabetical
    assert v.encode(["a", "zzz"], add_bos=True, add_eos=True) == [2, 5, 1, 3]
    assert v.decode([2, 5, 1, 3]) == ["a"] and v.decode([2, 5], skip_special=False) == ["<bos>", "a"]
    assert "a" in v and "zzz" not in v and v["zzz"] == v.unk_id


def test_vocab_min_freq_and_max_size():
    seqs = [["a"] * 3 + ["b"] * 2 + ["c"]]
    assert Vocab.build(seqs, min_freq=2).itos[4:] == ["a", "b"]
    v = Vocab.build(seqs, max_size=5)
    assert len(v) == 5 and v.itos[4:] == ["a"]


def test_vocab_save_load_equality(tmp_path):
    v = Vocab.build([["x", "y", "ñ"]])
    v.save(tmp_path / "vocab.json")
    assert Vocab.load(tmp_path / "vocab.json") == v
    assert Vocab.build([["x"]]) != v


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: Vocab(["a", "b"]), "must start with the special tokens"),
        (lambda: Vocab.build([["a"]], min_freq=0), "min_freq must be >= 1"),
        (lambda: Vocab.build([["a"]], max_size=2), "max_size must be at least 4"),
        (lambda: Vocab.build([["a"]]).decode([99]), "outside this vocabulary"),
    ],
)
def test_vocab_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
