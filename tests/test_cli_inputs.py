"""Users' inputs at the edges, through the command line: blank texts, huge fields, non-finite and
out-of-range numbers, files that are not regular files, standard input, columns, word-level
prompts, threads, --version, help texts, unknown-token warnings and progress bars.

Each model here is trained for a moment: the tests check what reaches the user, not accuracy."""

import argparse
import io
import os
import random
import socket
import subprocess
import sys
import warnings

import pytest

from rnnkit.cli import build_parser

from .cli_helpers import one_line_error, run

GOOD, BAD = ["good", "great", "fine", "lovely", "superb"], ["bad", "awful", "dull", "poor", "weak"]
FILL = ["the", "film", "was", "a", "plot", "story", "and", "actors", "very", "quite"]
NUMBERS = ["uno", "dos", "tres", "cuatro", "cinco", "seis"]


def feed_stdin(monkeypatch, text: str):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode("utf-8")), encoding="utf-8"))


class _Quiet:
    """Stands in for capsys in module-scoped fixtures, which cannot use the function-scoped one."""

    def readouterr(self):
        return "", ""


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("inputs")


@pytest.fixture(scope="module")
def classifier(root):
    """A classifier trained on rows some of which have an empty text."""
    rng = random.Random(0)
    lines = ["label\ttext"]
    for i in range(160):
        label = "pos" if i % 2 else "neg"
        words = rng.sample(FILL, 3) + [rng.choice(GOOD if label == "pos" else BAD)]
        lines.append(f"{label}\t{' '.join(words) if i % 40 else ''}")  # every 40th text empty
    (root / "train.tsv").write_text("\n".join(lines) + "\n")
    out = root / "classifier"
    run(_Quiet(), ["train", "classify", "--data", root / "train.tsv", "--out", out, "--epochs", "2",
                   "--hidden-size", "8", "--embedding-size", "8", "--max-len", "6", "--quiet"])
    return out


@pytest.fixture(scope="module")
def translator(root):
    rng = random.Random(0)
    lines = []
    for _ in range(200):
        src = [rng.choice(NUMBERS) for _ in range(rng.randint(1, 3))]
        lines.append(" ".join(src) + "\t" + " ".join(reversed(src)))
    (root / "pairs.tsv").write_text("\n".join(lines) + "\n")
    out = root / "s2s"
    run(_Quiet(), ["train", "seq2seq", "--data", root / "pairs.tsv", "--out", out, "--cell", "gru",
                   "--hidden-size", "16", "--embedding-size", "8", "--epochs", "1", "--min-freq", "1",
                   "--attention", "general", "--quiet"])
    return out


@pytest.fixture(scope="module")
def word_lm(root):
    text = root / "words.txt"
    text.write_text("the king of the land and the queen of the sea rode to the old king\n" * 60)
    out = root / "lm"
    run(_Quiet(), ["train", "lm", "--data", text, "--out", out, "--level", "word", "--bptt", "8", "--batch-size", "4",
                   "--hidden-size", "16", "--embedding-size", "8", "--epochs", "3", "--lr", "0.02", "--quiet"])
    return out, text


# -- 1. blank texts -------------------------------------------------------------------------------


def test_blank_text_arguments_are_one_line_errors(capsys, classifier):
    one_line_error(capsys, ["predict", "classify", "--checkpoint", classifier, ""], "text 1 is empty")
    one_line_error(capsys, ["predict", "classify", "--checkpoint", classifier, "superb film", "  \t"],
                   "text 2 is empty")


def test_blank_input_lines_keep_their_place(capsys, classifier, tmp_path, monkeypatch):
    (tmp_path / "in.txt").write_text("the film was superb\n\n   \nawful actors\n")
    out, _ = run(capsys, ["predict", "classify", "--checkpoint", classifier, "--input", tmp_path / "in.txt"])
    lines = out.split("\n")[:-1]
    assert len(lines) == 4 and lines[1] == lines[2] == ""
    assert lines[0].endswith("\tthe film was superb") and lines[3].endswith("\tawful actors")
    feed_stdin(monkeypatch, "a lovely story\n\nweak plot\n")
    out, _ = run(capsys, ["predict", "classify", "--checkpoint", classifier, "--input", "-", "--quiet"])
    lines = out.split("\n")[:-1]
    assert len(lines) == 3 and lines[1] == "" and lines[2].endswith("\tweak plot")


