"""Charades-STA and TVSum metrics: hand-computed cases, dataset inference, real annotation files."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from trdetr_cap.eval import evaluate
from trdetr_cap.eval.tvsum import top_k_ap

# ---------------------------------------------------------------------------------------------------------------
# Charades-STA
# ---------------------------------------------------------------------------------------------------------------

CHARADES_GT = [
    {"qid": 1, "duration": 30.0, "relevant_windows": [[2.0, 8.0]]},
    {"qid": 2, "duration": 30.0, "relevant_windows": [[10.0, 20.0]]},
    {"qid": 3, "duration": 30.0, "relevant_windows": [[0.0, 10.0]]},
]


def charades_sub(windows_per_query):
    return [{"qid": q, "pred_relevant_windows": w} for q, w in zip((1, 2, 3), windows_per_query, strict=False)]


def test_charades_r1_and_miou_by_hand():
    # first windows: IoU 1, 8/10, 5/15 -> R1@0.3 3/3, @0.5 2/3, @0.7 2/3; mIoU (1 + 0.8 + 1/3) / 3 = 71.11
    sub = charades_sub([[[2, 8, 0.9]], [[12, 20, 0.9]], [[5, 15, 0.9], [0, 10, 0.1]]])
    m = evaluate(sub, CHARADES_GT)
    assert dict(m["brief"]) == {
        "MR-R1@0.3": 100.0,
        "MR-R1@0.5": 66.67,
        "MR-R1@0.7": 66.67,
        "MR-mIoU": 71.11,
        "MR-full-mAP": 73.33,
    }
    # mAP, one GT window each: query 1 AP 1 at every threshold; query 2 (IoU 0.8) AP 1 up to 0.8, 0 above; query 3
    # hits with its 2nd window (precision 1/2 at recall 1): AP 1/2. Per threshold (1 + 1 + 1/2) / 3 = 83.33 for
    # 0.5..0.8 and (1 + 0 + 1/2) / 3 = 50 for 0.85..0.95; average (7 * 2.5 + 3 * 1.5) / 30 = 73.33
    assert m["full"]["MR-mAP"] == {**{f"{t / 100:g}": 83.33 for t in range(50, 85, 5)},
                                   **{f"{t / 100:g}": 50.0 for t in (85, 90, 95)}, "average": 73.33}
    assert "MR-R5" not in m["full"]  # some query has fewer than 5 windows


def test_charades_r5_when_every_query_has_five_windows():
    miss = [[25, 26, 0.05]] * 3
    sub = charades_sub([[[2, 8, 0.9], *miss, [0, 1, 0.01]], [[12, 20, 0.9], *miss, [10, 20, 0.01]]])
    sub.append({"qid": 3, "pred_relevant_windows": [[5, 15, 0.9], *miss, [0, 10, 0.01], [1, 9, 0.0]]})
    m = evaluate(sub, CHARADES_GT, dataset="charades")
    # the 5th window of query 2 and 3 is exact; query 3's 6th window does not count
    assert m["full"]["MR-R5"] == {"0.3": 100.0, "0.5": 100.0, "0.7": 100.0}
    assert m["full"]["MR-R1"] == {"0.3": 100.0, "0.5": 66.67, "0.7": 66.67}
    assert list(m["brief"])[3:6] == ["MR-R5@0.3", "MR-R5@0.5", "MR-R5@0.7"]


def test_charades_ignores_saliency_and_is_inferred():
    sub = charades_sub([[[2, 8, 0.9]], [[10, 20, 0.9]], [[0, 10, 0.9]]])
    for row in sub:
        row["pred_saliency_scores"] = [0.1, 0.2]
    m = evaluate(sub, CHARADES_GT)
    assert m["brief"]["MR-mIoU"] == 100.0 and m["brief"]["MR-full-mAP"] == 100.0


def test_charades_real_val_file(real_data):
    lines = (real_data / "charades_sta" / "charades_sta_val_tvr_format.jsonl").read_text().splitlines()
    gt = [json.loads(x) for x in lines]
    rng = random.Random(0)
    sub = []
    for g in gt:
        st, ed = g["relevant_windows"][0]
        shift = rng.choice([0.0, 0.0, (ed - st) * 0.4])  # IoU 1 or 0.6/1.4 = 0.43
        sub.append({"qid": g["qid"], "pred_relevant_windows": [[st + shift, ed + shift, 1.0]]})
    exact = np.mean(
        [s["pred_relevant_windows"][0][0] == g["relevant_windows"][0][0] for s, g in zip(sub, gt, strict=True)]
    )
    m = evaluate(sub, gt)
    assert m["brief"]["MR-R1@0.3"] == 100.0
    assert m["brief"]["MR-R1@0.5"] == m["brief"]["MR-R1@0.7"] == float(f"{100 * exact:.2f}")


# ---------------------------------------------------------------------------------------------------------------
# TVSum
# ---------------------------------------------------------------------------------------------------------------


def test_top5_ap_by_hand():
    label = np.array([[1], [2], [3], [4], [5], [6]], dtype=float)  # lower median 3 -> clips 3, 4, 5 positive
    pred = np.array([0.8, 0.6, 0.1, 0.5, 0.7, 0.9])  # ranking 5, 0, 4, 1, 3 | 2 -> top-5 hits 1 0 1 0 1
    # trapezoids: 1/3 * (1 + 1) / 2 + 1/3 * (1/2 + 2/3) / 2 + 1/3 * (1/2 + 3/5) / 2 = 128 / 180
    assert top_k_ap(pred, label)[0] == pytest.approx(128 / 180)
    # reversed: top-5 hits 0 1 0 1 0 (recall over the 2 positives *in* the top 5): 1/2 * 1/2 / 2 + 1/2 * 5/6 / 2
    assert top_k_ap(-pred, label)[0] == pytest.approx(1 / 3)
    # no positive among the top 5 -> 0
    assert top_k_ap(np.array([6, 5, 4, 3, 2, 1.0, 0]), np.array([[1], [1], [1], [1], [1], [2], [3]]))[0] == 0.0


def tvsum_gt(qid, domain, labels):
    return {"qid": qid, "vid": qid, "domain": domain, "duration": 2 * len(labels), "label": labels}


def test_tvsum_domains_average_videos_then_domains():
    up = [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0], [5.0, 5.0], [6.0, 6.0]]  # clips 3..5 positive
    gt = [tvsum_gt("a1", "A", up), tvsum_gt("a2", "A", up), tvsum_gt("b1", "B", up)]
    best = [0, 0, 0, 1, 2, 3]  # the three positives first: AP 1
    worst = [3, 2, 1, 0, 0, 0]  # positives last; top 5 holds 2 of them at ranks 4, 5
    sub = [{"qid": q, "pred_saliency_scores": s} for q, s in (("a1", best), ("a2", worst), ("b1", best))]
    m = evaluate(sub, gt)
    worst_ap = top_k_ap(np.array(worst, dtype=float), np.array(up))[0]
    assert m["brief"]["mAP-B"] == 100.0
    assert m["brief"]["mAP-A"] == float(f"{100 * (1 + worst_ap) / 2:.2f}")
    assert m["brief"]["mAP"] == float(f"{100 * ((1 + worst_ap) / 2 + 1) / 2:.2f}")  # mean over domains
    assert list(m["brief"]) == ["mAP", "mAP-A", "mAP-B"]


def test_tvsum_short_prediction_ranks_only_predicted_clips():
    # labels 1, 2, 3, 4: lower median 2 -> clips 2, 3 positive; scores exist for clips 0..2 only
    gt = [tvsum_gt("a", "A", [[1.0], [2.0], [3.0], [4.0]])]
    m = evaluate([{"qid": "a", "pred_saliency_scores": [0.3, 0.2, 0.1]}], gt)
    # ranking 0, 1, 2 -> hits 0 0 1 (precision 0, 0, 1/3), one positive in the top: one trapezoid 1 * (0 + 1/3) / 2
    assert m["brief"]["mAP"] == 16.67


def umt_video_ap(pred, label):
    """The UMT loop, per annotator, written out plainly."""
    aps = []
    for a in range(len(label[0])):
        col = sorted(row[a] for row in label)
        positive = [row[a] > col[(len(col) - 1) // 2] for row in label]
        order = sorted(range(min(len(pred), len(label))), key=lambda i: -pred[i])[:5]
        top = [positive[i] for i in order]
        if sum(top) == 0:
            aps.append(0.0)
            continue
        hits = ap = rec = 0.0
        prc = 1.0
        for j, hit in enumerate(top):
            hits += hit
            new_rec, new_prc = hits / sum(top), hits / (j + 1)
            ap += (new_rec - rec) * (prc + new_prc) / 2
            rec, prc = new_rec, new_prc
        aps.append(ap)
    return sum(aps) / len(aps)


def test_tvsum_real_val_file_against_plain_loop(real_data):
    gt = [json.loads(x) for x in (real_data / "tvsum" / "tvsum_val.jsonl").read_text().splitlines()]
    rng = random.Random(1)
    sub = [
        {"qid": g["qid"], "pred_saliency_scores": [sum(r) / 20 + rng.gauss(0, 0.3) for r in g["label"]] + [9.0]}
        for g in gt
    ]  # a noisy mean-label prediction, one score too many (ignored)
    sub[0]["pred_saliency_scores"] = sub[0]["pred_saliency_scores"][:-4]  # and one 3 scores short
    m = evaluate(sub, gt)
    assert sorted(k for k in m["brief"] if k != "mAP") == sorted(f"mAP-{g['domain']}" for g in gt)
    for g, s in zip(gt, sub, strict=True):  # one video per domain
        expected = umt_video_ap(s["pred_saliency_scores"], g["label"])
        assert m["brief"][f"mAP-{g['domain']}"] == float(f"{100 * expected:.2f}")
