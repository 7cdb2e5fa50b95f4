"""The rules a config's numbers obey, declared on each field and checked in one place.

A field's ``metadata`` says what it accepts (``low``: where its range starts; ``at_most``: its
ceiling). :func:`value_problem` reads that declaration, so a flag, a field read back from a
checkpoint and a config built in Python are held to the same rule.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import field

INT_MAX = 2**31 - 1  # what torch's sizes and counts take; a larger number is a typo
MAX_DECODE_LEN = 10_000  # tokens one decoded output may have: an untrained model may never stop

# Where a number's range starts, and what an out-of-range value is told.
LOWS = {
    "positive": (lambda v: v > 0, "must be positive"),
    "non_negative": (lambda v: v >= 0, "must not be negative"),  # the field's help says what 0 means
    # a probability of dropping a unit / share of the target mass moved: 1 leaves nothing to learn from
    "unit": (lambda v: 0 <= v < 1, "must lie in [0, 1)"),
    # a divisor below 1 would raise the learning rate on a plateau
    "at_least_one": (lambda v: v >= 1, "must be >= 1 (1 = off)"),
}


def setting(default, help: str, *, choices: tuple | None = None, low: str = "positive", at_most=None, **kw):
    """A config field: its default, the help of its CLI flag, and the values it accepts."""
    if low not in LOWS:
        raise ValueError(f"low must be one of {', '.join(LOWS)}; got {low!r}")
    metadata = {"help": help, "low": low, **kw}
    if choices is not None:
        metadata["choices"] = choices
    if at_most is not None:
        metadata["at_most"] = at_most
    return field(default=default, metadata=metadata)


def value_problem(f: dataclasses.Field, kind, value) -> str | None:
    """What is wrong with ``value`` for the config field ``f`` of type ``kind`` (None: nothing)."""
    if kind is float and not math.isfinite(value):  # float() takes 'nan' and 'inf'; no setting means them
        return "must be a finite number"
    if kind not in (int, float):
        return None
    accepts, problem = LOWS[f.metadata.get("low", "positive")]
    if not accepts(value):
        return problem
    limit = f.metadata.get("at_most", INT_MAX if kind is int else None)
    if limit is not None and value > limit:
        return f"must be at most {limit}"
    return None