def test_only_line_ends_end_an_input_line(capsys, classifier, tmp_path):
    # str.splitlines also breaks at a form feed, \x1c, U+0085 or U+2028: 4 lines answered in 8
    (tmp_path / "in.txt").write_bytes("the cat\x0cdog ran\nfox sat\x85 far\r\nlazy\u2028dog\nmat\x1cquick\n".encode())
    out, _ = run(capsys, ["predict", "classify", "--checkpoint", classifier, "--input", tmp_path / "in.txt"])
    lines = out.split("\n")[:-1]
    assert len(lines) == 4 and lines[2].endswith("\tlazy\u2028dog")


def test_an_encoded_text_is_never_empty(classifier):
    from rnnkit.tasks.classification import Classifier

    clf = Classifier.load(classifier)
    unk = clf.codec.vocab.unk_id
    assert clf.encode(["", "   ", "good"])[:2] == [[unk], [unk]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # all <unk>, which warns
        assert len(clf.predict(["", " "])) == 2  # max pooling over zero steps used to raise IndexError


# -- 2. long CSV/TSV fields ----------------------------------------------------------------------


def test_a_5_mb_field_reads(capsys, classifier, tmp_path):
    from rnnkit.text.datasets import read_labeled_rows

    long = "superb film " * (5 * 2**20 // 12 + 1)
    (tmp_path / "long.csv").write_text(f'text,label\n"{long}",pos\n"awful film",neg\n')
    (tmp_path / "long.tsv").write_text(f"label\ttext\npos\t{long}\nneg\tawful film\n")
    assert len(read_labeled_rows(tmp_path / "long.tsv")[0][0]) > 5 * 2**20
    out, _ = run(capsys, ["eval", "classify", "--checkpoint", classifier, "--data", tmp_path / "long.csv"])
    assert "examples 2" in out


# -- 3. numbers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv,match",
    [
        (["train", "classify", "--data", "D", "--lr", "nan"], "argument --lr: must be a finite number, got 'nan'"),
        (["train", "classify", "--data", "D", "--max-minutes", "inf"], "must be a finite number, got 'inf'"),
        (["train", "classify", "--data", "D", "--weight-decay=-inf"], "must be a finite number, got '-inf'"),
        (["train", "classify", "--data", "D", "--dropout", "1"], "argument --dropout: must lie in [0, 1), got '1'"),
        (["train", "classify", "--data", "D", "--dropout", "-0.1"], "must lie in [0, 1)"),
        (["train", "seq2seq", "--data", "D", "--label-smoothing", "1.5"], "--label-smoothing: must lie in [0, 1)"),
        (["train", "lm", "--data", "D", "--lr-decay", "0.5"], "argument --lr-decay: must be >= 1 (1 = off)"),
        (["generate", "--checkpoint", "C", "--temperature", "nan"], "--temperature: must be a finite number"),
        (["generate", "--checkpoint", "C", "--temperature", "0"], "--temperature: must be > 0"),
        (["generate", "--checkpoint", "C", "--top-p", "0"], "--top-p: must lie in (0, 1]"),
        (["generate", "--checkpoint", "C", "--top-p", "1.5"], "--top-p: must lie in (0, 1]"),
        (["generate", "--checkpoint", "C", "--top-k", "-1"], "--top-k: must be an integer >= 0"),
        (["generate", "--checkpoint", "C", "--max-tokens", str(10**20)], "--max-tokens: must be at most 100000"),
        (["generate", "--checkpoint", "C", "--max-tokens", "0"], "--max-tokens: must be a positive integer"),
        (["demo", "--minutes", "nan"], "--minutes: must be a finite number"),
        (["train", "lm", "--data", "D", "--hidden-size", str(2**31)], "--hidden-size: must be at most 2147483647"),
        (["train", "lm", "--data", "D", "--num-layers", "65"], "--num-layers: must be at most 64"),
        (["train", "lm", "--data", "D", "--vocab-size", str(2**31 - 1)], "--vocab-size: must be at most 1000000"),
        (["train", "lm", "--data", "D", "--seed", str(2**63)], "--seed: must be at most"),
        (["train", "lm", "--data", "D", "--embedding-size=--"], "--embedding-size: expected a value, got '--'"),
        (["generate", "--checkpoint", "C", "--num=--"], "argument --num: expected a value"),
        (["generate", "--checkpoint", "C", "--beam", "1001"], "--beam: must be at most 1000"),
        (["train", "classify", "--data", "D", "--lr", "1e300"], "--lr: must be at most 1000.0"),
        (["generate", "--checkpoint", "C", "--seed", str(10**20)], "--seed: must lie in [0, 2**63)"),
        (["translate", "--checkpoint", "C", "--beam", str(10**20)], "--beam: must be at most 1000"),
        (["compare", "--seeds", str(2**63)], "--seeds: must be at most 100"),
    ],
)
def test_bad_numbers_are_usage_errors(capsys, tmp_path, argv, match):
    one_line_error(capsys, [*argv, "--out", tmp_path / "out"] if argv[0] in ("train", "demo", "compare") else argv,
                   match)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("task, cell", [("classify", None), ("classify", "cnn"), ("lm", "gru")])
def test_a_kernel_size_the_cell_would_ignore_is_refused(capsys, tmp_path, task, cell):
    argv = ["train", task, "--data", "D", "--kernel-size", "5", "--out", tmp_path / "out", *(["--cell", cell] if cell
                                                                                           else [])]
    one_line_error(capsys, argv, f"--kernel-size is the convolution width of the tcn cell; the {cell or 'lstm'} cell")
    assert not (tmp_path / "out").exists()


def test_numbers_in_range_parse():
    args = build_parser().parse_args(["train", "seq2seq", "--data", "D", "--dropout", "0", "--label-smoothing", "0.1",
                                      "--lr-decay", "1", "--max-minutes", "0.5"])
    assert (args.dropout, args.label_smoothing, args.lr_decay, args.max_minutes) == (0.0, 0.1, 1.0, 0.5)
    args = build_parser().parse_args(["generate", "--checkpoint", "C", "--top-p", "1", "--top-k", "0",
                                      "--temperature", "0.01", "--max-tokens", "100000"])
    assert (args.top_p, args.top_k, args.temperature, args.max_tokens) == (1.0, 0, 0.01, 100000)


# -- 4. eval lm needs its text ----------------------------------------------------------------------


def test_eval_lm_without_data_or_corpus(capsys, tmp_path):
    one_line_error(capsys, ["eval", "lm", "--checkpoint", tmp_path],
                   "give exactly one of --corpus NAME and --data FILE")


# -- 5. files that are not regular files, and standard input ----------------------------------------


@pytest.fixture
def odd_files(tmp_path):
    """A directory, a FIFO, a device and a socket, by name."""
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "fifo")
    files = {"DIR": (tmp_path / "folder", "is a directory, not a file"),
             "FIFO": (tmp_path / "fifo", "is a FIFO, not a regular file"),
             "DEVICE": ("/dev/null", "is a device, not a regular file"),
             "MISSING": (tmp_path / "none.txt", "no such file")}
    if len(str(tmp_path / "sock")) < 100:  # AF_UNIX path limit
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(tmp_path / "sock"))
        files["SOCKET"] = (tmp_path / "sock", "is a socket, not a regular file")
        yield files
        sock.close()
    else:
        yield files


