"""The command line end to end, on generated data: train, eval, predict, and users' mistakes."""

import json
import random
import subprocess
import sys

import pytest

from rnnkit.cli import main

GOOD, BAD = ["good", "great", "fine", "lovely", "superb"], ["bad", "awful", "dull", "poor", "weak"]
FILL = ["the", "film", "was", "a", "plot", "story", "and", "actors", "very", "quite"]


def make_rows(n, seed):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 else "neg"
        words = rng.sample(FILL, 4) + [rng.choice(GOOD if label == "pos" else BAD)]
        rng.shuffle(words)
        rows.append((label, " ".join(words)))
    return rows


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    for name, n, seed in (("train.tsv", 400, 0), ("test.tsv", 100, 1)):
        (root / name).write_text("label\ttext\n" + "".join(f"{a}\t{b}\n" for a, b in make_rows(n, seed)))
    return root


@pytest.fixture(scope="module")
def trained(data):
    out = data / "model"
    code = main(["train", "classify", "--data", str(data / "train.tsv"), "--out", str(out), "--cell", "gru",
                 "--bidirectional", "--epochs", "6", "--hidden-size", "16", "--embedding-size", "16",
                 "--max-len", "8", "--lr", "0.01", "--dropout", "0.0", "--quiet"])
    assert code == 0
    return out


