"""TR-DETR losses (the original's SetCriterion, tr_detr/model.py:251, plus tr_detr/loss_fun/CTCLoss.py and
VTCLoss.py, which it adds in tr_detr/train.py:75-83), all inside one criterion so each is logged separately.

Moment losses per decoder layer (aux layers suffixed ``_0``, ``_1``, ...): ``loss_span`` (L1 on cxw),
``loss_giou`` (1 - gIoU on start/end), ``loss_label`` (sigmoid focal over both logits) and the logged-only
``class_error``. Final layer only: ``loss_saliency`` (rank-aware contrastive + margin ranking), ``loss_vtc``
(video-text InfoNCE), ``loss_ctc`` (clip-text BCE) and, with captions, ``loss_cap_align``.
``criterion(outputs, targets)`` returns the unweighted losses; ``criterion.weight_dict`` their weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trdetr_cap.config import Config
from trdetr_cap.models.matcher import HungarianMatcher
from trdetr_cap.spans import generalized_temporal_iou, span_cxw_to_xx

RANK_THRESHOLDS = tuple(range(1, 12))  # saliency labels are the sum of 3 annotators (0..12)
ORIGINAL_RANK_DIVISOR = 12  # the original divides the sum over 11 thresholds by 12


def sigmoid_focal_loss(logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25,
                       gamma: float = 2.0) -> torch.Tensor:
    """Element-wise focal loss: alpha_t * (1 - p_t)^gamma * BCE(logits, targets), same shape as ``logits``."""
    prob = logits.sigmoid()
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = prob * targets + (1 - prob) * (1 - targets)
    alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
    return alpha_t * (1 - p_t) ** gamma * bce


def matched_index(indices: list[tuple[torch.Tensor, torch.Tensor]], device: torch.device) -> tuple[torch.Tensor,
                                                                                                     torch.Tensor]:
    """Matcher output -> (batch index, query index) of every matched prediction."""
    batch = torch.cat([torch.full_like(src, i) for i, (src, _) in enumerate(indices)])
    query = torch.cat([src for src, _ in indices])
    return batch.to(device), query.to(device)


def label_losses(pred_logits: torch.Tensor, indices: list, alpha: float, gamma: float) -> dict[str, torch.Tensor]:
    """Focal loss on both logits of every query (target logit 0 = matched, logit 1 = unmatched), averaged over
    B * 2 * Nq; ``class_error`` = 100 - % of matched queries whose argmax is foreground (index 0)."""
    logits = pred_logits.float()
    idx = matched_index(indices, logits.device)
    foreground = torch.zeros(logits.shape[:2], device=logits.device)
    foreground[idx] = 1.0
    targets = torch.stack([foreground, 1 - foreground], dim=-1)
    loss = sigmoid_focal_loss(logits, targets, alpha, gamma).mean()
    with torch.no_grad():
        matched = logits[idx]
        accuracy = (matched.argmax(-1) == 0).float().mean() * 100 if len(matched) else logits.new_tensor(100.0)
    return {"loss_label": loss, "class_error": 100 - accuracy}


def span_losses(pred_spans: torch.Tensor, span_labels: list[dict], indices: list) -> dict[str, torch.Tensor]:
    """Mean L1 on matched (center, width) pairs and mean 1 - gIoU on their (start, end)."""
    src = pred_spans.float()[matched_index(indices, pred_spans.device)]
    tgt = torch.cat([t["spans"][j] for t, (_, j) in zip(span_labels, indices, strict=True)]).to(src)
    giou = torch.diag(generalized_temporal_iou(span_cxw_to_xx(src), span_cxw_to_xx(tgt)))
    return {"loss_span": F.l1_loss(src, tgt), "loss_giou": (1 - giou).mean()}


def denoising_losses(pred_logits: torch.Tensor, pred_spans: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor,
                     alpha: float, gamma: float) -> dict[str, torch.Tensor]:
    """Losses of the denoising queries against the span each was made from (no matching): L1 on cxw, 1 - gIoU and
    the focal loss with target foreground, each averaged over the valid queries.

    pred_logits (B, M, 2), pred_spans (B, M, 2) cxw, targets (B, M, 2) cxw, valid (B, M) bool.
    """
    src, tgt = pred_spans.float()[valid], targets.float()[valid]
    giou = torch.diag(generalized_temporal_iou(span_cxw_to_xx(src), span_cxw_to_xx(tgt)))
    logits = pred_logits.float()[valid]
    labels = torch.stack([torch.ones_like(logits[:, 0]), torch.zeros_like(logits[:, 0])], dim=-1)
    return {"loss_span": F.l1_loss(src, tgt), "loss_giou": (1 - giou).mean(),
            "loss_label": sigmoid_focal_loss(logits, labels, alpha, gamma).mean()}


def rank_contrastive_loss(scores: torch.Tensor, labels: torch.Tensor, video_mask: torch.Tensor, tau: float = 0.5,
                          divisor: float = ORIGINAL_RANK_DIVISOR) -> torch.Tensor:
    """Rank-aware contrastive loss over thresholds r = 1..11, vectorised over r.

    scores (B, L), labels (B, L) in 0..12, video_mask (B, L). For each r: positives are clips with label >= r;
    per sample the negative mean log-softmax(score / tau) of its positives (0 for samples without one; a threshold
    with no positive in the batch therefore adds 0, as the original's skip); batch mean; summed over r / divisor.
    Padded clips get score -1e3 before the softmax.
    """
    mask = video_mask.float()
    logits = (mask * scores.float() + (1.0 - mask) * -1e3) / tau
    logits = logits - logits.max(dim=1, keepdim=True)[0]
    log_prob = logits - torch.log(logits.exp().sum(1, keepdim=True) + 1e-6)  # (B, L)
    thresholds = torch.tensor(RANK_THRESHOLDS, device=scores.device, dtype=labels.dtype)
    positive = (labels[None] >= thresholds[:, None, None]).float()  # (R, B, L)
    n_pos = positive.sum(-1)
    mean_log_prob_pos = (positive * log_prob * mask).sum(-1) / (n_pos + 1e-6)  # (R, B)
    per_threshold = (-mean_log_prob_pos * (n_pos > 0)).mean(-1)
    return per_threshold.sum() / divisor


def margin_ranking_loss(scores: torch.Tensor, pos_idx: torch.Tensor, neg_idx: torch.Tensor,
                        margin: float = 0.2) -> torch.Tensor:
    """sum max(0, margin + s_neg - s_pos) / (B * n_pairs) * 2 over index pairs (B, P); raw (unmasked) scores."""
    pos = scores.float().gather(1, pos_idx)
    neg = scores.float().gather(1, neg_idx)
    return (margin + neg - pos).clamp(min=0).sum() / pos.numel() * 2


def vtc_loss(video_global: torch.Tensor, text_global: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """Symmetric in-batch InfoNCE between (B, D) video and text vectors: mean of text->video and video->text CE."""
    sim = F.normalize(text_global.float(), dim=1) @ F.normalize(video_global.float(), dim=1).t() / temperature
    labels = torch.arange(len(sim), device=sim.device)
    return (F.cross_entropy(sim, labels) + F.cross_entropy(sim.t(), labels)) / 2


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, L, D), (B, L) -> (B, D) mean over valid positions."""
    mask = mask.to(x.dtype)[..., None]
    return (x * mask).sum(1) / mask.sum(1).clamp(min=1)


def ctc_loss(video: torch.Tensor, text: torch.Tensor, pos_mask: torch.Tensor, video_mask: torch.Tensor,
             text_mask: torch.Tensor, temperature: float = 0.07, fixed: bool = False) -> torch.Tensor:
    """Clip-text BCE: logit_t = <clip_t / |clip_t|, text global> * video_mask / T against ``pos_mask`` (B, L).

    video (B, L, D), text (B, Lt, D). Faithful: the text global is the masked mean of the normalised tokens (not
    renormalised) and the BCE averages all B*L positions, padding included. ``fixed``: the global is renormalised
    and only valid clips are averaged.
    """
    clips = F.normalize(video.float(), dim=2)
    text_global = masked_mean(F.normalize(text.float(), dim=2), text_mask)
    if fixed:
        text_global = F.normalize(text_global, dim=1)
    mask = video_mask.float()
    logits = torch.einsum("bld,bd->bl", clips, text_global) * mask / temperature
    bce = F.binary_cross_entropy_with_logits(logits, pos_mask.float(), reduction="none")
    return (bce * mask).sum() / mask.sum() if fixed else bce.mean()


def caption_alignment_loss(video: torch.Tensor, captions: torch.Tensor, caption_mask: torch.Tensor,
                           temperature: float = 0.07) -> torch.Tensor:
    """Symmetric InfoNCE between each clip (B, L, D) and its caption (B, L, D) over clips with a caption (mask
    (B, L)). Candidates are all captioned clips of the batch except the *other* clips of the same video."""
    bsz, length = caption_mask.shape
    v = F.normalize(video.float(), dim=-1).flatten(0, 1)
    c = F.normalize(captions.float(), dim=-1).flatten(0, 1)
    valid = caption_mask.flatten() > 0
    video_id = torch.arange(bsz, device=v.device).repeat_interleave(length)
    same_video = video_id[:, None] == video_id[None, :]
    eye = torch.eye(len(v), dtype=torch.bool, device=v.device)
    allowed = valid[None, :] & (~same_video | eye)
    weights = valid.float()
    total = v.new_zeros(())
    for logits in (v @ c.t(), c @ v.t()):  # clip -> caption, caption -> clip
        logits = (logits / temperature).masked_fill(~allowed, -1e4)  # finite: rows without candidates stay NaN-free
        per_row = -logits.log_softmax(dim=1).diagonal()
        total = total + (per_row * weights).sum() / weights.sum().clamp(min=1)
    return total / 2


class SetCriterion(nn.Module):
    """Computes every TR-DETR loss (and the caption alignment loss) from model outputs and batch targets."""

    def __init__(self, matcher: HungarianMatcher | None, weight_dict: dict[str, float], cfg: Config):
        super().__init__()
        self.matcher = matcher
        self.weight_dict = weight_dict
        lc, fixes = cfg.loss, cfg.fixes
        self.focal_alpha, self.focal_gamma = lc.focal_alpha, lc.focal_gamma
        self.saliency_margin, self.rank_tau = lc.saliency_margin, lc.rank_tau
        self.rank_divisor = len(RANK_THRESHOLDS) if fixes.fix_rank_divisor else ORIGINAL_RANK_DIVISOR
        self.temperature = lc.align_temperature
        self.fix_vtc_mask, self.fix_ctc_mask = fixes.fix_vtc_mask, fixes.fix_ctc_mask
        self.cap_align = cfg.caption.cap_align_loss_coef > 0
        self.srf_cc = cfg.caption.srf_cc_loss_coef > 0

    def moment_losses(self, outputs: dict, span_labels: list[dict]) -> dict[str, torch.Tensor]:
        indices = self.matcher(outputs, span_labels)
        losses = span_losses(outputs["pred_spans"], span_labels, indices)
        losses.update(label_losses(outputs["pred_logits"], indices, self.focal_alpha, self.focal_gamma))
        return losses

    def saliency_loss(self, outputs: dict, targets: dict) -> torch.Tensor:
        scores = outputs["saliency_scores"]
        rank = rank_contrastive_loss(scores, targets["saliency_all_labels"], outputs["video_mask"], self.rank_tau,
                                     self.rank_divisor)
        margin = margin_ranking_loss(scores, targets["saliency_pos_labels"], targets["saliency_neg_labels"],
                                     self.saliency_margin)
        return margin + rank

    def alignment_losses(self, outputs: dict, targets: dict) -> dict[str, torch.Tensor]:
        if self.fix_vtc_mask:
            video_global = masked_mean(outputs["src_vid_ed"], outputs["video_mask"])
            text_global = masked_mean(outputs["src_txt_ed"], outputs["txt_mask"])
        else:
            video_global, text_global = outputs["src_vid_cls_ed"], outputs["src_txt_cls_ed"]
        losses = {"loss_vtc": vtc_loss(video_global, text_global, self.temperature)}
        if "src_pos_mask" in targets:
            losses["loss_ctc"] = ctc_loss(outputs["src_vid_ed"], outputs["src_txt_ed"], targets["src_pos_mask"],
                                          outputs["video_mask"], outputs["txt_mask"], self.temperature,
                                          self.fix_ctc_mask)
        if self.cap_align:
            losses["loss_cap_align"] = caption_alignment_loss(outputs["src_vid_nocap_ed"], outputs["src_cap_ed"],
                                                              outputs["cap_mask"], self.temperature)
        if self.srf_cc:  # SRF's L_c-c (eq. 17): clips before SRF against their encoded captions
            losses["loss_srf_cc"] = caption_alignment_loss(outputs["srf_vid_ed"], outputs["srf_cap_ed"],
                                                           outputs["srf_cap_mask"], self.temperature)
        return losses

    def forward(self, outputs: dict, targets: dict) -> dict[str, torch.Tensor]:
        """outputs: the model's dict; targets: batch["targets"] (contract in docs/contracts.md)."""
        losses: dict[str, torch.Tensor] = {}
        if self.matcher is not None:
            losses.update(self.moment_losses(outputs, targets["span_labels"]))
            for i, aux in enumerate(outputs.get("aux_outputs", [])):
                losses.update({f"{k}_{i}": v for k, v in self.moment_losses(aux, targets["span_labels"]).items()})
        if "saliency_pos_labels" in targets:
            losses["loss_saliency"] = self.saliency_loss(outputs, targets)
        losses.update(self.alignment_losses(outputs, targets))
        if "dn_outputs" in outputs:  # training with denoising queries (model.dn_groups > 0)
            dn = outputs["dn_outputs"]
            n_layers = len(dn["pred_logits"])
            layers = range(n_layers) if "aux_outputs" in outputs else [n_layers - 1]
            for layer in layers:
                suffix = "_dn" if layer == n_layers - 1 else f"_dn_{layer}"
                terms = denoising_losses(dn["pred_logits"][layer], dn["pred_spans"][layer], dn["targets"],
                                         dn["valid"], self.focal_alpha, self.focal_gamma)
                losses.update({f"{k}{suffix}": v for k, v in terms.items()})
        return losses


def build_criterion(cfg: Config) -> SetCriterion:
    """Criterion and weight_dict from cfg.loss (QVH: span 10, giou 1, label 4 per layer; saliency 1; VTC 0.3;
    CTC 0.5) and cfg.caption.cap_align_loss_coef."""
    lc = cfg.loss
    moment = {"loss_span": lc.span_loss_coef, "loss_giou": lc.giou_loss_coef, "loss_label": lc.label_loss_coef}
    weight_dict = dict(moment)
    if cfg.model.aux_loss:
        for i in range(cfg.model.dec_layers - 1):
            weight_dict.update({f"{k}_{i}": v for k, v in moment.items()})
    if cfg.model.dn_groups > 0:  # the denoising queries' losses, per decoder layer, with the moment weights
        weight_dict.update({f"{k}_dn": v for k, v in moment.items()})
        if cfg.model.aux_loss:
            for i in range(cfg.model.dec_layers - 1):
                weight_dict.update({f"{k}_dn_{i}": v for k, v in moment.items()})
    weight_dict.update(loss_saliency=lc.lw_saliency, loss_vtc=lc.vtc_loss_coef, loss_ctc=lc.ctc_loss_coef)
    if cfg.caption.cap_align_loss_coef > 0:
        weight_dict["loss_cap_align"] = cfg.caption.cap_align_loss_coef
    if cfg.caption.srf_cc_loss_coef > 0:
        weight_dict["loss_srf_cc"] = cfg.caption.srf_cc_loss_coef
    matcher = (HungarianMatcher(lc.set_cost_span, lc.set_cost_giou, lc.set_cost_class) if lc.use_matcher else None)
    return SetCriterion(matcher, weight_dict, cfg)
