"""Model outputs -> submission rows (as the original's tr_detr/inference.py:175 ``compute_mr_results``).

Faithful defaults reproduce the original: score = softmax foreground (index 0), windows = cxw -> (st, ed) scaled by the
video's ``duration``, all queries kept and sorted by score, endpoints clamped to [0, 150] and rounded to multiples of
the clip length (round half to even), scores rounded to 4 decimals, saliency cast to fp16 and cut to the valid length,
no NMS. Clip length, the clamp range, the span scale and NMS are configurable so Charades-STA and longer videos work.
Saliency stays float32 with ``saliency_fp16=False`` (configs/tvsum.yaml): the original scores TVSum on its float32
outputs, and fp16 rounding creates ties that move the top-5 mAP (docs/metrics.md).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from trdetr_cap.config import PostprocessConfig
from trdetr_cap.spans import span_cxw_to_xx, temporal_nms


def span_scales(meta: list[dict[str, Any]], span_scale: str, clip_len: float) -> torch.Tensor:
    """Seconds per unit of normalised span for each sample, (B,): ``duration`` (original) or ``feat_len * clip_len``."""
    if span_scale == "duration":
        return torch.tensor([float(m["duration"]) for m in meta], dtype=torch.float32)
    if span_scale == "feat_len":
        return torch.tensor([float(m["feat_len"]) * clip_len for m in meta], dtype=torch.float32)
    raise ValueError(f"post.span_scale must be 'duration' or 'feat_len', got {span_scale!r}")


def windows_in_seconds(
    pred_spans: torch.Tensor, meta: list[dict[str, Any]], post_cfg: PostprocessConfig, clip_len: float
) -> torch.Tensor:
    """(B, Nq, 2) cxw in [0, 1] -> (B, Nq, 2) [st, ed] seconds, clamped and (optionally) rounded to clip multiples.

    The original rounds to 4 decimals before clamping/rounding; that step is kept so the rounding ties match.
    """
    windows = span_cxw_to_xx(pred_spans.float()) * span_scales(meta, post_cfg.span_scale, clip_len)[:, None, None]
    windows = windows.round(decimals=4)
    if post_cfg.max_duration is not None:
        upper = torch.full((len(meta), 1, 1), post_cfg.max_duration)
    else:
        upper = torch.tensor([float(m["duration"]) for m in meta])[:, None, None]
    windows = windows.clamp(min=0).minimum(upper)
    if post_cfg.round_to_clip:
        windows = torch.round(windows / clip_len) * clip_len  # torch.round: half to even, as the original
    return windows


def outputs_to_submission(
    outputs: dict[str, Any], meta: list[dict[str, Any]], post_cfg: PostprocessConfig, clip_len: float
) -> list[dict[str, Any]]:
    """Turn one batch of model outputs into submission rows.

    Args:
        outputs: the model's dict; uses ``pred_logits`` (B, Nq, 2), ``pred_spans`` (B, Nq, 2) cxw,
            ``saliency_scores`` (B, Lv) and ``video_mask`` (B, Lv).
        meta: per-sample dicts with ``qid, query, vid, duration`` (and ``feat_len`` for ``span_scale=feat_len``).
        post_cfg: clamp range, rounding, span scale and NMS settings.
        clip_len: seconds per feature row.
    Returns:
        rows ``{qid, query, vid, pred_relevant_windows: [[st, ed, score], ...] (best first),
        pred_saliency_scores: [one float per valid clip]}``.
    """
    # One device->host copy per tensor: no per-sample syncs.
    scores = F.softmax(outputs["pred_logits"].float(), dim=-1)[..., 0].cpu()  # (B, Nq)
    order = torch.sort(scores, dim=1, descending=True, stable=True).indices
    scores = scores.gather(1, order)
    windows = windows_in_seconds(outputs["pred_spans"].detach().cpu(), meta, post_cfg, clip_len)
    windows = windows.gather(1, order[..., None].expand(-1, -1, 2))
    saliency = outputs["saliency_scores"].detach()
    saliency = (saliency.half() if post_cfg.saliency_fp16 else saliency.float()).cpu().tolist()
    valid_lens = outputs["video_mask"].detach().sum(1).long().cpu().tolist()

    rows = []
    for i, m in enumerate(meta):
        pairs = zip(windows[i].tolist(), scores[i].tolist(), strict=True)
        preds = [[round(st, 4), round(ed, 4), round(sc, 4)] for (st, ed), sc in pairs]
        if post_cfg.nms_thd is not None:
            preds = temporal_nms(preds[: post_cfg.max_before_nms], post_cfg.nms_thd, post_cfg.max_after_nms)
        rows.append({
            "qid": m["qid"],
            "query": m["query"],
            "vid": m["vid"],
            "pred_relevant_windows": preds,
            "pred_saliency_scores": saliency[i][: valid_lens[i]],
        })
    return rows
