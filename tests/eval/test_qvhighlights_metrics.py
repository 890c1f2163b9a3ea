"""QVHighlights metrics on tiny cases computed by hand (the rules of the official
standalone_eval/eval.py of Moment-DETR / TR-DETR)."""

from __future__ import annotations

import numpy as np
import pytest

from trdetr_cap.eval import evaluate


def gt_row(qid, windows, duration=150, clip_ids=(0,), scores=((0, 0, 0),)):
    return {
        "qid": qid,
        "duration": duration,
        "relevant_windows": [list(w) for w in windows],
        "relevant_clip_ids": list(clip_ids),
        "saliency_scores": [list(s) for s in scores],
    }


def mr(qid, windows):
    return {"qid": qid, "pred_relevant_windows": [list(w) for w in windows]}


def hd(qid, scores):
    return {"qid": qid, "pred_saliency_scores": list(scores)}


def mr_full(sub, gt):
    return evaluate(sub, gt)["full"]


def test_perfect_first_window_scores_100():
    m = mr_full([mr(1, [[0, 10, 0.9], [20, 30, 0.8]])], [gt_row(1, [[0, 10]])])
    assert set(m["MR-mAP"].values()) == {100.0}
    assert set(m["MR-R1"].values()) == {100.0}


def test_unsorted_windows_map_sorts_by_score_but_r1_takes_first_listed():
    m = mr_full([mr(1, [[20, 30, 0.8], [0, 10, 0.9]])], [gt_row(1, [[0, 10]])])
    assert m["MR-mAP"]["average"] == 100.0  # the 0.9 window is ranked first
    assert m["MR-R1"]["0.5"] == 0.0  # but R1 uses the first listed one, [20, 30]


def test_voc_ap_two_gt_windows():
    # ranks: tp, fp, tp -> precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1 -> AP = 1/2 * 1 + 1/2 * 2/3 = 0.8333
    sub = [mr(1, [[0, 10, 0.9], [40, 50, 0.8], [20, 30, 0.7]])]
    m = mr_full(sub, [gt_row(1, [[0, 10], [20, 30]])])
    assert m["MR-mAP"]["0.5"] == 83.33 and m["MR-mAP"]["average"] == 83.33


def test_each_gt_window_is_matched_once():
    # two identical predictions of one GT window: tp then fp -> AP 1 (precision 1 at full recall)
    m = mr_full([mr(1, [[0, 10, 0.9], [0, 10, 0.8]])], [gt_row(1, [[0, 10]])])
    assert m["MR-mAP"]["average"] == 100.0
    # one prediction, two GT windows: recall stops at 1/2 -> AP 0.5
    m = mr_full([mr(1, [[0, 10, 0.9]])], [gt_row(1, [[0, 10], [0, 10]])])
    assert m["MR-mAP"]["average"] == 50.0


def test_only_first_ten_listed_windows_count():
    windows = [[100, 102, 0.1]] * 10 + [[0, 10, 0.99]]  # the 11th is perfect and best scored: cut before sorting
    assert mr_full([mr(1, windows)], [gt_row(1, [[0, 10]])])["MR-mAP"]["average"] == 0.0
    assert mr_full([mr(1, windows[-1:] + windows[:9])], [gt_row(1, [[0, 10]])])["MR-mAP"]["average"] == 100.0


def test_fewer_than_ten_windows_and_score_ties_keep_listing_order():
    # equal scores: the listed order decides the ranking (stable sort): fp then tp -> AP = 1/2
    m = mr_full([mr(1, [[40, 50, 0.5], [0, 10, 0.5]])], [gt_row(1, [[0, 10]])])
    assert m["MR-mAP"]["average"] == 50.0


