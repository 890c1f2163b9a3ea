"""A straightforward per-query QVHighlights evaluator: the rules of the official
``standalone_eval/eval.py`` (Moment-DETR's, copied unchanged into TR-DETR), one query at a time, loops.

It shares no code with ``trdetr_cap.eval`` and serves two purposes: the oracle the vectorised evaluator is
fuzz-tested against (tests/eval/test_against_oracle.py), and the baseline of bench/bench_eval.py.
Rows must already be valid (no validation here) and the two qid sets equal.
"""

from __future__ import annotations

import numpy as np

THRESHOLDS = [float(f"{t:.2f}") for t in np.linspace(0.5, 0.95, 10)]
BUCKETS = [("short", 0, 10), ("middle", 10, 30), ("long", 30, 150), ("full", None, None)]
LEVELS = [("Fair", 2), ("Good", 3), ("VeryGood", 4)]


def iou_1_to_n(window, windows) -> np.ndarray:
    """IoU of one [st, ed] window with each of n windows -> (n,)."""
    gts = np.asarray(windows, dtype=float)
    inter = np.clip(np.minimum(window[1], gts[:, 1]) - np.maximum(window[0], gts[:, 0]), 0, None)
    union = (window[1] - window[0]) + (gts[:, 1] - gts[:, 0]) - inter
    return inter / union


def query_ap(preds, gts) -> list[float]:
    """AP at every threshold for one query: preds [[st, ed, score]] (already cut to 10), gts [[st, ed]]."""
    preds = sorted(preds, key=lambda p: -p[2])
    ious = [iou_1_to_n(p, gts) for p in preds]
    visit_order = [np.argsort(v)[::-1] for v in ious]  # highest IoU first, ties as the official code
    aps = []
    for thr in THRESHOLDS:
        taken = [False] * len(gts)
        hits = []
        for iou, order in zip(ious, visit_order, strict=True):
            hit = False
            for g in order:
                if iou[g] < thr:
                    break
                if not taken[g]:
                    taken[g] = hit = True
                    break
            hits.append(hit)
        # VOC: precision envelope, summed over the recall steps
        tp = np.cumsum(hits)
        precision = tp / np.arange(1, len(hits) + 1)
        recall = tp / len(gts)
        ap, prev_recall = 0.0, 0.0
        for i in range(len(hits)):
            if hits[i]:
                ap += (recall[i] - prev_recall) * precision[i:].max()
                prev_recall = recall[i]
        aps.append(ap)
    return aps


def query_r1_iou(first, gts) -> float:
    """IoU-over-hull of the first listed window with its best (true-IoU) GT window."""
    best = gts[int(np.argmax(iou_1_to_n(first, gts)))]
    inter = max(0.0, min(first[1], best[1]) - max(first[0], best[0]))
    hull = max(first[1], best[1]) - min(first[0], best[0])
    return inter / hull if hull != 0 else 0.0


def moment_retrieval(sub: list[dict], gt: list[dict]) -> dict:
    gt_by_qid = {g["qid"]: g for g in gt}
    out = {}
    for name, lo, hi in BUCKETS:
        aps, r1 = [], []
        for row in sub:
            gts = gt_by_qid[row["qid"]]["relevant_windows"]
            if lo is not None:
                gts = [w for w in gts if lo < w[1] - w[0] <= hi]
            if not gts:
                continue
            windows = row["pred_relevant_windows"]
            aps.append(query_ap(windows[:10], gts))
            r1.append(query_r1_iou(windows[0][:2], gts))
        if not aps:
            out[name] = {"MR-mAP": {}, "MR-R1": {}}
            continue
        mean_ap = np.mean(aps, axis=0)
        m = {str(t): float(f"{100 * v:.2f}") for t, v in zip(THRESHOLDS, mean_ap, strict=True)}
        m["average"] = float(f"{100 * np.mean(mean_ap):.2f}")
        r = {str(t): float(f"{100 * np.mean([v >= t for v in r1]):.2f}") for t in THRESHOLDS}
        out[name] = {"MR-mAP": m, "MR-R1": r}
    return out


