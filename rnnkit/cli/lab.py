"""rnnkit lab list | run NAME... | all | report: the study notes' claims as experiments."""

from __future__ import annotations

import os

from .common import positive_at_most

# the experiments that read the sentence-polarity file, which cannot be bundled
POLARITY_EXPERIMENTS = ("max-length", "gru-vs-lstm", "cnn-vs-rnn")
MAX_SEEDS = 100  # a typo like --seeds 1000000 would run for months
MAX_BEAM = 1000


def _add_run_flags(parser, default_preset: str = "quick") -> None:
    parser.add_argument("--preset", default=default_preset, metavar="PRESET",
                        help=f"quick (minutes, `make compare`), full (the committed results) or tiny (seconds, "
                             f"for tests) (default: {default_preset})")
    parser.add_argument("--seeds", type=positive_at_most(MAX_SEEDS), default=None,
                        help="run seeds 0..N-1 instead of the preset's seeds")
    parser.add_argument("--out", default="runs/lab", help="folder for the results (default: runs/lab)")
    parser.add_argument("--polarity", default=None, metavar="PATH",
                        help="the sentence-polarity file (rotten-tomatoes.tsv, label<TAB>text) for max-length, "
                             "gru-vs-lstm and cnn-vs-rnn (default: $RNNKIT_POLARITY, else ../shared/data beside "
                             "the checkout)")
    parser.add_argument("--checkpoint", default=None, metavar="DIR",
                        help="a trained run folder to analyse instead of training one: a seq2seq checkpoint for "
                             "beam-vs-greedy, a character-level LSTM or GRU language model for inside-the-lstm")
    parser.add_argument("--beam-sizes", type=_beam_sizes, default=None, metavar="K,K,...",
                        help="beam sizes for beam-vs-greedy, e.g. 1,5,10 (default: the preset's)")
    parser.add_argument("--text", default=None, metavar="PATH",
                        help="a UTF-8 text file for inside-the-lstm to train on and look inside, instead of the "
                             "bundled Shakespeare")
    parser.add_argument("--device", default="auto",
                        help="where to train and measure: auto (the first CUDA device if there is one, else the "
                             "CPU), cpu, cuda, cuda:N or mps (default: auto); the committed results ran on the CPU")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _beam_sizes(text: str) -> tuple[int, ...]:
    import argparse

    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be integers separated by commas, e.g. 1,5,10; got {text!r}") from None
    if not sizes or any(k < 1 for k in sizes):
        raise argparse.ArgumentTypeError(f"beam sizes must be integers >= 1, e.g. 1,5,10; got {text!r}")
    if any(k > MAX_BEAM for k in sizes):
        raise argparse.ArgumentTypeError(f"beam sizes must be at most {MAX_BEAM}; got {text!r}")
    return tuple(dict.fromkeys(sizes))


def options(args) -> dict:
    """The experiment-specific flags of ``args`` as config fields (None: not given)."""
    return {"checkpoint": args.checkpoint, "beam_sizes": args.beam_sizes, "text": args.text}


def _check_preset(preset: str) -> None:
    from ..lab import PRESETS

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; the presets are: {', '.join(PRESETS)}")


def run_all(names: list[str], args) -> list[str]:
    """Runs ``names`` with the flags of ``args``; returns the names run. Every argument is checked
    before the first experiment starts, so a mistake costs no training."""
    from ..lab import data, runner
    from ..train.runtime import resolve_device

    device = resolve_device(args.device)  # a device this machine lacks: one line, before anything runs
    _check_preset(args.preset)
    chosen = runner.main_names(names)
    runner.check_out(args.out, chosen)
    runner.options_users(options(args), chosen)
    for name in chosen:
        runner.config_for(name, args.preset, args.seeds, options(args))
    if args.polarity is not None:
        if not os.path.isfile(args.polarity):
            raise ValueError(f"--polarity {args.polarity} is not a file; give the path to rotten-tomatoes.tsv")
        os.environ[data.POLARITY_ENV] = os.path.abspath(args.polarity)
    if any(name in POLARITY_EXPERIMENTS for name in chosen):
        data.polarity()  # a missing file is reported now, not after an hour of other experiments
    for i, name in enumerate(chosen, 1):
        print(f"[{i}/{len(chosen)}] ", end="")
        runner.run(name, args.preset, args.seeds, args.out, progress=not args.quiet, options=options(args),
                   device=device)
    return chosen


def cmd_list(args) -> None:
    from ..lab import EXPERIMENTS, experiment

    print(f"{'experiment':14s} {'quick':>8s} {'full':>8s}  claim")
    for name in EXPERIMENTS:
        m = experiment(name)
        print(f"{name:14s} {m.RUN_TIME.get('quick', '?'):>8s} {m.RUN_TIME.get('full', '?'):>8s}  {m.CLAIM}")
    print("\nrnnkit lab run NAME... | all [--preset quick|full] [--seeds N] [--out runs/lab]; "
          "then rnnkit lab report runs/lab")


def cmd_run(args) -> None:
    run_all(args.names, args)
    print(f"results in {args.out}; rnnkit lab report {args.out} writes the report")


def cmd_report(args) -> None:
    from ..lab import report

    md, page = report.write(args.folder)
    print(f"wrote {md} and {page}")


def register(sub) -> None:
    lab = sub.add_parser("lab", help="the study notes' claims as experiments: list, run, report")
    sub_lab = lab.add_subparsers(dest="lab_command", required=True, parser_class=type(lab))
    sub_lab.add_parser("list", help="the experiments, their claims and run times").set_defaults(run=cmd_list)
    run = sub_lab.add_parser("run", help="run experiments (NAME... or all)")
    run.add_argument("names", nargs="+", metavar="NAME", help="experiments to run (rnnkit lab list), or all")
    _add_run_flags(run)
    run.set_defaults(run=cmd_run)
    report = sub_lab.add_parser("report", help="write report.md and report.html from a results folder")
    report.add_argument("folder", nargs="?", default="runs/lab", help="results folder (default: runs/lab)")
    report.set_defaults(run=cmd_report)
