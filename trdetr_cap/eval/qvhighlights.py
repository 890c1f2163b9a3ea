"""QVHighlights metrics, number for number as the official ``standalone_eval/eval.py``
(Moment-DETR's, copied unchanged into TR-DETR), vectorised over queries.

Moment retrieval (MR), per length bucket (full / short (0, 10] / middle (10, 30] / long (30, 150] seconds):
  * mAP: the first ``MAX_PRED_WINDOWS`` listed windows, sorted by score (stable); greedy matching per IoU threshold,
    each GT window taken once by the highest-IoU prediction; VOC all-point interpolated AP; mean over queries.
  * R1: the *first listed* window (not re-sorted) against its best-IoU GT window; % of queries with IoU >= t.
  A bucket keeps only GT windows of its length range and the queries left with at least one; "full" keeps all.
Highlight detection (HD), GT per 2 s clip (0..4 from 3 annotators, 0 outside ``relevant_clip_ids``), binarised at
>= 2 (Fair), >= 3 (Good), >= 4 (VeryGood):
  * Hit1: is the argmax clip positive for any annotator.
  * mAP: per (query, annotator) AP from sklearn's precision-recall curve (ties in score form one step), with an
    all-negative GT giving 0 and an all-positive GT 1; predictions cut or zero-padded to the GT length.
Everything is x100 and rounded to 2 decimals as the official code does.
"""

from __future__ import annotations

import numpy as np

from trdetr_cap.eval.io import Rows, check_windows_ordered, has_field, number_field, number_lists, raise_at_item
from trdetr_cap.eval.ragged import compact_rows, pad_ragged, row_chunks
from trdetr_cap.spans import cross_iou, paired_hull_iou

IOU_THRESHOLDS = np.array([float(f"{t:.2f}") for t in np.linspace(0.5, 0.95, 10)])
IOU_KEYS = [str(t) for t in IOU_THRESHOLDS.tolist()]
MAX_PRED_WINDOWS = 10
LENGTH_BUCKETS = {"short": (0.0, 10.0), "middle": (10.0, 30.0), "long": (30.0, 150.0), "full": None}
SALIENCY_LEVELS = {"Fair": 2, "Good": 3, "VeryGood": 4}
CLIP_LEN = 2.0
NUM_ANNOTATORS = 3
HD_CHUNK = 256  # queries per highlight-AP block


def fmt(value: float) -> float:
    """x100, rounded to 2 decimals, as the official ``float(f"{100 * v:.2f}")``."""
    return float(f"{100 * value:.2f}")


# ---------------------------------------------------------------------------------------------------------------
# Moment retrieval
# ---------------------------------------------------------------------------------------------------------------


