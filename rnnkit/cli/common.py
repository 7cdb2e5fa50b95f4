"""What every command shares: one-line errors, small argument types, file reading."""

from __future__ import annotations

import argparse
import math


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr (exit 2), pointing at --help."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class UserError(Exception):
    """A mistake in what the user asked for: reported as one line, exit status 2."""


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text!r}")
    return value


def non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0; got {text!r}")
    return value


def positive_at_most(limit: int):
    """A positive integer no larger than ``limit`` (a bound on work a typo could make endless)."""

    def parse(text: str) -> int:
        value = positive(text)
        if value > limit:
            raise argparse.ArgumentTypeError(f"must be at most {limit}; got {text!r}")
        return value

    return parse


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


def split_rows(rows, valid_every: int = 10):
    """The fixed hold-out rule: row i goes to validation when i % valid_every == valid_every - 1."""
    train = [r for i, r in enumerate(rows) if i % valid_every != valid_every - 1]
    valid = [r for i, r in enumerate(rows) if i % valid_every == valid_every - 1]
    return train, valid


def add_train_flags(parser, configs, skip=(), defaults=None) -> None:
    """The flags of every ``train`` command: one per field of each typed config, and --quiet.
    ``defaults``: the command's own defaults for some fields (see ``add_config_arguments``)."""
    from ..config import add_config_arguments

    for cls in configs:
        add_config_arguments(parser, cls, skip=skip, defaults=defaults)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
