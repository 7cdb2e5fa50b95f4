"""How a ``--nproc`` launch reports a failure: one line for a mistake every process makes, each
different line once, the signal of a process killed without a word (rnnkit.cli.rank_errors).
The launches themselves are in tests/train/test_distributed.py."""

from __future__ import annotations

import signal

import pytest

from rnnkit.cli import rank_errors

LINE = "rnnkit train: error: no such file: data.tsv"


@pytest.fixture
def launch(tmp_path, monkeypatch):
    """This process as rank ``RANK`` of a --nproc launch whose folder is tmp_path."""
    monkeypatch.setenv(rank_errors.ENV, str(tmp_path))
    return tmp_path


def _as_rank(monkeypatch, rank: int) -> None:
    monkeypatch.setenv("RANK", str(rank))


def test_rank_0_prints_its_line_and_the_others_hand_it_over(launch, monkeypatch):
    _as_rank(monkeypatch, 0)
    assert rank_errors.hand_over(LINE) is False  # printed by rank 0 itself
    _as_rank(monkeypatch, 1)
    assert rank_errors.hand_over(LINE) is True
    assert (launch / "rank-0.txt").read_text() == (launch / "rank-1.txt").read_text() == LINE + "\n"
    assert set(rank_errors.said(launch)) == {0, 1}


def test_outside_a_launch_or_unwritable_every_process_prints(tmp_path, monkeypatch):
    monkeypatch.delenv(rank_errors.ENV, raising=False)
    _as_rank(monkeypatch, 1)
    assert rank_errors.hand_over(LINE) is False  # a hand-written torchrun command: as before
    monkeypatch.setenv(rank_errors.ENV, str(tmp_path / "gone"))
    assert rank_errors.hand_over(LINE) is False  # the launcher would never see it
    monkeypatch.setenv(rank_errors.ENV, str(tmp_path))
    monkeypatch.delenv("RANK")
    assert rank_errors.hand_over(LINE) is False and rank_errors.said(tmp_path) == {}


def _lines(folder, codes) -> list[str]:
    return rank_errors.report(folder, codes)[0]


def _said(folder, lines: dict[int, str]) -> None:
    for rank, line in lines.items():
        (folder / f"rank-{rank}.txt").write_text(line + "\n")


def test_the_same_mistake_everywhere_is_one_line(tmp_path):
    _said(tmp_path, {0: LINE, 1: LINE, 2: LINE})
    assert _lines(tmp_path, {0: 2, 1: 2, 2: 2}) == []  # rank 0 printed it already


def test_a_different_line_is_printed_once_with_its_process(tmp_path):
    other = "rnnkit train: error: out of memory: CUDA"
    _said(tmp_path, {0: LINE, 1: other, 2: other, 3: LINE})
    assert _lines(tmp_path, {r: 1 for r in range(4)}) == [
        "rnnkit train: error: process 1: out of memory: CUDA"]
    ctrl_c = tmp_path / "ctrl-c"
    ctrl_c.mkdir()
    _said(ctrl_c, {0: "rnnkit train: interrupted", 1: "rnnkit train: interrupted"})
    assert _lines(ctrl_c, {0: 130, 1: 130}) == []


def test_a_process_killed_without_a_word_is_named_with_its_signal(tmp_path):
    # rank 1 was killed; torchrun then sent SIGTERM to rank 0, which said why it stopped
    _said(tmp_path, {0: "rnnkit train: error: another process of this run stopped"})
    codes = {0: -signal.SIGTERM, 1: -signal.SIGKILL}
    assert _lines(tmp_path, codes) == ["rnnkit train: error: process 1 was killed by SIGKILL"]
    # nobody said anything and only SIGTERM was seen: that is the news
    (tmp_path / "rank-0.txt").unlink()
    assert _lines(tmp_path, {0: -signal.SIGTERM, 1: -signal.SIGTERM}) == [
        "rnnkit train: error: process 0 was killed by SIGTERM", "rnnkit train: error: process 1 was killed by SIGTERM"]
    # an exit status (a traceback the process printed itself) adds nothing
    assert _lines(tmp_path, {0: 1}) == []


def test_lost_peer_is_recognised_under_torchrun_only(monkeypatch):
    gloo = "[gloo/transport/tcp/pair.cc:537] Read error [127.0.0.1]:2948: Connection reset by peer."
    monkeypatch.delenv("RANK", raising=False)
    assert not rank_errors.lost_peer(gloo)
    _as_rank(monkeypatch, 0)
    assert not rank_errors.lost_peer(gloo)  # RANK alone is not a torchrun launch
    for name, value in {"WORLD_SIZE": "2", "LOCAL_RANK": "0"}.items():
        monkeypatch.setenv(name, value)
    assert rank_errors.lost_peer(gloo) and not rank_errors.lost_peer("mat1 and mat2 shapes cannot be multiplied")


def test_a_lost_peer_line_gives_way_to_the_cause(tmp_path):
    lost = f"rnnkit train: error: {rank_errors.LOST_PEER}, so this one cannot go on (Connection reset by peer)"
    cause = "rnnkit train: error: --out x is a file, not a folder"
    _said(tmp_path, {0: cause, 1: lost})  # rank 0 found the mistake; rank 1 lost it mid-collective
    assert rank_errors.report(tmp_path, {0: 2, 1: 1}) == ([], 2)
    _said(tmp_path, {0: lost, 1: cause})  # the cause on rank 1: said once, and its status wins
    assert rank_errors.report(tmp_path, {0: 1, 1: 2}) == (["rnnkit train: error: process 1: --out x is a file, "
                                                            "not a folder"], 2)


def test_survivors_stopped_by_torchrun_are_not_news_when_the_cause_is_known(tmp_path):
    # rank 0 said why; torchrun then SIGTERMed rank 1, which said nothing
    _said(tmp_path, {0: "rnnkit train: error: --out x is a file, not a folder"})
    assert rank_errors.report(tmp_path, {0: 2, 1: -signal.SIGTERM}) == ([], 2)
    # a process that died with a traceback (status 1) explains the SIGTERM of the others too
    empty = tmp_path / "empty"
    empty.mkdir()
    assert rank_errors.report(empty, {0: 1, 1: -signal.SIGTERM}) == ([], 1)


def test_a_gloo_usage_error_is_not_a_lost_peer(monkeypatch):
    for name, value in {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0"}.items():
        monkeypatch.setenv(name, value)
    usage = "ProcessGroupGloo::allgather: invalid tensor size at index 0 (expected (2), got (3))"
    assert not rank_errors.lost_peer(usage)  # a bug of the caller: it keeps its traceback


def test_the_launchers_signal_handlers_are_put_back(tmp_path):
    import signal as signals

    before = signals.getsignal(signals.SIGINT)
    with rank_errors.gathering(tmp_path):
        signals.signal(signals.SIGINT, lambda *a: None)  # what torchrun's launcher does
    assert signals.getsignal(signals.SIGINT) is before
