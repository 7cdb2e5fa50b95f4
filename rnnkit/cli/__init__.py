"""The ``rnnkit`` command line.

    rnnkit demo [--minutes 3] [--out runs/demo]        character-level LSTM on the bundled Shakespeare
    rnnkit lab list | run NAME... | all [--preset quick|full] [--seeds N] [--out runs/lab] | report [runs/lab]
    rnnkit compare [--preset quick] [--out runs/lab]      every lab experiment, then the report
    rnnkit train lm (--corpus shakespeare | --data FILE) [--level char|word|bpe] [--cell ...] [--bptt N] ...
    rnnkit eval lm --checkpoint DIR (--data FILE|- | --corpus shakespeare [--split test]) [--quiet]
    rnnkit train seq2seq (--data pairs.tsv | --corpus en-es | --corpus dates) [--attention KIND|none] ...
    rnnkit translate --checkpoint DIR [TEXT ...] [--input FILE|-] [--beam K] [--n-best N] [--plot-attention OUT.png]
    rnnkit eval seq2seq --checkpoint DIR (--data test.tsv|- | --corpus en-es|dates) [--beam K] [--limit N]
    rnnkit generate --checkpoint DIR [--prompt TEXT] [--max-tokens N] [--temperature T] [--top-k K]
                    [--top-p P] [--seed S] [--greedy] [--num N]
    rnnkit train classify --data FILE.tsv [--text-column C --label-column C] [--cell lstm|gru|rnn|cnn|tcn]
                          [--max-len N] [--bidirectional] [--out DIR] [common train flags]
    rnnkit eval classify --checkpoint DIR --data FILE|-
    rnnkit predict classify --checkpoint DIR [TEXT ...] [--input FILE|-]

Common train flags (from the typed configs in ``rnnkit.config``): --out --epochs --max-steps
--max-minutes --seed --batch-size --lr --hidden-size --num-layers --embedding-size --dropout --cell ...

A user's mistake (a bad option, a missing file) ends with one line on stderr and exit status 2,
never a traceback. ``-`` as --input of predict/translate or --data of eval reads standard input.
``rnnkit --version``; ``python -m rnnkit`` is the same command.
"""

from __future__ import annotations

import sys
import warnings

from . import classify, compare, lab, lm, seq2seq
from .common import Parser, UserError

__all__ = ["main", "build_parser", "UserError"]


def build_parser() -> Parser:
    from .. import __version__

    parser = Parser(prog="rnnkit", description="Recurrent sequence models on PyTorch.")
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    train = sub.add_parser("train", help="train a model").add_subparsers(dest="task", required=True,
                                                                       parser_class=Parser)
    ev = sub.add_parser("eval", help="evaluate a checkpoint").add_subparsers(dest="task", required=True,
                                                                            parser_class=Parser)
    predict = sub.add_parser("predict", help="predict with a checkpoint").add_subparsers(
        dest="task", required=True, parser_class=Parser)
    lm.register(sub, train, ev)
    compare.register(sub)
    lab.register(sub)
    classify.register(sub, train, ev, predict)
    seq2seq.register(sub, train, ev)
    return parser


def quiet_stdout() -> None:
    """Points stdout at /dev/null, so that flushing it at exit, after its reader has gone, raises
    nothing more (Python's documented way out of a broken pipe)."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no file descriptor behind stdout (a test's capture)
        pass


def main(argv: list[str] | None = None) -> int:
    from .rank_errors import hand_over

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _main(argv)
    except KeyboardInterrupt:  # before the command began (torch's import, parsing); later ones _main says
        command = next((a for a in argv if not a.startswith("-")), "")
        line = f"rnnkit {command}: interrupted" if command else "rnnkit: interrupted"
        if not hand_over(line):
            print(line, file=sys.stderr)
        return 130


def _main(argv: list[str]) -> int:
    from .._ctrl_c import ctrl_c_held

    args = build_parser().parse_args(argv)
    # Imports must not be cut by Ctrl-C (see rnnkit._ctrl_c): torch's, and the tasks' that every
    # command but lab's reads (0.1 s); after parsing, as --help needs none of them.
    with ctrl_c_held():
        import torch  # noqa: F401

        from ..tasks import classification, language_model, translation  # noqa: F401
        from ..train.trainer import TrainingError
        from .rank_errors import LOST_PEER, hand_over, lost_peer

    args.argv = argv  # what `train --nproc N` runs again under torchrun

    def one_line_warning(message, category, filename, lineno, file=None, line=None):
        print(f"rnnkit {args.command}: warning: {message}", file=sys.stderr)

    warnings.showwarning = one_line_warning
    def say(line: str) -> None:
        if not hand_over(line):  # under --nproc, the launcher prints the other processes' lines once
            print(line, file=sys.stderr)

    def error(message: str, code: int) -> int:
        one_line = message.replace("\r", "\\r").replace("\n", "\\n")  # a path may hold a line break
        say(f"rnnkit {args.command}: error: {one_line}")
        return code

    try:
        args.run(args)
    except (UserError, ValueError) as err:
        return error(str(err), 2)
    except TrainingError as err:
        return error(str(err), 1)
    except BrokenPipeError:  # stdout's reader left (`rnnkit generate ... | head`): what it wanted came through
        quiet_stdout()
        return 141  # 128 + SIGPIPE: how a shell reports a writer whose reader left
    except OSError as err:  # the file system refused: a path too long, a file where a folder must be, ...
        where = f": {err.filename}" if err.filename else ""
        return error(f"{err.strerror or err}{where}", 2)
    except (MemoryError, OverflowError) as err:
        return error(f"out of memory or range ({type(err).__name__}: {err}); use smaller sizes", 1)
    except RuntimeError as err:  # torch's own: memory, or a number past float32's range
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        if "allocate" in first:
            return error(f"out of memory: {first}; use smaller sizes or batches", 1)
        if "overflow" in first:
            return error(f"a number is out of range ({first}); use smaller values", 2)
        if lost_peer(first):
            return error(f"{LOST_PEER}, so this one cannot go on ({first}); the checkpoints "
                         f"already in --out are whole: go on from the last with --resume", 1)
        raise
    except KeyboardInterrupt:
        say(f"rnnkit {args.command}: interrupted")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