def test_out_of_range_and_zero_length_windows():
    # [-10, 200] vs GT [0, 150]: IoU 150 / 210 = 0.714 -> a hit at thresholds 0.5 .. 0.7 only (5 of 10)
    m = mr_full([mr(1, [[-10, 200, 0.9]])], [gt_row(1, [[0, 150]])])
    assert m["MR-mAP"]["average"] == 50.0 and m["MR-R1"]["0.7"] == 100.0 and m["MR-R1"]["0.75"] == 0.0
    m = mr_full([mr(1, [[5, 5, 0.9]])], [gt_row(1, [[0, 10]])])  # zero length: IoU 0
    assert m["MR-mAP"]["average"] == 0.0 and m["MR-R1"]["0.5"] == 0.0


def test_r1_uses_best_gt_window_and_threshold_is_inclusive():
    # first window [0, 20] vs GT [0, 10] (IoU 0.5) and [0, 16] (IoU 0.8): the best one counts
    m = mr_full([mr(1, [[0, 20, 0.9]])], [gt_row(1, [[0, 10], [0, 16]])])
    assert m["MR-R1"]["0.8"] == 100.0 and m["MR-R1"]["0.85"] == 0.0
    m = mr_full([mr(1, [[0, 20, 0.9]])], [gt_row(1, [[0, 10]])])
    assert m["MR-R1"]["0.5"] == 100.0 and m["MR-R1"]["0.55"] == 0.0


def test_r1_averages_over_queries():
    sub = [mr(1, [[0, 10, 0.9]]), mr(2, [[50, 60, 0.9]]), mr(3, [[0, 10, 0.9]])]
    gt = [gt_row(1, [[0, 10]]), gt_row(2, [[0, 10]]), gt_row(3, [[0, 12]])]  # IoU 1, 0, 10/12
    m = mr_full(sub, gt)
    assert m["MR-R1"]["0.8"] == 66.67 and m["MR-R1"]["0.85"] == 33.33


def test_length_buckets_drop_other_windows_and_empty_queries():
    gt = [gt_row(1, [[0, 4], [10, 30], [40, 80]]), gt_row(2, [[0, 50]])]
    sub = [mr(1, [[0, 4, 0.9]]), mr(2, [[0, 50, 0.9]])]
    m = evaluate(sub, gt)
    assert m["short"]["MR-mAP"]["average"] == 100.0  # query 1 with its 4 s window only
    assert m["middle"]["MR-mAP"]["average"] == 0.0  # query 1 with [10, 30]; query 2 has no middle window
    assert m["long"]["MR-mAP"]["average"] == 50.0  # query 1 (AP 0) and query 2 (AP 1)
    assert m["full"]["MR-mAP"]["average"] == 66.67  # query 1: recall 1/3 at precision 1; query 2: 1
    assert m["short"]["MR-R1"]["0.5"] == 100.0 and m["middle"]["MR-R1"]["0.5"] == 0.0


def test_tied_gt_windows_follow_official_visit_order():
    # [0, 20] has IoU 0.5 with both adjacent GT windows; which one it takes at threshold 0.5 decides whether the
    # second prediction [0, 10] can still match. The official code visits GT windows in argsort()[::-1] order.
    gt = [gt_row(1, [[0, 10], [10, 20]])]
    m = mr_full([mr(1, [[0, 20, 0.9], [0, 10, 0.8]])], gt)
    takes_second = int(np.argsort(np.array([0.5, 0.5]))[::-1][0]) == 1
    ap_at_half = 1.0 if takes_second else 0.5  # tp, tp  /  tp, fp (recall 1/2)
    # above 0.5 the first prediction misses and [0, 10] hits at rank 2: precision 1/2 at recall 1/2 -> 0.25
    assert m["MR-mAP"]["0.5"] == 100 * ap_at_half
    assert m["MR-mAP"]["0.55"] == 25.0
    assert m["MR-mAP"]["average"] == pytest.approx(100 * (ap_at_half + 9 * 0.25) / 10, abs=0.006)


