"""Truncated backpropagation through time over a long token stream.

The stream is cut into B contiguous streams (one per batch row, as PyTorch's word-language-model
example does). A window has k2 steps and advances by k1 (``k1 <= k2``): the loss covers its last
k1 steps, the first ``k2 - k1`` only rebuild context. The recurrent state is carried from window to
window but detached, so no gradient crosses a window's start.

Window w predicts positions ``[s, s + k1)`` with ``s = w * k1``, reading tokens from
``p = max(0, s + k1 - k2)``. The next window starts reading at ``p' = max(0, s + 2 k1 - k2)``, which
lies inside this window: the window runs in two segments split there, and the state at the split,
detached, starts the next window. With k1 = k2 (the default) that is simply the final state.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch


def batchify(ids: torch.Tensor, batch_size: int) -> torch.Tensor:
    """A 1-D id stream (N,) as (B, N // B) contiguous streams; the remainder is dropped."""
    if ids.dim() != 1:
        raise ValueError(f"expected a 1-D token stream; got shape {tuple(ids.shape)}")
    n = ids.shape[0] // batch_size
    if n < 2:
        raise ValueError(f"a stream of {ids.shape[0]} tokens is too short for {batch_size} rows of at least "
                         "2 tokens; use more text or a smaller --batch-size")
    return ids[: n * batch_size].view(batch_size, n)


def detach_state(state):
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


@dataclass
class Window:
    """One TBPTT window. ``inputs`` (B, L) read from ``read_from``; the loss covers the last
    ``targets.shape[1]`` steps; the state after ``split`` steps starts the next window."""

    index: int
    read_from: int
    inputs: torch.Tensor
    targets: torch.Tensor
    split: int


class TruncatedBPTT:
    """Windows over (B, T) streams. ``random_length`` (k1 = k2 only) draws each window's length as
    AWD-LSTM does: ``bptt`` with probability 0.95 else ``bptt / 2``, plus N(0, 5) noise, at least 5.
    The draws are a function of (seed, epoch), so a resumed run sees the same windows."""

    def __init__(self, streams: torch.Tensor, k2: int, k1: int | None = None, random_length: bool = False,
                 seed: int = 0):
        k1 = k2 if k1 is None else k1
        if not 0 < k1 <= k2:
            raise ValueError(f"the window advance k1 must lie in [1, k2={k2}]; got {k1}")
        if random_length and k1 != k2:
            raise ValueError("random window lengths need k1 == k2 (no --bptt-advance)")
        if streams.shape[1] < 2:
            raise ValueError("each stream needs at least 2 tokens")
        self.streams, self.k1, self.k2, self.random_length, self.seed = streams, k1, k2, random_length, seed

    def _lengths(self, epoch: int):
        """The loss-window lengths of an epoch (k1 each unless randomised)."""
        steps = self.streams.shape[1] - 1  # the last token is only a target
        rng = random.Random(self.seed * 7919 + epoch)
        done = 0
        while done < steps:
            if self.random_length:
                base = self.k2 if rng.random() < 0.95 else self.k2 / 2
                n = max(5, int(rng.gauss(base, 5)))
            else:
                n = self.k1
            n = min(n, steps - done)
            yield done, n
            done += n

    def count(self, epoch: int) -> int:
        """The number of windows of ``epoch``: the same every epoch, except with random lengths,
        whose draws (a function of the seed and epoch) are counted."""
        return sum(1 for _ in self._lengths(epoch if self.random_length else 0))

    def __len__(self) -> int:
        """The windows of the first epoch (:meth:`count`: of any epoch)."""
        return self.count(1)

    def windows(self, epoch: int = 0):
        context = self.k2 - self.k1
        starts = list(self._lengths(epoch))
        for w, (s, n) in enumerate(starts):
            p = max(0, s - context)
            next_p = max(0, starts[w + 1][0] - context) if w + 1 < len(starts) else s + n
            yield Window(w, p, self.streams[:, p : s + n], self.streams[:, s + 1 : s + n + 1], next_p - p)


def run_window(model, window: Window, state):
    """Runs ``model`` (``forward(tokens, state) -> (logits, state)``) over a window from ``state``.

    Returns ``(logits of the loss steps (B, k1, V), the detached state that starts the next window)``.
    """
    if window.split == 0:
        logits, _ = model(window.inputs, state)
        carry = state
    elif window.split == window.inputs.shape[1]:
        logits, carry = model(window.inputs, state)
    else:
        first, mid = model(window.inputs[:, : window.split], state)
        second, _ = model(window.inputs[:, window.split :], mid)
        logits, carry = torch.cat([first, second], dim=1), mid
    return logits[:, -window.targets.shape[1] :], detach_state(carry)
