"""rnnkit compare: every lab experiment's quick preset, then the report (``make compare``)."""

from __future__ import annotations

import argparse

from .lab import _add_run_flags, run_all

# The flags of the compare command before the lab (0.1): refused with a pointer to what replaced them.
RETIRED = {"--length": "memory-length", "--train-steps": "memory-length", "--cells": "memory-length",
           "--seed": "any experiment with --seeds N"}


class _Retired(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string} was removed: rnnkit compare now runs every lab experiment's quick preset "
                     f"(see rnnkit lab list); for one experiment use rnnkit lab run {RETIRED[option_string]}")


def cmd_compare(args) -> None:
    """Runs all experiments (quick preset unless told) and writes report.md and report.html."""
    from ..lab import report

    run_all(["all"], args)
    md, page = report.write(args.out)
    print(f"\nreport: {page} (and {md})")


def register(sub) -> None:
    compare = sub.add_parser("compare", help="run every lab experiment's quick preset and write the report "
                                             "(rnnkit lab run all; rnnkit lab report)")
    _add_run_flags(compare)
    for flag in RETIRED:
        compare.add_argument(flag, action=_Retired, help=argparse.SUPPRESS)
    compare.set_defaults(run=cmd_compare)