@pytest.mark.parametrize("kind", ["DIR", "FIFO", "DEVICE", "SOCKET", "MISSING"])
@pytest.mark.parametrize(
    "argv",
    [
        ["train", "classify", "--data", "F"],
        ["train", "classify", "--data", "TRAIN", "--valid-data", "F"],
        ["train", "lm", "--data", "F"],
        ["train", "seq2seq", "--data", "F"],
        ["predict", "classify", "--checkpoint", "CLF", "--input", "F"],
        ["eval", "classify", "--checkpoint", "CLF", "--data", "F"],
        ["translate", "--checkpoint", "S2S", "--input", "F"],
        ["eval", "seq2seq", "--checkpoint", "S2S", "--data", "F"],
        ["eval", "lm", "--checkpoint", "LM", "--data", "F"],
    ],
    ids=lambda argv: " ".join(argv[:2]) + (" --valid-data" if "--valid-data" in argv else ""),
)
def test_file_arguments_that_are_not_files(capsys, tmp_path, odd_files, argv, kind, root, classifier, translator,
                                           word_lm):
    if kind not in odd_files:
        pytest.skip("the temporary folder's path is too long for a socket")
    path, match = odd_files[kind]
    names = {"F": path, "TRAIN": root / "train.tsv", "CLF": classifier, "S2S": translator, "LM": word_lm[0]}
    out = tmp_path / "out"
    one_line_error(capsys, [names.get(a, a) for a in argv] + (["--out", out] if argv[0] == "train" else []),
                   f"{path} {match}" if kind != "MISSING" else f"no such file: {path}")
    assert not out.exists()


