"""Span conversions and temporal IoU on torch tensors.

Spans are 1-D boxes: ``cxw`` = (center, width), ``xx`` = (start, end), both normalised to [0, 1] inside the model.
The evaluator (``trdetr_cap.eval``) has its own numpy IoU so that importing it never imports torch.
"""

from __future__ import annotations

import torch


def span_cxw_to_xx(cxw: torch.Tensor) -> torch.Tensor:
    """(..., 2) center/width -> (..., 2) start/end."""
    c, w = cxw.unbind(-1)
    return torch.stack([c - 0.5 * w, c + 0.5 * w], dim=-1)


def span_xx_to_cxw(xx: torch.Tensor) -> torch.Tensor:
    """(..., 2) start/end -> (..., 2) center/width."""
    s, e = xx.unbind(-1)
    return torch.stack([0.5 * (s + e), e - s], dim=-1)


def temporal_iou(spans1: torch.Tensor, spans2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairwise IoU of (N, 2) and (M, 2) start/end spans -> (iou (N, M), union (N, M))."""
    areas1 = spans1[:, 1] - spans1[:, 0]
    areas2 = spans2[:, 1] - spans2[:, 0]
    left = torch.max(spans1[:, None, 0], spans2[None, :, 0])
    right = torch.min(spans1[:, None, 1], spans2[None, :, 1])
    inter = (right - left).clamp(min=0)
    union = areas1[:, None] + areas2[None, :] - inter
    return inter / union, union


def generalized_temporal_iou(spans1: torch.Tensor, spans2: torch.Tensor) -> torch.Tensor:
    """Pairwise generalized IoU of (N, 2) and (M, 2) start/end spans -> (N, M), in [-1, 1]."""
    iou, union = temporal_iou(spans1, spans2)
    left = torch.min(spans1[:, None, 0], spans2[None, :, 0])
    right = torch.max(spans1[:, None, 1], spans2[None, :, 1])
    enclosing = (right - left).clamp(min=0)
    return iou - (enclosing - union) / enclosing


def inverse_sigmoid(x: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """logit(x) with x clamped to [eps, 1 - eps] (as the original: eps = 1e-3)."""
    x = x.clamp(min=eps, max=1 - eps)
    return torch.log(x / (1 - x))
