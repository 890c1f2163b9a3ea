"""Ragged per-row lists as padded numpy arrays (the evaluators' common layout)."""

from __future__ import annotations

import numpy as np


def pad_ragged(values: np.ndarray, counts: np.ndarray, max_len: int | None = None, fill: float = 0.0):
    """Flat (N, ...) values split by ``counts`` (R,) -> (padded (R, M, ...), valid (R, M)); rows cut to ``max_len``."""
    starts = np.cumsum(counts) - counts
    lengths = counts if max_len is None else np.minimum(counts, max_len)
    width = int(lengths.max(initial=0))
    row = np.repeat(np.arange(len(counts)), lengths)
    col = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    padded = np.full((len(counts), width) + values.shape[1:], fill, dtype=values.dtype)
    padded[row, col] = values[np.repeat(starts, lengths) + col]
    valid = np.zeros((len(counts), width), dtype=bool)
    valid[row, col] = True
    return padded, valid


def compact_rows(values: np.ndarray, keep: np.ndarray):
    """Move the kept entries of each row (R, M, ...) to its front, in order -> (values, valid) of width max kept."""
    order = np.argsort(~keep, axis=1, kind="stable")
    width = int(keep.sum(1).max(initial=0))
    order = order[:, :width]
    expand = order.reshape(order.shape + (1,) * (values.ndim - 2))
    return np.take_along_axis(values, expand, axis=1), np.take_along_axis(keep, order, axis=1)


def row_chunks(total: int, size: int) -> list[slice]:
    """Consecutive slices of at most ``size`` covering range(total)."""
    return [slice(start, min(start + size, total)) for start in range(0, total, size)]
