"""The convolutional cells through the command line, as the recurrent ones: train, checkpoint, eval,
predict, generate and resume; and the cells a task does not take, refused in one line."""

import pytest
import torch

from rnnkit.tasks.classification import Classifier
from rnnkit.tasks.language_model import LanguageModel
from rnnkit.train import load_checkpoint
from tests.cli_helpers import one_line_error, run
from tests.test_cli import make_rows

SMALL = ["--embedding-size", "16", "--hidden-size", "16", "--dropout", "0.0", "--quiet"]


@pytest.fixture(scope="module")
def classify_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("conv-classify")
    for name, n, seed in (("train.tsv", 200, 0), ("valid.tsv", 60, 2), ("test.tsv", 60, 1)):
        (root / name).write_text("label\ttext\n" + "".join(f"{a}\t{b}\n" for a, b in make_rows(n, seed)))
    return root


@pytest.mark.parametrize("cell,extra", [("cnn", []), ("tcn", ["--num-layers", "2", "--kernel-size", "2",
                                                               "--pooling", "mean"])])
def test_train_classify_then_eval_and_predict(classify_data, capsys, cell, extra):
    out = classify_data / cell
    run(capsys, ["train", "classify", "--data", classify_data / "train.tsv", "--valid-data",
                 classify_data / "valid.tsv", "--out", out, "--cell", cell, "--epochs", "4", "--max-len", "8",
                 "--lr", "0.02", "--batch-size", "16", *SMALL, *extra])
    clf = Classifier.load(out)
    assert clf.model.cell == cell and hasattr(clf.model, cell)
    eval_out, _ = run(capsys, ["eval", "classify", "--checkpoint", out, "--data", classify_data / "test.tsv"])
    assert float(eval_out.split()[1]) >= 0.9
    predicted, _ = run(capsys, ["predict", "classify", "--checkpoint", out, "the film was superb",
                                "quite awful actors"])
    assert [line.split("\t")[0] for line in predicted.splitlines()] == ["pos", "neg"]


# -- language model ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lm_text(tmp_path_factory):
    text = tmp_path_factory.mktemp("conv-lm") / "text.txt"
    text.write_text("the quick brown fox jumps over the lazy dog.\n" * 120)
    return text


def lm_argv(text, out, *extra):
    return ["train", "lm", "--data", text, "--out", out, "--cell", "tcn", "--num-layers", "3", "--kernel-size", "2",
            "--bptt", "16", "--batch-size", "4", "--lr", "0.02", "--precision", "float32", *SMALL, *extra]


def test_train_lm_then_generate_and_eval(lm_text, capsys):
    out = lm_text.parent / "lm"
    run(capsys, lm_argv(lm_text, out, "--epochs", "2"))
    lm = LanguageModel.load(out)
    assert type(lm.model).__name__ == "TCNLanguageModel" and lm.model.context_size == 14
    report, _ = run(capsys, ["eval", "lm", "--checkpoint", out, "--data", lm_text])
    assert float(report.split()[1]) < 0.2  # nats per character of a text it has learned
    greedy, _ = run(capsys, ["generate", "--checkpoint", out, "--prompt", "the quick", "--max-tokens", "20",
                             "--greedy"])
    assert greedy.startswith("the quick brown fox jumps")
    beams, _ = run(capsys, ["generate", "--checkpoint", out, "--prompt", "the", "--max-tokens", "8", "--beam", "3",
                            "--num", "2"])
    assert beams.count("--- sample") == 2


def test_resumed_tcn_run_equals_an_uninterrupted_one(lm_text, capsys):
    """The context (int64 token ids) is saved with the resumable state and restored: without it the
    window after the resume would read no context, and the weights would differ."""
    steady = ["--epochs", "1", "--checkpoint-every", "3", "--schedule", "constant", "--warmup-steps", "0"]
    straight, resumed = lm_text.parent / "straight", lm_text.parent / "resumed"
    run(capsys, lm_argv(lm_text, straight, "--max-steps", "8", *steady))
    run(capsys, lm_argv(lm_text, resumed, "--max-steps", "3", *steady))
    saved = load_checkpoint(resumed / "resume").tensors["task.state0"]
    assert saved.dtype == torch.long and saved.shape == (4, 14)
    run(capsys, ["train", "lm", "--out", resumed, "--resume", "--max-steps", "8", "--quiet"])
    a, b = load_checkpoint(straight / "resume").weights, load_checkpoint(resumed / "resume").weights
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


# -- cells a task does not take ----------------------------------------------------------------------


def test_cells_a_task_does_not_take_are_one_line(classify_data, lm_text, capsys, tmp_path):
    one_line_error(capsys, ["train", "lm", "--data", lm_text, "--out", tmp_path / "a", "--cell", "cnn"],
                   "invalid choice: 'cnn'")
    one_line_error(capsys, ["train", "seq2seq", "--corpus", "dates", "--out", tmp_path / "b", "--cell", "tcn"],
                   "invalid choice: 'tcn'")
    line = one_line_error(capsys, ["train", "classify", "--data", classify_data / "train.tsv", "--out",
                                   tmp_path / "c", "--cell", "cnn", "--bidirectional"],
                          "--bidirectional applies to lstm, gru, rnn")
    assert line.startswith("rnnkit train: error: a convolutional network reads")
