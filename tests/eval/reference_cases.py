"""Seeded Charades-STA and TVSum submissions for the cross-check against the field's evaluators.

test_reference_evaluators.py scores these rows with trdetr_cap.eval and compares with numbers that the reference
evaluators produced on the very same rows, run outside the repository (the rows are rebuilt from the seed there, by
importing this file). Only numpy's seeded Generator is used, so the rows are the same on every machine.

Charades-STA: one GT window per query (as in the dataset), 1..10 predicted windows listed best first with distinct
scores, a quarter of the rows with fewer than 5 windows, and many windows whose IoU is *exactly* 0.3, 0.5 or 0.7 in
decimal arithmetic (contained, containing and shifted windows, e.g. [0, 4.95] against [0, 9.9]), placed first, within
the first 5 or beyond them.

TVSum: 20 annotators scoring 1..5 per clip; videos of 6..16 clips whose saliency has ties in the top 5 (few distinct
values), longer videos with distinct float32 scores, and some predictions shorter than the labels.
"""

from __future__ import annotations

import numpy as np

THRESHOLDS = (0.3, 0.5, 0.7)


def _on_threshold(rng: np.random.Generator, gt: list[float], t: float) -> list[float]:
    """A window whose IoU with ``gt`` is exactly ``t`` in decimals (the float result may land just below t)."""
    st, ed = gt
    length = round(ed - st, 2)
    kind = rng.integers(3)
    if kind == 0:  # contained, sharing the start or the end
        inner = round(t * length, 2)
        return [st, round(st + inner, 2)] if rng.integers(2) else [round(ed - inner, 2), ed]
    if kind == 1:  # containing: length / (length + extra) = t
        extra = round(length * (1 - t) / t, 2)
        return [round(st - extra, 2), ed] if rng.integers(2) else [st, round(ed + extra, 2)]
    # shifted by d: (length - d) / (length + d) = t
    d = round(length * (1 - t) / (1 + t), 2)
    return [round(st + d, 2), round(ed + d, 2)]


def _gt_window(rng: np.random.Generator, duration: float) -> list[float]:
    """Lengths that make the on-threshold windows exact: multiples of 2.1 s (0.3 and 0.7 divide them) or of 0.3 s."""
    length = float(rng.choice([2.1 * rng.integers(1, 6), 0.3 * rng.integers(10, 60)]))
    length = round(min(length, duration - 1.0), 2)
    st = round(float(rng.uniform(1.0, duration - length)), 2) if duration - length > 1.0 else 0.0
    return [st, round(st + length, 2)]


def charades_case(seed: int = 0, num_queries: int = 300, on_threshold: float = 0.35) -> tuple[list[dict], list[dict]]:
    """(gt_rows, submission_rows) in the project's jsonl layout; ``on_threshold``: share of on-threshold windows."""
    rng = np.random.default_rng(seed)
    gt_rows, sub_rows = [], []
    for qid in range(num_queries):
        duration = round(float(rng.uniform(15.0, 45.0)), 2)
        gt = _gt_window(rng, duration)
        n = int(rng.integers(1, 5)) if rng.random() < 0.25 else int(rng.integers(5, 11))
        windows = []
        for _ in range(n):
            r = rng.random()
            if r < on_threshold:
                windows.append(_on_threshold(rng, gt, float(rng.choice(THRESHOLDS))))
            elif r < on_threshold + 0.1:  # zero-length window (the original post-processing can emit them)
                p = round(float(rng.uniform(0, duration)), 2)
                windows.append([p, p])
            else:
                a, b = sorted(np.round(rng.uniform(0, duration, 2), 2).tolist())
                windows.append([a, b])
        scores = np.sort(rng.choice(np.arange(1, 10000), n, replace=False))[::-1] / 10000
        preds = [[float(a), float(b), float(s)] for (a, b), s in zip(windows, scores.tolist(), strict=True)]
        gt_rows.append({"qid": qid, "vid": f"v{qid}", "duration": duration, "relevant_windows": [gt]})
        sub_rows.append({"qid": qid, "vid": f"v{qid}", "pred_relevant_windows": preds})
    return gt_rows, sub_rows


TVSUM_DOMAINS = ("BK", "BT", "DS", "FM", "GA")


def tvsum_case(seed: int = 0, videos_per_domain: int = 6, long_ties: bool = False) -> tuple[list[dict], list[dict]]:
    """(gt_rows, submission_rows); predictions are float32 values (as a model's outputs). ``long_ties``: the long
    videos get tied scores too (there the references' order on ties is that of C++ ``std::sort``)."""
    rng = np.random.default_rng(seed)
    gt_rows, sub_rows = [], []
    for domain in TVSUM_DOMAINS:
        for v in range(videos_per_domain):
            qid = f"{domain}{v}"
            short = v % 2 == 0  # <= 16 clips: the sizes where torch.argsort keeps ties in index order
            n = int(rng.integers(6, 17)) if short else int(rng.integers(20, 80))
            label = rng.integers(1, 6, size=(n, 20)).tolist()
            if short or long_ties:
                levels = np.float32([0.1, 0.25, 0.25, 0.5, 0.75])  # few values: ties across the top-5 boundary
                pred = rng.choice(levels, n)
            else:
                pred = rng.normal(size=n).astype(np.float32)
            if rng.random() < 0.2:
                pred = pred[: max(1, n - int(rng.integers(1, 4)))]  # features shorter than the labels
            gt_rows.append({"qid": qid, "vid": qid, "domain": domain, "duration": 2.0 * n, "label": label})
            sub_rows.append({"qid": qid, "vid": qid, "pred_saliency_scores": [float(x) for x in pred]})
    return gt_rows, sub_rows
