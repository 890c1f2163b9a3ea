"""Caption-guided fusion: this project's extension of TR-DETR. Every piece is switched by ``cfg.caption``; with all
of them off no caption module exists and the model is the TR-DETR baseline exactly (same parameters, same outputs).

An MLLM captions each 2 s clip; a text encoder turns each caption into one vector, so captions arrive aligned to the
clips: ``src_cap`` (B, Lv, Dc) with ``src_cap_mask`` (B, Lv) (0 = no caption for that clip). Captions describe the
clip *in words*, the modality of the query, which is what the video features lack. Where each piece enters and why:

(a) ``cap_early_fusion``: give every clip its caption before anything else sees it.
    * ``concat``: caption vectors join the clip channels before ``input_vid_proj`` (the first projection gets
      wider), inserted before the TEF columns: with ``cap_dropout`` 0 this is exactly the original TR-DETR fed the
      captions as a third ``v_feat_dir`` (same inputs, parameters and outputs; tested). Cheapest.
    * ``gated``: captions get their own projection (Dc -> D, the text projection's shape) and are added after the
      video projection through a per-clip, per-channel sigmoid gate computed from [video, caption]. The gate's
      weight starts at zero and its bias at ``GATE_INIT_BIAS`` (sigmoid ~ 0.05), so training starts close to the
      baseline and opens the gate only where captions help. Clips without a caption get nothing added.
    Either way the fused clips are ``src_vid_ed``, so CTC / VTC / MR2HD see them too.
(b) ``cap_cross_attn``: captions as a second text stream in the T2V stage. First the captions meet the query with the
    same context-query attention as the refinement block (caption-to-query and query-to-caption attention,
    captions as context): each caption becomes query-aware, i.e. "how does this clip's description relate to
    the question". Then the video attends to these query-aware captions with one T2V-style layer (video positions on
    both sides, since caption t belongs to clip t). Samples without any caption skip the layer.
(c) ``cap_sim_prior``: a caption-query similarity prior p_t = cos(caption_t, mean query token) in the projected
    space (0 where a clip has no caption). It is added, with a learned strength each (init ``cap_prior_init``), to
    the HD2MR saliency logits before their softmax (sharper re-weighting toward clips whose description matches the
    query) and to the final saliency scores. A prior, not a replacement: the strengths can go to zero.
(d) ``cap_align_loss_coef`` > 0: an InfoNCE loss (``loss_cap_align``, in the criterion) that pulls each projected
    clip toward its own projected caption, with the captions of the *other* videos in the batch as negatives
    (neighbouring clips of the same video often have near-identical captions, so they are not used as negatives).
    The clip side is the video projection before caption injection (``src_vid_nocap_ed``); with ``concat`` that
    projection already contains the caption, so the loss is meant for ``none`` / ``gated`` early fusion.

``cap_dropout`` drops whole caption rows (per clip) in training, so the model never relies on captions blindly and
stays usable when captions are missing at test time.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from trdetr_cap.config import CaptionConfig
from trdetr_cap.models.layers import build_input_projection
from trdetr_cap.models.refinement import ContextQueryAttention
from trdetr_cap.models.transformer import T2VEncoderLayer, reset_transformer_parameters

GATE_INIT_BIAS = -3.0  # sigmoid(-3) ~ 0.047: the gated model starts close to the baseline


@dataclass
class Captions:
    """One batch of captions after row dropout: raw (B, Lv, Dc) zeroed where absent, mask (B, Lv) float,
    embedded (B, Lv, D) projected and zeroed where absent (None when no piece needs the projection)."""

    raw: torch.Tensor
    mask: torch.Tensor
    embedded: torch.Tensor | None


class CaptionGate(nn.Module):
    """video + sigmoid(W [video, caption] + b) * caption, per clip and channel; W = 0, b = GATE_INIT_BIAS at init."""

    def __init__(self, dim: int):
        super().__init__()
        self.gate = nn.Linear(2 * dim, dim)
        nn.init.zeros_(self.gate.weight)
        nn.init.constant_(self.gate.bias, GATE_INIT_BIAS)

    def forward(self, video: torch.Tensor, captions: torch.Tensor) -> torch.Tensor:
        """video, captions (B, Lv, D) (captions already zero where absent) -> (B, Lv, D)."""
        return video + self.gate(torch.cat([video, captions], dim=-1)).sigmoid() * captions


class CaptionCrossAttention(nn.Module):
    """Caption<->query context-query attention, then the video attends to the query-aware captions."""

    def __init__(self, dim: int, nheads: int, dim_feedforward: int, dropout: float):
        super().__init__()
        self.caption_query_attn = ContextQueryAttention(dim, dropout)
        self.video_to_caption = T2VEncoderLayer(dim, nheads, dim_feedforward, dropout)
        reset_transformer_parameters(self.video_to_caption)

    def forward(self, video: torch.Tensor, video_pos: torch.Tensor, captions: torch.Tensor, caption_mask: torch.Tensor,
                text: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
        """video, video_pos, captions (B, Lv, D); caption_mask (B, Lv); text (B, Lt, D), text_mask (B, Lt)."""
        query_aware = self.caption_query_attn(captions, text, caption_mask, text_mask)
        has_caption = caption_mask.bool().any(dim=1)
        # rows without any caption attend to everything (finite softmax) and are then left unchanged
        padding = ~caption_mask.bool() & has_caption[:, None]
        attended = self.video_to_caption(video, video_pos, query_aware, padding, key_pos=video_pos)
        return torch.where(has_caption[:, None, None], attended, video)


class CaptionSimilarityPrior(nn.Module):
    """p_t = cos(caption_t, masked mean of the query tokens), with learned strengths for HD2MR and saliency."""

    def __init__(self, init: float):
        super().__init__()
        self.hd2mr_scale = nn.Parameter(torch.tensor(float(init)))
        self.saliency_scale = nn.Parameter(torch.tensor(float(init)))

    def forward(self, captions: torch.Tensor, caption_mask: torch.Tensor, text: torch.Tensor,
                text_mask: torch.Tensor) -> torch.Tensor:
        """captions (B, Lv, D), caption_mask (B, Lv), text (B, Lt, D), text_mask (B, Lt) -> prior (B, Lv)."""
        text_mask = text_mask.to(text.dtype)
        query = (text * text_mask[..., None]).sum(1) / text_mask.sum(1, keepdim=True)
        return F.cosine_similarity(captions, query[:, None, :], dim=-1) * caption_mask.to(captions.dtype)


class CaptionFusion(nn.Module):
    """Holds the enabled caption pieces; the model calls its hooks at the points listed in the module docstring."""

    def __init__(self, cfg: CaptionConfig, hidden_dim: int, nheads: int, dim_feedforward: int, dropout: float,
                 input_dropout: float, n_input_proj: int, video_tail_dim: int = 0):
        super().__init__()
        self.concat = cfg.cap_early_fusion == "concat"
        self.video_tail_dim = video_tail_dim
        self.cap_dropout = cfg.cap_dropout
        gated = cfg.cap_early_fusion == "gated"
        needs_embedding = gated or cfg.cap_cross_attn or cfg.cap_sim_prior or cfg.cap_align_loss_coef > 0
        self.cap_proj = (build_input_projection(cfg.cap_feat_dim, hidden_dim, n_input_proj, input_dropout)
                         if needs_embedding else None)
        self.gate = CaptionGate(hidden_dim) if gated else None
        self.cross_attn = (CaptionCrossAttention(hidden_dim, nheads, dim_feedforward, dropout)
                           if cfg.cap_cross_attn else None)
        self.prior = CaptionSimilarityPrior(cfg.cap_prior_init) if cfg.cap_sim_prior else None

    def prepare(self, src_cap: torch.Tensor | None, src_cap_mask: torch.Tensor | None,
                video_mask: torch.Tensor) -> Captions:
        """Row dropout (training) and projection. src_cap (B, Lv, Dc), masks (B, Lv)."""
        if src_cap is None or src_cap_mask is None:
            raise ValueError("captions are enabled in cfg.caption but the batch has no src_cap / src_cap_mask "
                             "(set data.cap_feat_path, or turn the caption pieces off)")
        if src_cap.shape[:2] != video_mask.shape:
            raise ValueError(f"src_cap {tuple(src_cap.shape)} is not aligned to the clips {tuple(video_mask.shape)}")
        mask = src_cap_mask.to(src_cap.dtype) * video_mask.to(src_cap.dtype)
        if self.training and self.cap_dropout > 0:
            mask = mask * torch.bernoulli(torch.full_like(mask, 1.0 - self.cap_dropout))
        raw = src_cap * mask[..., None]
        embedded = None if self.cap_proj is None else self.cap_proj(raw) * mask[..., None]
        return Captions(raw=raw, mask=mask, embedded=embedded)

    def concat_early(self, src_vid: torch.Tensor, captions: Captions) -> torch.Tensor:
        """(a) concat: (B, Lv, Dv) -> (B, Lv, Dv + Dc), the captions before the last ``video_tail_dim`` columns
        (the TEF), where the original puts a third feature directory; identity otherwise."""
        if not self.concat:
            return src_vid
        split = src_vid.shape[-1] - self.video_tail_dim
        return torch.cat([src_vid[..., :split], captions.raw, src_vid[..., split:]], dim=-1)

    def gate_early(self, video: torch.Tensor, captions: Captions) -> torch.Tensor:
        """(a) gated: projected video (B, Lv, D) -> (B, Lv, D); identity otherwise."""
        return video if self.gate is None else self.gate(video, captions.embedded)

    def attend(self, video: torch.Tensor, video_pos: torch.Tensor, captions: Captions, text: torch.Tensor,
               text_mask: torch.Tensor) -> torch.Tensor:
        """(b) after the T2V encoder: (B, Lv, D) -> (B, Lv, D); identity when off."""
        if self.cross_attn is None:
            return video
        return self.cross_attn(video, video_pos, captions.embedded, captions.mask, text, text_mask)

    def similarity_prior(self, captions: Captions, text: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor | None:
        """(c) prior (B, Lv), or None when off."""
        return None if self.prior is None else self.prior(captions.embedded, captions.mask, text, text_mask)

    def extra_outputs(self, captions: Captions, video_nocap: torch.Tensor, prior: torch.Tensor | None) -> dict:
        """Caption entries of the model output: ``cap_mask`` (B, Lv) and, when projected, ``src_cap_ed`` /
        ``src_vid_nocap_ed`` (B, Lv, D) for the alignment loss, plus ``cap_prior`` (B, Lv) when (c) is on."""
        extras = {"cap_mask": captions.mask}
        if captions.embedded is not None:
            extras.update(src_cap_ed=captions.embedded, src_vid_nocap_ed=video_nocap)
        if prior is not None:
            extras["cap_prior"] = prior
        return extras
