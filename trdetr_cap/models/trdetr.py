"""TR-DETR (the original's tr_detr/model.py:47 and tr_detr/transformer.py:58): wires projections, query-guided
refinement, T2V encoder, the shared encoder applied twice with HD2MR re-weighting, the anchor decoder, span / class
heads and MR2HD saliency refinement.

Shapes: B batch, Lv padded video length, Lt padded text length, D hidden size, Nq queries.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from trdetr_cap.config import CaptionConfig, FixConfig, ModelConfig
from trdetr_cap.models.caption_fusion import CaptionFusion, Captions
from trdetr_cap.models.denoising import build_denoising_queries, saliency_anchors
from trdetr_cap.models.layers import MLP, TextPositionEmbedding, VideoPositionEmbedding, build_input_projection
from trdetr_cap.models.refinement import QueryGuidedRefinement
from trdetr_cap.models.srf import SRF, srf_enabled
from trdetr_cap.models.transformer import (
    AnchorDecoder,
    Encoder,
    EncoderLayer,
    T2VEncoder,
    T2VEncoderLayer,
    reset_transformer_parameters,
)
from trdetr_cap.spans import inverse_sigmoid, span_cxw_to_xx


def top_span_xx(pred_logits: torch.Tensor, pred_spans: torch.Tensor) -> torch.Tensor:
    """The span (start, end) of the query with the highest softmax foreground (index 0) probability -> (B, 2)."""
    best = pred_logits.softmax(-1)[..., 0].argmax(dim=1)
    return span_cxw_to_xx(pred_spans[torch.arange(len(best), device=best.device), best])


def span_clip_range_faithful(span_xx: torch.Tensor, padded_len: int, clip_len: float) -> tuple[torch.Tensor,
                                                                                                  torch.Tensor]:
    """The original's clip slice ``[st : ed + 1]`` of each top span, with Python slicing semantics -> (start, count).

    Indices are floor(xx * Lv) with the *padded* length (computed as the original: xx * Lv * clip_len / clip_len).
    A negative start counts from the end, as ``tensor[i, st:ed + 1]`` does; an empty slice has count 0.
    """
    idx = torch.floor(span_xx * (padded_len * clip_len) / clip_len).long()

    def python_slice_bound(i: torch.Tensor) -> torch.Tensor:
        return torch.where(i < 0, (i + padded_len).clamp(min=0), i.clamp(max=padded_len))

    start, stop = python_slice_bound(idx[:, 0]), python_slice_bound(idx[:, 1] + 1)
    return start, (stop - start).clamp(min=0)


def span_clip_range_fixed(span_xx: torch.Tensor, video_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Clip range of each top span in the sample's own length L, clamped to [0, L-1], never empty -> (start, count)."""
    length = video_mask.sum(1).long()
    idx = torch.floor(span_xx * length[:, None]).long()
    last = (length - 1)[:, None]
    idx = torch.minimum(idx.clamp(min=0), last)
    return idx[:, 0], idx[:, 1] - idx[:, 0] + 1


