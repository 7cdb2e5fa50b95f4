"""Argument checks shared by cells and layers: one clear message naming expected and actual.

The exception types are torch.nn's for the same misuse, and the messages carry torch.nn's key
phrases, so code (and tests) written against torch.nn catch and match them: ``TypeError`` for a
size that is not an int or a flag that is not a bool, ``ValueError`` for a bad value, and
:class:`InputError` where torch.nn raises ``RuntimeError`` but rnnkit has always raised
``ValueError`` (shapes of the input and the state, an empty sequence).
"""

from __future__ import annotations

import torch


class InputError(ValueError, RuntimeError):
    """A tensor or setting a recurrent layer or cell cannot run on (a shape, a dtype, a device).

    Both a ``ValueError`` (rnnkit's contract, and the CLI's one-line errors) and a
    ``RuntimeError`` (what torch.nn raises for the same misuse), so ``except`` clauses written for
    either catch it.
    """


def check_size(name: str, value, *, allow_zero: bool = False) -> None:
    """A size argument: an int (``TypeError`` otherwise, as torch.nn), > 0 for layers; cells, like
    torch.nn's, accept 0 (an empty state or input)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} should be of type int, got: {type(value).__name__} ({value!r})")
    if allow_zero and value < 0:
        raise InputError(f"{name} must be a non-negative integer; got {value}")
    if not allow_zero and value <= 0:
        raise ValueError(f"{name} must be greater than zero; got {value}")


def check_bool(name: str, value) -> None:
    """A flag: ``True`` or ``False`` (torch.nn raises the same ``TypeError`` for 0, 1 or "False")."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} should be of type bool, got: {type(value).__name__} ({value!r})")


def check_nonlinearity(value) -> None:
    """``"tanh"`` or ``"relu"``; torch.nn's layers raise ValueError and its cells RuntimeError."""
    if value not in ("tanh", "relu"):
        raise InputError(f"Unknown nonlinearity {value!r}: nonlinearity must be one of 'tanh', 'relu'")


def check_choice(name: str, value, choices) -> None:
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}; got {value!r}")


def check_dropout(value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"dropout must be a number in [0, 1]; got {value!r}")


def check_tensor(name: str, x) -> None:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor; got {type(x).__name__}")


def check_float_tensor(name: str, x, weight: torch.Tensor | None = None, kind: str = "RNN") -> None:
    """``x`` is a floating-point tensor, of ``weight``'s dtype when given (except under autocast,
    which casts inside), with torch.nn's message "RNN input dtype ... does not match weight dtype"."""
    check_tensor(name, x)
    mismatch = weight is not None and x.dtype != weight.dtype and not torch.is_autocast_enabled(x.device.type)
    torch_says = f"{kind} input dtype ({x.dtype}) does not match weight dtype ({weight.dtype})" if mismatch else ""
    if not x.is_floating_point():
        raise InputError(
            (f"{torch_says}: " if mismatch else "")
            + f"{name} must be a floating-point tensor; got dtype {x.dtype} "
            "(embed token ids first, e.g. with torch.nn.Embedding)"
        )
    if mismatch:
        raise InputError(f"{torch_says}. Convert input: input.to({weight.dtype}), "
                         f"or convert model: model.to({x.dtype})")


def check_state(name: str, state: torch.Tensor, expected: tuple, like: torch.Tensor) -> None:
    """``state`` must have shape ``expected`` and live on ``like``'s device with its dtype."""
    if not isinstance(state, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape {expected}; got {type(state).__name__}")
    if tuple(state.shape) != tuple(expected):
        raise InputError(f"{name} must have shape {tuple(expected)}; got {tuple(state.shape)}")
    if state.device != like.device:
        raise InputError(f"{name} is on {state.device} but the input is on {like.device}; move it with .to()")
    if state.dtype != like.dtype:
        raise InputError(f"{name} has dtype {state.dtype} but the input has {like.dtype}; convert one of them")
