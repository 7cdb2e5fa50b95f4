"""Length bucketing, the dataset reader's errors, and the bundled corpora."""

import random

import pytest

from rnnkit.text import BucketBatchSampler, corpora, padding_fraction
from rnnkit.text.datasets import read_labeled_rows


def test_bucketing_covers_every_index_once_and_cuts_padding():
    rng = random.Random(0)
    lengths = [rng.randint(1, 60) for _ in range(1000)]
    sampler = BucketBatchSampler(lengths, batch_size=32, seed=3)
    batches = sampler.batches()
    assert sorted(i for b in batches for i in b) == list(range(1000))
    order = list(range(1000))
    random.Random(1).shuffle(order)
    naive = [order[i : i + 32] for i in range(0, 1000, 32)]
    assert padding_fraction(lengths, batches) < 0.1 < padding_fraction(lengths, naive)


def test_bucketing_is_deterministic_per_seed_and_epoch():
    lengths = list(range(1, 200))
    a, b = BucketBatchSampler(lengths, 8, seed=1), BucketBatchSampler(lengths, 8, seed=1)
    assert a.batches() == b.batches()
    a.set_epoch(1)
    assert a.batches() != b.batches()
    assert BucketBatchSampler(lengths, 8, seed=2).batches() != b.batches()
    assert len(a) == 25
    for bad in ({"batch_size": 0}, {"pool_factor": 0}):
        with pytest.raises(ValueError, match=f"{next(iter(bad))} must be a positive integer; got 0"):
            BucketBatchSampler(lengths, **{"batch_size": 8, **bad})


def test_dataloader_with_bucketing_and_collate():
    import torch

    from rnnkit.text import PadCollate

    items = [([1] * n, n % 2) for n in (5, 1, 4, 2, 3, 6)]
    sampler = BucketBatchSampler([len(i) for i, _ in items], batch_size=2, seed=0)
    loader = torch.utils.data.DataLoader(items, batch_sampler=sampler, collate_fn=PadCollate(max_len=5))
    seen = []
    for ids, lengths, mask, labels in loader:
        assert ids.shape[1] == int(lengths.max()) <= 5 and mask.sum() == lengths.sum()
        assert ids.shape[0] == 2 and int(lengths.max() - lengths.min()) <= 1  # similar lengths together
        seen += labels.tolist()
    assert sorted(seen) == [0, 0, 0, 1, 1, 1]


def test_padding_fraction_by_hand():
    assert padding_fraction([1, 3, 2, 2], [[0, 1], [2, 3]]) == pytest.approx(2 / 10)  # 10 positions, 8 real


def _write(tmp_path, name, content):
    p = tmp_path / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    return p


def test_reads_tsv_and_csv_by_name_or_index(tmp_path):
    tsv = _write(tmp_path, "a.tsv", "label\ttext\npos\tgood film\nneg\tbad film\n")
    assert read_labeled_rows(tsv) == [("good film", "pos"), ("bad film", "neg")]
    csv_ = _write(tmp_path, "a.csv", 'y,sentence\n1,"fine, really"\n0,awful\n')
    assert read_labeled_rows(csv_, "1", "y") == [("fine, really", "1"), ("awful", "0")]


@pytest.mark.parametrize(
    "name,content,kwargs,match",
    [
        ("empty.tsv", "", {}, "is empty"),
        ("header.tsv", "label\ttext\n", {}, "no rows"),
        ("cols.tsv", "label\tbody\npos\tx\n", {}, "no text column"),
        ("cols2.tsv", "label\ttext\npos\tx\nneg\ty\n", {"text_column": "review"}, "no text column 'review'"),
        ("one.tsv", "label\ttext\npos\tx\npos\ty\n", {}, "single label"),
        ("bin.tsv", b"label\ttext\npos\t\xff\xfe bad\n", {}, "not UTF-8"),
        ("short.tsv", "label\ttext\npos\n", {}, "line 2: 1 fields"),
        # a tab inside a text: which field is the label would be a guess (it trained on wrong labels)
        ("tab.tsv", "label\ttext\npos\tgood\nneg\tgreat\tmovie\n", {}, "line 3: 3 fields but the header has 2"),
        ("comma.csv", "label,text\npos,good\nneg,great, movie\n", {}, "line 3: 3 fields .* unquoted comma"),
        ("nolabel.tsv", "label\ttext\npos\tgood\n \tbad\n", {}, "line 3: the label is empty"),
        ("twice.tsv", "text\ttext\tlabel\na\tb\tpos\nc\td\tneg\n", {}, "names column 'text' 2 times"),
    ],
)
def test_reader_errors(tmp_path, name, content, kwargs, match):
    with pytest.raises(ValueError, match=match):
        read_labeled_rows(_write(tmp_path, name, content), **kwargs)


def test_what_csv_quotes_and_old_line_ends_read_back(tmp_path):
    import csv
    import io

    rows = [("label", "text"), ("pos", 'he said "hi",\ttwice\nthen left'), ("neg", "plain")]
    out = io.StringIO()
    csv.writer(out).writerows(rows)  # as Python's csv module and pandas write a .csv
    assert read_labeled_rows(_write(tmp_path, "q.csv", out.getvalue())) == [(t, lab) for lab, t in rows[1:]]
    # \r alone ends lines (old Mac files); an empty trailing field is no stray field
    assert read_labeled_rows(_write(tmp_path, "cr.tsv", "label\ttext\rpos\tgood\t\rneg\tbad\r")) == [
        ("good", "pos"), ("bad", "neg")]
    # the index of a column picks one of two with the same name
    assert read_labeled_rows(_write(tmp_path, "i.tsv", "text\ttext\tlabel\na\tb\tpos\nc\td\tneg\n"), "1") == [
        ("b", "pos"), ("d", "neg")]


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_labeled_rows("/nonexistent/data.tsv")


def test_bundled_shakespeare_splits_are_contiguous():
    c = corpora.load("shakespeare")
    assert set(c) == {"train", "validation", "test"}
    whole = c["train"] + c["validation"] + c["test"]
    assert len(whole) > 5_000_000 and whole.startswith("ALL'S WELL THAT ENDS WELL")
    assert abs(len(c["validation"]) / len(whole) - 0.05) < 0.001


def test_bundled_en_es_fixed_split():
    c = corpora.load("en-es")
    assert (len(c["train"]), len(c["validation"]), len(c["test"])) == (28036, 1557, 1557)
    assert c["train"][1] == ("In the beginning God created the heaven and the earth.",
                             "EN el principio crió Dios los cielos y la tierra.")


def test_unknown_corpus():
    with pytest.raises(ValueError, match="unknown corpus 'wiki'; the bundled corpora are shakespeare, en-es"):
        corpora.load("wiki")


def test_dates_are_reproducible_iso_and_held_out():
    import datetime as dt

    from rnnkit.text.dates import date_pairs

    train = date_pairs(500, seed=1)
    assert train == date_pairs(500, seed=1) and len({s for s, _ in train}) > 450
    for source, iso in train:
        d = dt.date.fromisoformat(iso)
        assert 1950 <= d.year <= 2049 and (str(d.day) in source or f"{d.day:02d}" in source)
    held = date_pairs(200, seed=2, exclude={s for s, _ in train})
    assert not {s for s, _ in held} & {s for s, _ in train}