# ---------------------------------------------------------------------------------------------------------------
# Highlight detection
# ---------------------------------------------------------------------------------------------------------------


def hl(sub, gt):
    return {k: v for k, v in evaluate(sub, gt).items() if k.startswith("HL-")}


def test_highlight_hand_case():
    # 5 clips; clip 1 scores (4, 2, 0), clip 2 (3, 3, 1), others 0
    gt = [gt_row(1, [[2, 6]], duration=10, clip_ids=[1, 2], scores=[[4, 2, 0], [3, 3, 1]])]
    m = hl([hd(1, [0.1, 0.9, 0.8, 0.0, 0.0])], gt)
    # Fair (>= 2): annotators 0 and 1 mark clips 1, 2 (ranked first: AP 1); annotator 2 marks nothing (AP 0)
    assert m["HL-min-Fair"] == {"HL-mAP": 66.67, "HL-Hit1": 100.0}
    # VeryGood (4): only annotator 0 on clip 1 (ranked first: AP 1); Hit1: clip 1 is a 4 for annotator 0
    assert m["HL-min-VeryGood"] == {"HL-mAP": 33.33, "HL-Hit1": 100.0}
    # Good (>= 3): annotator 0 clips 1, 2 -> 1; annotator 1 clip 2 only, ranked 2nd -> 1/2; annotator 2 -> 0
    assert m["HL-min-Good"] == {"HL-mAP": 50.0, "HL-Hit1": 100.0}


@pytest.mark.parametrize(
    "pred, positives, expected",
    [
        ([0.5, 0.5, 0.5, 0.5], [0], 25.0),  # one tied group: precision 1/4 at recall 1
        ([0.9, 0.9, 0.1, 0.1], [0, 2], 50.0),  # two tied groups, each precision 1/2
        ([0.9, 0.9, 0.1], [0, 1], 100.0),  # two positives in one group: a single point
        ([0.5, 0.5, 0.5, 0.9], [0, 1], 50.0),  # the top clip is a miss; the tied rest: precision 2/4
        ([0.9, 0.8, 0.7, 0.6], [0, 2], 83.33),  # no ties: (1 + 2/3) / 2
        ([0.9, 0.8, 0.7, 0.1], [1, 2], 66.67),  # miss, hit (1/2), hit (2/3): the envelope lifts 1/2 to 2/3
    ],
)
def test_highlight_ap_groups_tied_scores_as_sklearn(pred, positives, expected):
    n = len(pred)
    scores = [[4, 4, 4] if c in positives else [1, 1, 1] for c in range(n)]
    gt = [gt_row(1, [[0, 2]], duration=2 * n, clip_ids=range(n), scores=scores)]
    assert hl([hd(1, pred)], gt)["HL-min-Fair"]["HL-mAP"] == expected


def test_highlight_all_negative_and_all_positive_gt():
    gt = [gt_row(1, [[0, 2]], duration=6, clip_ids=[0, 1, 2], scores=[[4, 0, 1]] * 3)]
    m = hl([hd(1, [0.3, 0.2, 0.1])], gt)
    # annotator 0 all positive -> 1; annotators 1 and 2 all negative at Fair -> 0
    assert m["HL-min-Fair"]["HL-mAP"] == 33.33


def test_highlight_short_and_long_saliency_lists():
    gt = [gt_row(1, [[0, 2]], duration=8, clip_ids=[2, 3], scores=[[4, 4, 4], [0, 0, 0]])]  # clip 2 positive
    # too short: zero-padded to 4 clips -> clip 2 gets 0.0, tied with clip 3 behind clips 0, 1 (0.5, 0.4)
    # ranks: 0.5 miss, 0.4 miss, {0, 0} one group with the positive -> precision 1/4 -> AP 0.25
    m = hl([hd(1, [0.5, 0.4])], gt)
    assert m["HL-min-Fair"] == {"HL-mAP": 25.0, "HL-Hit1": 0.0}
    # too long: cut to 4 for AP, but Hit1's argmax looks at the whole list (clip 5 does not exist -> miss)
    m = hl([hd(1, [0.1, 0.2, 0.9, 0.3, 0.0, 5.0])], gt)
    assert m["HL-min-Fair"] == {"HL-mAP": 100.0, "HL-Hit1": 0.0}
    m = hl([hd(1, [0.1, 0.2, 0.9, 0.3])], gt)
    assert m["HL-min-Fair"] == {"HL-mAP": 100.0, "HL-Hit1": 100.0}