def test_train_eval_predict(trained, data, capsys):
    assert (trained / "checkpoint.json").is_file() and (trained / "metrics.jsonl").is_file()
    capsys.readouterr()
    assert main(["eval", "classify", "--checkpoint", str(trained), "--data", str(data / "test.tsv")]) == 0
    accuracy = float(capsys.readouterr().out.split()[1])
    assert accuracy >= 0.9
    (data / "in.txt").write_text("the film was superb\n\nquite awful actors\n")
    assert main(["predict", "classify", "--checkpoint", str(trained), "a lovely story", "--input",
                 str(data / "in.txt")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["pos", "pos", "", "neg"]  # the blank line kept
    assert lines[0].endswith("\ta lovely story")


def _one_line_error(capsys, argv, match, code=2):
    with pytest.raises(SystemExit) if argv[0] == "--argparse" else _nothing():
        result = main(argv[1:] if argv[0] == "--argparse" else argv)
        assert result == code
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert match in err and "Traceback" not in err


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize(
    "content,extra,match",
    [
        (b"", [], "is empty"),
        (b"label\tbody\npos\tx\nneg\ty\n", [], "no text column"),
        (b"label\ttext\npos\tx\nneg\ty\n", ["--label-column", "stars"], "no label column 'stars'"),
        (b"label\ttext\npos\tx\npos\ty\n", [], "single label"),
        (b"label\ttext\npos\t\xff\xfe\nneg\ty\n", [], "not UTF-8"),
    ],
)
def test_train_bad_data(tmp_path, capsys, content, extra, match):
    path = tmp_path / "bad.tsv"
    path.write_bytes(content)
    _one_line_error(capsys, ["train", "classify", "--data", str(path), "--out", str(tmp_path / "o"), *extra], match)


def test_bad_flags_are_one_line(capsys, data):
    _one_line_error(capsys, ["--argparse", "train", "classify", "--data", str(data / "train.tsv"), "--max-len", "0"],
                    "argument --max-len: must be positive, got '0'")
    _one_line_error(capsys, ["--argparse", "train", "classify", "--data", "x.tsv", "--cell", "lstmm"],
                    "invalid choice: 'lstmm'")


def test_missing_inputs(capsys, data, tmp_path, trained):
    _one_line_error(capsys, ["train", "classify", "--data", str(tmp_path / "none.tsv")], "no such file")
    _one_line_error(capsys, ["eval", "classify", "--checkpoint", str(tmp_path), "--data", str(data / "test.tsv")],
                    "no checkpoint in")
    _one_line_error(capsys, ["predict", "classify", "--checkpoint", str(trained)], "nothing to classify")


def test_console_script_reports_without_traceback(tmp_path):
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    run = subprocess.run([sys.executable, "-m", "rnnkit.cli", "train", "classify", "--data", str(empty)],
                         capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.strip() == f"rnnkit train: error: {empty} is empty"


# -- language model ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lm_checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm")
    text = root / "text.txt"
    text.write_text("the quick brown fox jumps over the lazy dog.\n" * 120)
    out = root / "lm"
    assert main(["train", "lm", "--data", str(text), "--out", str(out), "--bptt", "16", "--batch-size", "4",
                 "--hidden-size", "32", "--embedding-size", "16", "--num-layers", "1", "--epochs", "2",
                 "--lr", "0.01", "--quiet"]) == 0
    return out, text


def test_lm_train_eval_generate(lm_checkpoint, capsys):
    out, text = lm_checkpoint
    assert (out / "loss.png").stat().st_size > 1000 and (out / "checkpoint.json").is_file()
    capsys.readouterr()
    assert main(["eval", "lm", "--checkpoint", str(out), "--data", str(text)]) == 0
    report = capsys.readouterr().out.split()
    loss, bpc = float(report[1]), float(report[6])
    assert loss < 1.5 and bpc == pytest.approx(loss / 0.6931, rel=1e-3)  # char level: one char per token
    assert main(["generate", "--checkpoint", str(out), "--prompt", "the quick", "--max-tokens", "20",
                 "--greedy"]) == 0
    generated = capsys.readouterr().out
    assert generated.startswith("the quick") and len(generated.strip()) > len("the quick")


@pytest.mark.parametrize(
    "argv,match",
    [
        (["train", "lm", "--data", "EMPTY"], "is empty"),
        (["train", "lm", "--data", "SHORT", "--bptt", "64"], "fewer than one window (--bptt 64)"),
        (["train", "lm", "--data", "SHORT", "--corpus", "shakespeare"], "exactly one of --corpus"),
        (["train", "lm"], "exactly one of --corpus"),
        (["eval", "lm", "--checkpoint", "NOWHERE", "--data", "SHORT"], "no checkpoint in"),
        (["eval", "lm", "--checkpoint", "CLASSIFIER", "--data", "SHORT"], "holds a 'classifier' model, not a 'lm'"),
        (["generate", "--checkpoint", "CORRUPT"], "does not match"),
    ],
)
def test_lm_bad_input(tmp_path, capsys, argv, match, trained, lm_checkpoint):
    import shutil

    (tmp_path / "empty.txt").write_text("  \n")
    (tmp_path / "short.txt").write_text("a short text, far shorter than a window of many steps.\n" * 3)
    corrupt = tmp_path / "corrupt"
    shutil.copytree(lm_checkpoint[0], corrupt)
    with open(corrupt / json.loads((corrupt / "checkpoint.json").read_text())["files"]["model"]["name"], "r+b") as f:
        f.seek(-4, 2)
        f.write(b"\x00\x01\x02\x03")
    names = {"EMPTY": tmp_path / "empty.txt", "SHORT": tmp_path / "short.txt", "NOWHERE": tmp_path / "none",
             "CLASSIFIER": trained, "CORRUPT": corrupt}
    _one_line_error(capsys, [str(names.get(a, a)) for a in argv], match)


def test_unknown_corpus_is_one_line(capsys):
    _one_line_error(capsys, ["--argparse", "train", "lm", "--corpus", "wiki"], "invalid choice: 'wiki'")


# -- sequence to sequence -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s2s_checkpoint(tmp_path_factory):
    import random as _random

    root = tmp_path_factory.mktemp("s2s")
    rng = _random.Random(0)
    words = ["uno", "dos", "tres", "cuatro", "cinco", "seis"]
    lines = []
    for _ in range(600):
        src = [rng.choice(words) for _ in range(rng.randint(1, 4))]
        lines.append(" ".join(src) + "\t" + " ".join(reversed(src)))
    (root / "pairs.tsv").write_text("\n".join(lines) + "\n")
    out = root / "model"
    assert main(["train", "seq2seq", "--data", str(root / "pairs.tsv"), "--out", str(out), "--cell", "gru",
                 "--hidden-size", "32", "--embedding-size", "16", "--epochs", "12", "--lr", "0.01", "--min-freq", "1",
                 "--max-src-len", "6", "--dropout", "0.0", "--attention", "general", "--quiet"]) == 0
    return out, root


def test_seq2seq_train_translate_eval(s2s_checkpoint, capsys, tmp_path):
    out, root = s2s_checkpoint
    capsys.readouterr()
    png = tmp_path / "att.png"
    assert main(["translate", "--checkpoint", str(out), "uno dos tres", "--beam", "3", "--plot-attention",
                 str(png)]) == 0
    assert capsys.readouterr().out.strip() == "tres dos uno"
    assert png.stat().st_size > 1000
    assert main(["translate", "--checkpoint", str(out), "dos cinco", "--beam", "4", "--n-best", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    scores = [float(line.split("\t")[0]) for line in lines]
    assert len(lines) == 3 and scores == sorted(scores, reverse=True) and lines[0].endswith("cinco dos")
    assert main(["eval", "seq2seq", "--checkpoint", str(out), "--data", str(root / "pairs.tsv"), "--beam", "3",
                 "--limit", "100"]) == 0
    report = capsys.readouterr().out
    greedy = float(report.split("greedy")[1].split("exact match")[1].split()[0])
    assert greedy >= 0.9 and "beam3" in report


def test_long_sources_are_truncated_with_a_warning(s2s_checkpoint, capsys):
    out, _ = s2s_checkpoint
    assert main(["translate", "--checkpoint", str(out), "uno dos tres cuatro cinco seis uno dos", "--beam", "1"]) == 0
    err = capsys.readouterr().err
    assert err.strip() == ("rnnkit translate: warning: 1 source(s) longer than the model's maximum of 6 tokens "
                           "were truncated")


def test_unknown_words_still_translate(s2s_checkpoint, capsys):
    out, _ = s2s_checkpoint
    assert main(["translate", "--checkpoint", str(out), "uno zorro dos", "--beam", "2"]) == 0
    assert capsys.readouterr().out.strip()


@pytest.mark.parametrize(
    "argv,match",
    [
        (["--argparse", "translate", "--checkpoint", "S2S", "uno", "--beam", "0"],
         "argument --beam: must be a positive integer; got '0'"),
        (["translate", "--checkpoint", "S2S", "uno", " "], "source 2 is empty"),
        (["translate", "--checkpoint", "LM", "uno"], "holds a 'lm' model, not a 'seq2seq' one"),
        (["train", "seq2seq", "--data", "NOTAB"], "line 1: no tab"),
        (["train", "seq2seq", "--data", "EMPTY"], "is empty"),
    ],
)
def test_seq2seq_bad_input(tmp_path, capsys, argv, match, s2s_checkpoint, lm_checkpoint):
    (tmp_path / "blank.txt").write_text("uno dos\n\ntres\n")
    (tmp_path / "notab.tsv").write_text("uno dos tres\n")
    (tmp_path / "empty.tsv").write_text("\n")
    names = {"S2S": s2s_checkpoint[0], "LM": lm_checkpoint[0], "BLANKLINE": tmp_path / "blank.txt",
             "NOTAB": tmp_path / "notab.tsv", "EMPTY": tmp_path / "empty.tsv"}
    _one_line_error(capsys, [str(names.get(a, a)) for a in argv], match)


def test_demo_runs_the_demo_recipe_end_to_end(tmp_path, capsys):
    """`make demo`'s command, cut to a few seconds: it trains the demo recipe on the bundled
    Shakespeare, reports validation, samples and says where its files are."""
    import json

    from rnnkit.config import LM_DEMO_RECIPE

    out = tmp_path / "demo"
    main(["demo", "--minutes", "0.03", "--quiet", "--out", str(out)])
    text = capsys.readouterr().out
    assert "best validation: loss" in text and "--- sample (temperature 0.7) after 'ROMEO:\\n'" in text
    assert f"Checkpoint: {out}/" in text and (out / "checkpoint.json").exists() and (out / "loss.png").exists()
    saved = json.loads((out / "checkpoint.json").read_text())
    assert saved["model"]["hidden_size"] == LM_DEMO_RECIPE["hidden_size"]
    assert saved["train"]["lr"] == LM_DEMO_RECIPE["lr"]
    # a second demo replaces the first; another run in --out is never replaced unasked
    assert main(["demo", "--minutes", "0.01", "--quiet", "--out", str(out)]) == 0
    other = json.loads((out / "checkpoint.json").read_text())
    other["data"], other["model"]["hidden_size"] = {"file": "mine.txt"}, 7  # as a run of rnnkit train lm
    (out / "checkpoint.json").write_text(json.dumps(other))
    capsys.readouterr()
    assert main(["demo", "--minutes", "0.01", "--quiet", "--out", str(out)]) == 2
    assert "holds another run (a lm trained by rnnkit train), not an earlier demo" in capsys.readouterr().err
    assert json.loads((out / "checkpoint.json").read_text()) == other


def test_what_counts_as_an_earlier_demo():
    from rnnkit.cli.lm import DEMO_DATA, _is_demo

    assert _is_demo({"model_type": "lm", "data": DEMO_DATA})
    assert _is_demo({"model_type": "lm", "data": None})  # 0.1.0's demo wrote no data record; train always did
    assert not _is_demo({"model_type": "lm", "data": {"flags": {"corpus": "shakespeare"}, "sha256": {}}})
    assert not _is_demo({"model_type": "classifier", "data": None})


def test_references_are_scored_whole(s2s_checkpoint):
    """BLEU and exact match compare with the whole reference: past the model's max_tgt_len, and
    with the words the model's vocabulary lacks."""
    from rnnkit.tasks.translation import Translator

    out, _ = s2s_checkpoint
    translator = Translator.load(out)
    n = translator.s2s_cfg.max_tgt_len + 5
    ref = translator.reference(" ".join(["uno", "zzz"] * n)).split()
    assert ref == ["uno", "zzz"] * n


def test_train_seq2seq_on_a_corpus_takes_its_recipe_unless_a_flag_is_given(tmp_path):
    from rnnkit.config import SEQ2SEQ_RECIPES

    out = tmp_path / "dates"
    assert main(["train", "seq2seq", "--corpus", "dates", "--out", str(out), "--max-steps", "2",
                 "--hidden-size", "64", "--quiet"]) == 0
    meta = json.loads((out / "checkpoint.json").read_text())
    recipe = SEQ2SEQ_RECIPES["dates"]
    assert meta["model"]["cell"] == recipe["cell"] and meta["model"]["bidirectional"] is True
    assert meta["model"]["embedding_size"] == recipe["embedding_size"]
    assert meta["model"]["hidden_size"] == 64  # the flag given wins over the recipe
    assert meta["seq2seq"]["level"] == "char" and meta["seq2seq"]["max_tgt_len"] == recipe["max_tgt_len"]
    assert meta["train"]["lr"] == recipe["lr"] and meta["train"]["eval_every"] == recipe["eval_every"]


def test_a_reader_that_leaves_early_is_no_error():
    # `rnnkit lab list | head -1`: the pipe closes before rnnkit writes; nothing on stderr, 128 + SIGPIPE
    proc = subprocess.Popen([sys.executable, "-m", "rnnkit", "lab", "list"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141 and err == b"", err