def ranking_ap(labels, scores) -> float:
    """AP over the precision-recall curve whose points are the distinct score thresholds (sklearn's), with the
    precision made monotone and averaged at the points where recall changes; all-0 labels -> 0, all-1 -> 1."""
    if all(v == labels[0] for v in labels):
        return float(labels[0] == 1)
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    total, tp, points = sum(labels), 0, []  # (recall, precision) per distinct threshold, highest first
    for rank, i in enumerate(order):
        tp += labels[i]
        if rank == len(order) - 1 or scores[order[rank + 1]] != scores[i]:
            points.append((tp / total, tp / (rank + 1)))
    values, prev_recall, best = [], 0.0, [0.0] * len(points)
    for i in range(len(points) - 1, -1, -1):
        best[i] = max(points[i][1], best[i + 1] if i + 1 < len(points) else 0.0)
    for (recall, _), envelope in zip(points, best, strict=True):
        if recall != prev_recall:
            values.append(envelope)
        prev_recall = recall
    return float(np.mean(values))


def highlight(sub: list[dict], gt: list[dict]) -> dict:
    gt_by_qid = {g["qid"]: g for g in gt}
    out = {}
    for name, level in LEVELS:
        aps, hits = [], []
        for row in sub:
            g = gt_by_qid[row["qid"]]
            n = int(g["duration"] / 2)
            clip_scores = [[0, 0, 0] for _ in range(n)]
            for cid, s in zip(g["relevant_clip_ids"], g["saliency_scores"], strict=True):
                clip_scores[cid] = s
            pred = list(row["pred_saliency_scores"])
            top = int(np.argmax(pred))
            hits.append(top < n and max(v >= level for v in clip_scores[top]))
            pred = (pred + [0.0] * n)[:n]
            for a in range(3):
                aps.append(ranking_ap([int(c[a] >= level) for c in clip_scores], pred))
        out[f"HL-min-{name}"] = {
            "HL-mAP": float(f"{100 * np.mean(aps):.2f}"),
            "HL-Hit1": float(f"{100 * np.mean(hits):.2f}"),
        }
    return out


def evaluate(sub: list[dict], gt: list[dict]) -> dict:
    """Same structure as trdetr_cap.eval for QVHighlights."""
    metrics, brief = {}, {}
    if "pred_relevant_windows" in sub[0]:
        mr = moment_retrieval(sub, gt)
        metrics.update(mr)
        brief.update(
            {
                "MR-full-R1@0.5": mr["full"]["MR-R1"]["0.5"],
                "MR-full-R1@0.7": mr["full"]["MR-R1"]["0.7"],
                "MR-full-mAP": mr["full"]["MR-mAP"]["average"],
                "MR-full-mAP@0.5": mr["full"]["MR-mAP"]["0.5"],
                "MR-full-mAP@0.75": mr["full"]["MR-mAP"]["0.75"],
                "MR-long-mAP": mr["long"]["MR-mAP"].get("average"),
                "MR-middle-mAP": mr["middle"]["MR-mAP"].get("average"),
                "MR-short-mAP": mr["short"]["MR-mAP"].get("average"),
            }
        )
    if "pred_saliency_scores" in sub[0]:
        hl = highlight(sub, gt)
        metrics.update(hl)
        for level, v in hl.items():
            brief[f"{level}-mAP"] = v["HL-mAP"]
            brief[f"{level}-Hit1"] = v["HL-Hit1"]
    return {"brief": brief, **dict(sorted(metrics.items()))}


def main(argv: list[str]) -> None:
    """``python qvh_oracle.py PRED.jsonl GT.jsonl OUT.json``: the whole command bench/bench_eval.py times."""
    import json

    sub_path, gt_path, out_path = argv
    with open(sub_path) as f:
        sub = [json.loads(line) for line in f if line.strip()]
    with open(gt_path) as f:
        gt = [json.loads(line) for line in f if line.strip()]
    with open(out_path, "w") as f:
        json.dump(evaluate(sub, gt), f)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
