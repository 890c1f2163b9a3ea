"""Post-processing rules (TR-DETR's tr_detr/inference.py and postprocessing_tr_detr.py) on hand-made model outputs,
expected values computed by hand."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from trdetr_cap.config import PostprocessConfig
from trdetr_cap.engine.postprocess import outputs_to_submission
from trdetr_cap.spans import temporal_nms


def _outputs(fg_logits, spans, saliency, valid_lens):
    """Build the model-output dict: foreground logit per query (background logit 0), cxw spans, saliency, mask."""
    fg = torch.tensor(fg_logits, dtype=torch.float32)
    logits = torch.stack([fg, torch.zeros_like(fg)], dim=-1)
    sal = torch.tensor(saliency, dtype=torch.float32)
    mask = torch.zeros_like(sal)
    for i, n in enumerate(valid_lens):
        mask[i, :n] = 1
    return {"pred_logits": logits, "pred_spans": torch.tensor(spans), "saliency_scores": sal, "video_mask": mask}


META = [
    {"qid": 7, "query": "a dog runs", "vid": "v1", "duration": 150, "feat_len": 75},
    {"qid": 8, "query": "a cat", "vid": "v2", "duration": 10, "feat_len": 5},
]


def _two_samples():
    ln3 = math.log(3.0)
    return _outputs(
        fg_logits=[[0.0, ln3, -ln3], [ln3, 0.0, 0.0]],
        spans=[[[0.5, 0.2], [0.1, 0.3], [0.95, 0.2]], [[0.4, 0.2], [0.5, 1.0], [0.25, 0.1]]],
        saliency=[[0.1, 0.2, 0.3], [1.0, -2.0, 0.5]],
        valid_lens=[3, 2],
    )


def test_faithful_defaults_scale_clamp_round_sort():
    rows = outputs_to_submission(_two_samples(), META, PostprocessConfig(), clip_len=2.0)
    assert [r["qid"] for r in rows] == [7, 8]
    assert rows[0]["query"] == "a dog runs" and rows[0]["vid"] == "v1"
    # sample 0 (duration 150): scores sigmoid(ln3)=0.75, sigmoid(0)=0.5, sigmoid(-ln3)=0.25 -> already in order 1, 0, 2
    #   [0.1, 0.3] -> [-7.5, 37.5] -> clamp [0, 37.5] -> 37.5 / 2 = 18.75 -> 19 * 2 = 38
    #   [0.5, 0.2] -> [60, 90]
    #   [0.95, 0.2] -> [127.5, 157.5] -> clamp [127.5, 150] -> 63.75 -> 64 * 2 = 128, 150
    assert rows[0]["pred_relevant_windows"] == [[0.0, 38.0, 0.75], [60.0, 90.0, 0.5], [128.0, 150.0, 0.25]]
    # sample 1 (duration 10): 0.75 first, then the two 0.5 ties keep their query order (stable sort)
    #   [0.4, 0.2] -> [3, 5] -> 1.5, 2.5 -> half to even: 2, 2 -> [4, 4] (zero-length, as the original)
    #   [0.5, 1.0] -> [0, 10];  [0.25, 0.1] -> [2, 3] -> 1, 1.5 -> 1, 2 -> [2, 4]
    assert rows[1]["pred_relevant_windows"] == [[4.0, 4.0, 0.75], [0.0, 10.0, 0.5], [2.0, 4.0, 0.5]]
    # saliency: fp16 values, cut to the valid length
    assert rows[0]["pred_saliency_scores"] == [0.0999755859375, 0.199951171875, 0.300048828125]
    assert rows[1]["pred_saliency_scores"] == [1.0, -2.0]


def test_feat_len_scale_no_rounding_and_per_video_clamp():
    cfg = PostprocessConfig(span_scale="feat_len", round_to_clip=False, max_duration=None)
    rows = outputs_to_submission(_two_samples(), META, cfg, clip_len=2.0)
    # sample 0: scale = 75 * 2 = 150, same as duration; without rounding 37.5 and 127.5 stay
    assert rows[0]["pred_relevant_windows"] == [[0.0, 37.5, 0.75], [60.0, 90.0, 0.5], [127.5, 150.0, 0.25]]
    # sample 1: scale = 5 * 2 = 10; clamp at its own duration 10
    assert rows[1]["pred_relevant_windows"] == [[3.0, 5.0, 0.75], [0.0, 10.0, 0.5], [2.0, 3.0, 0.5]]


def test_charades_style_clip_len_and_max_duration():
    meta = [{"qid": 1, "query": "q", "vid": "c", "duration": 30.0, "feat_len": 30}]
    out = _outputs([[2.0]], [[[0.5, 0.5]]], [[0.0] * 30], [30])
    cfg = PostprocessConfig(max_duration=None)
    rows = outputs_to_submission(out, meta, cfg, clip_len=1.0)
    # [0.25, 0.75] * 30 = [7.5, 22.5] -> multiples of 1 s, half to even: [8, 22]; score sigmoid(2) = 0.8808
    assert rows[0]["pred_relevant_windows"] == [[8.0, 22.0, 0.8808]]
    assert len(rows[0]["pred_saliency_scores"]) == 30


def test_bad_span_scale_is_rejected():
    with pytest.raises(ValueError, match="span_scale"):
        outputs_to_submission(_two_samples(), META, PostprocessConfig(span_scale="seconds"), clip_len=2.0)


def test_temporal_nms_hull_iou():
    windows = [[20.0, 30.0, 0.7], [0.0, 10.0, 0.9], [2.0, 10.0, 0.8], [8.0, 22.0, 0.6]]
    # best [0, 10]: [2, 10] overlaps 8 / hull 10 = 0.8 > 0.5 -> dropped; [8, 22]: 2 / 22 -> kept
    # next [20, 30]: [8, 22] overlaps 2 / hull 22 -> kept
    assert temporal_nms(windows, nms_thd=0.5, max_after_nms=10) == [
        [0.0, 10.0, 0.9], [20.0, 30.0, 0.7], [8.0, 22.0, 0.6]]
    assert temporal_nms(windows, nms_thd=0.5, max_after_nms=2) == [[0.0, 10.0, 0.9], [20.0, 30.0, 0.7]]
    # zero-length hull never suppresses
    assert len(temporal_nms([[4.0, 4.0, 0.9], [4.0, 4.0, 0.8]], 0.1, 10)) == 2


def test_nms_applied_in_submission():
    meta = [{"qid": 1, "query": "q", "vid": "v", "duration": 100, "feat_len": 50}]
    # windows [0, 20] (0.88), [0, 16] (0.73), [60, 80] (0.5): the second is suppressed at 0.7 (16 / 20 = 0.8)
    out = _outputs([[2.0, 1.0, 0.0]], [[[0.1, 0.2], [0.08, 0.16], [0.7, 0.2]]], [[0.0] * 50], [50])
    rows = outputs_to_submission(out, meta, PostprocessConfig(nms_thd=0.7), clip_len=2.0)
    assert rows[0]["pred_relevant_windows"] == [[0.0, 20.0, 0.8808], [60.0, 80.0, 0.5]]
    rows = outputs_to_submission(out, meta, PostprocessConfig(nms_thd=0.7, max_before_nms=1), clip_len=2.0)
    assert rows[0]["pred_relevant_windows"] == [[0.0, 20.0, 0.8808]]


def _tvsum_outputs(saliency):
    return _outputs([[0.0]], [[[0.5, 0.5]]], [saliency], [len(saliency)])


def test_tvsum_config_scores_float32_saliency_and_qvhighlights_keeps_fp16():
    from trdetr_cap.config import load_config
    from trdetr_cap.eval import evaluate

    configs = Path(__file__).resolve().parents[2] / "configs"
    assert load_config(configs / "qvhighlights.yaml").post.saliency_fp16  # the original's QVH files: fp16
    tvsum_post = load_config(configs / "tvsum.yaml").post
    assert not tvsum_post.saliency_fp16
    # labels 1..6 (one annotator): lower median 3 -> clips 3, 4, 5 positive. Clips 5 and 0 differ by 1e-4, which
    # fp16 (spacing 2^-10 at 1) rounds away: both become 1.0 and the tie puts clip 0 first.
    saliency = [1.0001, 0.6, 0.1, 0.5, 0.7, 1.0002]
    gt = [{"qid": "v", "vid": "v", "domain": "BK", "duration": 12.0, "label": [[1], [2], [3], [4], [5], [6]]}]
    meta = [{"qid": "v", "query": "", "vid": "v", "duration": 12.0}]
    rows = outputs_to_submission(_tvsum_outputs(saliency), meta, tvsum_post, clip_len=2.0)
    assert rows[0]["pred_saliency_scores"] == torch.tensor(saliency).tolist()  # float32, unrounded
    # ranking 5, 0, 4, 1, 3: hits 1 0 1 0 1 -> (1 + 1) / 6 + (1/2 + 2/3) / 6 + (1/2 + 3/5) / 6 = 128 / 180
    assert evaluate(rows, gt)["brief"]["mAP"] == 71.11
    fp16_rows = outputs_to_submission(_tvsum_outputs(saliency), meta, PostprocessConfig(), clip_len=2.0)
    assert fp16_rows[0]["pred_saliency_scores"][0] == fp16_rows[0]["pred_saliency_scores"][5] == 1.0
    # fp16: ranking 0, 5, 4, 1, 3: hits 0 1 1 0 1 -> (0 + 1/2) / 6 + (1/2 + 2/3) / 6 + (1/2 + 3/5) / 6 = 83 / 180
    assert evaluate(fp16_rows, gt)["brief"]["mAP"] == 46.11