def greedy_true_positives(iou: np.ndarray, gt_valid: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Greedy matching of score-sorted predictions to GT windows, for every IoU threshold at once.

    iou: (K, P, G) prediction-vs-GT IoU, predictions in score order (padding rows: NaN); gt_valid: (K, G).
    Returns tp: (K, T, P) bool. Prediction j takes the unmatched GT window with the highest IoU >= t; when several
    tie, the one the official ``argsort()[::-1]`` would visit first (resolved per case, ties are rare).
    """
    num, num_preds, num_gt = iou.shape
    iou = np.where(gt_valid[:, None, :], np.nan_to_num(iou, nan=-1.0), -1.0)
    above = iou[:, None, :, :] >= thresholds[None, :, None, None]  # (K, T, P, G)
    if num_gt == 1:  # one GT window: the first prediction above the threshold takes it
        hit = above[..., 0]
        return hit & (np.cumsum(hit, axis=-1) == 1)
    taken = np.zeros((num, len(thresholds), num_gt), dtype=bool)
    tp = np.zeros((num, len(thresholds), num_preds), dtype=bool)
    gt_index = np.arange(num_gt)
    for j in range(num_preds):
        candidate = above[:, :, j, :] & ~taken
        score = np.where(candidate, iou[:, None, j, :], -1.0)  # (K, T, G)
        best = score.max(-1)
        found = best >= 0
        is_best = score == best[..., None]
        choice = is_best.argmax(-1)
        for k, t in zip(*np.nonzero(found & (is_best.sum(-1) > 1)), strict=True):
            row = iou[k, j, gt_valid[k]]  # the official per-query IoU row (its GT windows only, in order)
            choice[k, t] = next(g for g in np.argsort(row)[::-1] if candidate[k, t, g])
        tp[:, :, j] = found
        taken |= (gt_index == choice[..., None]) & found[..., None]
    return tp


def interpolated_ap(tp: np.ndarray, num_gt: np.ndarray) -> np.ndarray:
    """VOC all-point interpolated AP. tp: (K, T, P) bool in score order (padding = False); num_gt: (K,) -> (K, T)."""
    cum_tp = np.cumsum(tp, axis=-1, dtype=np.float64)
    precision = cum_tp / np.arange(1, tp.shape[-1] + 1)  # tp + fp = rank
    envelope = np.maximum.accumulate(precision[..., ::-1], axis=-1)[..., ::-1]
    recall = cum_tp / num_gt[:, None, None]
    step = recall.copy()
    step[..., 1:] -= recall[..., :-1]
    return (np.where(tp, step, 0.0) * envelope).sum(-1)


def moment_retrieval_scores(first_window, pred_windows, pred_scores, pred_valid, gt_windows, gt_valid):
    """Per-problem MR scores; a problem is one query with a set of GT windows (one bucket's view of it).

    first_window: (K, 2) first listed prediction; pred_windows (K, P, 2) / pred_scores (K, P) / pred_valid (K, P):
    the first <= 10 listed predictions; gt_windows (K, G, 2) / gt_valid (K, G). Returns (ap (K, T), r1_iou (K,)).
    Problems are processed in groups of similar GT count so that padding stays small.
    """
    num_gt = gt_valid.sum(1)
    ap = np.zeros((len(num_gt), len(IOU_THRESHOLDS)))
    group = np.ceil(np.log2(np.maximum(num_gt, 1))).astype(int)  # 1, 2, 3-4, 5-8, ...
    order = np.argsort(-np.where(pred_valid, pred_scores, -np.inf), axis=1, kind="stable")
    sorted_windows = np.take_along_axis(pred_windows, order[..., None], 1)
    sorted_valid = np.take_along_axis(pred_valid, order, 1)
    for g in sorted(set(group.tolist())):
        idx = np.flatnonzero(group == g)
        width = int(num_gt[idx].max())
        iou = cross_iou(sorted_windows[idx], gt_windows[idx, :width])
        iou[~sorted_valid[idx]] = np.nan
        tp = greedy_true_positives(iou, gt_valid[idx, :width], IOU_THRESHOLDS)
        ap[idx] = interpolated_ap(tp, num_gt[idx])
    first_iou = cross_iou(first_window[:, None, :], gt_windows)[:, 0, :]  # (K, G)
    best_gt = np.where(gt_valid, first_iou, -np.inf).argmax(1)  # first maximum, as np.argmax
    r1_iou = paired_hull_iou(first_window, gt_windows[np.arange(len(best_gt)), best_gt])
    return ap, r1_iou


def eval_moment_retrieval(sub: Rows, gt: Rows) -> dict:
    """MR metrics per bucket: {bucket: {"MR-mAP": {thr: x, "average": x}, "MR-R1": {thr: x}}}."""
    windows, counts = number_lists(sub, "pred_relevant_windows", width=3, min_len=1, what="[start, end, score]")
    check_windows_ordered(sub, counts, windows, "pred_relevant_windows", strict=False)
    gt_flat, gt_counts = number_lists(gt, "relevant_windows", width=2, min_len=1, what="[start, end]")
    check_windows_ordered(gt, gt_counts, gt_flat, "relevant_windows", strict=True)
    preds, pred_valid = pad_ragged(windows, counts, MAX_PRED_WINDOWS)
    first_window = windows[np.cumsum(counts) - counts, :2]
    gt_windows, gt_valid = pad_ragged(gt_flat, gt_counts)
    gt_length = gt_windows[..., 1] - gt_windows[..., 0]

    problems, keeps = [], []
    for name, span in LENGTH_BUCKETS.items():
        keep = gt_valid if span is None else gt_valid & (gt_length > span[0]) & (gt_length <= span[1])
        queries = np.flatnonzero(keep.any(1))
        problems.append((name, queries))
        keeps.append(keep[queries])
    query = np.concatenate([q for _, q in problems])
    bucket_gt, bucket_valid = compact_rows(np.concatenate([gt_windows[q] for _, q in problems]), np.concatenate(keeps))
    ap, r1_iou = moment_retrieval_scores(
        first_window[query], preds[query, :, :2], preds[query, :, 2], pred_valid[query], bucket_gt, bucket_valid
    )
    metrics, start = {}, 0
    for name, queries in problems:
        part = slice(start, start + len(queries))
        start += len(queries)
        metrics[name] = _bucket_metrics(ap[part], r1_iou[part])
    return metrics


def _bucket_metrics(ap: np.ndarray, r1_iou: np.ndarray) -> dict:
    if len(ap) == 0:  # the official code would fail on an empty bucket; report it as absent
        return {"MR-mAP": {}, "MR-R1": {}}
    ap_per_thr = ap.mean(0)
    mean_ap = {k: fmt(v) for k, v in zip(IOU_KEYS, ap_per_thr, strict=True)}
    mean_ap["average"] = fmt(np.mean(ap_per_thr))
    r1 = {k: float(f"{np.mean(r1_iou >= t) * 100:.2f}") for k, t in zip(IOU_KEYS, IOU_THRESHOLDS, strict=True)}
    return {"MR-mAP": mean_ap, "MR-R1": r1}


# ---------------------------------------------------------------------------------------------------------------
# Highlight detection
# ---------------------------------------------------------------------------------------------------------------


def saliency_ap(pred: np.ndarray, clip_scores: np.ndarray, levels: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """sklearn-precision-recall AP for every query, positive level and annotator (as the official ``get_ap``).

    pred: (Q, N) scores; clip_scores: (Q, N, A) GT scores, binarised as >= each of levels (L,); valid: (Q, N), the
    first n_q clips of each row. Returns (Q, L, A). The curve has one point per distinct score (ties form one
    step); precision is made monotone (max over lower thresholds) and averaged where recall changes. All-0 labels
    give 0, all-1 give 1.

    Only clips that can be positive at some level ("candidates") are visited: between two candidates the number of
    hits is constant while the rank grows, so precision there never exceeds the value at the preceding candidate's
    tie group and the monotone envelope is decided at candidate groups alone.
    """
    num, length = pred.shape
    rows = np.arange(num)[:, None]
    rank = np.arange(length)
    order = np.argsort(np.where(valid, -pred, np.inf), axis=1, kind="stable")
    scores = pred[rows, order]
    n_valid = valid.sum(1)[:, None]
    # the last rank of each run of tied scores (sklearn's curve point) for every rank
    next_differs = np.ones((num, length), dtype=bool)
    next_differs[:, :-1] = scores[:, 1:] != scores[:, :-1]
    next_differs |= rank >= n_valid - 1
    group_end = np.minimum.accumulate(np.where(next_differs, rank, length)[:, ::-1], axis=1)[:, ::-1]
    rank_of_clip = np.empty_like(order)
    rank_of_clip[rows, order] = rank

    candidate = valid & (clip_scores.max(2) >= levels.min())  # (Q, N)
    cand_rank = np.sort(np.where(candidate, rank_of_clip, length), axis=1)[:, : max(1, candidate.sum(1).max())]
    cand_valid = cand_rank < length
    cand_rank = np.minimum(cand_rank, length - 1)
    cand_clip = order[rows, cand_rank]
    cand_end = group_end[rows, cand_rank]  # (Q, R)
    labels = (clip_scores[rows, cand_clip][:, :, None, :] >= levels[:, None]).reshape(num, cand_rank.shape[1], -1)
    labels &= cand_valid[..., None]  # (Q, R, S)

    width = cand_rank.shape[1]
    slot = np.arange(width)
    run_end = cand_valid.copy()  # the last candidate of each tie group
    run_end[:, :-1] &= (cand_end[:, 1:] != cand_end[:, :-1]) | ~cand_valid[:, 1:]
    run_start = np.ones((num, width), dtype=bool)
    run_start[:, 1:] = cand_end[:, 1:] != cand_end[:, :-1]
    run_first = np.maximum.accumulate(np.where(run_start, slot, 0), axis=1)
    hits = np.cumsum(labels, axis=1, dtype=np.int32)
    precision = np.where(run_end[..., None], hits / (cand_end + 1)[..., None], -np.inf)
    envelope = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
    last_positive = np.maximum.accumulate(np.where(labels, slot[:, None], -1), axis=1)
    step = run_end[..., None] & (last_positive >= run_first[..., None])  # the group adds recall
    with np.errstate(invalid="ignore", divide="ignore"):
        ap = np.where(step, envelope, 0.0).sum(1) / step.sum(1)
    positives = hits[:, -1]
    ap = np.where(positives == 0, 0.0, np.where(positives == n_valid, 1.0, ap))
    return ap.reshape(num, len(levels), -1)


def eval_highlight(sub: Rows, gt: Rows) -> dict:
    """HD metrics: {"HL-min-Fair": {"HL-mAP": x, "HL-Hit1": x}, "HL-min-Good": ..., "HL-min-VeryGood": ...}."""
    clip_scores, num_clips = gt_clip_scores(gt)
    pred, top_clip = saliency_at_gt_length(sub, num_clips)
    num, length = pred.shape
    valid = np.arange(length) < num_clips[:, None]
    levels = np.array(list(SALIENCY_LEVELS.values()), dtype=np.float64)
    # blocks of queries with similar numbers of candidate clips keep the padded (block, R, L x A) arrays small
    by_size = np.argsort((valid & (clip_scores.max(2) >= levels.min())).sum(1), kind="stable")
    ap = np.empty((num, len(levels), NUM_ANNOTATORS))
    for block in row_chunks(num, HD_CHUNK):
        q = by_size[block]
        ap[q] = saliency_ap(pred[q], clip_scores[q], levels, valid[q])
    in_video = top_clip < num_clips
    top_scores = clip_scores[np.arange(num), np.minimum(top_clip, length - 1)]  # (Q, A)
    hit = ((top_scores[:, None, :] >= levels[:, None]) & in_video[:, None, None]).max(2)  # (Q, L)
    return {
        f"HL-min-{name}": {"HL-mAP": fmt(np.mean(ap[:, i])), "HL-Hit1": float(f"{100 * np.mean(hit[:, i]):.2f}")}
        for i, name in enumerate(SALIENCY_LEVELS)
    }


def gt_clip_scores(gt: Rows) -> tuple[np.ndarray, np.ndarray]:
    """GT saliency per 2 s clip -> (scores (Q, N, 3), 0 outside ``relevant_clip_ids``; n_clips (Q,) = int(dur / 2))."""
    duration = number_field(gt, "duration", positive=True)
    clip_ids, id_counts = number_lists(gt, "relevant_clip_ids", integer=True)
    gt_scores, score_counts = number_lists(gt, "saliency_scores", width=NUM_ANNOTATORS, what="[a1, a2, a3]")
    num_clips = (duration / CLIP_LEN).astype(np.int64)  # int(duration / 2), as the official mk_gt_scores
    if (num_clips < 1).any():
        i = int(np.flatnonzero(num_clips < 1)[0])
        raise gt.error(i, "duration", f"{duration[i]} s is shorter than one {CLIP_LEN:g} s clip")
    _check_clip_ids(gt, clip_ids, id_counts, score_counts, num_clips)
    scores = np.zeros((len(num_clips), int(num_clips.max()), NUM_ANNOTATORS))
    scores[np.repeat(np.arange(len(num_clips)), id_counts), clip_ids] = gt_scores
    return scores, num_clips


def saliency_at_gt_length(sub: Rows, num_clips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Predicted saliency cut or zero-padded to each GT length -> (pred (Q, N), argmax of the *whole* list (Q,))."""
    saliency, counts = number_lists(sub, "pred_saliency_scores", min_len=1)
    padded, listed = pad_ragged(saliency, counts, fill=-np.inf)
    top_clip = padded.argmax(1)  # first maximum, as np.argmax on the list
    length = int(num_clips.max())
    pred = np.zeros((len(counts), length))
    shared = min(length, padded.shape[1])
    pred[:, :shared] = np.where(listed[:, :shared], padded[:, :shared], 0.0)
    pred[np.arange(length) >= num_clips[:, None]] = 0.0
    return pred, top_clip


def _check_clip_ids(gt: Rows, clip_ids, id_counts, score_counts, num_clips) -> None:
    mismatch = np.flatnonzero(id_counts != score_counts)
    if mismatch.size:
        i = int(mismatch[0])
        raise gt.error(
            i, "saliency_scores", f"{int(score_counts[i])} entries for {int(id_counts[i])} relevant_clip_ids"
        )
    limit = np.repeat(num_clips, id_counts)
    bad = np.flatnonzero((clip_ids < 0) | (clip_ids >= limit))
    if bad.size:
        k = int(bad[0])
        problem = f"clip {clip_ids[k]} outside [0, {limit[k]}) (duration / 2)"
        raise_at_item(gt, id_counts, "relevant_clip_ids", k, problem)
    row = np.repeat(np.arange(len(id_counts)), id_counts)
    key = row * (int(num_clips.max()) + 1) + clip_ids
    sorted_key = np.sort(key)
    if (np.diff(sorted_key) == 0).any():
        dup = int(sorted_key[np.flatnonzero(np.diff(sorted_key) == 0)[0]])
        k = int(np.flatnonzero(key == dup)[1])
        raise_at_item(gt, id_counts, "relevant_clip_ids", k, f"clip {clip_ids[k]} listed twice")


# ---------------------------------------------------------------------------------------------------------------
# Whole evaluation
# ---------------------------------------------------------------------------------------------------------------


def eval_qvhighlights(sub: Rows, gt: Rows) -> dict:
    """Official-structure metrics for matched rows (same qids, same order): MR when the submission has
    ``pred_relevant_windows``, HD when it has ``pred_saliency_scores``. A length bucket without any query (possible
    on a subset) reports empty dicts and ``None`` in ``brief``, where the official code would crash."""
    do_mr, do_hd = _tasks(sub)
    metrics, brief = {}, {}
    if do_mr:
        mr = eval_moment_retrieval(sub, gt)
        metrics.update(mr)
        full = mr["full"]
        mr_brief = {
            "MR-full-mAP": full["MR-mAP"]["average"],
            "MR-full-mAP@0.5": full["MR-mAP"]["0.5"],
            "MR-full-mAP@0.75": full["MR-mAP"]["0.75"],
            "MR-short-mAP": mr["short"]["MR-mAP"].get("average"),
            "MR-middle-mAP": mr["middle"]["MR-mAP"].get("average"),
            "MR-long-mAP": mr["long"]["MR-mAP"].get("average"),
            "MR-full-R1@0.5": full["MR-R1"]["0.5"],
            "MR-full-R1@0.7": full["MR-R1"]["0.7"],
        }
        brief.update(sorted(mr_brief.items()))
    if do_hd:
        hd = eval_highlight(sub, gt)
        metrics.update(hd)
        brief.update((f"{level}-{key.split('-')[1]}", v) for level, scores in hd.items() for key, v in scores.items())
    out = {"brief": brief}
    out.update(sorted(metrics.items()))
    return out


def _tasks(sub: Rows) -> tuple[bool, bool]:
    """Which tasks the submission covers; each field must be in every row or in none."""
    present = []
    for field in ("pred_relevant_windows", "pred_saliency_scores"):
        flags = has_field(sub, field)
        if any(flags) and not all(flags):
            i = flags.index(False)
            raise sub.error(i, field, "missing field (other rows have it)")
        present.append(flags[0])
    if not any(present):
        problem = "missing field (need pred_relevant_windows or pred_saliency_scores)"
        raise sub.error(0, "pred_relevant_windows", problem)
    return present[0], present[1]
