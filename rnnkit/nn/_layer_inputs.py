"""The recurrent layers' checks of their arguments and inputs, in torch.nn's words where torch.nn
has them (:mod:`rnnkit.nn.recurrent`), and the repacking of an output into its input's
``PackedSequence`` order."""

from __future__ import annotations

import math

import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from .backend import capturing, transformed
from .cells import MEMORY_GATE


def check_proj_size(mode: str, proj_size, hidden_size) -> None:
    """torch.nn's checks of ``proj_size`` (its messages): an int in [0, hidden_size), LSTM only."""
    if isinstance(proj_size, bool) or not isinstance(proj_size, int):
        raise TypeError(f"proj_size should be of type int, got: {type(proj_size).__name__}")
    if proj_size < 0:
        raise ValueError("proj_size should be a positive integer or zero to disable projections")
    if proj_size and mode != "LSTM":
        raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
    if proj_size and proj_size >= hidden_size:
        raise ValueError("proj_size has to be smaller than hidden_size")


def check_memory_bias(mode: str, memory_bias, bias: bool) -> None:
    """``memory_bias``: None, or a finite number for a gated layer that has biases."""
    if memory_bias is None:
        return
    if isinstance(memory_bias, bool) or not isinstance(memory_bias, (int, float)):
        raise TypeError(f"memory_bias should be a float or None, got: {type(memory_bias).__name__} ({memory_bias!r})")
    if not math.isfinite(memory_bias):
        raise ValueError(f"memory_bias must be a finite number; got {memory_bias!r}")
    if mode not in MEMORY_GATE:
        raise ValueError(f"memory_bias is only supported for LSTM and GRU (their forget or update gate); "
                         f"{mode} has no gate")
    if not bias:
        raise ValueError(f"memory_bias={memory_bias!r} sets the memory gate's bias, but bias=False gives the "
                         "layer no biases; pass bias=True or leave memory_bias=None")


def refuse_keywords(name: str, kwargs: dict) -> None:
    """RNN and GRU take no ``proj_size``: torch.nn's ValueError for it, Python's TypeError for others."""
    if "proj_size" in kwargs:
        raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
    if kwargs:
        raise TypeError(f"{name}.__init__() got an unexpected keyword argument {next(iter(kwargs))!r}")


def check_lengths(lengths, batch: int, steps: int, device) -> torch.Tensor:
    """``lengths`` as a CPU int64 tensor (B,), each in [0, T]; a clear ValueError otherwise."""
    if isinstance(lengths, torch.Tensor):
        if lengths.device.type != "cpu" and lengths.device != device:
            raise ValueError(f"lengths is on {lengths.device} but the input is on {device}; "
                             "keep lengths on the CPU or on the input's device")
        if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
            raise ValueError(f"lengths must hold integers; got dtype {lengths.dtype}")
        lengths = lengths.detach().to("cpu", torch.long)
    else:
        try:
            lengths = torch.as_tensor(lengths)
        except (TypeError, ValueError, RuntimeError) as err:
            raise ValueError(f"lengths must be a 1-D tensor or list of integers; got {lengths!r}") from err
        if (lengths.is_floating_point() and lengths.numel()) or lengths.dtype == torch.bool:  # [] reads as float
            raise ValueError(f"lengths must hold integers; got {lengths.tolist()!r}")
        lengths = lengths.to(torch.long)
    if lengths.dim() != 1 or lengths.shape[0] != batch:
        raise ValueError(f"lengths must have shape ({batch},), one length per sequence; got {tuple(lengths.shape)}")
    # Under graph capture the lengths are a graph input whose values come only at run time, so
    # their range cannot be checked here (nor under torch.func's vmap, where each sample's length
    # is a batched tensor); the masked loop then treats a length above T as T and one below 0 as 0.
    if batch and not capturing() and not transformed() and (int(lengths.min()) < 0 or int(lengths.max()) > steps):
        raise ValueError(f"lengths must lie in [0, {steps}] (the padded sequence length); "
                         f"got min {int(lengths.min())}, max {int(lengths.max())}")
    return lengths


def repack(output: torch.Tensor, lengths: torch.Tensor, like: PackedSequence) -> PackedSequence:
    """Packs a padded time-major output in exactly the batch order of the input ``like``."""
    order = like.sorted_indices
    if order is not None:
        output, lengths = output.index_select(1, order), lengths[order.cpu()]
    data = pack_padded_sequence(output, lengths, enforce_sorted=True).data
    return PackedSequence(data, like.batch_sizes, like.sorted_indices, like.unsorted_indices)
