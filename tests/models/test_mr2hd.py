"""MR2HD: the vectorised implementation against a straightforward per-sample loop (as TR-DETR's
tr_detr/model.py:205 ``MR2HD`` writes it)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from model_fixtures import small_config

from trdetr_cap.models import build_model

LENGTHS = [12, 7, 10, 5]  # padded length 12
SPANS_CXW = [
    (0.5, 0.2),  # ordinary: xx (0.4, 0.6) -> clips 4..7
    (0.45, 0.99),  # start floor(-0.54) = -1: Python slice [-1:12] = the last (padded) clip only
    (0.9, 0.5),  # end floor(13.8) = 13 beyond the padded length: slice clipped to 7..11
    (0.1, 0.3),  # start -1, end 3: slice [-1:4] is empty -> all zeros through the GRU
]


def _case(seed: int = 0):
    torch.manual_seed(seed)
    model, _ = build_model(small_config())
    model.eval()
    bsz, lv, d, nq = len(LENGTHS), max(LENGTHS), model.hidden_dim, 5
    video_mask = (torch.arange(lv)[None] < torch.tensor(LENGTHS)[:, None]).float()
    pred_logits = torch.randn(bsz, nq, 2)
    pred_spans = torch.rand(bsz, nq, 2) * 0.5 + 0.25
    for i, (cx, w) in enumerate(SPANS_CXW):
        best = (i + 1) % nq
        pred_logits[i, best] = torch.tensor([5.0, -5.0])  # clearly the most confident query
        pred_spans[i, best] = torch.tensor([cx, w])
    memory = torch.randn(bsz, lv, d)
    src_vid_ed = torch.randn(bsz, lv, d, requires_grad=True)
    return model, pred_logits, pred_spans, memory, src_vid_ed, video_mask


def _loop_saliency(model, pred_logits, pred_spans, memory, src_vid_ed, video_mask, fixed: bool, scale: float = 1.0):
    """Per sample, in plain Python: pick the top query, slice its clips, run the GRU, re-weight, score."""
    lv = src_vid_ed.shape[1]
    scores = []
    for i in range(len(pred_logits)):
        best = int(torch.sort(F.softmax(pred_logits[i], -1)[:, 0], descending=True)[1][0])
        cx, w = pred_spans[i, best].tolist()
        if fixed:
            n = int(video_mask[i].sum())
            st = min(max(math.floor((cx - w / 2) * n), 0), n - 1)
            ed = min(max(math.floor((cx + w / 2) * n), 0), n - 1)
            clips = src_vid_ed[i, st:ed + 1]
        else:
            st, ed = math.floor((cx - w / 2) * lv), math.floor((cx + w / 2) * lv)
            clips = src_vid_ed[i, st:ed + 1]
            clips = F.pad(clips, (0, 0, 0, lv - clips.shape[0]))
        _, hidden = model.mr2hd_gru(clips[None])
        weights = src_vid_ed[i] @ hidden[-1, 0] * scale
        refined = memory[i] * (1 + weights[:, None])
        scores.append(model.saliency_proj(refined).sum(-1) / math.sqrt(model.hidden_dim))
    return torch.stack(scores)


def test_loop_reference_sees_the_intended_slices():
    """Guard on the test itself: the four cases hit the slice shapes they are meant to."""
    lv = max(LENGTHS)
    sizes = [len(range(lv)[math.floor((c - w / 2) * lv):math.floor((c + w / 2) * lv) + 1]) for c, w in SPANS_CXW]
    assert sizes == [4, 1, 5, 0]


@pytest.mark.parametrize("fixed", [False, True])
def test_vectorised_mr2hd_equals_per_sample_loop(fixed):
    model, pred_logits, pred_spans, memory, src_vid_ed, video_mask = _case()
    model.fix_mr2hd_span = fixed
    vectorised = model.mr2hd(pred_logits, pred_spans, memory, src_vid_ed, video_mask)
    looped = _loop_saliency(model, pred_logits, pred_spans, memory, src_vid_ed, video_mask, fixed)
    torch.testing.assert_close(vectorised, looped, rtol=1e-5, atol=1e-5)
    grad_vec = torch.autograd.grad(vectorised.sum(), src_vid_ed)[0]
    grad_loop = torch.autograd.grad(looped.sum(), src_vid_ed)[0]
    torch.testing.assert_close(grad_vec, grad_loop, rtol=1e-4, atol=1e-5)


def test_fixed_and_faithful_differ_and_gru_gets_gradient():
    model, pred_logits, pred_spans, memory, src_vid_ed, video_mask = _case(seed=1)
    faithful = model.mr2hd(pred_logits, pred_spans, memory, src_vid_ed, video_mask)
    model.fix_mr2hd_span = True
    fixed = model.mr2hd(pred_logits, pred_spans, memory, src_vid_ed, video_mask)
    assert not torch.allclose(faithful, fixed)
    fixed.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.mr2hd_gru.parameters())


@pytest.mark.parametrize("scale", [0.0625, 0.0])
def test_mr2hd_scale_multiplies_the_weights(scale):
    model, pred_logits, pred_spans, memory, src_vid_ed, video_mask = _case(seed=2)
    model.fix_mr2hd_span, model.mr2hd_scale = True, scale
    vectorised = model.mr2hd(pred_logits, pred_spans, memory, src_vid_ed, video_mask)
    looped = _loop_saliency(model, pred_logits, pred_spans, memory, src_vid_ed, video_mask, True, scale)
    torch.testing.assert_close(vectorised, looped, rtol=1e-5, atol=1e-5)
    if scale == 0:  # no re-weighting at all: the plain saliency head on M2
        head = model.saliency_proj(memory).sum(-1) / math.sqrt(model.hidden_dim)
        torch.testing.assert_close(vectorised.detach(), head.detach(), rtol=1e-5, atol=1e-6)
