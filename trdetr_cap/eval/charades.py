"""Charades-STA moment-retrieval metrics, as the field's evaluators compute them (docs/metrics.md).

Per query, with the windows as listed in the submission (which the project writes sorted by score):
  * R1@t (t = 0.3, 0.5, 0.7): the first window against its best-IoU GT window, scored by ``paired_hull_iou``
    (intersection over the hull, max end - min start), in % of queries with a score >= t;
  * mIoU: the mean of that score, in %;
  * R5@t: among the first 5 windows and the GT windows, the pair with the highest IoU (the first such pair in
    window-major order), scored by the hull IoU. Reported only when every query lists >= 5 windows, unless
    ``r5_all_rows`` (then rows with fewer windows are scored on the windows they list, as UniVTG and UMT do);
  * MR-mAP over IoU 0.5:0.05:0.95, exactly as QVHighlights "full", so that model selection can use
    ``brief["MR-full-mAP"]`` on every dataset.
The hull equals the union whenever the windows overlap, but the two divisions round differently: a window exactly on
a threshold ([0, 4.95] against [0, 9.9]) scores 0.5 over the hull and 0.4999999999999999 over len1 + len2 - inter.
Values are x100 and rounded to 2 decimals. Submission rows may carry ``pred_saliency_scores``; they are ignored.
"""

from __future__ import annotations

import numpy as np

from trdetr_cap.eval.io import Rows, check_windows_ordered, number_lists
from trdetr_cap.eval.qvhighlights import IOU_KEYS, MAX_PRED_WINDOWS, fmt, moment_retrieval_scores
from trdetr_cap.eval.ragged import pad_ragged
from trdetr_cap.spans import cross_iou, paired_hull_iou

RECALL_THRESHOLDS = (0.3, 0.5, 0.7)
RECALL_AT = 5


def best_pair_hull_iou(preds: np.ndarray, pred_valid: np.ndarray, gt: np.ndarray, gt_valid: np.ndarray) -> np.ndarray:
    """Recall@k score per query: preds (Q, K, 2) / pred_valid (Q, K), gt (Q, G, 2) / gt_valid (Q, G) -> (Q,).

    The (prediction, GT) pair with the highest IoU (first maximum in prediction-major order; a NaN IoU counts as 0)
    is scored by its hull IoU; a query without any valid prediction scores 0.
    """
    iou = np.nan_to_num(cross_iou(preds, gt), nan=0.0)
    iou = np.where(pred_valid[:, :, None] & gt_valid[:, None, :], iou, -np.inf).reshape(len(preds), -1)
    pred_idx, gt_idx = np.unravel_index(iou.argmax(1), (preds.shape[1], gt.shape[1]))
    rows = np.arange(len(preds))
    score = paired_hull_iou(preds[rows, pred_idx], gt[rows, gt_idx])
    return np.where(pred_valid.any(1), score, 0.0)


def eval_charades(sub: Rows, gt: Rows, r5_all_rows: bool = False) -> dict:
    """Metrics for matched rows (same qids, same order): {"brief": {...}, "full": {...}}.

    ``r5_all_rows``: report R5 even when some rows list fewer than 5 windows (scored on the windows they list).
    """
    windows, counts = number_lists(sub, "pred_relevant_windows", width=3, min_len=1, what="[start, end, score]")
    check_windows_ordered(sub, counts, windows, "pred_relevant_windows", strict=False)
    gt_flat, gt_counts = number_lists(gt, "relevant_windows", width=2, min_len=1, what="[start, end]")
    check_windows_ordered(gt, gt_counts, gt_flat, "relevant_windows", strict=True)
    gt_windows, gt_valid = pad_ragged(gt_flat, gt_counts)

    first_k, first_k_valid = pad_ragged(windows[:, :2], counts, RECALL_AT)
    top1 = best_pair_hull_iou(first_k[:, :1], first_k_valid[:, :1], gt_windows, gt_valid)
    full = {}
    full["MR-R1"] = {str(t): fmt(np.mean(top1 >= t)) for t in RECALL_THRESHOLDS}
    if r5_all_rows or (counts >= RECALL_AT).all():
        best_of_k = best_pair_hull_iou(first_k, first_k_valid, gt_windows, gt_valid)
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
