"""Charades-STA moment-retrieval metrics (the usual protocol of the Charades-STA papers).

Per query, with the windows as listed in the submission (which the project writes sorted by score):
  * R1@t (t = 0.3, 0.5, 0.7): IoU of the first window with its best-matching GT window >= t, in % of queries;
  * mIoU: the mean of that IoU, in %;
  * R5@t: any of the first 5 windows reaches IoU >= t with a GT window; reported only when every query has >= 5;
  * MR-mAP over IoU 0.5:0.05:0.95, exactly as QVHighlights "full", so that model selection can use
    ``brief["MR-full-mAP"]`` on every dataset.
Values are x100 and rounded to 2 decimals. Submission rows may carry ``pred_saliency_scores``; they are ignored.
"""

from __future__ import annotations

import numpy as np

from trdetr_cap.eval.io import Rows, check_windows_ordered, number_lists
from trdetr_cap.eval.qvhighlights import IOU_KEYS, MAX_PRED_WINDOWS, cross_iou, fmt, moment_retrieval_scores
from trdetr_cap.eval.ragged import pad_ragged

RECALL_THRESHOLDS = (0.3, 0.5, 0.7)
RECALL_AT = 5


def eval_charades(sub: Rows, gt: Rows) -> dict:
    """Metrics for matched rows (same qids, same order): {"brief": {...}, "full": {...}}."""
    windows, counts = number_lists(sub, "pred_relevant_windows", width=3, min_len=1, what="[start, end, score]")
    check_windows_ordered(sub, counts, windows, "pred_relevant_windows", strict=False)
    gt_flat, gt_counts = number_lists(gt, "relevant_windows", width=2, min_len=1, what="[start, end]")
    check_windows_ordered(gt, gt_counts, gt_flat, "relevant_windows", strict=True)
    gt_windows, gt_valid = pad_ragged(gt_flat, gt_counts)

    first_k, first_k_valid = pad_ragged(windows[:, :2], counts, RECALL_AT)
    iou = np.where(gt_valid[:, None, :], cross_iou(first_k, gt_windows), -np.inf).max(2)  # (Q, k) best GT per window
    top1 = iou[:, 0]
    full = {}
    full["MR-R1"] = {str(t): fmt(np.mean(top1 >= t)) for t in RECALL_THRESHOLDS}
    if (counts >= RECALL_AT).all():
        best_of_k = np.where(first_k_valid, iou, -np.inf).max(1)
        full["MR-R5"] = {str(t): fmt(np.mean(best_of_k >= t)) for t in RECALL_THRESHOLDS}
    full["MR-mIoU"] = fmt(np.mean(top1))

    preds, pred_valid = pad_ragged(windows, counts, MAX_PRED_WINDOWS)
    ap, _ = moment_retrieval_scores(
        windows[np.cumsum(counts) - counts, :2], preds[..., :2], preds[..., 2], pred_valid, gt_windows, gt_valid
    )
    ap_per_thr = ap.mean(0)
    full["MR-mAP"] = {k: fmt(v) for k, v in zip(IOU_KEYS, ap_per_thr, strict=True)}
    full["MR-mAP"]["average"] = fmt(np.mean(ap_per_thr))

    brief = {f"MR-R1@{t}": v for t, v in full["MR-R1"].items()}
    brief.update((f"MR-R5@{t}", v) for t, v in full.get("MR-R5", {}).items())
    brief["MR-mIoU"] = full["MR-mIoU"]
    brief["MR-full-mAP"] = full["MR-mAP"]["average"]
    return {"brief": brief, "full": full}