def test_dash_reads_standard_input(capsys, monkeypatch, root, classifier, translator, word_lm):
    feed_stdin(monkeypatch, (root / "train.tsv").read_text())
    out, _ = run(capsys, ["eval", "classify", "--checkpoint", classifier, "--data", "-", "--quiet"])
    assert "examples 160" in out
    feed_stdin(monkeypatch, (root / "pairs.tsv").read_text())
    out, _ = run(capsys, ["eval", "seq2seq", "--checkpoint", translator, "--data", "-", "--beam", "1",
                          "--limit", "20"])
    assert out.startswith("20 pairs")
    feed_stdin(monkeypatch, word_lm[1].read_text())
    out, _ = run(capsys, ["eval", "lm", "--checkpoint", word_lm[0], "--data", "-"])
    assert out.startswith("loss ")
    feed_stdin(monkeypatch, "uno dos\n")
    out, _ = run(capsys, ["translate", "--checkpoint", translator, "--input", "-", "--beam", "1"])
    assert len(out.splitlines()) == 1
    feed_stdin(monkeypatch, " \n")
    one_line_error(capsys, ["translate", "--checkpoint", translator, "--input", "-"], "standard input is empty")
    # Training reads files only: there '-' is just a name.
    one_line_error(capsys, ["train", "seq2seq", "--data", "-", "--out", root / "never"], "no such file: -")


# -- 6. columns and pairs ----------------------------------------------------------------------------


@pytest.mark.parametrize("text,label", [("text", "text"), ("1", "text"), ("label", "0")])
def test_text_and_label_column_must_differ(capsys, tmp_path, root, text, label):
    one_line_error(capsys, ["train", "classify", "--data", root / "train.tsv", "--text-column", text,
                            "--label-column", label, "--out", tmp_path / "out"],
                   "the text and the label column are the same")
    assert not (tmp_path / "out").exists()


def test_a_pair_may_hold_a_unicode_line_separator(tmp_path):
    from rnnkit.text.datasets import read_pairs

    (tmp_path / "pairs.tsv").write_text("uno\u2028dos\tone two\r\ntres\tthree\n", encoding="utf-8")
    assert read_pairs(tmp_path / "pairs.tsv") == [("uno\u2028dos", "one two"), ("tres", "three")]


def test_a_third_field_in_pairs_is_an_error(capsys, tmp_path):
    (tmp_path / "pairs.tsv").write_text("uno\tone\ndos\ttwo\textra\n")
    one_line_error(capsys, ["train", "seq2seq", "--data", tmp_path / "pairs.tsv", "--out", tmp_path / "out"],
                   f"{tmp_path / 'pairs.tsv'}, line 2: 3 tab-separated fields; each line must be source<TAB>target")


# -- 7, 8, 9. translate: blank lines, --plot-attention, beams and limits --------------------------


def test_translate_keeps_blank_lines_in_place(capsys, tmp_path, translator):
    (tmp_path / "in.txt").write_text("uno dos\n\ntres\n")
    out, _ = run(capsys, ["translate", "--checkpoint", translator, "--input", tmp_path / "in.txt", "--beam", "1"])
    lines = out.split("\n")[:-1]
    assert len(lines) == 3 and lines[1] == "" and lines[0] and lines[2]
    out, _ = run(capsys, ["translate", "--checkpoint", translator, "--input", tmp_path / "in.txt", "--beam", "2",
                          "--n-best", "2"])
    lines = out.split("\n")[:-1]
    assert len(lines) == 5 and lines[2] == "" and all("\t" in line for line in lines[:2] + lines[3:])
    one_line_error(capsys, ["translate", "--checkpoint", translator, "uno", ""], "source 2 is empty")


