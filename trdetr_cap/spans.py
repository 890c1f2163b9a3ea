"""Temporal spans: conversions, IoU and NMS, the one place they are computed (numpy and torch twins side by side).

Spans are 1-D boxes: ``cxw`` = (center, width), ``xx`` = (start, end); normalised to [0, 1] inside the model, in
seconds in submissions. The numpy part (evaluation, post-processing, plots) uses the official evaluator's float
operations, so ``trdetr_cap.eval`` reproduces the official numbers with it. The torch part (matcher, losses, decoder)
imports torch when first called: importing this module never imports torch, so the evaluator stays torch-free.

Two overlaps are in use: IoU (intersection over union) and the *hull* overlap, intersection over the span from the
first start to the last end, which the original uses for R1 and NMS; the two are equal when the spans overlap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

# ---------------------------------------------------------------------------------------------------------------
# numpy
# ---------------------------------------------------------------------------------------------------------------


def cross_iou(spans1: np.ndarray, spans2: np.ndarray) -> np.ndarray:
    """IoU of (..., N, 2) and (..., M, 2) [start, end] windows -> (..., N, M), with the official float operations
    (NaN where both spans are empty)."""
    areas1 = spans1[..., 1] - spans1[..., 0]
    areas2 = spans2[..., 1] - spans2[..., 0]
    left = np.maximum(spans1[..., :, None, 0], spans2[..., None, :, 0])
    right = np.minimum(spans1[..., :, None, 1], spans2[..., None, :, 1])
    inter = np.clip(right - left, 0, None)
    union = areas1[..., :, None] + areas2[..., None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return inter / union


def paired_hull_iou(spans1: np.ndarray, spans2: np.ndarray) -> np.ndarray:
    """(K, 2) x (K, 2) -> (K,) intersection over the hull of each pair (0 where the hull is empty)."""
    inter = np.maximum(0, np.minimum(spans1[:, 1], spans2[:, 1]) - np.maximum(spans1[:, 0], spans2[:, 0]))
    hull = np.maximum(spans1[:, 1], spans2[:, 1]) - np.minimum(spans1[:, 0], spans2[:, 0])
    return np.divide(inter, hull, out=np.zeros_like(inter), where=hull != 0)


def temporal_nms(windows: Sequence[Sequence[float]], nms_thd: float, max_after_nms: int) -> list[Sequence[float]]:
    """Greedy NMS over [st, ed, score] rows: keep the best, drop rows whose hull overlap with it exceeds ``nms_thd``
    (the original's NMS); at most ``max_after_nms`` rows, best first, ties in score in their given order."""
    remaining = sorted(windows, key=lambda w: w[2], reverse=True)
    kept: list[Sequence[float]] = []
    while remaining and len(kept) < max_after_nms:
        best = remaining.pop(0)
        kept.append(best)
        if remaining:
            others = np.asarray([w[:2] for w in remaining], dtype=np.float64)
            overlap = paired_hull_iou(np.broadcast_to(np.asarray(best[:2], dtype=np.float64), others.shape), others)
            remaining = [w for w, o in zip(remaining, overlap, strict=True) if o <= nms_thd]
    return kept


# ---------------------------------------------------------------------------------------------------------------
# torch
# ---------------------------------------------------------------------------------------------------------------


def span_cxw_to_xx(cxw: torch.Tensor) -> torch.Tensor:
    """(..., 2) center/width -> (..., 2) start/end."""
    import torch

    c, w = cxw.unbind(-1)
    return torch.stack([c - 0.5 * w, c + 0.5 * w], dim=-1)


def span_xx_to_cxw(xx: torch.Tensor) -> torch.Tensor:
    """(..., 2) start/end -> (..., 2) center/width."""
    import torch

    s, e = xx.unbind(-1)
    return torch.stack([0.5 * (s + e), e - s], dim=-1)


def temporal_iou(spans1: torch.Tensor, spans2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairwise IoU of (N, 2) and (M, 2) start/end spans -> (iou (N, M), union (N, M)); the twin of
    :func:`cross_iou`, differentiable."""
    areas1 = spans1[:, 1] - spans1[:, 0]
    areas2 = spans2[:, 1] - spans2[:, 0]
    left = spans1[:, None, 0].maximum(spans2[None, :, 0])
    right = spans1[:, None, 1].minimum(spans2[None, :, 1])
    inter = (right - left).clamp(min=0)
    union = areas1[:, None] + areas2[None, :] - inter
    return inter / union, union


def generalized_temporal_iou(spans1: torch.Tensor, spans2: torch.Tensor) -> torch.Tensor:
    """Pairwise generalized IoU of (N, 2) and (M, 2) start/end spans -> (N, M), in [-1, 1]."""
    iou, union = temporal_iou(spans1, spans2)
    left = spans1[:, None, 0].minimum(spans2[None, :, 0])
    right = spans1[:, None, 1].maximum(spans2[None, :, 1])
    enclosing = (right - left).clamp(min=0)
    return iou - (enclosing - union) / enclosing


def inverse_sigmoid(x: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """logit(x) with x clamped to [eps, 1 - eps] (as the original: eps = 1e-3), for the decoder's span refinement."""
    x = x.clamp(min=eps, max=1 - eps)
    return (x / (1 - x)).log()
