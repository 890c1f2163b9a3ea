"""Faithful targets (TR-DETR's tr_detr/start_end_dataset.py:86 ``__getitem__``) on hand-made examples, and the two
data-bug switches of ``FixConfig``."""

from __future__ import annotations

import copy
import random

import numpy as np
import pytest

from trdetr_cap.config import FixConfig
from trdetr_cap.data.dataset import collate
from trdetr_cap.data.labels import make_labels

FAITHFUL, FIXED = FixConfig(), FixConfig(fix_pos_mask_overflow=True, fix_window_shuffle=True)

RECORD = {"qid": 1, "query": "q", "duration": 16, "vid": "v", "relevant_windows": [[4, 10]],
          "relevant_clip_ids": [2, 3, 4], "saliency_scores": [[1, 2, 3], [4, 4, 4], [0, 1, 0]]}


def test_qvhighlights_targets_by_hand():
    random.seed(0)
    lab = make_labels("qvhighlights", copy.deepcopy(RECORD), 8, 2.0, 5, FAITHFUL)
    # window [4, 10] s over L * clip_len = 16 s -> [0.25, 0.625] -> center 0.4375, width 0.375
    np.testing.assert_allclose(lab.spans, [[0.4375, 0.375]])
    np.testing.assert_array_equal(lab.pos_mask, [0, 0, 1, 1, 1, 0, 0, 0])
    np.testing.assert_array_equal(lab.saliency_all, [0, 0, 6, 12, 1, 0, 0, 0])  # sum of the three annotators
    assert (lab.saliency_pos[0], lab.saliency_neg[0]) == (3, 4)  # hard pair: max (12) vs min (1) inside the moment
    assert lab.saliency_pos[1] in (2, 3, 4) and lab.saliency_neg[1] in (0, 1, 5, 6, 7)  # easy pair


def test_easy_pair_draws_python_random_in_the_original_order():
    for seed in range(5):
        random.seed(seed)
        lab = make_labels("qvhighlights", copy.deepcopy(RECORD), 8, 2.0, 5, FAITHFUL)
        random.seed(seed)
        want_pos = random.sample([2, 3, 4], k=1)[0]
        want_neg = random.sample([0, 1, 5, 6, 7], k=1)[0]  # set(range(8)) - {2, 3, 4}, in set order
        assert (lab.saliency_pos[1], lab.saliency_neg[1]) == (want_pos, want_neg)


def test_ties_follow_argsort_and_full_moment_duplicates_hard_pair():
    rec = {**RECORD, "relevant_clip_ids": [0, 1, 2, 3], "saliency_scores": [[2, 2, 2]] * 4,
           "relevant_windows": [[0, 8]]}
    lab = make_labels("qvhighlights", rec, 4, 2.0, 5, FAITHFUL)
    # all sums tie at 6: np.argsort -> [0, 1, 2, 3]; positive = last, negative = first; no clip outside the moment
    assert lab.saliency_pos == [3, 3] and lab.saliency_neg == [0, 0]


def test_pos_mask_overflow_faithful_vs_fixed():
    rec = copy.deepcopy(RECORD)  # relevant clip 4 lies beyond a 4-clip video
    random.seed(1)
    faithful = make_labels("qvhighlights", rec, 4, 2.0, 5, FAITHFUL)
    random.seed(1)
    fixed = make_labels("qvhighlights", rec, 4, 2.0, 5, FIXED)
    # grew by one, and the original's copy of its empty L-long mask over the front erased clips 2 and 3
    np.testing.assert_array_equal(faithful.pos_mask, [0, 0, 0, 0, 1])
    np.testing.assert_array_equal(faithful.saliency_all, [0, 0, 6, 12, 1])
    np.testing.assert_array_equal(fixed.pos_mask, [0, 0, 1, 1])
    np.testing.assert_array_equal(fixed.saliency_all, [0, 0, 6, 12])
    assert faithful.saliency_neg[0] == fixed.saliency_neg[0] == 3  # the hard negative (clip 4) clamped to L - 1

    # in a batch with a longer video the faithful label lands on a padded clip, the fixed one does not
    def sample(lab, n):
        return {"meta": {}, "video": np.ones((n, 2), np.float32), "audio": None, "text": np.ones((1, 2), np.float32),
                "caption": None, "use_tef": True, "labels": lab}
    other = make_labels("qvhighlights", {**RECORD, "relevant_windows": [[0, 2]], "relevant_clip_ids": [0],
                                         "saliency_scores": [[1, 1, 1]]}, 6, 2.0, 5, FAITHFUL)
    b_faithful = collate([sample(faithful, 4), sample(other, 6)])["targets"]
    b_fixed = collate([sample(fixed, 4), sample(other, 6)])["targets"]
    assert b_faithful["src_pos_mask"][0].tolist() == [0, 0, 0, 0, 1, 0]
    assert b_fixed["src_pos_mask"][0].tolist() == [0, 0, 1, 1, 0, 0]
    assert b_faithful["saliency_all_labels"][0].tolist() == [0, 0, 6, 12, 1, 0]
    assert b_faithful["src_pos_mask"].shape == (2, 6)


