"""Truncated BPTT: windows reproduce one long pass, and no gradient crosses a window start."""

import pytest
import torch

from rnnkit.models.lm import RNNLanguageModel
from rnnkit.train.tbptt import TruncatedBPTT, batchify, run_window


def _model(cell):
    torch.manual_seed(0)
    return RNNLanguageModel(11, embedding_size=6, hidden_size=8, num_layers=2, cell=cell).double().eval()


def _stream(n=61):
    return torch.randint(0, 11, (n,), generator=torch.Generator().manual_seed(1))


def test_batchify_makes_contiguous_rows():
    s = batchify(torch.arange(23), 4)
    assert s.tolist()[1] == [5, 6, 7, 8, 9]
    with pytest.raises(ValueError, match="too short"):
        batchify(torch.arange(5), 4)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("k2,k1", [(7, 7), (6, 4), (8, 3), (5, 1)])
def test_windows_equal_one_long_pass(cell, k2, k1):
    model, streams = _model(cell), batchify(_stream(), 3)  # (3, 20)
    full, _ = model(streams[:, :-1])
    pieces, state = [], None
    for window in TruncatedBPTT(streams, k2, k1).windows():
        logits, state = run_window(model, window, state)
        pieces.append(logits)
    torch.testing.assert_close(torch.cat(pieces, 1), full)


def test_no_gradient_crosses_a_window_start():
    model, streams = _model("lstm"), batchify(_stream(), 3)
    model.train()
    first, second = list(TruncatedBPTT(streams, 5).windows())[:2]
    logits1, state = run_window(model, first, None)
    assert all(not s.requires_grad for s in state)
    probe = logits1  # part of window 1's graph
    probe.retain_grad()
    logits2, _ = run_window(model, second, state)
    logits2.sum().backward()
    assert probe.grad is None  # window 2's loss never reached window 1


def test_overlapping_windows_backpropagate_k2_steps():
    model, streams = _model("gru"), batchify(_stream(), 3)
    model.train()
    windows = list(TruncatedBPTT(streams, 6, 3).windows())
    w = windows[3]
    assert w.inputs.shape[1] == 6 and w.targets.shape[1] == 3 and w.read_from == 6
    torch.testing.assert_close(w.targets, streams[:, 10:13])


def test_random_lengths_are_reproducible_and_cover_the_stream():
    streams = batchify(torch.arange(3000), 2)
    a = [w.targets.shape[1] for w in TruncatedBPTT(streams, 20, random_length=True, seed=4).windows(epoch=1)]
    b = [w.targets.shape[1] for w in TruncatedBPTT(streams, 20, random_length=True, seed=4).windows(epoch=1)]
    c = [w.targets.shape[1] for w in TruncatedBPTT(streams, 20, random_length=True, seed=4).windows(epoch=2)]
    assert a == b and a != c and sum(a) == 1499 and min(a[:-1]) >= 5 and len(set(a)) > 5
    # the count of an epoch is its windows', not ceil(steps / bptt) (which ended the lr schedule early)
    windows = TruncatedBPTT(streams, 20, random_length=True, seed=4)
    assert windows.count(1) == len(a) and windows.count(2) == len(c) and len(windows) == len(a)
    assert len({windows.count(e) for e in range(1, 8)}) > 1  # it varies by epoch
    fixed = TruncatedBPTT(streams, 20)
    assert fixed.count(3) == len(fixed) == len(list(fixed.windows(epoch=3))) == 75


def test_bad_windows():
    with pytest.raises(ValueError, match="k1 must lie in"):
        TruncatedBPTT(batchify(torch.arange(40), 2), 4, 5)
    with pytest.raises(ValueError, match="random window lengths need k1 == k2"):
        TruncatedBPTT(batchify(torch.arange(40), 2), 4, 2, random_length=True)


def test_random_window_lengths_shape_the_schedule_by_the_real_window_count(tmp_path, capsys):
    # The linear schedule's progress counts windows: with ceil(steps / bptt) windows assumed per
    # epoch, it reached the end early (steps at lr 0) and jumped back up at each epoch's start.
    import json

    from rnnkit.cli import main

    text = tmp_path / "text.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 60)
    out = tmp_path / "run"
    assert main(["train", "lm", "--data", str(text), "--out", str(out), "--hidden-size", "8", "--embedding-size",
                 "8", "--bptt", "16", "--batch-size", "4", "--epochs", "3", "--random-bptt", "--schedule", "linear",
                 "--warmup-steps", "0", "--eval-every", "1", "--patience", "0", "--quiet", "--threads", "1"]) == 0
    capsys.readouterr()
    lrs = [r["lr"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if "lr" in r]
    assert len(lrs) > 30 and all(a > b for a, b in zip(lrs, lrs[1:])) and lrs[-1] > 0

