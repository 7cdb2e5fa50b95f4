"""Padding and truncation to a maximum length, lengths and masks, and length-bucketed batches."""

from __future__ import annotations

import numbers
import random
from collections.abc import Iterator, Sequence

import numpy as np
import torch


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """Keras' ``keras.utils.pad_sequences``: same signature, same results, a NumPy array.

    Args:
        sequences: a list of sequences (each a list of numbers, or of equally shaped arrays).
        maxlen: the output length; ``None`` means the longest sequence.
        dtype: the output dtype.
        padding: ``"pre"`` pads at the start, ``"post"`` at the end.
        truncating: ``"pre"`` drops values from the start of longer sequences, ``"post"`` from the end.
        value: the padding value.

    Returns:
        (len(sequences), maxlen) array (plus the items' own shape).
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError("`sequences` must be iterable.")
    if padding not in ("pre", "post"):
        raise ValueError(f'padding must be "pre" or "post"; got {padding!r}')
    if truncating not in ("pre", "post"):
        raise ValueError(f'truncating must be "pre" or "post"; got {truncating!r}')
    if maxlen is not None and not isinstance(maxlen, bool) and not isinstance(maxlen, numbers.Integral):
        # as Keras (NumPy refuses a float dimension): 2.0 is a TypeError, not silently 2
        raise TypeError(f"maxlen must be an integer or None; got {maxlen!r} ({type(maxlen).__name__})")
    if maxlen is not None and (isinstance(maxlen, bool) or maxlen < 0):
        raise ValueError(f"maxlen must be a non-negative integer or None; got {maxlen!r}")
    lengths, sample_shape, flag = [], (), True
    for x in sequences:
        try:
            lengths.append(len(x))
            if flag and len(x):
                sample_shape = np.asarray(x).shape[1:]
                flag = False
        except TypeError as err:
            raise ValueError(f"`sequences` must be a list of iterables. Found non-iterable: {x!r}") from err
    if maxlen is None:
        if not lengths:  # Keras raises here too: the longest of no sequences is undefined
            raise ValueError("pad_sequences got no sequences and maxlen=None: the output length is that of the "
                             "longest sequence; give maxlen to get a (0, maxlen) array")
        maxlen = max(lengths)
    maxlen = int(maxlen)
    if maxlen == 0 and truncating == "pre" and any(lengths):
        # Keras' s[-0:] keeps the whole sequence and fails to fit it into no columns (a sequence of
        # one value it broadcasts into nothing: a quirk, not a rule to copy)
        raise ValueError("maxlen=0 with truncating='pre' cannot keep the end of a non-empty sequence (Keras raises "
                         "here too); use truncating='post' to drop every value")
    is_str = np.issubdtype(dtype, np.str_) or np.issubdtype(dtype, np.object_)
    if isinstance(value, str) and dtype is not object and not is_str:
        raise ValueError(f"`dtype` {dtype} is not compatible with `value`'s type: {type(value)}")
    x = np.full((len(sequences), maxlen) + sample_shape, value, dtype=dtype)
    if maxlen == 0:
        return x
    for idx, s in enumerate(sequences):
        if not len(s):
            continue
        trunc = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        trunc = np.asarray(trunc, dtype=dtype)
        if trunc.shape[1:] != sample_shape:
            raise ValueError(f"Shape of sample {trunc.shape[1:]} of sequence at position {idx} "
                             f"is different from expected shape {sample_shape}")
        if padding == "post":
            x[idx, : len(trunc)] = trunc
        else:
            x[idx, -len(trunc):] = trunc
    return x


def pad_batch(sequences: Sequence[Sequence[int]], max_len: int | None = None, padding: str = "post",
              truncating: str = "post", value: int = 0):
    """Token-id sequences as a batch-first tensor ready for ``rnnkit.nn``'s ``lengths=``.

    Returns:
        ``(ids (B, T) int64, lengths (B,) int64, mask (B, T) bool)``: T = the longest kept
        sequence (at most ``max_len``), ``mask`` true at real tokens. Post-padding by default,
        which ``lengths=`` expects (valid steps first).
    """
    if max_len is not None and max_len <= 0:
        raise ValueError(f"max_len must be a positive integer or None; got {max_len}")
    kept = [min(len(s), max_len) if max_len else len(s) for s in sequences]
    T = max(kept, default=0)
    ids = torch.from_numpy(pad_sequences(sequences, maxlen=T, dtype="int64", padding=padding,
                                         truncating=truncating, value=value))
    lengths = torch.tensor(kept, dtype=torch.long)
    steps = torch.arange(T).unsqueeze(0)
    if padding == "post":
        mask = steps < lengths.unsqueeze(1)
    else:
        mask = steps >= (T - lengths).unsqueeze(1)
    return ids, lengths, mask


class PadCollate:
    """``collate_fn`` for a ``DataLoader`` over ``(ids, label)`` pairs: pads with :func:`pad_batch`.

    Returns ``(ids (B, T), lengths (B,), mask (B, T), labels (B,))``; with ``BucketBatchSampler`` as
    the ``batch_sampler`` the batches hold texts of similar lengths.
    """

    def __init__(self, max_len: int | None = None, pad_id: int = 0):
        self.max_len, self.pad_id = max_len, pad_id

    def __call__(self, batch):
        ids, lengths, mask = pad_batch([item[0] for item in batch], self.max_len, value=self.pad_id)
        return ids, lengths, mask, torch.tensor([item[1] for item in batch])


class BucketBatchSampler(torch.utils.data.Sampler):
    """Batches of similar lengths, to cut padding: indices are shuffled, cut into pools of
    ``batch_size * pool_factor``, each pool sorted by length and cut into batches, and the batches
    shuffled. Deterministic for a given ``seed`` and epoch (:meth:`set_epoch`).
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, shuffle: bool = True, seed: int = 0,
                 pool_factor: int = 50, drop_last: bool = False):
        if batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer; got {batch_size}")
        if pool_factor <= 0:
            raise ValueError(f"pool_factor must be a positive integer; got {pool_factor}")
        self.lengths, self.batch_size, self.shuffle = list(lengths), batch_size, shuffle
        self.seed, self.pool_factor, self.drop_last, self.epoch = seed, pool_factor, drop_last, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        order = list(range(len(self.lengths)))
        if self.shuffle:
            rng.shuffle(order)
        pool = self.batch_size * self.pool_factor
        batches = []
        for start in range(0, len(order), pool):
            chunk = sorted(order[start : start + pool], key=lambda i: self.lengths[i])
            batches += [chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        if self.drop_last:
            batches = [b for b in batches if len(b) == self.batch_size]
        if self.shuffle:
            rng.shuffle(batches)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        return len(self.batches())


def padding_fraction(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> float:
    """Share of padded positions when each batch is padded to its longest member."""
    total = sum(max(lengths[i] for i in b) * len(b) for b in batches if b)
    real = sum(lengths[i] for b in batches for i in b)
    return 0.0 if total == 0 else 1.0 - real / total