def test_plot_attention_without_a_suffix_writes_png(capsys, tmp_path, translator):
    _, err = run(capsys, ["translate", "--checkpoint", translator, "uno dos", "--plot-attention", tmp_path / "attplot"])
    assert (tmp_path / "attplot.png").stat().st_size > 1000 and not (tmp_path / "attplot").exists()
    assert err.strip() == f"attention of the first translation written to {tmp_path / 'attplot.png'}"
    one_line_error(capsys, ["translate", "--checkpoint", translator, "uno", "--plot-attention", tmp_path / "a.xyz"],
                   "matplotlib cannot write .xyz files")
    assert not (tmp_path / "a.xyz").exists()


@pytest.mark.parametrize(
    "argv,match",
    [
        (["eval", "seq2seq", "--checkpoint", "C", "--data", "D", "--beam", "0"], "argument --beam: must be a positive"),
        (["eval", "seq2seq", "--checkpoint", "C", "--data", "D", "--limit", "-5"], "argument --limit: must be an "
                                                                                  "integer >= 0; got '-5'"),
        (["translate", "--checkpoint", "C", "uno", "--beam", "-1"], "argument --beam: must be a positive integer"),
        # options the chosen search would ignore, refused before the checkpoint is read
        (["generate", "--checkpoint", "C", "--beam", "2", "--greedy"], "--greedy and --beam are two searches"),
        (["generate", "--checkpoint", "C", "--greedy", "--top-p", "0.9"],
         "--top-p applies only to sampling, not to --greedy"),
        (["generate", "--checkpoint", "C", "--beam", "3", "--temperature", "0.5", "--seed", "1"],
         "--temperature, --seed apply only to sampling, not to --beam"),
    ],
)
def test_beams_and_limits(capsys, argv, match):
    one_line_error(capsys, argv, match)


def test_n_best_above_beam(capsys, translator):
    one_line_error(capsys, ["translate", "--checkpoint", translator, "uno", "--beam", "2", "--n-best", "3"],
                   "--n-best 3 is more than --beam 2")


# -- 10. word-level generate ------------------------------------------------------------------------


def test_word_level_generate_spaces_the_first_word(capsys, word_lm):
    out, _ = run(capsys, ["generate", "--checkpoint", word_lm[0], "--prompt", "the king", "--max-tokens", "5",
                          "--greedy"])
    assert out.startswith("the king ") and out[len("the king ")].isalpha(), out


def test_join():
    from rnnkit.text.tokenize import WordTokenizer

    join = WordTokenizer().join
    assert join("the king", "of the land") == "the king of the land"
    assert join("the king ", "of") == "the king of" and join("the king", " of") == "the king of"
    assert join("the king", ", and") == "the king, and" and join("said (", "he") == "said (he"
    assert join("", "of") == "of" and join("the king", "") == "the king"


# -- 11. threads ------------------------------------------------------------------------------------


def test_usable_threads_clamps_to_the_cores(monkeypatch):
    from rnnkit.train.runtime import usable_threads

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    with pytest.warns(UserWarning, match="--threads 100000 is more than the 2 CPU cores of this machine; using 2"):
        assert usable_threads(100000) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert usable_threads(2) == 2 and usable_threads(0) == 0


def test_negative_threads_are_a_usage_error(capsys):
    one_line_error(capsys, ["train", "lm", "--data", "D", "--threads=-1"], "argument --threads: must not be negative")


@pytest.mark.parametrize("argv, choices", [
    ([], "train, eval, predict, demo, generate, compare, lab, translate"),
    (["train"], "lm, classify, seq2seq"),
    (["lab"], "list, run, report"),
    (["predict"], "classify"),
])
def test_a_missing_command_names_the_choices(capsys, argv, choices):
    # argparse would say "the following arguments are required: command", its internal name
    line = one_line_error(capsys, argv, f"a command is required, one of: {choices}")
    assert "command (see" not in line and "lab_command" not in line


# -- 12. --version and python -m rnnkit ---------------------------------------------------------------


def test_version(capsys):
    import rnnkit

    out, _ = run(capsys, ["--version"])
    assert out.strip() == f"rnnkit {rnnkit.__version__}" == "rnnkit 0.1.0"


