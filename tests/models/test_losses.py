"""Each loss on tiny inputs against values worked out by hand (TR-DETR's SetCriterion in tr_detr/model.py:251,
tr_detr/loss_fun/CTCLoss.py, tr_detr/loss_fun/VTCLoss.py)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from model_fixtures import random_inputs, random_targets, small_config

from trdetr_cap.models import build_model
from trdetr_cap.models.losses import (
    caption_alignment_loss,
    ctc_loss,
    label_losses,
    margin_ranking_loss,
    rank_contrastive_loss,
    sigmoid_focal_loss,
    span_losses,
    vtc_loss,
)
from trdetr_cap.models.matcher import HungarianMatcher


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_sigmoid_focal_loss_by_hand():
    logits = torch.tensor([0.0, 0.0, 2.0])
    targets = torch.tensor([1.0, 0.0, 0.0])
    # logit 0, target 1: p_t = .5, BCE = ln 2, (1 - p_t)^2 = .25, alpha_t = .25
    # logit 0, target 0: same but alpha_t = .75
    # logit 2, target 0: p = sigmoid(2), p_t = 1 - p, BCE = softplus(2)
    p = 1 / (1 + math.exp(-2))
    expected = [0.25 * 0.25 * math.log(2), 0.75 * 0.25 * math.log(2), 0.75 * p ** 2 * softplus(2)]
    torch.testing.assert_close(sigmoid_focal_loss(logits, targets), torch.tensor(expected))


def test_label_loss_averages_both_logits_of_every_query():
    logits = torch.tensor([[[1.0, -1.0], [0.0, 0.5]]])  # B=1, Nq=2; query 0 is matched
    indices = [(torch.tensor([0]), torch.tensor([0]))]
    out = label_losses(logits, indices, alpha=0.25, gamma=2.0)

    def focal(x, t):
        p = 1 / (1 + math.exp(-x))
        p_t = p if t else 1 - p
        return (0.25 if t else 0.75) * (1 - p_t) ** 2 * -math.log(p_t)

    # matched query: targets (1, 0); unmatched: (0, 1); mean over B * 2 * Nq = 4 terms
    expected = (focal(1.0, 1) + focal(-1.0, 0) + focal(0.0, 0) + focal(0.5, 1)) / 4
    assert out["loss_label"].item() == pytest.approx(expected, rel=1e-6)
    assert out["class_error"].item() == 0.0  # the matched query's argmax is foreground (index 0)
    out = label_losses(torch.tensor([[[-1.0, 1.0], [0.0, 0.5]]]), indices, 0.25, 2.0)
    assert out["class_error"].item() == 100.0


def test_span_losses_by_hand():
    pred = torch.tensor([[[0.5, 0.2], [0.9, 0.1]]])  # query 0 matched to target 0
    targets = [{"spans": torch.tensor([[0.6, 0.2]])}]
    out = span_losses(pred, targets, [(torch.tensor([0]), torch.tensor([0]))])
    # L1 over (cx, w): (0.1 + 0) / 2. xx: [0.4, 0.6] vs [0.5, 0.7]: IoU 0.1 / 0.3, enclosing = union -> gIoU 1/3
    assert out["loss_span"].item() == pytest.approx(0.05, abs=1e-6)
    assert out["loss_giou"].item() == pytest.approx(2 / 3, abs=1e-6)


def test_rank_contrastive_by_hand():
    tau = 0.5
    scores = torch.tensor([[1.0, 0.0, 0.0, 7.0], [0.5, 0.0, 0.0, 0.0]])
    labels = torch.tensor([[12.0, 3.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]])  # clip 3 of sample 0 is padding
    # sample 0: the padded clip gets -1e3, so softmax over (1, 0, 0) / tau; log-probs
    log_norm = math.log(math.exp(2.0) + 2 * math.exp(0.0))
    lp = [2.0 - log_norm, 0.0 - log_norm]
    # r = 1..3: positives {0, 1}; r = 4..11: positive {0}; sample 1 has no positive (contributes 0 to the mean)
    per_r = [-(lp[0] + lp[1]) / 2] * 3 + [-lp[0]] * 8
    expected = sum(v / 2 for v in per_r)  # batch mean over 2 samples
    got = rank_contrastive_loss(scores, labels, mask, tau=tau, divisor=12)
    assert got.item() == pytest.approx(expected / 12, rel=1e-5)
    got11 = rank_contrastive_loss(scores, labels, mask, tau=tau, divisor=11)  # fix_rank_divisor
    assert got11.item() == pytest.approx(expected / 11, rel=1e-5)


def test_margin_ranking_by_hand():
    scores = torch.tensor([[0.5, 0.1, 0.9], [0.0, 0.3, 0.2]])
    pos = torch.tensor([[0, 2], [1, 2]])
    neg = torch.tensor([[1, 0], [0, 1]])
    # terms: max(0, .2 + .1 - .5) = 0, max(0, .2 + .5 - .9) = 0, max(0, .2 + 0 - .3) = 0, max(0, .2 + .3 - .2) = .3
    assert margin_ranking_loss(scores, pos, neg, margin=0.2).item() == pytest.approx(0.3 / 4 * 2, abs=1e-6)


def test_vtc_by_hand():
    video = torch.tensor([[2.0, 0.0], [0.0, 3.0]])
    text = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # cosine matrix = identity; each row CE = -log(e^{1/T} / (e^{1/T} + e^0)) = softplus(-1/T)
    temperature = 0.5
    assert vtc_loss(video, text, temperature).item() == pytest.approx(softplus(-1 / temperature), rel=1e-6)
    text = torch.tensor([[1.0, 1.0], [0.0, 1.0]])  # cos(t0, v0) = cos(t0, v1) = 1/sqrt(2); t1 matches v1 only
    s = 1 / math.sqrt(2) / temperature
    t2v = (math.log(2) + softplus(-1 / temperature)) / 2  # row 0: both equal -> log 2
    v2t = (softplus(-s) + softplus(s - 1 / temperature)) / 2  # columns: v0 vs (t0, t1) = (s, 0); v1 = (s, 1/T)
    assert vtc_loss(video, text, temperature).item() == pytest.approx((t2v + v2t) / 2, rel=1e-5)


def test_ctc_by_hand_faithful_and_fixed():
    temperature = 0.5
    video = torch.tensor([[[3.0, 0.0], [0.0, 2.0], [5.0, 5.0]]])  # clip 2 is padding
    video_mask = torch.tensor([[1.0, 1.0, 0.0]])
    text = torch.tensor([[[2.0, 0.0], [0.0, 4.0], [9.0, 9.0]]])  # token 2 is padding
    text_mask = torch.tensor([[1.0, 1.0, 0.0]])
    pos = torch.tensor([[1.0, 0.0, 0.0]])
    # faithful: text global = mean of normalised valid tokens = (.5, .5); sims (.5, .5, masked 0); mean over 3
    bce = [softplus(-0.5 / temperature), softplus(0.5 / temperature), math.log(2)]
    got = ctc_loss(video, text, pos, video_mask, text_mask, temperature, fixed=False)
    assert got.item() == pytest.approx(sum(bce) / 3, rel=1e-6)
    # fixed: global renormalised to (1/sqrt2, 1/sqrt2); only the 2 valid clips averaged
    s = 1 / math.sqrt(2) / temperature
    got = ctc_loss(video, text, pos, video_mask, text_mask, temperature, fixed=True)
    assert got.item() == pytest.approx((softplus(-s) + softplus(s)) / 2, rel=1e-6)


def test_caption_alignment_by_hand():
    temperature = 0.5
    # two videos of two clips; video 0 clip 1 has no caption. Captions of the *same* video are never negatives.
    video = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 1.0]]])
    captions = torch.tensor([[[1.0, 0.0], [7.0, 7.0]], [[0.0, 2.0], [1.0, 0.0]]])
    mask = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    got = caption_alignment_loss(video, captions, mask, temperature)
    c = 1 / math.sqrt(2)

    def ce(logits: list[float], target: int) -> float:
        return -(logits[target] - math.log(sum(math.exp(x) for x in logits)))

    inv = 1 / temperature
    # clip -> caption. valid items: a = (v0, c0), b = (v2, c2), d = (v3, c3). Candidates of a: {a, b, d};
    # of b: {a, b}; of d: {a, d} (b and d are the same video)
    clip_to_cap = [ce([1 * inv, 0 * inv, 1 * inv], 0), ce([0 * inv, 1 * inv], 1), ce([c * inv, c * inv], 1)]
    cap_to_clip = [ce([1 * inv, 0 * inv, c * inv], 0), ce([0 * inv, 1 * inv], 1), ce([1 * inv, c * inv], 1)]
    expected = (sum(clip_to_cap) / 3 + sum(cap_to_clip) / 3) / 2
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_matcher_finds_the_minimum_cost_assignment():
    gen = torch.Generator().manual_seed(0)
    outputs = {"pred_logits": torch.randn(2, 5, 2, generator=gen), "pred_spans": torch.rand(2, 5, 2, generator=gen)}
    targets = [{"spans": torch.tensor([[0.3, 0.2], [0.7, 0.1]])}, {"spans": torch.tensor([[0.5, 0.4]])}]
    indices = HungarianMatcher(10.0, 1.0, 4.0)(outputs, targets)

    def cost(b: int, q: int, t: int) -> float:  # the matching cost written out for one pair
        pc, pw = outputs["pred_spans"][b, q].tolist()
        tc, tw = targets[b]["spans"][t].tolist()
        ps, pe, ts, te = pc - pw / 2, pc + pw / 2, tc - tw / 2, tc + tw / 2
        inter = max(0.0, min(pe, te) - max(ps, ts))
        union = (pe - ps) + (te - ts) - inter
        enclosing = max(pe, te) - min(ps, ts)
        giou = inter / union - (enclosing - union) / enclosing
        fg = outputs["pred_logits"][b, q].softmax(-1)[0].item()
        return 10 * (abs(pc - tc) + abs(pw - tw)) - giou - 4 * fg

    for b, (rows, cols) in enumerate(indices):
        n = len(targets[b]["spans"])
        best = min(itertools.permutations(range(5), n), key=lambda qs: sum(cost(b, q, t) for t, q in enumerate(qs)))
        got = dict(zip(cols.tolist(), rows.tolist(), strict=True))
        assert [got[t] for t in range(n)] == list(best)


def _criterion_case(**overrides):
    cfg = small_config(**overrides)
    torch.manual_seed(0)
    model, criterion = build_model(cfg)
    inputs = random_inputs([10, 7, 9], [4, 3, 2], cfg)
    return model, criterion, inputs, random_targets(inputs)


def test_criterion_keys_and_weights():
    model, criterion, inputs, targets = _criterion_case()
    losses = criterion(model(**inputs), targets)
    moment = {"loss_span", "loss_giou", "loss_label"}
    assert set(losses) == moment | {f"{k}_0" for k in moment} | {"class_error", "class_error_0", "loss_saliency",
                                                                   "loss_vtc", "loss_ctc"}
    assert set(criterion.weight_dict) == set(losses) - {"class_error", "class_error_0"}
    assert criterion.weight_dict["loss_span_0"] == 10 and criterion.weight_dict["loss_ctc"] == 0.5
    assert criterion.weight_dict["loss_vtc"] == 0.3 and criterion.weight_dict["loss_label"] == 4
    assert all(torch.isfinite(v) for v in losses.values())


def test_without_matcher_only_saliency_and_alignment_losses():
    model, criterion, inputs, targets = _criterion_case(use_matcher=False)
    assert set(criterion(model(**inputs), targets)) == {"loss_saliency", "loss_vtc", "loss_ctc"}


@pytest.mark.parametrize(("fix", "key"), [("fix_vtc_mask", "loss_vtc"), ("fix_ctc_mask", "loss_ctc"),
                                          ("fix_rank_divisor", "loss_saliency")])
def test_loss_fixes_change_only_their_loss(fix, key):
    model, faithful, inputs, targets = _criterion_case()
    _, fixed, _, _ = _criterion_case(**{fix: True})
    model.eval()
    with torch.no_grad():
        outputs = model(**inputs)
    a, b = faithful(outputs, targets), fixed(outputs, targets)
    assert a[key].item() != pytest.approx(b[key].item(), rel=1e-4)
    assert all(a[k].item() == b[k].item() for k in a if k != key)


@pytest.mark.parametrize(("fix", "key"), [("fix_vtc_mask", "loss_vtc"), ("fix_ctc_mask", "loss_ctc")])
def test_alignment_mask_fixes_change_nothing_without_padding(fix, key):
    cfg = small_config()
    torch.manual_seed(0)
    model, faithful = build_model(cfg)
    _, fixed = build_model(small_config(**{fix: True}))
    inputs = random_inputs([9, 9], [4, 4], cfg)
    targets = random_targets(inputs)
    model.eval()
    with torch.no_grad():
        outputs = model(**inputs)
    a, b = faithful(outputs, targets)[key].item(), fixed(outputs, targets)[key].item()
    if fix == "fix_ctc_mask":  # the renormalised text global still differs; compare with a unit-norm text
        outputs["src_txt_ed"] = outputs["src_txt_ed"][:, :1].expand_as(outputs["src_txt_ed"]).contiguous()
        a, b = faithful(outputs, targets)[key].item(), fixed(outputs, targets)[key].item()
    assert a == pytest.approx(b, rel=1e-6)


def test_aux_layers_are_matched_and_scored_on_their_own():
    _, criterion = build_model(small_config())
    logits = torch.tensor([[[2.0, -2.0], [-2.0, 2.0]]])
    outputs = {
        "pred_logits": logits, "pred_spans": torch.tensor([[[0.5, 0.2], [0.1, 0.1]]]),
        "aux_outputs": [{"pred_logits": logits.flip(1), "pred_spans": torch.tensor([[[0.1, 0.1], [0.6, 0.2]]])}],
        "src_vid_cls_ed": torch.ones(1, 4), "src_txt_cls_ed": torch.ones(1, 4),
    }
    losses = criterion(outputs, {"span_labels": [{"spans": torch.tensor([[0.5, 0.2]])}]})
    # final layer: query 0 matches exactly; aux layer: its query 1 ([0.6, 0.2]) is the match, L1 (0.1 + 0) / 2
    assert losses["loss_span"].item() == pytest.approx(0.0, abs=1e-7)
    assert losses["loss_span_0"].item() == pytest.approx(0.05, abs=1e-6)
    assert losses["class_error"].item() == 0.0 and losses["class_error_0"].item() == 0.0
    assert "loss_saliency" not in losses and "loss_ctc" not in losses  # unlabelled saliency: skipped
