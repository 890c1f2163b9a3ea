"""Denoising training for the moment queries (DN-DETR / DINO style, as MS-DETR and DenoiseLoc apply it to moment
retrieval), and decoder anchors initialised from the encoder's saliency.

Denoising (``model.dn_groups`` > 0, training only): every ground-truth span of a sample is copied into each of G
groups, noised (centre shifted by up to ``noise * width / 2``, width scaled by a factor in ``1 +- noise``) and fed to
the decoder as an extra query whose anchor is the noised span; each is trained to reconstruct its own span (no
matching needed). The decoder's self-attention gets a mask so that the matching queries cannot see any denoising
query, and a denoising group sees only itself and the matching queries: what the matching queries compute (and so
inference, which has no denoising queries) never depends on the ground truth.

Saliency anchors (``model.anchor_init: saliency``): the clips whose encoder saliency is above the sample's mean
form contiguous runs; the runs with the largest summed excess become the first queries' initial (center, width)
anchors, the remaining queries keep their learned anchors.

Shapes: B batch, Nq matching queries, M = G * max_b(n_b) denoising queries, Lv clips.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from trdetr_cap.spans import inverse_sigmoid


@dataclass
class DenoisingQueries:
    """Denoising inputs of one batch.

    anchors (B, M, 2) noised spans (cxw, before sigmoid); targets (B, M, 2) the ground-truth span (cxw) each was
    made from; valid (B, M) bool (False = padding: a sample with fewer spans than the batch maximum);
    attn_mask (B, Nq + M, Nq + M) bool, True = the query (row) may attend to the key (column).
    """

    anchors: torch.Tensor
    targets: torch.Tensor
    valid: torch.Tensor
    attn_mask: torch.Tensor


def noise_spans(spans: torch.Tensor, noise: float) -> torch.Tensor:
    """(..., 2) cxw -> noised cxw, clamped to [0, 1]: c + U(-1, 1) * noise * w / 2, w * (1 + U(-1, 1) * noise)."""
    u = torch.rand(spans.shape, device=spans.device) * 2 - 1
    center = spans[..., 0] + u[..., 0] * noise * spans[..., 1] / 2
    width = spans[..., 1] * (1 + u[..., 1] * noise)
    return torch.stack([center, width], dim=-1).clamp(0.0, 1.0)


def denoising_attn_mask(num_queries: int, groups: int, group_size: int, valid: torch.Tensor) -> torch.Tensor:
    """(B, Nq + G*S, Nq + G*S) bool, True = allowed: matching queries see matching queries only; a denoising
    query sees the matching queries and the valid queries of its own group (and always itself).

    valid (B, G*S) bool, False = a padding denoising query (no other query attends to it).
    """
    n = num_queries + groups * group_size
    group = torch.full((n,), -1, dtype=torch.long, device=valid.device)  # -1 = matching
    group[num_queries:] = torch.arange(groups, device=valid.device).repeat_interleave(group_size)
    row, col = group[:, None], group[None, :]
    allowed = (col == -1) | (row == col)  # (n, n): every query sees the matching ones, dn ones their own group
    allowed = allowed & ~((row == -1) & (col != -1))  # matching queries never see a denoising one
    key_valid = torch.cat([valid.new_ones(valid.shape[0], num_queries), valid], dim=1)  # (B, n)
    eye = torch.eye(n, dtype=torch.bool, device=valid.device)
    return (allowed[None] & key_valid[:, None, :]) | eye[None]


def build_denoising_queries(span_labels: list[dict], num_queries: int, groups: int,
                            noise: float) -> DenoisingQueries:
    """Noised copies of every sample's ground-truth spans (``span_labels[b]["spans"]`` (n_b, 2) cxw), G groups."""
    device = span_labels[0]["spans"].device
    size = max(len(t["spans"]) for t in span_labels)
    targets = torch.zeros(len(span_labels), size, 2, device=device)
    valid = torch.zeros(len(span_labels), size, dtype=torch.bool, device=device)
    for b, t in enumerate(span_labels):
        targets[b, : len(t["spans"])] = t["spans"].float()
        valid[b, : len(t["spans"])] = True
    targets, valid = targets.repeat(1, groups, 1), valid.repeat(1, groups)
    anchors = inverse_sigmoid(noise_spans(targets, noise))
    return DenoisingQueries(anchors, targets, valid, denoising_attn_mask(num_queries, groups, size, valid))


def saliency_run_spans(scores: torch.Tensor, video_mask: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k best contiguous runs of above-mean saliency as (center, width) spans in [0, 1] of each sample's length.

    scores (B, Lv), video_mask (B, Lv) 1 = valid -> spans (B, k, 2) cxw and found (B, k) bool (False where the
    sample has fewer than k runs). A run's score is the sum of (score - mean) over its clips; best first.
    Vectorised (no host sync): runs are numbered by a cumulative sum of their starts and reduced by scatter.
    """
    valid = video_mask.bool()
    length = valid.sum(1).clamp(min=1)
    mean = (scores * valid).sum(1, keepdim=True) / length[:, None]
    on = (scores > mean) & valid
    start = on & ~F.pad(on[:, :-1], (1, 0), value=False)
    run_id = start.long().cumsum(1) * on  # 1.. per run, 0 = not in a run
    n_buckets = scores.shape[1] + 1
    excess = ((scores - mean) * on).float()
    gain = excess.new_zeros(len(scores), n_buckets).scatter_add_(1, run_id, excess)
    gain[:, 0] = 0.0
    idx = torch.arange(scores.shape[1], device=scores.device).expand_as(run_id)
    first = torch.full_like(gain, scores.shape[1], dtype=torch.long).scatter_reduce_(1, run_id, idx, "amin")
    last = torch.full_like(gain, -1, dtype=torch.long).scatter_reduce_(1, run_id, idx, "amax")
    k_eff = min(k, n_buckets)
    top_gain, top = gain.topk(k_eff, dim=1)
    first, last = first.gather(1, top).float(), last.gather(1, top).float()
    spans = torch.stack([(first + last + 1) / 2, last - first + 1], dim=-1) / length[:, None, None]
    found = top_gain > 0
    if k_eff < k:
        spans = F.pad(spans, (0, 0, 0, k - k_eff))
        found = F.pad(found, (0, k - k_eff), value=False)
    return spans, found


def saliency_anchors(scores: torch.Tensor, video_mask: torch.Tensor, learned: torch.Tensor) -> torch.Tensor:
    """Initial anchors (B, Nq, 2) before sigmoid: the best saliency runs first, the learned anchors (Nq, 2) where a
    sample has fewer runs than queries. The runs carry no gradient (a discrete choice)."""
    spans, found = saliency_run_spans(scores.detach(), video_mask, learned.shape[0])
    return torch.where(found[..., None], inverse_sigmoid(spans), learned[None].to(spans.dtype))
