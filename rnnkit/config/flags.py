"""The command line generated from the configs: one typed ``--flag`` per dataclass field.

A command lists the configs it takes; every field of each becomes a flag with the field's help,
choices and limits (:mod:`rnnkit.config.limits`), so what a command accepts is what its configs
hold, and a task's model config (not a skip list) decides which model flags it has.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing

from .limits import value_problem


def field_type(hint):
    """The type of a field's values: ``int | None`` -> ``int``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def add_config_arguments(parser: argparse.ArgumentParser, config_cls, defaults: dict | None = None) -> None:
    """One ``--flag`` per dataclass field, typed, with the field's default and help.
    ``defaults``: a command's own defaults for some fields (its measured recipe), shown in the help."""
    hints = typing.get_type_hints(config_cls)
    defaults = defaults or {}
    for f in dataclasses.fields(config_cls):
        flag = "--" + f.name.replace("_", "-")
        kind = field_type(hints[f.name])
        # The parsed value stays None when the flag is not given, so that a command can tell a
        # flag given from a default (--resume takes what is not given from the checkpoint); the
        # command's own default (``defaults``) is applied by config_from_args and shown here.
        default = defaults.get(f.name, f.default)
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                                help=f"{f.metadata['help']} (default: {'yes' if default else 'no'})")
            continue
        parser.add_argument(flag, type=_checked(kind, f), default=None, choices=f.metadata.get("choices"),
                            help=f"{f.metadata['help']} (default: {default})")


def _checked(kind, f: dataclasses.Field):
    def parse(text: str):
        try:
            value = kind(text)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"expected {kind.__name__}, got {text!r}") from None
        problem = value_problem(f, kind, value)
        if problem:
            raise argparse.ArgumentTypeError(f"{problem}, got {text!r}")
        return value

    return parse


def config_from_args(config_cls, args: argparse.Namespace, defaults: dict | None = None, **overrides):
    """The dataclass built from parsed flags; a flag left out takes ``defaults`` (a recipe), else
    the dataclass default. ``overrides`` win over both."""
    values = {}
    for f in dataclasses.fields(config_cls):
        v = overrides.get(f.name, getattr(args, f.name, None))
        if v is None:
            v = (defaults or {}).get(f.name)
        if v is not None:
            values[f.name] = v
    return config_cls(**values)
