"""SRF (See, Rank, and Filter; Lee & Kim, AAAI 2026) on top of TR-DETR: the feature enhancement module (FEM) and the
ranking-based filtering module (RFM), re-implemented from the paper (its code is not released). Every piece is a
``cfg.caption.srf_*`` switch; with all of them off no SRF module exists and the model is TR-DETR exactly.

Where it sits: right after the input projections, before TR-DETR's query-guided refinement. It takes the projected
video V (B, Lv, D), the projected query tokens Q (B, Lt, D) and, with ``srf_captions``, the captions encoded by
E_c (B, Lv, D); it returns the enhanced video that the rest of TR-DETR (refinement, T2V, encoders, MR2HD and the
VTC / CTC losses) reads, and the text stream (F_eq when ``srf_replace_text``). The equation numbers below are the
paper's; the choices where the paper leaves room are listed in docs/model.md (section SRF).

* FEM, word highlighting (eqs. 1-3): F_eq = LN(Q + SelfAttn(Q)) over the valid tokens; V_wh = cos(F_eq, GAP(F_eq)),
  GAP the mean over valid tokens; padded tokens get V_wh = -inf so they are never ranked.
* FEM, scene understanding (eqs. 4-10): similarity S = X F_eq^T / sqrt(D) for X = video and X = captions, softmax
  over words (rows) and over clips (columns); the four attended features [X, A, X * A, X * B] with A = S_r F_eq and
  B = S_r S_c^T X; Linear(4D -> D), joined with the sentence-level query GAP(F_eq), Conv1D (kernel 3) over time,
  added to X: the query-aware video F_ev and captions F_ec.
* Caption attention (eqs. 11-12): F_v' = LN(F_ev + Attn(F_ev, F_ec)), F_c' = LN(F_ec + Attn(F_ec, F_ev)); the video
  passed on is F_v' + F_c' (``srf_caption_to_video``) or F_v'.
* RFM (eqs. 13-14): the top-N words by V_wh (N = ``srf_top_n``), in rank order; per word S_qv = cos(word, x_{j-1})
  and S_qc = cos(word, caption) over clips, S_qvc = W S_qv + (1 - W) S_qc with W = sigmoid(w) one learned scalar
  (S_qvc = S_qv without captions), then x_j = x_{j-1} (1 + S_qvc) on valid clips.
* L_c-c (eq. 17, ``srf_cc_loss_coef``): InfoNCE between each projected clip (before SRF) and its encoded caption,
  the criterion's ``loss_srf_cc``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from trdetr_cap.config import CaptionConfig
from trdetr_cap.models.layers import build_input_projection


def srf_enabled(cfg: CaptionConfig) -> bool:
    """True when any SRF piece is on."""
    return (cfg.srf_captions or cfg.srf_word_highlight or cfg.srf_scene or cfg.srf_rfm
            or cfg.srf_cc_loss_coef > 0)


def _check(cfg: CaptionConfig) -> None:
    if cfg.srf_cc_loss_coef > 0 and not cfg.srf_captions:
        raise ValueError("caption.srf_cc_loss_coef > 0 needs caption.srf_captions (the loss aligns clips to captions)")
    if cfg.srf_rfm and cfg.srf_top_n < 0:
        raise ValueError(f"caption.srf_top_n must be >= 0, got {cfg.srf_top_n}")


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, L, D), (B, L) 1 = valid -> (B, D) mean over valid positions (GAP)."""
    mask = mask.to(x.dtype)[..., None]
    return (x * mask).sum(1) / mask.sum(1).clamp(min=1)


