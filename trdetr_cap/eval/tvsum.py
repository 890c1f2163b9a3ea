"""TVSum highlight-detection top-5 mAP, the UMT protocol used by TR-DETR
(its tr_detr/inference.py:90 ``compute_hl_results``).

Formats: GT rows ``{qid, vid, domain, label}`` with ``label`` (n_clips, n_annotators) raw scores (20 annotators,
1..5); submission rows ``{qid, vid, pred_saliency_scores}``, one score per clip. As in the original
(``pred[:len(label)]``), extra scores are ignored and, when the features are shorter than the labels, only the
clips with a score can be ranked (the median still covers every clip).

Per video and annotator: the annotator's labels are binarised as ``label > median`` (torch's lower median for an
even count), clips are ranked by predicted saliency (ties: earlier clip first), and the top 5 get a trapezoid AP
whose recall denominator is the number of positives *within those 5* (0 positives -> AP 0). A video's AP is the
mean over annotators; a domain's is the mean over its videos (every video counts: the original only kept the last
video of each eval batch); ``brief["mAP"]`` is the mean over domains. Values are x100, rounded to 2 decimals.
The references rank with ``torch.argsort``, whose order on ties is implementation-defined (C++ ``std::sort`` on CPU:
index order up to 16 clips only); earlier-first is that order where it is defined, and submissions should carry
float32 saliency so that ties do not arise (docs/metrics.md).
"""

from __future__ import annotations

import numpy as np

from trdetr_cap.eval.io import Rows, number_lists, require_field
from trdetr_cap.eval.qvhighlights import fmt

TOP_K = 5


def top_k_ap(pred: np.ndarray, label: np.ndarray, k: int = TOP_K) -> np.ndarray:
    """pred: (M,) saliency of the first M clips of one video; label: (N, A) annotator scores -> (A,) top-k AP."""
    n = len(label)
    lower_median = np.sort(label, axis=0)[(n - 1) // 2]
    positive = label > lower_median  # (N, A)
    ranked = np.argsort(-pred[:n], kind="stable")[:k]
    top = positive[ranked].astype(np.float64)  # (k', A)
    hits = np.cumsum(top, axis=0)
    num_pos = hits[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = hits / num_pos
    precision = hits / np.arange(1, len(top) + 1)[:, None]
    prev_recall = np.vstack([np.zeros((1, label.shape[1])), recall[:-1]])
    prev_precision = np.vstack([np.ones((1, label.shape[1])), precision[:-1]])
    ap = ((recall - prev_recall) * (prev_precision + precision) / 2).sum(0)
    return np.where(num_pos > 0, ap, 0.0)


def tvsum_labels(gt: Rows) -> tuple[list[str], np.ndarray, np.ndarray]:
    """GT domains and labels, checked -> (domains, labels (sum N, A), clips per row (R,))."""
    domains = require_field(gt, "domain")
    for i, d in enumerate(domains):
        if not isinstance(d, str):
            raise gt.error(i, "domain", f"expected a string, got {d!r}")
    labels = require_field(gt, "label")
    widths = [len(row[0]) if isinstance(row, list) and row and isinstance(row[0], list) else 0 for row in labels]
    width = next((w for w in widths if w), 20)  # every clip needs the same annotators (TVSum: 20)
    flat_labels, n_clips = number_lists(gt, "label", width=width, min_len=1, what=f"{width} annotator scores")
    return domains, flat_labels, n_clips


def eval_tvsum(sub: Rows, gt: Rows) -> dict:
    """Metrics for matched rows (same qids, same order): brief {"mAP", "mAP-<domain>"...}, per-video APs."""
    domains, flat_labels, n_clips = tvsum_labels(gt)
    saliency, sal_counts = number_lists(sub, "pred_saliency_scores", min_len=1)
    sal_starts, label_starts = np.cumsum(sal_counts) - sal_counts, np.cumsum(n_clips) - n_clips
    video_ap = np.array(
        [
            top_k_ap(saliency[s : s + m], flat_labels[ls : ls + n]).mean()
            for s, m, ls, n in zip(sal_starts, sal_counts, label_starts, n_clips, strict=True)
        ]
    )
    names = sorted(set(domains))
    domain_ap = {d: float(np.mean([a for a, dd in zip(video_ap, domains, strict=True) if dd == d])) for d in names}
    brief = {"mAP": fmt(np.mean(list(domain_ap.values())))}
    brief.update((f"mAP-{d}", fmt(v)) for d, v in domain_ap.items())
    qids = [r["qid"] for r in sub.rows]
    per_video = {str(q): fmt(a) for q, a in zip(qids, video_ap, strict=True)}
    return {"brief": brief, "per_video": per_video}