def gather_clip_range(features: torch.Tensor, start: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Left-aligned copy of features[b, start_b : start_b + count_b], zero after count_b: (B, L, D) -> (B, L, D)."""
    positions = torch.arange(features.shape[1], device=features.device)
    source = (start[:, None] + positions).clamp(max=features.shape[1] - 1)
    gathered = features.gather(1, source[..., None].expand(-1, -1, features.shape[2]))
    return gathered * (positions < count[:, None])[..., None].to(features.dtype)


class TRDETR(nn.Module):
    """Joint moment retrieval + highlight detection. ``forward`` returns the original's output dict
    (tr_detr/model.py:164-201) plus ``txt_mask``; docs/contracts.md lists its keys and shapes."""

    def __init__(self, model_cfg: ModelConfig, fixes: FixConfig, caption_cfg: CaptionConfig, max_q_l: int,
                 clip_len: float, video_tail_dim: int = 0):
        """``video_tail_dim``: trailing src_vid columns after the video features (2 = the TEF); ``concat`` inserts
        the captions before them, where the original puts a third feature directory."""
        super().__init__()
        mc = model_cfg
        if mc.v_feat_dim is None or mc.t_feat_dim is None:
            raise ValueError("model.v_feat_dim / t_feat_dim must be set; training infers them from "
                             "dataset.feature_dims")
        if mc.hidden_dim % mc.nheads or mc.hidden_dim % 4:
            raise ValueError(f"hidden_dim {mc.hidden_dim} must be a multiple of nheads ({mc.nheads}) and of 4 "
                             "(the anchor sine embedding: hidden_dim / 2 sin-cos pairs per coordinate)")
        d = mc.hidden_dim
        self.hidden_dim = d
        self.clip_len = clip_len
        self.aux_loss = mc.aux_loss
        self.use_txt_pos = mc.use_txt_pos
        self.fix_hd2mr_mask = fixes.fix_hd2mr_mask
        self.fix_mr2hd_span = fixes.fix_mr2hd_span
        self.mr2hd_scale = mc.mr2hd_scale
        if mc.anchor_init not in ("learned", "saliency"):
            raise ValueError(f"model.anchor_init must be 'learned' or 'saliency', got {mc.anchor_init!r}")
        if mc.dn_groups < 0:
            raise ValueError(f"model.dn_groups must be >= 0, got {mc.dn_groups}")
        self.anchor_init = mc.anchor_init
        self.dn_groups, self.dn_span_noise = mc.dn_groups, mc.dn_span_noise
        cap_on = caption_cfg.fusion_enabled()
        if caption_cfg.enabled() and caption_cfg.cap_feat_dim is None:
            raise ValueError("caption.cap_feat_dim must be set when a caption piece is on; training infers it "
                             "from the caption features")
        concat_dim = caption_cfg.cap_feat_dim if cap_on and caption_cfg.cap_early_fusion == "concat" else 0

        self.input_vid_proj = build_input_projection(mc.v_feat_dim + concat_dim, d, mc.n_input_proj,
                                                     mc.input_dropout)
        self.input_txt_proj = build_input_projection(mc.t_feat_dim, d, mc.n_input_proj, mc.input_dropout)
        self.refinement = QueryGuidedRefinement(d, mc.dropout)
        self.video_pos = VideoPositionEmbedding(d)
        self.txt_pos = (TextPositionEmbedding(max_q_l, d, mc.input_dropout)
                        if mc.keep_txt_pos_embed or mc.use_txt_pos else None)

        self.t2v_encoder = T2VEncoder(T2VEncoderLayer(d, mc.nheads, mc.dim_feedforward, mc.dropout), mc.t2v_layers,
                                      faithful_attn_mask=not fixes.fix_t2v_attn_mask)
        self.encoder = Encoder(EncoderLayer(d, mc.nheads, mc.dim_feedforward, mc.dropout), mc.enc_layers)
        self.decoder = AnchorDecoder(d, mc.nheads, mc.dim_feedforward, mc.dropout, mc.dec_layers)
        reset_transformer_parameters(self.t2v_encoder, self.encoder, self.decoder)

        self.query_embed = nn.Embedding(mc.num_queries, 2)  # learned anchors (center, width) before sigmoid
        self.class_embed = nn.Linear(d, 2)  # foreground = index 0
        self.span_embed = MLP(d, d, 2, 3)
        self.saliency_proj = nn.Linear(d, d)  # summed over outputs: an affine scalar head, shared by HD2MR / MR2HD
        self.mr2hd_gru = nn.GRU(d, d, num_layers=1, batch_first=True)
        # built last so that, for a fixed seed, every baseline parameter starts identical with captions on or off
        self.caption_fusion = (CaptionFusion(caption_cfg, d, mc.nheads, mc.dim_feedforward, mc.dropout,
                                             mc.input_dropout, mc.n_input_proj, video_tail_dim) if cap_on else None)
        self.srf = (SRF(caption_cfg, d, mc.nheads, mc.dropout, mc.input_dropout) if srf_enabled(caption_cfg)
                    else None)

    def saliency_head(self, memory: torch.Tensor) -> torch.Tensor:
        """(B, Lv, D) -> (B, Lv): sum of saliency_proj outputs / sqrt(D)."""
        return self.saliency_proj(memory).sum(-1) / math.sqrt(self.hidden_dim)

    def forward(self, src_txt: torch.Tensor, src_txt_mask: torch.Tensor, src_vid: torch.Tensor,
                src_vid_mask: torch.Tensor, src_cap: torch.Tensor | None = None,
                src_cap_mask: torch.Tensor | None = None, dn_span_labels: list[dict] | None = None) -> dict:
        """src_txt (B, Lt, Dt), src_vid (B, Lv, Dv), src_cap (B, Lv, Dc); masks (B, L*) float with 1 = valid.

        ``dn_span_labels`` (the targets' span_labels) adds denoising queries in training when ``dn_groups`` > 0;
        their outputs are ``out["dn_outputs"]`` and every other output is that of the matching queries.
        """
        _check_text(src_txt, src_txt_mask)
        captions = None
        if self.caption_fusion is not None:
            captions = self.caption_fusion.prepare(src_cap, src_cap_mask, src_vid_mask)
            src_vid = self.caption_fusion.concat_early(src_vid, captions)
        vid_nocap = self.input_vid_proj(src_vid)
        txt = self.input_txt_proj(src_txt)
        vid = vid_nocap if captions is None else self.caption_fusion.gate_early(vid_nocap, captions)
        srf = None if self.srf is None else self.srf(vid, txt, src_vid_mask, src_txt_mask, src_cap, src_cap_mask)
        if srf is not None:
            vid, txt = srf.video, srf.text
        # vid / txt are the pre-refinement projections (src_vid_ed / src_txt_ed): CTC, VTC and MR2HD read these

        memory, prior = self.encode(vid, txt, src_vid_mask, src_txt_mask, captions)
        anchors = self.query_embed.weight  # (Nq, 2)
        if self.anchor_init == "saliency":
            anchors = saliency_anchors(self.saliency_head(memory), src_vid_mask, anchors)  # (B, Nq, 2)
        dn, self_attn_mask = None, None
        if self.dn_groups > 0 and self.training and dn_span_labels is not None:
            dn = build_denoising_queries(dn_span_labels, anchors.shape[-2], self.dn_groups, self.dn_span_noise)
            if anchors.dim() == 2:
                anchors = anchors[None].expand(len(memory), -1, -1)
            anchors, self_attn_mask = torch.cat([anchors, dn.anchors.to(anchors.dtype)], dim=1), dn.attn_mask
        hs, references = self.decoder(memory, ~src_vid_mask.bool(), self.video_pos(src_vid_mask).to(memory.dtype),
                                      anchors, self_attn_mask)
        outputs_class = self.class_embed(hs)  # (n_dec, B, Nq, 2)
        outputs_span = (self.span_embed(hs) + inverse_sigmoid(references)).sigmoid()  # (n_dec, B, Nq, 2) cxw
        dn_outputs = None
        if dn is not None:
            n_match = self.query_embed.num_embeddings
            dn_outputs = {"pred_logits": outputs_class[:, :, n_match:], "pred_spans": outputs_span[:, :, n_match:],
                          "targets": dn.targets, "valid": dn.valid}  # (n_dec, B, M, 2) each; (B, M, 2); (B, M)
            outputs_class, outputs_span = outputs_class[:, :, :n_match], outputs_span[:, :, :n_match]
        saliency = self.mr2hd(outputs_class[-1], outputs_span[-1], memory, vid, src_vid_mask)
        if prior is not None:
            saliency = saliency + self.caption_fusion.prior.saliency_scale * prior

        out = {
            "pred_logits": outputs_class[-1],
            "pred_spans": outputs_span[-1],
            "saliency_scores": saliency,
            "video_mask": src_vid_mask,
            "txt_mask": src_txt_mask,  # not in the original's dict: the criterion's CTC needs it
        }
        if self.aux_loss:
            out["aux_outputs"] = [{"pred_logits": a, "pred_spans": b}
                                  for a, b in zip(outputs_class[:-1], outputs_span[:-1], strict=True)]
        out.update(src_txt_ed=txt, src_vid_ed=vid,
                   src_vid_cls_ed=vid.mean(1), src_txt_cls_ed=txt.mean(1))  # plain means: padding included
        if captions is not None:
            out.update(self.caption_fusion.extra_outputs(captions, vid_nocap, prior))
        if srf is not None:
            out.update(srf.extras)
        if dn_outputs is not None:
            out["dn_outputs"] = dn_outputs
        return out

    def encode(self, vid: torch.Tensor, txt: torch.Tensor, video_mask: torch.Tensor, text_mask: torch.Tensor,
               captions: Captions | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Refinement -> T2V (-> caption attention) -> encoder -> HD2MR -> encoder again.

        vid (B, Lv, D), txt (B, Lt, D), masks (B, Lv) / (B, Lt) -> memory M2 (B, Lv, D) and the caption prior
        (B, Lv) (None unless cap_sim_prior).
        """
        video_valid = video_mask.bool()
        video_pad, text_pad = ~video_valid, ~text_mask.bool()
        pos = self.video_pos(video_mask).to(vid.dtype)
        txt_pos = self.txt_pos(txt) if self.use_txt_pos else None  # the original's (odd) text "position"
        x = self.refinement(vid, txt, video_mask, text_mask)
        x = self.t2v_encoder(x, pos, video_pad, txt, text_pad, txt_pos)
        prior = None
        if captions is not None:
            x = self.caption_fusion.attend(x, pos, captions, txt, text_mask)
            prior = self.caption_fusion.similarity_prior(captions, txt, text_mask)
        memory = self.encoder(x, pos, video_pad)
        return self.hd2mr(memory, x, pos, video_valid, prior), prior

    def hd2mr(self, memory: torch.Tensor, t2v_video: torch.Tensor, pos: torch.Tensor, video_valid: torch.Tensor,
              prior: torch.Tensor | None) -> torch.Tensor:
        """Highlight-to-moment: re-weight the T2V video by softmax(saliency) and run the *same* encoder again.

        memory M1, t2v_video x, video positions pos (B, Lv, D); video_valid (B, Lv) bool; prior (B, Lv) or None
        -> M2 (B, Lv, D).
        The original's softmax is unmasked (padded clips get weight); ``fix_hd2mr_mask`` masks them out.
        """
        scores = self.saliency_head(memory)
        if prior is not None:
            scores = scores + self.caption_fusion.prior.hd2mr_scale * prior
        if self.fix_hd2mr_mask:
            scores = scores.masked_fill(~video_valid, float("-inf"))
        weights = scores.softmax(dim=-1)
        return self.encoder(memory + weights[..., None] * t2v_video, pos, ~video_valid)

    def mr2hd(self, pred_logits: torch.Tensor, pred_spans: torch.Tensor, memory: torch.Tensor,
              src_vid_ed: torch.Tensor, video_mask: torch.Tensor) -> torch.Tensor:
        """Moment-to-highlight saliency, vectorised over the batch.

        The top-1 predicted span's pre-refinement clips (B, Lv, D) go through a GRU; its final state g (B, D) gives
        w_t = <g, v_t>, and saliency = head(M2 * (1 + w_t)) -> (B, Lv). The discrete span choice has no gradient.
        Faithful: slice of the padded length with Python slice semantics, right zero padding run through the GRU.
        ``fix_mr2hd_span``: the sample's own length, clamped indices, a packed GRU (no trailing zeros).
        """
        span_xx = top_span_xx(pred_logits.detach(), pred_spans.detach())
        if self.fix_mr2hd_span:
            start, count = span_clip_range_fixed(span_xx, video_mask)
        else:
            start, count = span_clip_range_faithful(span_xx, src_vid_ed.shape[1], self.clip_len)
        clips = gather_clip_range(src_vid_ed, start, count)
        if self.fix_mr2hd_span:
            packed = pack_padded_sequence(clips, count.cpu(), batch_first=True, enforce_sorted=False)
            _, hidden = self.mr2hd_gru(packed)
        else:
            _, hidden = self.mr2hd_gru(clips)
        # raw dot product, unmasked, as the original; times mr2hd_scale (1.0 leaves every value and gradient as is)
        weights = torch.einsum("bd,bld->bl", hidden[-1], src_vid_ed) * self.mr2hd_scale
        return self.saliency_head(memory * (1 + weights[..., None]))


def _check_text(src_txt: torch.Tensor, src_txt_mask: torch.Tensor) -> None:
    if src_txt.shape[1] == 0:
        raise ValueError(f"empty text query: src_txt has shape {tuple(src_txt.shape)} (no tokens)")
    empty = (src_txt_mask.sum(1) == 0).nonzero().flatten()
    if len(empty):
        raise ValueError(f"empty text query: batch rows {empty.tolist()} have no valid token in src_txt_mask")


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of ``model`` (all of them, or only those with requires_grad)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)

