"""Span conversions and temporal IoU against hand-computed values."""

from __future__ import annotations

import torch

from trdetr_cap.spans import (
    generalized_temporal_iou,
    inverse_sigmoid,
    span_cxw_to_xx,
    span_xx_to_cxw,
    temporal_iou,
)


def test_conversions_round_trip():
    xx = torch.tensor([[0.1, 0.5], [0.0, 1.0], [0.3, 0.3]])
    cxw = span_xx_to_cxw(xx)
    assert torch.allclose(cxw, torch.tensor([[0.3, 0.4], [0.5, 1.0], [0.3, 0.0]]))
    assert torch.allclose(span_cxw_to_xx(cxw), xx)


def test_iou_and_giou_by_hand():
    a = torch.tensor([[0.0, 0.4]])
    b = torch.tensor([[0.2, 0.6], [0.5, 0.7], [0.0, 0.4]])
    iou, union = temporal_iou(a, b)
    # overlap 0.2 / union 0.6; disjoint; identical
    assert torch.allclose(iou, torch.tensor([[1 / 3, 0.0, 1.0]]))
    assert torch.allclose(union, torch.tensor([[0.6, 0.6, 0.4]]))
    giou = generalized_temporal_iou(a, b)
    # disjoint pair: enclosing 0.7, union 0.6 -> 0 - 0.1/0.7
    assert torch.allclose(giou, torch.tensor([[1 / 3, -0.1 / 0.7, 1.0]]))


def test_inverse_sigmoid_clamps():
    x = torch.tensor([0.0, 0.5, 1.0])
    out = inverse_sigmoid(x)
    assert torch.isfinite(out).all()
    assert torch.allclose(torch.sigmoid(out), torch.tensor([1e-3, 0.5, 1 - 1e-3]), atol=1e-6)


def test_numpy_and_torch_iou_twins_agree():
    import numpy as np

    from trdetr_cap.spans import cross_iou, paired_hull_iou

    a = np.array([[0.0, 4.0], [2.0, 3.0], [5.0, 9.0]])
    b = np.array([[1.0, 5.0], [6.0, 7.0]])
    expected = np.array([[3 / 5, 0.0], [1 / 4, 0.0], [0.0, 1 / 4]])  # by hand: intersection / union
    np.testing.assert_allclose(cross_iou(a, b), expected)
    np.testing.assert_allclose(temporal_iou(torch.from_numpy(a), torch.from_numpy(b))[0].numpy(), expected)
    # the hull overlap equals IoU where spans overlap, and is 0 (not NaN) for an empty hull
    np.testing.assert_allclose(paired_hull_iou(a[:2], b), [3 / 5, 0.0])
    assert paired_hull_iou(np.array([[4.0, 4.0]]), np.array([[4.0, 4.0]])).tolist() == [0.0]
