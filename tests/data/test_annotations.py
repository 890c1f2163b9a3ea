"""Annotation loading: the real files of all three datasets, and each bad-input path."""

from __future__ import annotations

import functools
import json

import pytest

from trdetr_cap.config import FixConfig
from trdetr_cap.data.annotations import AnnotationError, filter_tvsum_domain, load_annotations
from trdetr_cap.data.labels import make_labels


@functools.cache
def _load(path, dataset):
    return load_annotations(path, dataset)


@pytest.mark.parametrize("rel, dataset, n_rows, labelled", [
    ("qvhighlights/highlight_train_release.jsonl", "qvhighlights", 7218, True),
    ("qvhighlights/highlight_val_release.jsonl", "qvhighlights", 1550, True),
    ("qvhighlights/highlight_test_release.jsonl", "qvhighlights", 1542, False),
    ("qvhighlights/highlight_test_with_gt.jsonl", "qvhighlights", 1542, True),
    ("charades_sta/charades_sta_train_tvr_format.jsonl", "charades", 12404, True),
    ("charades_sta/charades_sta_val_tvr_format.jsonl", "charades", 3720, True),
    ("tvsum/tvsum_train.jsonl", "tvsum", 40, True),
    ("tvsum/tvsum_val.jsonl", "tvsum", 10, True),
])
def test_real_files_load(real_data, rel, dataset, n_rows, labelled):
    records, is_labelled = _load(real_data / rel, dataset)
    assert len(records) == n_rows
    assert is_labelled == labelled


