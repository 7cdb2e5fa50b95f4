"""The lab's runner, report and command line, on a fake experiment (the real ones have their own
tests): results land whole or not at all, verdicts are recomputed from the numbers, and bad input
is one line on stderr."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import types
from dataclasses import dataclass

import pytest
import torch

import rnnkit.lab.report as report_mod
import rnnkit.lab.runner as runner
from rnnkit.cli import main
from rnnkit.lab import common
from rnnkit.train.runtime import resolve_device


@dataclass
class FakeConfig:
    seeds: tuple[int, ...] = (0, 1, 2)
    size: int = 3
    text: str | None = None
    device: str = "cpu"


def _fake(fail: bool = False, loss: float = 0.5):
    def run(cfg, out, progress=False):
        run.devices.append(cfg.device)
        if fail:
            raise RuntimeError("boom mid-run")
        fig, axes = common.new_figure()
        axes[0][0].plot([1, 2, 3], [3, 2, loss])
        figures = [common.figure(fig, out, "curve.png", "loss against steps")]
        summary = common.summarize([loss + 0.01 * s for s in cfg.seeds])
        highlights = [{"title": "unit 7", "text": "a<b\n", "values": [1.0, -0.5, 0.0, float("nan")],
                       "caption": "what unit 7 tracks"}]
        return {"setup": "a fake", "parameters": {"A": 100, "B": 101}, "figures": figures, "loss": summary,
                "highlights": highlights,
                "tables": [common.table("losses", ["model", "loss"], [["A", common.pm(summary)],
                                                                      ["A (published)", 0.1]])]}

    def verdict(result):
        return f"A's loss is {result['loss']['mean']:.2f}: {'learnt' if result['loss']['mean'] < 0.3 else 'not learnt'}"

    def check(cfg):
        if cfg.text == "":
            raise ValueError("the text is empty")

    run.devices = []
    return types.SimpleNamespace(NAME="gradient-flow", CLAIM="a claim", Config=FakeConfig,
                                 PRESETS={"tiny": FakeConfig(seeds=(0,)), "quick": FakeConfig(), "full": FakeConfig()},
                                 RUN_TIME={"quick": "1 s", "full": "2 s"}, run=run, verdict=verdict, check=check)


@pytest.fixture
def fake(monkeypatch):
    module = _fake()
    for mod in (runner, report_mod):
        monkeypatch.setattr(mod, "experiment", lambda name: module)
    return module


def test_run_writes_the_result_with_its_metadata(tmp_path, fake):
    result = runner.run("gradient-flow", "quick", out=tmp_path, log=lambda s: None)
    stored = json.loads((tmp_path / "gradient-flow" / "result.json").read_text())
    assert stored["verdict"] == result["verdict"] == "A's loss is 0.51: not learnt"
    assert stored["seeds"] == [0, 1, 2] and stored["preset"] == "quick" and stored["config"]["size"] == 3
    assert stored["versions"]["torch"] and stored["seconds"] >= 0
    assert (tmp_path / "gradient-flow" / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob("*.partial-*"))


def test_seeds_replace_the_presets(tmp_path, fake):
    result = runner.run("gradient-flow", "quick", seeds=5, out=tmp_path, log=lambda s: None)
    assert result["seeds"] == [0, 1, 2, 3, 4] and result["loss"]["n"] == 5
    with pytest.raises(ValueError, match="positive"):
        runner.config_for("gradient-flow", "quick", 0)
    with pytest.raises(ValueError, match="unknown preset"):
        runner.config_for("gradient-flow", "huge")


def test_a_failed_run_keeps_the_previous_result(tmp_path, monkeypatch, fake):
    runner.run("gradient-flow", "quick", out=tmp_path, log=lambda s: None)
    before = (tmp_path / "gradient-flow" / "result.json").read_text()
    broken = _fake(fail=True)
    monkeypatch.setattr(runner, "experiment", lambda name: broken)
    with pytest.raises(RuntimeError, match="boom"):
        runner.run("gradient-flow", "quick", out=tmp_path, log=lambda s: None)
    assert (tmp_path / "gradient-flow" / "result.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gradient-flow"]


def test_a_run_killed_while_swapping_leaves_the_old_result_readable(tmp_path, fake):
    runner.run("gradient-flow", "quick", out=tmp_path, log=lambda s: None)
    (tmp_path / "gradient-flow").rename(tmp_path / "gradient-flow.old")  # the instant between the two renames
    assert runner.load(tmp_path)["gradient-flow"]["preset"] == "quick"


def test_report_recomputes_the_verdict_from_the_numbers(tmp_path, fake):
    runner.run("gradient-flow", "quick", out=tmp_path, log=lambda s: None)
    path = tmp_path / "gradient-flow" / "result.json"
    stored = json.loads(path.read_text())
    stored["loss"]["mean"] = 0.05  # other numbers, the stale verdict text left in place
    path.write_text(json.dumps(stored))
    md, page = report_mod.write(tmp_path)
    text, html = md.read_text(), page.read_text()
    assert "A's loss is 0.05: learnt" in text and "not learnt" not in text
    assert "A&#x27;s loss is 0.05: learnt" in html
    assert "data:image/png;base64," in html and "curve.png" in text  # embedded; linked
    assert "A (published)" in text and "| A | 0.51 ± 0.01 |" in text
    assert "Parameters: A 100, B 101" in text


def test_a_folder_of_the_users_with_the_experiments_name_is_never_replaced(tmp_path, fake, capsys):
    # the swap replaced out/NAME whole: a user's thesis.txt there was deleted
    mine = tmp_path / "gradient-flow"
    mine.mkdir()
    (mine / "thesis.txt").write_text("years of work")
    with pytest.raises(ValueError, match="gradient-flow holds thesis.txt, not a result of gradient-flow"):
        runner.run("gradient-flow", "quick", out=tmp_path, log=lambda s: None)
    assert fake.run.devices == []  # refused before any training
    assert main(["lab", "run", "gradient-flow", "--out", str(tmp_path), "--preset", "tiny"]) == 2
    assert "holds thesis.txt" in capsys.readouterr().err
    (tmp_path / "gradient-flow.old").write_text("a file")
    mine.rename(tmp_path / "elsewhere")
    with pytest.raises(ValueError, match="gradient-flow.old holds a file"):
        runner.run("gradient-flow", "quick", out=tmp_path, log=lambda s: None)
    assert (tmp_path / "elsewhere" / "thesis.txt").read_text() == "years of work"
    (tmp_path / "gradient-flow.old").unlink()
    runner.run("gradient-flow", "quick", out=tmp_path, log=lambda s: None)  # an earlier result is replaced
    (tmp_path / "gradient-flow" / ".DS_Store").write_text("a file browser's")  # hidden files are no user's work
    runner.run("gradient-flow", "quick", out=tmp_path, log=lambda s: None)
    assert (tmp_path / "gradient-flow").stat().st_mode & 0o777 == 0o777 & ~_umask()  # not mkdtemp's 0700


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("damage, message", [
    (lambda r: [], "not a JSON object"),
    (lambda r: {**r, "parameters": "x"}, "'parameters' is not an object"),
    (lambda r: {**r, "seeds": 3}, "'seeds' is not a list"),
    (lambda r: {**r, "tables": [{"title": "t"}]}, "a table is not"),
    (lambda r: {**r, "figures": [None]}, "a figure is not"),
    # the report embeds a figure's file: a path could carry any file of the reader's into the page
    (lambda r: {**r, "figures": [{"file": "/etc/hostname", "caption": "x"}]}, "a figure is not"),
    (lambda r: {**r, "figures": [{"file": "../../secret.png", "caption": "x"}]}, "a figure is not"),
])
def test_a_damaged_result_is_one_line_for_the_report(tmp_path, fake, capsys, damage, message):
    runner.run("gradient-flow", "quick", out=tmp_path, log=lambda s: None)
    path = tmp_path / "gradient-flow" / "result.json"
    path.write_text(json.dumps(damage(json.loads(path.read_text()))))
    assert main(["lab", "report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "is not a result file" in err and "Traceback" not in err


def test_numbers_a_verdict_cannot_read_give_no_verdict_not_the_stored_text(tmp_path, fake):
    runner.run("gradient-flow", "quick", out=tmp_path, log=lambda s: None)
    path = tmp_path / "gradient-flow" / "result.json"
    stored = json.loads(path.read_text())
    stored["loss"] = "x"  # the verdict reads result["loss"]["mean"]
    stored["verdict"] = "TAMPERED: A wins"
    path.write_text(json.dumps(stored))
    md, _ = report_mod.write(tmp_path)
    assert "TAMPERED" not in md.read_text() and "(no verdict:" in md.read_text()


def test_options_reach_the_configs_that_read_them_and_are_checked(fake):
    cfg = runner.config_for("gradient-flow", "quick", options={"text": "t.txt", "checkpoint": "ckpt"})
    assert cfg.text == "t.txt"  # checkpoint: a field this experiment does not have, left to others
    with pytest.raises(ValueError, match="the text is empty"):
        runner.config_for("gradient-flow", "quick", options={"text": ""})
    with pytest.raises(ValueError, match="--checkpoint is read by .*none of which is chosen"):
        runner.options_users({"checkpoint": "ckpt"}, ["gradient-flow"])
    runner.options_users({"text": "t.txt", "checkpoint": None}, ["gradient-flow"])


def test_highlights_colour_each_character_in_the_html(tmp_path, fake):
    runner.run("gradient-flow", "quick", out=tmp_path, log=lambda s: None)
    md, page = report_mod.write(tmp_path)
    html = page.read_text()
    assert "<span style='background:rgba(220,40,40,1.00)'>a</span>" in html
    assert "<span style='background:rgba(40,90,220,0.50)'>&lt;</span>" in html  # escaped, negative = blue
    assert "<span style='background:rgba(220,40,40,0.00)'>\n</span>" in html  # NaN stays white
    assert "unit 7" in md.read_text() and "see report.html" in md.read_text()
    bad = report_mod.highlight_html({"title": "t", "text": "abc", "values": [0.1], "caption": ""})
    assert "not shown" in bad and "<span" not in bad


def test_report_of_an_empty_or_missing_folder_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="holds no lab result"):
        report_mod.write(tmp_path)
    with pytest.raises(ValueError, match="not a folder"):
        report_mod.write(tmp_path / "nope")


def test_match_width_finds_the_closest_count():
    import torch

    build = lambda w: torch.nn.Linear(10, w)  # 11 w parameters
    assert common.match_width(build, 11 * 37 + 3) == 37
    assert common.match_width(build, 11 * 37 + 8) == 38


def test_summarize_and_pm():
    s = common.summarize([1.0, 2.0, 3.0])
    assert s["mean"] == 2.0 and s["std"] == 1.0 and s["n"] == 3
    assert common.pm(s) == "2 ± 1" and common.pm(common.summarize([0.5]), percent=True) == "50 %"


@pytest.mark.parametrize("argv, message", [
    (["lab", "run", "nope"], "unknown experiment 'nope'"),
    (["lab", "run", "adding", "--preset", "huge"], "unknown preset 'huge'"),
    (["lab", "run", "adding", "--seeds", "0"], "--seeds: must be a positive integer"),
    (["lab", "run", "adding", "--polarity", "/no/such/file"], "--polarity /no/such/file is not a file"),
    (["compare", "--length", "50"], "--length was removed"),
    (["lab", "report", "/no/such/folder"], "is not a folder of lab results"),
    (["lab", "run", "beam-vs-greedy", "--beam-sizes", "1,0,5"], "beam sizes must be integers >= 1"),
    (["lab", "run", "beam-vs-greedy", "--beam-sizes", "-3"], "beam sizes must be integers >= 1"),
    (["lab", "run", "beam-vs-greedy", "--beam-sizes", "five"], "must be integers separated by commas"),
    (["lab", "run", "adding", "--checkpoint", "runs/x"], "--checkpoint is read by beam-vs-greedy, inside-the-lstm"),
    (["lab", "run", "adding", "--text", "t.txt"], "--text is read by inside-the-lstm, none of which is chosen"),
    (["lab", "run", "adding", "--device", "tpu"], "--device 'tpu': unknown device"),
    (["compare", "--device", "cuda:x"], "--device 'cuda:x': unknown device"),
])
def test_bad_input_is_one_line(capsys, argv, message):
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse's own errors
        code = exit.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_out_pointing_to_a_file_is_one_line(tmp_path, capsys):
    file = tmp_path / "file"
    file.write_text("x")
    for out in (file, file / "under"):
        assert main(["lab", "run", "gradient-flow", "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert "is not a folder" in err and "\n" not in err


def test_list_names_every_experiment(capsys):
    from rnnkit.lab import EXPERIMENTS

    assert main(["lab", "list"]) == 0
    out = capsys.readouterr().out
    for name in EXPERIMENTS:
        assert name in out


def test_the_run_gets_its_device_resolved_and_records_it(tmp_path, fake):
    result = runner.run("gradient-flow", "quick", out=tmp_path, log=lambda s: None, device="auto")
    expected = str(resolve_device("auto"))  # this machine's: the CPU in CI
    assert fake.run.devices == [expected]
    assert result["config"]["device"] == result["machine"]["device"] == expected
    runner.run("gradient-flow", "quick", out=tmp_path, log=lambda s: None, device="cpu")
    assert fake.run.devices[-1] == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
@pytest.mark.parametrize("command", [["lab", "run", "adding"], ["compare"]])
def test_a_missing_device_is_one_line_before_anything_runs(tmp_path, capsys, fake, command):
    assert main([*command, "--device", "cuda", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no CUDA device" in err and "the devices here: cpu" in err and "\n" not in err
    assert fake.run.devices == [] and not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="no CUDA device"):
        runner.run("gradient-flow", "tiny", out=tmp_path, log=lambda s: None, device="cuda")


def test_every_experiment_has_a_device_field_on_the_cpu_by_default():
    from rnnkit.lab import EXPERIMENTS, experiment

    for name in EXPERIMENTS:
        module = experiment(name)
        assert module.Config().device == "cpu", name
        assert all(cfg.device == "cpu" for cfg in module.PRESETS.values()), name


def test_the_report_says_where_a_result_ran():
    cpu = {"preset": "quick", "seeds": [0], "seconds": 3, "machine": {"threads": 2, "device": "cpu"}}
    gpu = {**cpu, "machine": {"threads": 2, "device": "cuda:0", "accelerator": "NVIDIA H100"}}
    old = {**cpu, "machine": {"threads": 2}}  # written before --device: it ran on the CPU
    assert "on 2 thread(s)" in report_mod._setup_line(cpu) == report_mod._setup_line(old)
    assert "on cuda:0 (NVIDIA H100)" in report_mod._setup_line(gpu)


def test_to_device_moves_tensors_and_keeps_the_rest():
    x, n = torch.ones(2, 3), torch.tensor([3, 1])
    moved = common.to_device((x, [n, "keep", 7]), "meta")
    assert moved[0].device.type == moved[1][0].device.type == "meta"
    assert moved[1][1:] == ["keep", 7] and isinstance(moved[1], list)
    assert common.to_device("text", "meta") == "text"
    common.synchronize("cpu")  # a no-op off CUDA and MPS


def test_train_steps_moves_each_batch_to_the_models_device():
    # the meta device stands in for a GPU: shapes and devices without numbers
    model, seen = torch.nn.Linear(3, 1).to("meta"), []

    def loss(m, x, y):
        seen.append((x.device.type, y.device.type))
        return ((m(x) - y) ** 2).mean()

    common.train_steps(model, lambda: (torch.randn(4, 3), torch.randn(4, 1)), loss, 3, 0.1, evaluate=lambda: 0.0)
    assert seen == [("meta", "meta")] * 3


def test_a_killed_runs_partial_folder_is_removed_by_the_next_run(tmp_path, fake):
    import fcntl

    proc = subprocess.Popen([sys.executable, "-m", "rnnkit", "lab", "run", "adding", "--preset", "quick", "--out",
                             str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("adding.partial-*/.running")):
        assert proc.poll() is None and time.monotonic() < deadline, "the run never started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    [dead] = tmp_path.glob("adding.partial-*")
    live = tmp_path / "memory-length.partial-live"  # another run's, still going: its lock is held
    live.mkdir()
    held = os.open(live / ".running", os.O_CREAT | os.O_RDWR)
    fcntl.flock(held, fcntl.LOCK_EX)
    unknown = tmp_path / "adding.partial-nolock"  # no .running: not known to be rnnkit's dead run
    unknown.mkdir()
    fifo = tmp_path / "adding.partial-fifo"  # a .running that is no lock file (a FIFO opens and locks)
    fifo.mkdir()
    os.mkfifo(fifo / ".running")
    try:
        runner.run("gradient-flow", "quick", out=tmp_path, log=lambda s: None)
    finally:
        os.close(held)
    assert not dead.exists() and live.is_dir() and unknown.is_dir() and fifo.is_dir()
    assert sorted(os.listdir(tmp_path / "gradient-flow")) == ["curve.png", "result.json"]  # no .running left
    assert runner.remove_dead_partials(tmp_path) == [live]  # its holder is gone now
