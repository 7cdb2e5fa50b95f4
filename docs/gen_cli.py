"""The CLI reference (docs/cli.md), generated from the argparse parser so it cannot drift.

Run as a script it prints the page (or writes it to the path given); ``mkdocs build`` calls
:func:`render` from its hook (``docs/hooks.py``) and adds the page to the site at build time, so
``docs/cli.md`` is never committed.

    python docs/gen_cli.py            # print the page
    python docs/gen_cli.py cli.md     # write it
"""

from __future__ import annotations

import argparse
import os
import sys

WIDTH = "100"  # argparse wraps help to $COLUMNS: fix it so the page is the same on every machine

HEADER = """# Command line

This page is generated from the parser itself (`rnnkit.cli.build_parser()`, by `docs/gen_cli.py`
when the documentation is built), so it always matches the installed `rnnkit`. The same text is
printed by `rnnkit COMMAND --help`.

A mistake (a bad flag value, a missing or unreadable file, a damaged checkpoint, a folder in use)
ends with one line on stderr naming the problem and the fix, and exit status 2; a training failure
exits with status 1. `python -m rnnkit` is the same command as `rnnkit`.
"""


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _walk(parser: argparse.ArgumentParser):
    """Every parser under ``parser``, depth first, in the order the commands were registered."""
    yield parser
    for sub in _subcommands(parser).values():
        yield from _walk(sub)


def render() -> str:
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        from rnnkit.cli import build_parser

        parts = [HEADER]
        for parser in _walk(build_parser()):
            level = "#" * min(parser.prog.count(" ") + 2, 4)  # rnnkit: ##, rnnkit train: ###, ...
            parts.append(f"{level} `{parser.prog}`\n\n```text\n{parser.format_help().rstrip()}\n```\n")
        return "\n".join(parts)
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous


def main(argv: list[str]) -> int:
    page = render()
    if argv:
        with open(argv[0], "w", encoding="utf-8") as f:
            f.write(page)
    else:
        sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