def test_hit1_takes_first_maximum():
    gt = [gt_row(1, [[0, 2]], duration=6, clip_ids=[1], scores=[[2, 2, 2]])]
    assert hl([hd(1, [0.5, 0.5, 0.1])], gt)["HL-min-Fair"]["HL-Hit1"] == 0.0  # argmax -> clip 0
    assert hl([hd(1, [0.4, 0.5, 0.5])], gt)["HL-min-Fair"]["HL-Hit1"] == 100.0  # argmax -> clip 1


# ---------------------------------------------------------------------------------------------------------------
# Structure
# ---------------------------------------------------------------------------------------------------------------

MR_BRIEF = [
    "MR-full-R1@0.5",
    "MR-full-R1@0.7",
    "MR-full-mAP",
    "MR-full-mAP@0.5",
    "MR-full-mAP@0.75",
    "MR-long-mAP",
    "MR-middle-mAP",
    "MR-short-mAP",
]
HL_BRIEF = [f"HL-min-{lvl}-{k}" for lvl in ("Fair", "Good", "VeryGood") for k in ("mAP", "Hit1")]
THRESHOLDS = ["0.5", "0.55", "0.6", "0.65", "0.7", "0.75", "0.8", "0.85", "0.9", "0.95"]


def both(qid, windows, saliency):
    return {**mr(qid, windows), **hd(qid, saliency)}


def test_official_structure_and_key_order():
    gt = [gt_row(1, [[0, 4], [10, 30], [40, 80]], clip_ids=[0], scores=[[2, 3, 4]])]
    m = evaluate([both(1, [[0, 4, 0.9]], [0.1] * 75)], gt)
    assert list(m) == ["brief", "HL-min-Fair", "HL-min-Good", "HL-min-VeryGood", "full", "long", "middle", "short"]
    assert list(m["brief"]) == MR_BRIEF + HL_BRIEF
    assert list(m["full"]) == ["MR-mAP", "MR-R1"]
    assert list(m["full"]["MR-mAP"]) == THRESHOLDS + ["average"]
    assert list(m["full"]["MR-R1"]) == THRESHOLDS
    assert list(m["HL-min-Good"]) == ["HL-mAP", "HL-Hit1"]


def test_mr_only_and_hd_only_submissions():
    gt = [gt_row(1, [[0, 10]], clip_ids=[0], scores=[[2, 3, 4]])]
    m = evaluate([mr(1, [[0, 10, 0.9]])], gt)
    assert list(m["brief"]) == MR_BRIEF and "HL-min-Fair" not in m
    m = evaluate([hd(1, [0.9] + [0.0] * 74)], gt)
    assert list(m["brief"]) == HL_BRIEF and list(m) == ["brief", "HL-min-Fair", "HL-min-Good", "HL-min-VeryGood"]
    assert m["brief"]["HL-min-VeryGood-Hit1"] == 100.0


def test_empty_bucket_reports_none():
    m = evaluate([mr(1, [[0, 10, 0.9]])], [gt_row(1, [[0, 10]])])  # a 10 s window: only "short"
    assert m["brief"]["MR-short-mAP"] == 100.0
    assert m["brief"]["MR-middle-mAP"] is None and m["brief"]["MR-long-mAP"] is None
    assert m["long"] == {"MR-mAP": {}, "MR-R1": {}}
