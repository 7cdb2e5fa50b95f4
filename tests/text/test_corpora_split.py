"""The one split rule of every corpus and data file, and the generated dates corpus."""

import pytest

from rnnkit.text import corpora


def test_contiguous_split_is_90_5_5_of_text_or_items():
    text = "".join(chr(97 + i % 26) for i in range(1000))
    parts = corpora.split(text)
    assert (len(parts["train"]), len(parts["validation"]), len(parts["test"])) == (900, 50, 50)
    assert parts["train"] + parts["validation"] + parts["test"] == text
    items = corpora.split(list(range(21)))  # int(21 * 0.9) = 18, int(21 * 0.95) = 19
    assert items == {"train": list(range(18)), "validation": [18], "test": [19, 20]}


def test_interleaved_split_holds_out_the_last_items_of_each_block():
    rows = list(range(25))
    assert corpora.split(rows, every=10, held_out=["validation"]) == {
        "train": [i for i in rows if i % 10 != 9], "validation": [9, 19]}
    parts = corpora.split(rows, every=5)
    assert parts == {"train": [i for i in rows if i % 5 < 3], "validation": [3, 8, 13, 18, 23],
                     "test": [4, 9, 14, 19, 24]}
    assert corpora.split([1, 2], every=20, held_out=["validation"]) == {"train": [1, 2], "validation": []}


@pytest.mark.parametrize("kw,match", [({"held_out": ["validation"]}, "give every too"),
                                      ({"every": 2}, "every must exceed the 2 held-out part"),
                                      ({"every": 3, "held_out": []}, "every must exceed the 0")])
def test_split_refuses_unclear_requests(kw, match):
    with pytest.raises(ValueError, match=match):
        corpora.split(list(range(10)), **kw)


def test_dates_corpus_has_fixed_disjoint_splits():
    dates = corpora.load("dates")
    assert {k: len(v) for k, v in dates.items()} == corpora.DATES_SIZES
    train = {s for s, _ in dates["train"]}
    valid = {s for s, _ in dates["validation"]}
    assert not valid & train and not {s for s, _ in dates["test"]} & (train | valid)
    assert all(len(iso) == 10 and iso[4] == iso[7] == "-" for _, iso in dates["test"][:100])
    assert corpora.load("dates") is dates  # generated once per process
    assert "dates" in corpora.NAMES
