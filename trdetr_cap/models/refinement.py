"""Query-guided visual refinement (the original's ``VSLFuser``, tr_detr/interaction/test_CQA.py:105): a VSLNet-style
context-query block whose output *replaces* the projected video stream (no residual, padded clips not zeroed).

The context C is the video (B, Lv, D), the query Q the text (B, Lt, D). ``ContextQueryAttention`` is also reused
by the caption fusion (captions as context), so it takes generic context / query tensors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trdetr_cap.models.layers import Dropout

_NEG = -1e30  # additive mask value of the original (finite, so fully padded rows never give NaN)


def _masked_logits(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Add -1e30 where ``mask`` (broadcastable, 1 = valid) is 0."""
    return logits + (1.0 - mask.to(logits.dtype)) * _NEG


def _xavier_vector(*shape: int) -> nn.Parameter:
    weight = torch.empty(*shape)
    nn.init.xavier_uniform_(weight)
    return nn.Parameter(weight)


class ContextQueryAttention(nn.Module):
    """Trilinear context-query attention: [C, c2q, C*c2q, C*q2c] (4D) -> Linear -> (B, Lc, D)."""

    def __init__(self, dim: int, dropout: float = 0.1):
        super().__init__()
        self.w_context = _xavier_vector(dim, 1)
        self.w_query = _xavier_vector(dim, 1)
        self.w_product = _xavier_vector(1, 1, dim)
        self.dropout = Dropout(dropout)
        self.fuse = nn.Linear(4 * dim, dim)  # the original's 1x1 Conv1d: same parameters, same init

    def similarity(self, context: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """S_ij = w_C.c_i + w_Q.q_j + (c_i * w_m).q_j on dropped-out copies -> (B, Lc, Lq)."""
        context, query = self.dropout(context), self.dropout(query)
        return context @ self.w_context + (query @ self.w_query).transpose(1, 2) \
            + (context * self.w_product) @ query.transpose(1, 2)

    def forward(self, context: torch.Tensor, query: torch.Tensor, context_mask: torch.Tensor,
                query_mask: torch.Tensor) -> torch.Tensor:
        """context (B, Lc, D), query (B, Lq, D), masks (B, Lc) / (B, Lq) with 1 = valid -> (B, Lc, D)."""
        scores = self.similarity(context, query)
        attn_c2q = _masked_logits(scores, query_mask[:, None, :]).softmax(dim=2)  # over query tokens
        attn_q2c = _masked_logits(scores, context_mask[:, :, None]).softmax(dim=1)  # over context positions
        c2q = attn_c2q @ query
        q2c = attn_c2q @ attn_q2c.transpose(1, 2) @ context
        return self.fuse(torch.cat([context, c2q, context * c2q, context * q2c], dim=2))


class WeightedPool(nn.Module):
    """Attention pooling with one learned scoring vector: (B, L, D) -> (B, D)."""

    def __init__(self, dim: int):
        super().__init__()
        self.weight = _xavier_vector(dim, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        alpha = _masked_logits(x @ self.weight, mask[:, :, None]).softmax(dim=1)  # (B, L, 1)
        return (x.transpose(1, 2) @ alpha).squeeze(2)


class QueryGuidedRefinement(nn.Module):
    """The original's ``VSLFuser``: context-query attention, then concat with the pooled query, Linear, ReLU."""

    def __init__(self, dim: int, dropout: float = 0.1):
        super().__init__()
        self.cq_attention = ContextQueryAttention(dim, dropout)
        self.query_pool = WeightedPool(dim)
        self.fuse = nn.Linear(2 * dim, dim)

    def forward(self, video: torch.Tensor, text: torch.Tensor, video_mask: torch.Tensor,
                text_mask: torch.Tensor) -> torch.Tensor:
        """video (B, Lv, D), text (B, Lt, D), masks (B, Lv) / (B, Lt) -> refined video (B, Lv, D)."""
        fused = self.cq_attention(video, text, video_mask, text_mask)
        pooled = self.query_pool(text, text_mask)[:, None, :].expand(-1, fused.shape[1], -1)
        return F.relu(self.fuse(torch.cat([fused, pooled], dim=2)))
