"""python -m trdetr_cap.viz: which queries it draws, and its errors."""

from __future__ import annotations

import json
import re

import pytest
from plot_pixels import C0, C1, WHITE, Axes, axes_boxes, bar_height, black_pixels, load_rgb, near, tint

from trdetr_cap.commands.viz import main
from trdetr_cap.plots import top1_iou


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.fixture
def files(tmp_path):
    gt = [{"qid": q, "query": f"q{q}", "duration": 20, "relevant_windows": [[4, 8]]} for q in (1, 2, 3)]
    preds = [  # top-1 IoU with [4, 8]: qid 1 exact (1.0), qid 2 disjoint (0.0), qid 3 [4, 12] (4 / 8 = 0.5)
        {"qid": 1, "query": "q1", "pred_relevant_windows": [[4, 8, 0.9]], "pred_saliency_scores": [0.1] * 10},
        {"qid": 2, "query": "q2", "pred_relevant_windows": [[12, 16, 0.9], [4, 8, 0.5]],
         "pred_saliency_scores": [0.2] * 10},
        {"qid": 3, "query": "q3", "pred_relevant_windows": [[4, 12, 0.7]], "pred_saliency_scores": [0.3] * 10},
    ]
    return _write(tmp_path / "preds.jsonl", preds), _write(tmp_path / "gt.jsonl", gt), preds


def test_top1_iou_uses_the_first_window_only(files):
    _, _, preds = files
    assert [top1_iou(p, [[4, 8]]) for p in preds] == [1.0, 0.0, 0.5]


def test_worst_picks_the_lowest_top1_iou(files, tmp_path):
    preds, gt, _ = files
    assert main([preds, "--gt", gt, "--out", str(tmp_path / "worst"), "--worst", "2"]) == 0
    assert sorted(p.name for p in (tmp_path / "worst").iterdir()) == ["qid2.png", "qid3.png"]
    # what is drawn where (x from 0 to the 20 s duration): top-1 window tinted blue, the 2nd orange, GT band [4, 8]
    for name, blue, orange, clear in (("qid3.png", (5, 11), (), (2, 16)), ("qid2.png", (13, 15), (5, 7), (2, 10))):
        image = load_rgb(tmp_path / "worst" / name)
        (box,) = axes_boxes(image)
        ax = Axes(box, xlim=(0.0, 20.0))
        above_bars = ax.top + 5
        assert all(near(image[above_bars, ax.col(t)], tint(C0, 0.25)) for t in blue), name
        assert all(near(image[above_bars, ax.col(t)], tint(C1, 0.25)) for t in orange), name
        assert all(near(image[above_bars, ax.col(t)], WHITE) for t in clear), name
        assert black_pixels(image, ax, 6) >= 3 and black_pixels(image, ax, 2) == black_pixels(image, ax, 14) == 0
        heights = {bar_height(image, ax, t) for t in (1, 3, 9, 11, 13, 15, 17, 19)}  # equal saliency, away from GT
        assert max(heights) - min(heights) <= 1 and min(heights) > 50, (name, heights)
    assert main([preds, "--out", str(tmp_path / "first"), "--first", "1"]) == 0  # no GT: no GT band, still a plot
    assert [p.name for p in (tmp_path / "first").iterdir()] == ["qid1.png"]


def test_errors(files, tmp_path, capsys):
    preds, gt, _ = files
    assert main([preds, "--out", str(tmp_path / "o"), "--worst", "1"]) == 2
    assert "--worst needs --gt" in capsys.readouterr().err
    assert main([preds, "--gt", gt, "--out", str(tmp_path / "o"), "--qids", "1", "7"]) == 2
    err = capsys.readouterr().err
    assert "qid(s) not in" in err and err.rstrip().endswith(": 7")
    assert main([str(tmp_path / "absent.jsonl"), "--out", str(tmp_path / "o")]) == 2
    no_qid = _write(tmp_path / "no_qid.jsonl", [{"qid": 1}, {"query": "x"}])
    assert main([no_qid, "--out", str(tmp_path / "o")]) == 2
    assert "no_qid.jsonl:2: qid: missing field" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("bad, message", [
    ({"pred_relevant_windows": [[4, 8]]}, r"bad\.jsonl:2: pred_relevant_windows\[0\]: .*\[start, end, score\]"),
    ({"pred_relevant_windows": [[4, "x", 0.5]]}, r"bad\.jsonl:2: pred_relevant_windows"),
    ({"pred_saliency_scores": [0.1, None]}, r"bad\.jsonl:2: pred_saliency_scores\[1\]"),
    ({"qid": 1}, r"bad\.jsonl:2: qid: duplicate qid 1"),
])
def test_a_bad_row_is_one_line_naming_it(files, tmp_path, capsys, bad, message):
    _, _, preds = files
    path = _write(tmp_path / "bad.jsonl", [preds[0], {**preds[1], **bad}])
    assert main([path, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(message, err), err
    assert not (tmp_path / "o").exists()