def word_importance(tokens: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
    """Eq. 3: V_wh = cos(token, GAP(tokens)) -> (B, Lt); padded tokens -inf (never ranked)."""
    gap = masked_mean(tokens, text_mask)
    score = F.cosine_similarity(tokens, gap[:, None, :], dim=-1)
    return score.masked_fill(~text_mask.bool(), float("-inf"))


class WordHighlight(nn.Module):
    """Eqs. 1-3: self-attention over the query tokens -> F_eq (B, Lt, D) and V_wh (B, Lt)."""

    def __init__(self, dim: int, nheads: int, dropout: float):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, nheads, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(dim)

    def forward(self, text: torch.Tensor, text_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        attended, _ = self.attn(text, text, text, key_padding_mask=~text_mask.bool(), need_weights=False)
        f_eq = self.norm(text + attended)
        return f_eq, word_importance(f_eq, text_mask)


class QueryAware(nn.Module):
    """Eqs. 4-10 for one stream X (video or captions): X + Conv1D([Linear([X, A, X*A, X*B]), GAP(F_eq)])."""

    def __init__(self, dim: int, dropout: float):
        super().__init__()
        self.fuse = nn.Linear(4 * dim, dim)
        self.conv = nn.Conv1d(2 * dim, dim, kernel_size=3, padding=1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor, words: torch.Tensor, text_mask: torch.Tensor,
                sentence: torch.Tensor) -> torch.Tensor:
        """x (B, L, D), x_mask (B, L), words (B, Lt, D), text_mask (B, Lt), sentence (B, D) -> (B, L, D)."""
        valid = x_mask.to(x.dtype)[..., None]
        sim = x @ words.transpose(1, 2) / math.sqrt(x.shape[-1])  # eqs. 4-5: (B, L, Lt)
        rows = sim.masked_fill(~text_mask.bool()[:, None, :], float("-inf")).softmax(dim=2)  # over words
        # over clips; a row without any valid position (no caption at all) gets a uniform, finite softmax
        cols = sim.masked_fill(~x_mask.bool()[:, :, None], -1e4).softmax(dim=1)
        attended = rows @ words  # eq. 6: (B, L, D)
        back = rows @ cols.transpose(1, 2) @ x  # eq. 7: (B, L, D)
        fused = self.fuse(torch.cat([x, attended, x * attended, x * back], dim=-1))  # eqs. 8-9
        joined = torch.cat([fused, sentence[:, None, :].expand_as(fused)], dim=-1) * valid
        out = self.conv(joined.transpose(1, 2)).transpose(1, 2)  # eq. 10: Conv1D over time
        return (x + self.dropout(out)) * valid


class CaptionAttention(nn.Module):
    """Eqs. 11-12: video attends to captions and captions to video, each with a residual and LayerNorm."""

    def __init__(self, dim: int, nheads: int, dropout: float):
        super().__init__()
        self.video_to_caption = nn.MultiheadAttention(dim, nheads, dropout=dropout, batch_first=True)
        self.caption_to_video = nn.MultiheadAttention(dim, nheads, dropout=dropout, batch_first=True)
        self.video_norm = nn.LayerNorm(dim)
        self.caption_norm = nn.LayerNorm(dim)

    def forward(self, video: torch.Tensor, video_mask: torch.Tensor, captions: torch.Tensor,
                caption_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """video, captions (B, Lv, D); masks (B, Lv) -> (F_v', F_c') (B, Lv, D); F_c' zero where no caption."""
        has_caption = caption_mask.bool().any(dim=1)
        # a sample without any caption attends to all positions (finite softmax), then keeps its video as is
        cap_pad = ~caption_mask.bool() & has_caption[:, None]
        v_att, _ = self.video_to_caption(video, captions, captions, key_padding_mask=cap_pad, need_weights=False)
        c_att, _ = self.caption_to_video(captions, video, video, key_padding_mask=~video_mask.bool(),
                                         need_weights=False)
        v_new = torch.where(has_caption[:, None, None], self.video_norm(video + v_att), video)
        c_new = self.caption_norm(captions + c_att) * caption_mask.to(captions.dtype)[..., None]
        return v_new, c_new


class RankFilter(nn.Module):
    """Eqs. 13-14: iterative residual filtering of the clips by the top-N words of V_wh."""

    def __init__(self, top_n: int, with_captions: bool):
        super().__init__()
        self.top_n = top_n
        # W = sigmoid(w): starts at 0.5, video and caption similarity weighed alike
        self.mix = nn.Parameter(torch.zeros(())) if with_captions else None

    def forward(self, video: torch.Tensor, video_mask: torch.Tensor, words: torch.Tensor, importance: torch.Tensor,
                captions: torch.Tensor | None, caption_mask: torch.Tensor | None) -> torch.Tensor:
        """video (B, Lv, D), words (B, Lt, D), importance V_wh (B, Lt) (-inf = padded), captions (B, Lv, D)."""
        n = min(self.top_n, words.shape[1])
        if n == 0:
            return video
        rank = importance.detach().topk(n, dim=1).indices  # (B, N), most important first
        picked_valid = torch.isfinite(importance.gather(1, rank)).to(video.dtype)  # fewer valid words than N
        picked = words.gather(1, rank[..., None].expand(-1, -1, words.shape[2]))  # (B, N, D)
        s_qc = None
        if self.mix is not None and captions is not None:
            s_qc = torch.einsum("bnd,bld->bnl", F.normalize(picked, dim=-1), F.normalize(captions, dim=-1))
            s_qc = s_qc * caption_mask.to(video.dtype)[:, None, :]
        clip_valid = video_mask.to(video.dtype)
        x = video
        for j in range(n):
            s = torch.einsum("bd,bld->bl", F.normalize(picked[:, j], dim=-1), F.normalize(x, dim=-1))  # S_qv
            if s_qc is not None:
                w = self.mix.sigmoid()
                s = w * s + (1 - w) * s_qc[:, j]  # eq. 13
            s = s * clip_valid * picked_valid[:, j:j + 1]
            x = x * (1 + s[..., None])  # eq. 14
        return x


@dataclass
class SRFOutput:
    """What the model carries on: the video (B, Lv, D) and text (B, Lt, D) streams, and the loss inputs."""

    video: torch.Tensor
    text: torch.Tensor
    extras: dict


class SRF(nn.Module):
    """The enabled SRF pieces in the order of the paper: word highlighting, scene understanding, caption attention,
    ranking-based filtering."""

    def __init__(self, cfg: CaptionConfig, hidden_dim: int, nheads: int, dropout: float, input_dropout: float):
        super().__init__()
        _check(cfg)
        d = hidden_dim
        self.replace_text = cfg.srf_replace_text
        self.caption_to_video = cfg.srf_caption_to_video
        self.cap_proj = (build_input_projection(cfg.cap_feat_dim, d, cfg.srf_cap_proj_layers, input_dropout)
                         if cfg.srf_captions else None)
        self.word_highlight = WordHighlight(d, nheads, dropout) if cfg.srf_word_highlight else None
        self.video_scene = QueryAware(d, dropout) if cfg.srf_scene else None
        self.caption_scene = QueryAware(d, dropout) if cfg.srf_scene and cfg.srf_captions else None
        self.caption_attn = CaptionAttention(d, nheads, dropout) if cfg.srf_captions else None
        self.rank_filter = RankFilter(cfg.srf_top_n, cfg.srf_captions) if cfg.srf_rfm else None

    @property
    def uses_captions(self) -> bool:
        return self.cap_proj is not None

    def forward(self, video: torch.Tensor, text: torch.Tensor, video_mask: torch.Tensor, text_mask: torch.Tensor,
                src_cap: torch.Tensor | None, src_cap_mask: torch.Tensor | None) -> SRFOutput:
        """video (B, Lv, D), text (B, Lt, D) projected; masks (B, Lv) / (B, Lt); src_cap (B, Lv, Dc) raw."""
        extras: dict = {}
        captions = caption_mask = None
        if self.cap_proj is not None:
            if src_cap is None or src_cap_mask is None:
                raise ValueError("caption.srf_captions is on but the batch has no src_cap / src_cap_mask "
                                 "(set data.cap_feat_path, or turn srf_captions off)")
            if src_cap.shape[:2] != video_mask.shape:
                raise ValueError(f"src_cap {tuple(src_cap.shape)} is not aligned to the clips "
                                 f"{tuple(video_mask.shape)}")
            caption_mask = src_cap_mask.to(video.dtype) * video_mask.to(video.dtype)
            captions = self.cap_proj(src_cap) * caption_mask[..., None]
            extras.update(srf_vid_ed=video, srf_cap_ed=captions, srf_cap_mask=caption_mask)

        if self.word_highlight is not None:
            words, importance = self.word_highlight(text, text_mask)
        else:
            words, importance = text, word_importance(text, text_mask)

        if self.video_scene is not None:
            sentence = masked_mean(words, text_mask)
            video = self.video_scene(video, video_mask, words, text_mask, sentence)
            if self.caption_scene is not None:
                captions = self.caption_scene(captions, caption_mask, words, text_mask, sentence)
        if self.caption_attn is not None:
            video, captions = self.caption_attn(video, video_mask, captions, caption_mask)
            if self.caption_to_video:
                video = video + captions
        if self.rank_filter is not None:
            video = self.rank_filter(video, video_mask, words, importance, captions, caption_mask)
        extras["srf_word_importance"] = importance
        return SRFOutput(video=video, text=words if self.replace_text else text, extras=extras)