def test_window_shuffle_in_place_faithful_vs_copy_fixed():
    windows = [[2 * i, 2 * i + 2] for i in range(0, 14, 2)]  # 7 windows > max_windows = 5
    faithful_rec = {**RECORD, "relevant_windows": copy.deepcopy(windows)}
    fixed_rec = {**RECORD, "relevant_windows": copy.deepcopy(windows)}
    random.seed(3)
    lab_faithful = make_labels("qvhighlights", faithful_rec, 16, 2.0, 5, FAITHFUL)
    random.seed(3)
    lab_fixed = make_labels("qvhighlights", fixed_rec, 16, 2.0, 5, FIXED)
    assert fixed_rec["relevant_windows"] == windows  # annotation untouched
    assert faithful_rec["relevant_windows"] != windows  # shuffled in the annotation itself
    assert sorted(faithful_rec["relevant_windows"]) == windows
    np.testing.assert_array_equal(lab_faithful.spans, lab_fixed.spans)  # same draws, same 5 windows this epoch
    first5 = np.asarray(faithful_rec["relevant_windows"][:5], np.float32) / 32
    np.testing.assert_allclose(lab_faithful.spans[:, 0], first5.mean(1))
    np.testing.assert_allclose(lab_faithful.spans[:, 1], first5[:, 1] - first5[:, 0])


def test_tvsum_targets_by_hand():
    label = [[2.0] * 20, [1.0] * 20, [5.0] * 20, [3.0] * 20]  # agg = sum(score - 1) = 20, 0, 80, 40
    lab = make_labels("tvsum", {"label": label}, 4, 2.0, 5, FAITHFUL)
    np.testing.assert_allclose(lab.saliency_all, [3, 0, 12, 6])  # agg / 80 * 12
    np.testing.assert_array_equal(lab.pos_mask, [0, 0, 1, 1])  # top half by agg
    assert lab.saliency_pos == [2] and lab.saliency_neg == [1]
    np.testing.assert_array_equal(lab.spans, [[0, 0]])
    short = make_labels("tvsum", {"label": label}, 3, 2.0, 5, FAITHFUL)  # features shorter than the labels
    np.testing.assert_allclose(short.saliency_all, [3, 0, 12])
    np.testing.assert_array_equal(short.pos_mask, [1, 0, 1])  # argsort [1, 0, 2][1:]


def test_charades_targets_by_hand():
    rec = {"qid": 0, "query": "q", "duration": 19.5, "vid": "v", "relevant_windows": [[3.1, 9.0]]}
    random.seed(0)
    lab = make_labels("charades", rec, 10, 2.0, 5, FAITHFUL)
    np.testing.assert_allclose(lab.spans, [[(3.1 + 9.0) / 2 / 20, 5.9 / 20]], rtol=1e-6)
    np.testing.assert_array_equal(lab.pos_mask, [0, 0, 1, 1, 1, 0, 0, 0, 0, 0])  # clip centres 5, 7, 9 s
    np.testing.assert_array_equal(lab.saliency_all, 12 * lab.pos_mask)
    assert set(lab.saliency_pos) <= {2, 3, 4} and not set(lab.saliency_neg) & {2, 3, 4}
    assert len(set(lab.saliency_pos)) == 2
    beyond = make_labels("charades", {**rec, "relevant_windows": [[15.0, 30.0]]}, 10, 2.0, 5, FAITHFUL)
    np.testing.assert_allclose(beyond.spans, [[0.875, 0.25]])  # window clipped to the 20 s of features


@pytest.mark.parametrize("dataset", ["qvhighlights", "charades"])
def test_pairs_per_sample(dataset):
    rec = RECORD if dataset == "qvhighlights" else {"relevant_windows": [[4.0, 10.0]]}
    lab = make_labels(dataset, copy.deepcopy(rec), 8, 2.0, 5, FAITHFUL)
    assert len(lab.saliency_pos) == len(lab.saliency_neg) == 2
