"""Released predictions scored by the evaluator equal the official metrics JSON on every key (real data; skips
without ../shared/data or $TRDETR_DATA)."""

from __future__ import annotations

import json

import pytest

from trdetr_cap.eval import evaluate_files

# prediction file -> the GT it was scored against by the official standalone_eval
CASES = {
    "trdetr_val_preds": "highlight_val_release.jsonl",
    "trdetr_test_preds": "highlight_test_with_gt.jsonl",  # the paper's test row
    "momentdetr_val_preds": "highlight_val_release.jsonl",
    "momentdetr_ckpt_val_preds": "highlight_val_release.jsonl",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_released_predictions_match_official_metrics(real_data, name, tmp_path):
    preds = real_data / "reference_predictions" / f"{name}.jsonl"
    official = json.loads((real_data / "reference_predictions" / f"{name}_metrics.json").read_text())
    out = tmp_path / "metrics.json"
    evaluate_files(preds, real_data / "qvhighlights" / CASES[name], out=out)
    mine = json.loads(out.read_text())
    assert mine == official
    assert list(mine) == list(official) and list(mine["brief"]) == list(official["brief"])


def test_paper_test_row(real_data):
    m = evaluate_files(
        real_data / "reference_predictions" / "trdetr_test_preds.jsonl",
        real_data / "qvhighlights" / "highlight_test_with_gt.jsonl",
    )["brief"]
    row = [m[k] for k in ("MR-full-R1@0.5", "MR-full-R1@0.7", "MR-full-mAP@0.5", "MR-full-mAP@0.75", "MR-full-mAP")]
    row += [m["HL-min-VeryGood-mAP"], m["HL-min-VeryGood-Hit1"]]
    assert row == [64.66, 48.96, 63.98, 43.73, 42.62, 39.91, 63.42]
