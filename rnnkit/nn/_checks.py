"""Argument checks shared by cells and layers: one clear ValueError naming expected and actual."""

from __future__ import annotations

import torch


def check_choice(name: str, value, choices) -> None:
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}; got {value!r}")


def check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")


def check_dropout(value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"dropout must be a number in [0, 1]; got {value!r}")


def check_float_tensor(name: str, x) -> None:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor; got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(
            f"{name} must be a floating-point tensor; got dtype {x.dtype} "
            "(embed token ids first, e.g. with torch.nn.Embedding)"
        )


def check_state(name: str, state: torch.Tensor, expected: tuple, like: torch.Tensor) -> None:
    """``state`` must have shape ``expected`` and live on ``like``'s device with its dtype."""
    if not isinstance(state, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape {expected}; got {type(state).__name__}")
    if tuple(state.shape) != tuple(expected):
        raise ValueError(f"{name} must have shape {tuple(expected)}; got {tuple(state.shape)}")
    if state.device != like.device:
        raise ValueError(f"{name} is on {state.device} but the input is on {like.device}; move it with .to()")
    if state.dtype != like.dtype:
        raise ValueError(f"{name} has dtype {state.dtype} but the input has {like.dtype}; convert one of them")
