"""Transformer parts of TR-DETR (the original's tr_detr/transformer.py, sequence-first there), batch-first (B, L, D)
throughout.

* ``T2VEncoder``: video tokens attend to the text (text passes through unchanged and is dropped afterwards), with the
  original's mis-tiled padding mask by default (``mistiled_padding_mask``).
* ``Encoder``: post-norm self-attention over the video; the model applies the *same* instance twice (HD2MR).
* ``AnchorDecoder``: DAB/Conditional-DETR decoder over 1-D anchors (center, width) with width-modulated
  positional queries and iterative (detached) anchor refinement. Its attention has no input projections
  (``ProjectionFreeAttention``), as the original's custom multi-head attention.

``reset_transformer_parameters`` re-applies the original's global xavier init to every matrix of these modules.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from trdetr_cap.models.layers import MLP, Dropout, anchor_sine_embedding
from trdetr_cap.spans import inverse_sigmoid


class FeedForward(nn.Module):
    """Linear(D -> F) -> PReLU (one slope per instance, init 0.25) -> Dropout -> Linear(F -> D)."""

    def __init__(self, dim: int, dim_feedforward: int, dropout: float):
        super().__init__()
        self.linear1 = nn.Linear(dim, dim_feedforward)
        self.activation = nn.PReLU()
        self.dropout = Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(self.dropout(self.activation(self.linear1(x))))


class AttentionFFNLayer(nn.Module):
    """What both encoder layers hold: one ``nn.MultiheadAttention`` (registered as ``attn_name``, its checkpoint
    key), a ``FeedForward``, two LayerNorms and two dropouts, created in this order (the order fixes the init)."""

    attn_name = "self_attn"

    def __init__(self, dim: int, nheads: int, dim_feedforward: int, dropout: float):
        super().__init__()
        self.add_module(self.attn_name, nn.MultiheadAttention(dim, nheads, dropout=dropout, batch_first=True))
        self.ffn = FeedForward(dim, dim_feedforward, dropout)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)


class T2VEncoderLayer(AttentionFFNLayer):
    """Video queries (+ positions) attend to keys / values from another stream (text), then a FFN.

    As the original, the FFN reads LN1(y) but its residual is added to the *un-normalised* y = x + attn:
    out = LN2(y + FFN(LN1(y))).
    """

    attn_name = "cross_attn"

    def forward(self, video: torch.Tensor, video_pos: torch.Tensor, keys: torch.Tensor,
                key_padding_mask: torch.Tensor, key_pos: torch.Tensor | None = None,
                attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """video, video_pos (B, Lv, D); keys (B, Lk, D); key_padding_mask (B, Lk) True = padded;
        attn_mask (B*H, Lv, Lk) True = blocked, or None -> (B, Lv, D)."""
        k = keys if key_pos is None else keys + key_pos
        attended = self.cross_attn(video + video_pos, k, keys, key_padding_mask=key_padding_mask,
                                   attn_mask=attn_mask, need_weights=False)[0]
        y = video + self.dropout1(attended)
        return self.norm2(y + self.dropout2(self.ffn(self.norm1(y))))


def mistiled_padding_mask(video_padding_mask: torch.Tensor, text_padding_mask: torch.Tensor,
                          nheads: int) -> torch.Tensor:
    """The original T2V attn_mask, reproduced: (padded video x padded text) per sample, tiled with
    ``repeat(nheads, 1, 1)`` -> (B*H, Lv, Lt), True = blocked.

    MultiheadAttention reads a 3-D mask batch-major (index b*H + h), but the tiling is batch-outer, so head h of
    sample b gets the pattern of sample (b*H + h) % B: where samples are padded differently, some video clips
    (valid ones included) cannot see text tokens that are valid in their own sample. With equal padding it only
    blocks keys that the key-padding mask already removes.
    """
    pair = video_padding_mask[:, :, None] & text_padding_mask[:, None, :]
    return pair.repeat(nheads, 1, 1)


class T2VEncoder(nn.Module):
    def __init__(self, layer: T2VEncoderLayer, num_layers: int, faithful_attn_mask: bool = True):
        super().__init__()
        self.layers = nn.ModuleList(copy.deepcopy(layer) for _ in range(num_layers))
        self.faithful_attn_mask = faithful_attn_mask

    def forward(self, video: torch.Tensor, video_pos: torch.Tensor, video_padding_mask: torch.Tensor,
                text: torch.Tensor, text_padding_mask: torch.Tensor,
                text_pos: torch.Tensor | None = None) -> torch.Tensor:
        """(B, Lv, D) video attends to (B, Lt, D) text -> (B, Lv, D); padding masks True = padded.

        Text positions (keys only) are zero in TR-DETR. ``faithful_attn_mask`` adds the original's mis-tiled mask
        (``mistiled_padding_mask``); without it only the key-padding mask applies (``fix_t2v_attn_mask``).
        """
        attn_mask = None
        if self.faithful_attn_mask:
            attn_mask = mistiled_padding_mask(video_padding_mask, text_padding_mask,
                                              self.layers[0].cross_attn.num_heads)
        for layer in self.layers:
            video = layer(video, video_pos, text, text_padding_mask, text_pos, attn_mask)
        return video


class EncoderLayer(AttentionFFNLayer):
    """Post-norm self-attention (positions added to q and k) + PReLU FFN."""

    def forward(self, x: torch.Tensor, pos: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
        """x, pos (B, L, D); padding_mask (B, L) True = padded -> (B, L, D)."""
        qk = x + pos
        x = self.norm1(x + self.dropout1(self.self_attn(qk, qk, x, key_padding_mask=padding_mask,
                                                        need_weights=False)[0]))
        return self.norm2(x + self.dropout2(self.ffn(x)))


class Encoder(nn.Module):
    def __init__(self, layer: EncoderLayer, num_layers: int):
        super().__init__()
        self.layers = nn.ModuleList(copy.deepcopy(layer) for _ in range(num_layers))

    def forward(self, x: torch.Tensor, pos: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, pos, padding_mask)
        return x


class ProjectionFreeAttention(nn.Module):
    """Multi-head attention on already-projected q, k, v; only the output projection is learned.

    q, k may be wider than v (the decoder's cross-attention concatenates content and position parts per head):
    q (B, Lq, H*Eq), k (B, Lk, H*Eq), v (B, Lk, H*Ev) -> (B, Lq, H*Ev), scaled by 1/sqrt(Eq).
    """

    def __init__(self, value_dim: int, nheads: int, dropout: float):
        super().__init__()
        self.nheads = nheads
        self.dropout = dropout
        self.out_proj = nn.Linear(value_dim, value_dim)
        nn.init.zeros_(self.out_proj.bias)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, width = x.shape
        return x.view(b, n, self.nheads, width // self.nheads).transpose(1, 2)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                key_padding_mask: torch.Tensor | None = None,
                allowed_mask: torch.Tensor | None = None) -> torch.Tensor:
        """key_padding_mask (B, Lk) True = padded; allowed_mask (B, Lq, Lk) True = may attend (one of the two)."""
        allowed = None if key_padding_mask is None else ~key_padding_mask[:, None, None, :]
        if allowed_mask is not None:
            allowed = allowed_mask[:, None]
        out = F.scaled_dot_product_attention(self._heads(q), self._heads(k), self._heads(v), attn_mask=allowed,
                                             dropout_p=self.dropout if self.training else 0.0)
        return self.out_proj(out.transpose(1, 2).flatten(2))


class DecoderLayer(nn.Module):
    """Conditional-DETR decoder layer: separate content / position projections, per-head [content | sine] queries."""

    def __init__(self, dim: int, nheads: int, dim_feedforward: int, dropout: float, query_pos_in_cross_attn: bool):
        super().__init__()
        self.nheads = nheads
        # (D -> D) projections, created (and so initialised) in the original's order
        self.sa_qcontent_proj, self.sa_qpos_proj, self.sa_kcontent_proj, self.sa_kpos_proj, self.sa_v_proj = (
            nn.Linear(dim, dim) for _ in range(5))
        self.self_attn = ProjectionFreeAttention(dim, nheads, dropout)
        self.norm1 = nn.LayerNorm(dim)
        self.dropout1 = Dropout(dropout)

        self.ca_qcontent_proj = nn.Linear(dim, dim)
        # only the first layer adds the positional query to the content query (the original drops it afterwards)
        self.ca_qpos_proj = nn.Linear(dim, dim) if query_pos_in_cross_attn else None
        self.ca_kcontent_proj, self.ca_kpos_proj, self.ca_v_proj, self.ca_qpos_sine_proj = (
            nn.Linear(dim, dim) for _ in range(4))
        self.cross_attn = ProjectionFreeAttention(dim, nheads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.dropout2 = Dropout(dropout)

        self.ffn = FeedForward(dim, dim_feedforward, dropout)
        self.norm3 = nn.LayerNorm(dim)
        self.dropout3 = Dropout(dropout)

    def _per_head_concat(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """(B, L, D) x2 -> (B, L, 2D) laid out head by head as [a_h | b_h]."""
        bsz, n, dim = a.shape
        parts = (a.view(bsz, n, self.nheads, dim // self.nheads), b.view(bsz, n, self.nheads, dim // self.nheads))
        return torch.cat(parts, dim=3).view(bsz, n, 2 * dim)

    def forward(self, tgt: torch.Tensor, memory: torch.Tensor, memory_padding_mask: torch.Tensor,
                memory_pos: torch.Tensor, query_pos: torch.Tensor, query_sine: torch.Tensor,
                self_attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """tgt, query_pos, query_sine (B, Nq, D); memory, memory_pos (B, Lv, D); self_attn_mask (B, Nq, Nq) True =
        may attend, or None (all queries see each other) -> (B, Nq, D)."""
        q = self.sa_qcontent_proj(tgt) + self.sa_qpos_proj(query_pos)
        k = self.sa_kcontent_proj(tgt) + self.sa_kpos_proj(query_pos)
        tgt = self.norm1(tgt + self.dropout1(self.self_attn(q, k, self.sa_v_proj(tgt), allowed_mask=self_attn_mask)))

        q_content = self.ca_qcontent_proj(tgt)
        k_content = self.ca_kcontent_proj(memory)
        k_pos = self.ca_kpos_proj(memory_pos)
        if self.ca_qpos_proj is not None:
            q_content = q_content + self.ca_qpos_proj(query_pos)
            k_content = k_content + k_pos
        q = self._per_head_concat(q_content, self.ca_qpos_sine_proj(query_sine))
        k = self._per_head_concat(k_content, k_pos)
        attended = self.cross_attn(q, k, self.ca_v_proj(memory), key_padding_mask=memory_padding_mask)
        tgt = self.norm2(tgt + self.dropout2(attended))
        return self.norm3(tgt + self.dropout3(self.ffn(tgt)))


class AnchorDecoder(nn.Module):
    """DAB-style decoder over learned 1-D anchors with width-modulated attention and iterative refinement."""

    def __init__(self, dim: int, nheads: int, dim_feedforward: int, dropout: float, num_layers: int):
        super().__init__()
        self.dim = dim
        self.layers = nn.ModuleList(
            DecoderLayer(dim, nheads, dim_feedforward, dropout, query_pos_in_cross_attn=i == 0)
            for i in range(num_layers))
        self.query_scale = MLP(dim, dim, dim, 2)  # content-conditioned scale of the sine query (layers > 0)
        self.ref_point_head = MLP(dim, dim, dim, 2)  # sine(anchor) -> positional query
        self.bbox_embed = MLP(dim, dim, 2, 3)  # anchor deltas; shared by all layers
        self.ref_anchor_head = MLP(dim, dim, 1, 2)  # width modulation
        self.norm = nn.LayerNorm(dim)
        # zero init of the last delta layer; the later global xavier reset re-initialises the weight (faithful)
        nn.init.zeros_(self.bbox_embed.layers[-1].weight)
        nn.init.zeros_(self.bbox_embed.layers[-1].bias)

    def forward(self, memory: torch.Tensor, memory_padding_mask: torch.Tensor, memory_pos: torch.Tensor,
                anchors_unsigmoid: torch.Tensor,
                self_attn_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """memory, memory_pos (B, Lv, D); anchors_unsigmoid (Nq, 2) shared by the batch (the original's learned
        anchors) or (B, Nq, 2) per sample; self_attn_mask (B, Nq, Nq) True = may attend, or None.

        Returns hs (n_layers, B, Nq, D) after the final LayerNorm, and references (n_layers, B, Nq, 2): the anchor
        that was the *input* of each layer. References after the first keep their gradient (into ``bbox_embed``);
        only the copy fed to the next layer is detached, as the original.
        """
        bsz = memory.shape[0]
        anchors = anchors_unsigmoid.sigmoid()
        if anchors.dim() == 2:
            anchors = anchors[None].expand(bsz, -1, -1)
        tgt = memory.new_zeros(bsz, anchors.shape[1], self.dim)
        hs, references = [], [anchors]
        for layer_id, layer in enumerate(self.layers):
            query_sine = anchor_sine_embedding(anchors, self.dim)
            query_pos = self.ref_point_head(query_sine)
            if layer_id > 0:
                query_sine = query_sine * self.query_scale(tgt)
            width_modulation = self.ref_anchor_head(tgt).sigmoid()[..., 0] / anchors[..., 1]
            query_sine = query_sine * width_modulation[..., None]
            tgt = layer(tgt, memory, memory_padding_mask, memory_pos, query_pos, query_sine, self_attn_mask)
            new_anchors = (self.bbox_embed(tgt) + inverse_sigmoid(anchors)).sigmoid()
            if layer_id < len(self.layers) - 1:
                references.append(new_anchors)
            anchors = new_anchors.detach()
            hs.append(self.norm(tgt))
        return torch.stack(hs), torch.stack(references)


def reset_transformer_parameters(*modules: nn.Module) -> None:
    """xavier_uniform on every parameter with dim > 1 (the original resets its whole Transformer this way)."""
    for module in modules:
        for p in module.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
