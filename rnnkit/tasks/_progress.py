"""The progress bar of the task-level loops over batches (evaluate, predict, translate)."""

from __future__ import annotations


def progress_bar(iterable, total: int | None = None, desc: str | None = None, enabled: bool = False):
    """``iterable`` wrapped in a tqdm bar on stderr when ``enabled``; tqdm's ``disable=None`` keeps
    it off where stderr is not a terminal (pipes, logs), and ``leave=False`` erases it when done,
    so only the results stay on screen."""
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, disable=None if enabled else True, leave=False, dynamic_ncols=True)
