"""Fast-recipe model pieces: denoising queries (attention mask, losses) and saliency-initialised anchors.

Each switch off is the original exactly; the mask keeps the ground truth out of the matching queries."""

from __future__ import annotations

import pytest
import torch
from model_fixtures import random_inputs, random_targets, small_config

from trdetr_cap.models import build_model, count_parameters
from trdetr_cap.models.denoising import (
    build_denoising_queries,
    denoising_attn_mask,
    noise_spans,
    saliency_anchors,
    saliency_run_spans,
)

PIECES = [{"dn_groups": 3}, {"anchor_init": "saliency"}]


def _built(seed: int = 0, **overrides):
    torch.manual_seed(seed)
    return build_model(small_config(**overrides))


@pytest.mark.parametrize("piece", PIECES, ids=lambda p: next(iter(p)))
def test_each_piece_adds_no_parameter_and_starts_from_the_same_weights(piece):
    base, _ = _built()
    model, _ = _built(**piece)
    assert count_parameters(model) == count_parameters(base)
    for (name, a), (_, b) in zip(base.state_dict().items(), model.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_denoising_changes_nothing_in_eval_or_without_targets():
    """dn_groups only adds training queries: eval outputs (no targets), and training without targets, are the
    original's bit for bit."""
    base, _ = _built()
    model, _ = _built(dn_groups=3)
    inputs = random_inputs([12, 9], [5, 3], small_config())
    targets = random_targets(inputs)
    base.eval()
    model.eval()
    with torch.no_grad():
        want, got = base(**inputs), model(**inputs, dn_span_labels=targets["span_labels"])
    assert set(got) == set(want)
    for key in ("pred_logits", "pred_spans", "saliency_scores"):
        assert torch.equal(got[key], want[key]), key
    base.train()
    model.train()
    torch.manual_seed(5)
    want = base(**inputs)
    torch.manual_seed(5)
    got = model(**inputs)  # no dn_span_labels: no denoising queries
    assert "dn_outputs" not in got
    assert torch.equal(got["pred_spans"], want["pred_spans"])


def test_attention_mask_by_hand():
    # 2 matching queries, 2 groups of 2; sample 0 has both spans, sample 1 only one (its second slot is padding)
    valid = torch.tensor([[True, True, True, True], [True, False, True, False]])
    mask = denoising_attn_mask(2, 2, 2, valid)
    m, g0, g1 = [0, 1], [2, 3], [4, 5]
    for row in m:  # matching queries see only the matching queries
        assert mask[0, row].tolist() == [True, True, False, False, False, False]
    assert mask[0, g0[0]].tolist() == [True, True, True, True, False, False]
    assert mask[0, g1[1]].tolist() == [True, True, False, False, True, True]
    assert mask[1, g0[0]].tolist() == [True, True, True, False, False, False]  # padded key 3 blocked
    assert mask[1, 3].tolist() == [True, True, True, True, False, False]  # a padded query: its group and itself


def test_matching_outputs_get_no_gradient_from_the_denoising_inputs():
    """Information flow, checked with autograd: the matching queries' outputs (and so the saliency, which MR2HD
    computes from them) do not depend on the denoising anchors; the denoising outputs do."""
    model, _ = _built(dn_groups=2)
    model.train()
    inputs = random_inputs([12, 9], [5, 3], small_config())
    targets = random_targets(inputs)
    dn = build_denoising_queries(targets["span_labels"], 10, 2, 0.4)
    dn_anchors = dn.anchors.clone().requires_grad_(True)
    memory = torch.randn(2, 12, 32, requires_grad=True)
    pad = ~inputs["src_vid_mask"].bool()
    pos = model.video_pos(inputs["src_vid_mask"])
    anchors = torch.cat([model.query_embed.weight[None].expand(2, -1, -1), dn_anchors], dim=1)
    torch.manual_seed(0)
    hs, refs = model.decoder(memory, pad, pos, anchors, dn.attn_mask)
    matching = hs[:, :, :10].sum() + refs[:, :, :10].sum()
    (grad,) = torch.autograd.grad(matching, dn_anchors, retain_graph=True)
    assert torch.count_nonzero(grad) == 0
    (grad_dn,) = torch.autograd.grad(hs[:, :, 10:].sum(), dn_anchors)
    assert torch.count_nonzero(grad_dn) > 0
    # without the mask the matching queries would see the ground truth (the test can fail)
    hs, _ = model.decoder(memory, pad, pos, anchors, None)
    (leak,) = torch.autograd.grad(hs[:, :, :10].sum(), dn_anchors)
    assert torch.count_nonzero(leak) > 0


def test_denoising_outputs_and_losses_in_training():
    model, criterion = _built(dn_groups=3)
    model.train()
    inputs = random_inputs([12, 9], [5, 3], small_config())
    targets = random_targets(inputs)  # sample 0: one span, sample 1: two spans -> 2 per group, 6 in all
    out = model(**inputs, dn_span_labels=targets["span_labels"])
    dn = out["dn_outputs"]
    assert tuple(dn["pred_spans"].shape) == (2, 2, 6, 2)  # (decoder layers, B, G * max spans, 2)
    assert dn["valid"].tolist() == [[True, False] * 3, [True, True] * 3]
    assert tuple(out["pred_spans"].shape) == (2, 10, 2)
    losses = criterion(out, targets)
    for key in ("loss_span_dn", "loss_giou_dn", "loss_label_dn", "loss_span_dn_0"):
        assert key in criterion.weight_dict and torch.isfinite(losses[key]), key
    # the reconstruction target is each query's own span: perfect predictions give zero L1 / gIoU loss
    perfect = {**out, "dn_outputs": {**dn, "pred_spans": dn["targets"][None].expand(2, -1, -1, -1)}}
    exact = criterion(perfect, targets)
    assert float(exact["loss_span_dn"]) == 0.0 and float(exact["loss_giou_dn"]) == pytest.approx(0.0, abs=1e-6)


def test_span_noise_stays_within_its_bounds():
    torch.manual_seed(0)
    spans = torch.tensor([[0.5, 0.2]]).expand(2000, 2)
    noised = noise_spans(spans, 0.4)
    assert (noised[:, 0] - 0.5).abs().max() <= 0.4 * 0.2 / 2 + 1e-6
    assert noised[:, 1].min() >= 0.2 * 0.6 - 1e-6 and noised[:, 1].max() <= 0.2 * 1.4 + 1e-6
    assert (noised[:, 1] - 0.2).abs().max() > 0.07  # really noised


def test_saliency_runs_by_hand():
    # length 8 (2 padded clips): mean of the valid scores = 1; runs above it: clips 1-2 (excess 1 + 3), clip 5
    # (excess 0.5); best first; centre / width in units of the valid length 6.
    scores = torch.tensor([[0.0, 2.0, 4.0, 0.0, -1.5, 1.5, 9.0, 9.0]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 1, 0, 0]], dtype=torch.float32)
    spans, found = saliency_run_spans(scores, mask, 3)
    assert found.tolist() == [[True, True, False]]
    assert spans[0, 0].tolist() == pytest.approx([2 / 6, 2 / 6])  # clips 1..2 cover [1, 3): centre 2, width 2
    assert spans[0, 1].tolist() == pytest.approx([5.5 / 6, 1 / 6])
    learned = torch.tensor([[0.1, 0.2], [0.3, 0.4], [-0.5, 0.6]])
    anchors = saliency_anchors(scores, mask, learned)
    assert anchors.shape == (1, 3, 2)
    assert torch.equal(anchors[0, 2], learned[2])  # no third run: the learned anchor
    assert anchors[0, :2].sigmoid().tolist()[0] == pytest.approx([2 / 6, 2 / 6])


def test_saliency_anchors_change_the_outputs_and_train():
    base, _ = _built()
    model, criterion = _built(anchor_init="saliency")
    inputs = random_inputs([12, 9], [5, 3], small_config())
    base.eval()
    model.eval()
    with torch.no_grad():
        assert not torch.allclose(model(**inputs)["pred_spans"], base(**inputs)["pred_spans"])
    model.train()
    losses = criterion(model(**inputs), random_targets(inputs))
    sum(losses[k] * w for k, w in criterion.weight_dict.items() if k in losses).backward()
    assert model.span_embed.layers[0].weight.grad.abs().sum() > 0


def test_bad_values_raise():
    with pytest.raises(ValueError, match="anchor_init"):
        _built(anchor_init="topk")
    with pytest.raises(ValueError, match="dn_groups"):
        _built(dn_groups=-1)
