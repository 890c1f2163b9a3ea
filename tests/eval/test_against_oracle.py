"""The vectorised evaluator equals the per-query oracle (tests/eval/qvh_oracle.py) on randomised submissions full of
edge cases: tied scores and IoUs, unsorted and > 10 windows, zero-length / out-of-range windows, duplicate and
adjacent GT windows, saliency lists shorter or longer than the video, all-negative / all-positive GT, MR-only and
HD-only submissions."""

from __future__ import annotations

import random

import pytest
import qvh_oracle as oracle

from trdetr_cap.eval import evaluate


def random_gt_row(rng: random.Random, qid: int) -> dict:
    duration = rng.choice([150, 150, 120, 37, 151, 149.5])
    windows = []
    for _ in range(rng.choice([1, 1, 2, 3, 6, 12])):
        length = rng.choice([2, 4, 10, 12, 20, 30, 32, 50, 150])
        start = rng.randrange(0, max(2, 151 - length), 2)
        windows.append([start, start + length])
    if rng.random() < 0.2:  # adjacent windows: their union has IoU exactly 0.5 with both
        s, n = rng.randrange(0, 100, 2), rng.choice([4, 10, 20])
        windows += [[s, s + n], [s + n, s + 2 * n]]
    if rng.random() < 0.15:
        windows.append(list(windows[0]))
    n_clips = int(duration / 2)
    clip_ids = sorted(rng.sample(range(n_clips), rng.randint(1, n_clips)))
    kind = rng.random()
    if kind < 0.1:  # every clip a 4: all-positive GT at every level
        clip_ids, scores = list(range(n_clips)), [[4, 4, 4]] * n_clips
    elif kind < 0.2:  # nothing >= 2: all-negative GT at every level
        scores = [[rng.randint(0, 1) for _ in range(3)] for _ in clip_ids]
    else:
        scores = [[rng.randint(0, 4) for _ in range(3)] for _ in clip_ids]
    rng.shuffle(windows)
    return {
        "qid": qid,
        "duration": duration,
        "relevant_windows": windows,
        "relevant_clip_ids": clip_ids,
        "saliency_scores": scores,
    }


def random_windows(rng: random.Random, gt_windows: list) -> list:
    windows = []
    for _ in range(rng.choice([1, 2, 5, 10, 10, 13])):
        r = rng.random()
        if r < 0.3:
            st, ed = rng.choice(gt_windows)
            st, ed = st - rng.choice([0, 2]), ed + rng.choice([0, 2, 4])
        elif r < 0.4 and len(gt_windows) > 1:
            st, ed = min(gt_windows[0][0], gt_windows[1][0]), max(gt_windows[0][1], gt_windows[1][1])
        elif r < 0.5:
            st = ed = rng.randrange(0, 150, 2)  # zero length
        elif r < 0.6:
            st, ed = round(rng.uniform(-20, 10), 1), round(rng.uniform(140, 200), 1)  # out of range
        else:
            st = rng.randrange(0, 148, 2)
            ed = st + rng.choice([2, 6, 10, 20, 40])
        windows.append([st, ed, rng.choice([0.5, round(rng.random(), 1), round(rng.random(), 4)])])
    if rng.random() < 0.5:
        windows.sort(key=lambda w: -w[2])
    return windows


def random_saliency(rng: random.Random, n_clips: int) -> list:
    length = max(1, n_clips + rng.choice([0, 0, -1, -5, 2, 1 - n_clips]))
    r = rng.random()
    if r < 0.2:
        return [0.0] * length
    if r < 0.5:
        return [float(rng.randint(-2, 2)) for _ in range(length)]  # many ties
    return [round(rng.gauss(0, 1), 3) for _ in range(length)]


def random_case(seed: int, num_queries: int = 20) -> tuple[list, list]:
    rng = random.Random(seed)
    tasks = rng.choice(["both", "both", "mr", "hd"])
    gt = [random_gt_row(rng, q) for q in range(num_queries)]
    sub = []
    for g in gt:
        row = {"qid": g["qid"]}
        if tasks != "hd":
            row["pred_relevant_windows"] = random_windows(rng, g["relevant_windows"])
        if tasks != "mr":
            row["pred_saliency_scores"] = random_saliency(rng, int(g["duration"] / 2))
        sub.append(row)
    rng.shuffle(sub)
    return sub, gt


@pytest.mark.parametrize("seed", range(24))
def test_vectorised_equals_per_query_oracle(seed):
    sub, gt = random_case(seed)
    expected = oracle.evaluate(sub, gt)
    got = evaluate(sub, gt)
    # rounding to 2 decimals may flip on a last-bit difference of summation order; allow that, nothing more
    assert list(got) == list(expected) and list(got["brief"]) == list(expected["brief"])
    for key, section in expected.items():
        for name, value in section.items():
            if isinstance(value, dict):
                assert got[key][name] == pytest.approx(value, abs=0.011), (key, name)
            else:
                assert got[key][name] == pytest.approx(value, abs=0.011), (key, name)
