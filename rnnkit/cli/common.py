"""What every command shares: one-line errors, small argument types, file reading."""

from __future__ import annotations

import argparse
import math

from ..config import INT_MAX

MAX_NPROC = 1024  # processes --nproc starts on one machine: past any machine's GPUs or useful CPU shares
MAX_BEAM = 1000  # wider beams only spend memory: quality falls well before (Koehn & Knowles 2017)


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr (exit 2), pointing at --help."""

    def _get_values(self, action, arg_strings):
        # argparse before 3.12 drops a lone "--" given as an option's value and returns [] as the value
        if action.nargs is None and action.option_strings and arg_strings in (["--"], []):
            self.error(f"argument {'/'.join(action.option_strings)}: expected a value, got '--'")
        return super()._get_values(action, arg_strings)

    def error(self, message):
        missing = message.removeprefix("the following arguments are required: ")
        for action in self._actions:  # argparse names a missing sub-command by its dest ('command')
            if isinstance(action, argparse._SubParsersAction) and action.dest == missing:
                message = f"a command is required, one of: {', '.join(action.choices)}"
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class UserError(Exception):
    """A mistake in what the user asked for: reported as one line, exit status 2."""


def _integer(text: str, low: int, high: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}; got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be {what}; got {text!r}")
    if value > high:
        raise argparse.ArgumentTypeError(f"must be at most {high}; got {text!r}")
    return value


def positive(text: str) -> int:
    return _integer(text, 1, INT_MAX, "a positive integer")


def non_negative(text: str) -> int:
    return _integer(text, 0, INT_MAX, "an integer >= 0")


def positive_at_most(limit: int):
    """A positive integer no larger than ``limit`` (a bound on work a typo could make endless)."""
    return lambda text: _integer(text, 1, limit, "a positive integer")


def non_negative_at_most(limit: int):
    """An integer in [0, ``limit``]."""
    return lambda text: _integer(text, 0, limit, "an integer >= 0")


def seed(text: str) -> int:
    """A seed: any integer torch, NumPy and Python's random all take."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"must lie in [0, 2**63); got {text!r}")
    return value


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):  # float() takes 'nan' and 'inf'
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    value = _finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def probability(text: str) -> float:
    """A share in (0, 1], as for a nucleus (top-p) cut."""
    value = _finite(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must lie in (0, 1], got {text!r}")
    return value


def read_text(path, stdin: bool = False) -> str:
    """A UTF-8 file's text (see ``read_utf8``); with ``stdin``, ``-`` reads standard input."""
    from ..text.datasets import read_utf8

    return read_utf8(path, stdin)


def input_lines(args, empty_argument: str, nothing: str) -> tuple[list[str], list[int]]:
    """The texts to answer, from the positional arguments then ``--input`` (a file, or ``-`` for
    standard input), and the indices of the non-blank ones. A blank input line is kept (it gets an
    empty output line, so output line n answers input line n); a blank argument is an error:
    ``empty_argument`` formatted with its 1-based ``{i}``. ``nothing``: the error when there are no
    texts at all."""
    from ..text.datasets import text_lines

    texts = list(args.texts)
    for i, text in enumerate(texts, start=1):
        if not text.strip():
            raise UserError(empty_argument.format(i=i))
    if args.input:
        texts += text_lines(read_text(args.input, stdin=True))
    if not texts:
        raise UserError(nothing)
    return texts, [i for i, text in enumerate(texts) if text.strip()]


def add_device_flag(parser) -> None:
    """``--device`` of the commands that load a checkpoint (``train`` takes it from ``TrainConfig``)."""
    parser.add_argument("--device", default="auto",
                        help="where to run: auto (the first CUDA device if there is one, else the CPU), cpu, cuda, "
                             "cuda:N or mps (default: auto)")


def device(args):
    """The :class:`torch.device` ``--device`` names, checked first thing: a device this machine
    lacks is one line (which devices it has), before any data is read or model loaded."""
    from ..train.runtime import resolve_device

    return resolve_device(getattr(args, "device", None))


def add_train_flags(parser, configs, defaults=None) -> None:
    """The flags of every ``train`` command: one per field of each typed config, and --quiet.
    ``defaults``: the command's own defaults for some fields (see ``add_config_arguments``)."""
    from ..config import add_config_arguments

    for cls in configs:
        add_config_arguments(parser, cls, defaults=defaults)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--nproc", type=positive_at_most(MAX_NPROC), default=1,
                        help="train data-parallel in N processes on this machine: starts torchrun's launcher, one "
                             "process per CUDA device or CPU share, --batch-size split among them (default: 1, no "
                             "torchrun); under torchrun, leave it out")
