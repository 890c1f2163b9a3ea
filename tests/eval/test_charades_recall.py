"""Charades-STA R1 / R5 / mIoU on hand-made windows: intersection over the hull, windows exactly on the thresholds,
R5 on rows with fewer than 5 windows."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trdetr_cap.eval import EvalInputError, evaluate
from trdetr_cap.eval.__main__ import main
from trdetr_cap.spans import cross_iou, paired_hull_iou

# prediction, GT window: IoU exactly t in decimals; over len1 + len2 - inter the division rounds just below t
ON_THRESHOLD = {0.3: ([0.0, 2.88], [0.0, 9.6]), 0.5: ([0.0, 4.95], [0.0, 9.9]), 0.7: ([0.0, 6.72], [0.0, 9.6])}


def gt_row(qid, *windows):
    return {"qid": qid, "duration": 60.0, "relevant_windows": list(windows)}


@pytest.mark.parametrize("t", sorted(ON_THRESHOLD))
def test_a_window_exactly_on_a_threshold_is_a_hit(t):
    pred, gt = ON_THRESHOLD[t]
    assert cross_iou(np.array([pred]), np.array([gt]))[0, 0] < t  # e.g. 0.4999999999999999
    assert paired_hull_iou(np.array([pred]), np.array([gt]))[0] == t
    m = evaluate([{"qid": 0, "pred_relevant_windows": [[*pred, 0.9]]}], [gt_row(0, gt)], dataset="charades")
    assert m["full"]["MR-R1"] == {str(s): 100.0 if s <= t else 0.0 for s in (0.3, 0.5, 0.7)}
    assert m["brief"]["MR-mIoU"] == {0.3: 30.0, 0.5: 50.0, 0.7: 70.0}[t]


def test_r1_uses_the_first_listed_window_and_its_best_gt_window():
    # the first window overlaps GT 2 by 8 / 10 (GT 1 not at all); the better second window does not count for R1
    gt = [gt_row(0, [0.0, 9.9], [20.0, 30.0])]
    sub = [{"qid": 0, "pred_relevant_windows": [[22.0, 30.0, 0.9], [20.0, 30.0, 0.8]]}]
    m = evaluate(sub, gt, dataset="charades")
    assert m["full"]["MR-R1"] == {"0.3": 100.0, "0.5": 100.0, "0.7": 100.0}
    assert m["brief"]["MR-mIoU"] == 80.0


def r5_case():
    """q0: 5 windows, the 5th exactly 0.5 (a 6th, exact, is beyond the top 5); q1: 2 windows, the 2nd IoU 0.8 with
    its second GT window; q2: 1 window that misses."""
    miss = [40.0, 45.0]
    gt = [gt_row(0, [0.0, 9.9]), gt_row(1, [0.0, 9.9], [20.0, 30.0]), gt_row(2, [0.0, 9.9])]
    sub = [
        {"qid": 0, "pred_relevant_windows": [[*miss, 0.9]] * 4 + [[0.0, 4.95, 0.5], [0.0, 9.9, 0.4]]},
        {"qid": 1, "pred_relevant_windows": [[*miss, 0.9], [22.0, 30.0, 0.8]]},
        {"qid": 2, "pred_relevant_windows": [[*miss, 0.9]]},
    ]
    return gt, sub


def test_r5_is_left_out_by_default_when_a_row_has_fewer_than_5_windows():
    gt, sub = r5_case()
    m = evaluate(sub, gt, dataset="charades")
    assert "MR-R5" not in m["full"] and not any(k.startswith("MR-R5") for k in m["brief"])


def test_r5_all_rows_scores_the_windows_there_are():
    gt, sub = r5_case()
    m = evaluate(sub, gt, dataset="charades", r5_all_rows=True)
    # best of the listed top 5: q0 0.5 (its exact 6th window is not among them), q1 0.8, q2 0
    assert m["full"]["MR-R5"] == {"0.3": 66.67, "0.5": 66.67, "0.7": 33.33}
    assert [k for k in m["brief"] if k.startswith("MR-R5")] == ["MR-R5@0.3", "MR-R5@0.5", "MR-R5@0.7"]
    assert m["full"]["MR-R1"] == {"0.3": 0.0, "0.5": 0.0, "0.7": 0.0}  # every first window misses


def test_r5_all_rows_on_the_command_line(tmp_path, capsys):
    gt, sub = r5_case()
    gt_path, sub_path, out = tmp_path / "gt.jsonl", tmp_path / "sub.jsonl", tmp_path / "metrics.json"
    gt_path.write_text("".join(json.dumps(r) + "\n" for r in gt))
    sub_path.write_text("".join(json.dumps(r) + "\n" for r in sub))
    assert main(["--submission", str(sub_path), "--gt", str(gt_path), "--out", str(out), "--r5_all_rows"]) == 0
    assert json.loads(out.read_text())["brief"]["MR-R5@0.7"] == 33.33
    assert main(["--submission", str(sub_path), "--gt", str(gt_path), "--out", str(out)]) == 0
    assert "MR-R5@0.7" not in json.loads(out.read_text())["brief"]
    capsys.readouterr()


def test_r5_all_rows_is_refused_outside_charades():
    gt = [{"qid": 0, "duration": 4.0, "relevant_windows": [[0.0, 2.0]], "relevant_clip_ids": [0],
           "saliency_scores": [[1, 2, 3]]}]  # fmt: skip
    sub = [{"qid": 0, "pred_relevant_windows": [[0.0, 2.0, 0.9]], "pred_saliency_scores": [0.1, 0.2]}]
    with pytest.raises(EvalInputError, match="r5_all_rows applies to Charades-STA only"):
        evaluate(sub, gt, r5_all_rows=True)