def test_python_m_rnnkit(tmp_path):
    version = subprocess.run([sys.executable, "-m", "rnnkit", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.strip() == "rnnkit 0.1.0"
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    failed = subprocess.run([sys.executable, "-m", "rnnkit", "train", "classify", "--data", str(empty), "--out",
                             str(tmp_path / "out")], capture_output=True, text=True)
    assert failed.returncode == 2 and failed.stderr.strip() == f"rnnkit train: error: {empty} is empty"


# -- 13. help -----------------------------------------------------------------------------------------


def _parsers(parser, name="rnnkit"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _parsers(sub, f"{name} {sub_name}")


def test_every_flag_has_help_and_shows_its_default():
    seen = 0
    for name, parser in _parsers(build_parser()):
        parser.format_help()  # a stray % in a help text would raise here
        for action in parser._actions:
            if not action.option_strings or isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
                continue
            seen += 1
            flag = f"{name} {action.option_strings[-1]}"
            assert action.help and action.help.strip(), f"{flag} has no help"
            if action.default is not None and action.default is not False:
                assert "default" in action.help, f"{flag} does not show its default {action.default!r}"
    assert seen > 100


# -- 14. mostly unknown tokens --------------------------------------------------------------------------


def _unknown_warning(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "warning:" in lines[0] and "tokens are <unk>" in lines[0], err


def test_mostly_unknown_tokens_warn(capsys, tmp_path, classifier, translator, word_lm):
    (tmp_path / "odd.tsv").write_text("label\ttext\npos\tzzz qqq superb\nneg\txxx yyy awful\n")
    (tmp_path / "odd_pairs.tsv").write_text("zorro gato\tgato zorro\nuno perro\tperro uno\n")
    (tmp_path / "odd.txt").write_text("zebra quilt " * 40)
    _unknown_warning(run(capsys, ["predict", "classify", "--checkpoint", classifier, "zzz qqq film"])[1])
    _unknown_warning(run(capsys, ["eval", "classify", "--checkpoint", classifier, "--data", tmp_path / "odd.tsv"])[1])
    _unknown_warning(run(capsys, ["translate", "--checkpoint", translator, "zorro gato perro uno", "--beam", "1"])[1])
    _unknown_warning(run(capsys, ["eval", "seq2seq", "--checkpoint", translator, "--data", tmp_path / "odd_pairs.tsv",
                                  "--beam", "1"])[1])
    _unknown_warning(run(capsys, ["eval", "lm", "--checkpoint", word_lm[0], "--data", tmp_path / "odd.txt"])[1])
    # Known words: no warning.
    assert run(capsys, ["predict", "classify", "--checkpoint", classifier, "the film was superb"])[1] == ""


def test_warn_if_mostly_unknown():
    import torch

    from rnnkit.text.vocab import Vocab, warn_if_mostly_unknown

    vocab = Vocab.build([["a", "b"]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_if_mostly_unknown([[4, 5, 1], [4, 5]], vocab, "test") == pytest.approx(0.2)  # 20 %: no warning
        assert warn_if_mostly_unknown([], vocab, "test") == 0.0
    with pytest.warns(UserWarning, match="50% of the 4 test tokens are <unk>"):
        warn_if_mostly_unknown([torch.tensor([1, 1, 4, 5])], vocab, "test")


# -- 15. progress bars -----------------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bars_show_on_a_terminal_only(monkeypatch, classifier, translator):
    from rnnkit.tasks.classification import Classifier
    from rnnkit.tasks.translation import Translator

    clf, tr = Classifier.load(classifier), Translator.load(translator)
    for progress, shown in ((False, False), (True, True)):
        terminal = _Terminal()
        monkeypatch.setattr(sys, "stderr", terminal)
        clf.predict(["the film was superb"], progress=progress)
        tr.translate(["uno dos"], progress=progress)
        assert ("predict" in terminal.getvalue() and "greedy" in terminal.getvalue()) == shown
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal: no bar even when asked
    clf.predict(["the film was superb"], progress=True)
    assert sys.stderr.getvalue() == ""


def test_quiet_flags(capsys, classifier, translator):
    run(capsys, ["predict", "classify", "--checkpoint", classifier, "superb", "--quiet"])
    run(capsys, ["translate", "--checkpoint", translator, "uno", "--quiet", "--beam", "1"])
    for argv in (["eval", "lm"], ["eval", "classify", "--data", "D"], ["eval", "seq2seq"], ["translate"],
                 ["predict", "classify"]):
        assert build_parser().parse_args([*argv, "--checkpoint", "C", "--quiet"]).quiet
