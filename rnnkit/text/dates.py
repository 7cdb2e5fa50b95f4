"""The dates task, generated on the fly: human-readable dates in many formats -> ISO 8601.

    >>> date_pairs(2, seed=0)
    [('FEBRUARY 15 2019', '2019-02-15'), ...]

Dates run from 1950 to 2049, so a two-digit year is never ambiguous (50-99 -> 19xx, 00-49 -> 20xx).
Formats that would be ambiguous between day-first and month-first are not used.
"""

from __future__ import annotations

import datetime as dt
import random

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


FORMATS = [
    lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",
    lambda d: f"{d.day:02d} {MONTHS[d.month - 1]} {d.year}",
    lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
    lambda d: f"{MONTHS[d.month - 1][:3]} {d.day} {d.year}",
    lambda d: f"{d.day} {MONTHS[d.month - 1][:3]} {d.year % 100:02d}",
    lambda d: f"{DAYS[d.weekday()]}, {d.day} {MONTHS[d.month - 1]} {d.year}",
    lambda d: f"{DAYS[d.weekday()][:3]} {MONTHS[d.month - 1][:3]} {d.day} {d.year}",
    lambda d: f"the {_ordinal(d.day)} of {MONTHS[d.month - 1]}, {d.year}",
    lambda d: f"{MONTHS[d.month - 1]} {_ordinal(d.day)} {d.year}",
    lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
    lambda d: f"{d.year}/{d.month:02d}/{d.day:02d}",
    lambda d: f"{d.day}-{MONTHS[d.month - 1][:3].upper()}-{d.year % 100:02d}",
    lambda d: f"{MONTHS[d.month - 1].upper()} {d.day} {d.year}",
    lambda d: f"{d.day} {MONTHS[d.month - 1].lower()} {d.year}",
]

_START, _DAYS_SPAN = dt.date(1950, 1, 1), (dt.date(2049, 12, 31) - dt.date(1950, 1, 1)).days


def date_pairs(n: int, seed: int = 0, exclude: set[str] | None = None) -> list[tuple[str, str]]:
    """``n`` pairs (human-readable, ISO 8601), reproducible from ``seed``; sources in ``exclude``
    are skipped (to hold out a test set)."""
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    while len(out) < n:
        d = _START + dt.timedelta(days=rng.randint(0, _DAYS_SPAN))
        source = rng.choice(FORMATS)(d)
        if exclude and source in exclude:
            continue
        out.append((source, d.isoformat()))
    return out