def test_real_labels_are_well_formed(real_data):
    """Labels of every real val row (L = duration / 2 as for the released features): shapes and ranges."""
    qvh, _ = _load(real_data / "qvhighlights/highlight_val_release.jsonl", "qvhighlights")
    for r in qvh:
        n = min(int(r["duration"] // 2), 75)
        lab = make_labels("qvhighlights", r, n, 2.0, 5, FixConfig())
        assert len(lab.pos_mask) == n and lab.spans.shape[1] == 2 and len(lab.spans) <= 5
        assert lab.saliency_all.min() >= 0 and lab.saliency_all.max() <= 12
        assert all(0 <= i < n for i in lab.saliency_neg)
    charades, _ = _load(real_data / "charades_sta/charades_sta_train_tvr_format.jsonl", "charades")
    longest = max(charades, key=lambda r: r["duration"])
    assert longest["duration"] > 190  # the original cannot load these at all
    n = int(-(-longest["duration"] // 2))
    lab = make_labels("charades", longest, n, 2.0, 5, FixConfig())
    assert lab.spans[0, 0] - lab.spans[0, 1] / 2 >= 0 and lab.spans[0, 0] + lab.spans[0, 1] / 2 <= 1
    tvsum, _ = _load(real_data / "tvsum/tvsum_train.jsonl", "tvsum")
    assert len(filter_tvsum_domain(tvsum, "BK", "tvsum_train.jsonl")) == 4


GOOD = {"qid": 1, "query": "a dog", "duration": 150, "vid": "v1", "relevant_windows": [[0, 4]],
        "relevant_clip_ids": [0, 1], "saliency_scores": [[1, 2, 3], [4, 4, 4]]}


@pytest.mark.parametrize("change, field", [
    ({"qid": "1"}, "qid"),
    ({"query": None}, "query"),
    ({"duration": -1}, "duration"),
    ({"relevant_windows": [[4, 2]]}, "relevant_windows"),
    ({"relevant_windows": [[0, 4, 6]]}, "relevant_windows"),
    ({"relevant_clip_ids": [0, -1]}, "relevant_clip_ids"),
    ({"saliency_scores": [[1, 2, 3], [4, 5, 4]]}, "saliency_scores"),
    ({"saliency_scores": [[1, 2, 3]]}, "saliency_scores"),
    ({"vid": None}, "vid"),
])
def test_bad_field_names_file_line_field(tmp_path, change, field):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps(GOOD) + "\n\n" + json.dumps({**GOOD, **change}) + "\n")
    with pytest.raises(AnnotationError) as e:
        load_annotations(path, "qvhighlights")
    assert f"{path}:3: field {field!r}" in str(e.value)


def test_missing_field_bad_json_and_mixed_labels(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({k: v for k, v in GOOD.items() if k != "vid"}) + "\n")
    with pytest.raises(AnnotationError, match=r"a.jsonl:1: field 'vid': missing"):
        load_annotations(path, "qvhighlights")
    path.write_text(json.dumps(GOOD) + "\n{oops\n")
    with pytest.raises(AnnotationError, match=r"a.jsonl:2: not valid JSON"):
        load_annotations(path, "qvhighlights")
    unlabelled = {k: GOOD[k] for k in ("qid", "query", "duration", "vid")}
    path.write_text(json.dumps(GOOD) + "\n" + json.dumps(unlabelled) + "\n")
    with pytest.raises(AnnotationError, match=r"a.jsonl:2: field 'relevant_windows'"):
        load_annotations(path, "qvhighlights")
    path.write_text("\n")
    with pytest.raises(AnnotationError, match="no annotation rows"):
        load_annotations(path, "qvhighlights")
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        load_annotations(tmp_path / "nope.jsonl", "qvhighlights")


def test_charades_and_tvsum_validation(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"qid": 0, "query": "q", "duration": 33.67, "vid": "AO8RW",
                                "relevant_windows": [[0.0, 6.9]]}) + "\n")
    records, labelled = load_annotations(path, "charades")
    assert labelled and records[0]["relevant_windows"] == [[0.0, 6.9]]
    row = {"qid": "x", "vid": "x", "query": "t", "duration": 2, "domain": "BK", "label": [[1.0] * 20, [5.0] * 20]}
    path.write_text(json.dumps({**row, "label": [[1.0] * 19]}) + "\n")
    with pytest.raises(AnnotationError, match=r"c.jsonl:1: field 'label'"):
        load_annotations(path, "tvsum")
    path.write_text(json.dumps({**row, "domain": "XX"}) + "\n")
    with pytest.raises(AnnotationError, match=r"c.jsonl:1: field 'domain'"):
        load_annotations(path, "tvsum")
    path.write_text(json.dumps(row) + "\n")
    records, _ = load_annotations(path, "tvsum")
    with pytest.raises(AnnotationError, match="no rows with domain 'VU'"):
        filter_tvsum_domain(records, "VU", path)


@pytest.mark.parametrize("second, message", [
    ({**GOOD, "relevant_windows": [[4, 8]]}, r"a\.jsonl:3: qid: duplicate qid 1 \(first at line 1\)"),
    ({**GOOD, "qid": 2, "duration": 10, "relevant_clip_ids": [0, 5], "relevant_windows": [[0, 4]]},
     r"a\.jsonl:3: relevant_clip_ids\[1\]: clip 5 outside \[0, 5\)"),
    ({**GOOD, "qid": 2, "relevant_clip_ids": [1, 1]}, r"a\.jsonl:3: relevant_clip_ids\[1\]: clip 1 listed twice"),
    ({**GOOD, "qid": 2, "duration": 1.5, "relevant_windows": [[0, 1]], "relevant_clip_ids": [0],
      "saliency_scores": [[1, 1, 1]]}, r"a\.jsonl:3: duration: 1\.5 s is shorter than one 2 s clip"),
])
def test_the_evaluators_checks_run_when_the_file_is_loaded(tmp_path, second, message):
    """What the evaluator would refuse at the first evaluation (epochs in) is refused at load, naming file:line."""
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps(GOOD) + "\n\n" + json.dumps(second) + "\n")
    with pytest.raises(AnnotationError, match=message):
        load_annotations(path, "qvhighlights")


def test_duplicate_qid_in_an_unlabelled_file(tmp_path):
    path = tmp_path / "test.jsonl"
    row = {k: GOOD[k] for k in ("qid", "query", "duration", "vid")}
    path.write_text(json.dumps(row) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(AnnotationError, match=r"test\.jsonl:2: qid: duplicate qid 1"):
        load_annotations(path, "qvhighlights")
