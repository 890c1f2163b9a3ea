"""Small building blocks: input projections, MLP, sine position encodings (the original's
``LinearLayer`` and ``MLP`` in tr_detr/model.py:504-542, ``PositionEmbeddingSine`` in tr_detr/position_encoding.py:35).

All tensors are batch-first: (B, L, D).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class Dropout(nn.Module):
    """Drop-in for ``nn.Dropout``: in training zero each element with probability ``p`` and scale the rest by
    1 / (1 - p); identity in eval. Same values as ``nn.Dropout`` for the same mask, no parameters or buffers.

    Why: on CPU ``nn.Dropout`` draws its mask with ``bernoulli_``, several times slower than drawing uniforms and
    comparing, and the masks were a large share of a CPU training step (docs/measurements.md). The mask here is
    ``U[0, 1) >= p`` in float32: keep probability 1 - p up to float32 resolution (2^-24). Other devices and dtypes,
    and p = 1, use ``F.dropout`` (CUDA has a fused kernel).
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(...) -> (...) same shape and dtype."""
        if not self.training or self.p == 0.0:
            return x
        if x.device.type != "cpu" or x.dtype != torch.float32 or self.p == 1.0:
            return F.dropout(x, self.p, training=True)
        # Same arithmetic as nn.Dropout's CPU path: float mask of 0 / 1, divided in place by (1 - p), times x.
        scale = torch.rand(x.shape, dtype=torch.float32).ge_(self.p).div_(1.0 - self.p)
        return x * scale

    def extra_repr(self) -> str:
        return f"p={self.p}"


class LinearLayer(nn.Module):
    """LayerNorm(in) -> Dropout -> Linear(in -> out) -> optional ReLU, applied on (B, L, in)."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float, relu: bool):
        super().__init__()
        self.norm = nn.LayerNorm(in_dim)
        self.dropout = Dropout(dropout)
        self.linear = nn.Linear(in_dim, out_dim)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.linear(self.dropout(self.norm(x)))
        return F.relu(x) if self.relu else x


def build_input_projection(in_dim: int, hidden_dim: int, n_layers: int, dropout: float) -> nn.Sequential:
    """``n_layers`` LinearLayers in_dim -> hidden_dim -> ... ; every layer has a ReLU except the last one."""
    if not 1 <= n_layers <= 3:
        raise ValueError(f"n_input_proj must be 1, 2 or 3, got {n_layers}")
    dims = [in_dim] + [hidden_dim] * n_layers
    return nn.Sequential(*[
        LinearLayer(dims[i], dims[i + 1], dropout, relu=i < n_layers - 1) for i in range(n_layers)
    ])


class MLP(nn.Module):
    """``num_layers`` Linear layers with ReLU between them (none after the last)."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int):
        super().__init__()
        dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


def sine_features(x: torch.Tensor, num_feats: int, temperature: float = 10000.0) -> torch.Tensor:
    """(...) positions -> (..., num_feats): interleaved sin (even index) / cos (odd index) at geometric frequencies.

    Feature 2j is sin(x / T^(2j/num_feats)) and feature 2j+1 is cos of the same argument, as in DETR.
    """
    idx = torch.arange(num_feats, dtype=torch.float32, device=x.device)
    dim_t = temperature ** (2 * torch.div(idx, 2, rounding_mode="floor") / num_feats)
    angles = x.float()[..., None] / dim_t
    return torch.stack((angles[..., 0::2].sin(), angles[..., 1::2].cos()), dim=-1).flatten(-2)


class VideoPositionEmbedding(nn.Module):
    """Normalised 1-D sine positions: cumsum(mask) / (n_valid + 1e-6) * 2pi -> (B, Lv, num_feats).

    Padded clips (after the valid ones) get the last valid position, as the original.
    """

    def __init__(self, num_feats: int, temperature: float = 10000.0):
        super().__init__()
        self.num_feats = num_feats
        self.temperature = temperature

    def forward(self, mask: torch.Tensor) -> torch.Tensor:
        """mask (B, Lv) with 1 = valid -> (B, Lv, num_feats) float32."""
        position = mask.float().cumsum(1)
        position = position / (position[:, -1:] + 1e-6) * (2 * math.pi)
        return sine_features(position, self.num_feats, self.temperature)


def anchor_sine_embedding(anchors: torch.Tensor, hidden_dim: int) -> torch.Tensor:
    """(B, Nq, 2) (center, width) in [0, 1] -> (B, Nq, hidden_dim): hidden_dim/2 sine features each, concatenated.

    The original hard-codes 128 + 128 (hidden_dim 256); this is the same for 256 and lets tests use smaller models.
    """
    half = hidden_dim // 2
    scaled = anchors * (2 * math.pi)
    return torch.cat([sine_features(scaled[..., 0], half), sine_features(scaled[..., 1], half)], dim=-1)


class TextPositionEmbedding(nn.Module):
    """Learned text positions as the original's ``TrainablePositionalEncoding``: LN(x + E[pos]) -> Dropout.

    TR-DETR creates it but never uses it (``use_txt_pos=False``); it is kept (``keep_txt_pos_embed``) only so the
    parameter count and state-dict layout match the original.
    """

    def __init__(self, max_len: int, hidden_dim: int, dropout: float):
        super().__init__()
        self.position_embeddings = nn.Embedding(max_len, hidden_dim)
        self.norm = nn.LayerNorm(hidden_dim)
        self.dropout = Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, Lt, D) -> (B, Lt, D)."""
        positions = torch.arange(x.shape[1], device=x.device)
        return self.dropout(self.norm(x + self.position_embeddings(positions)[None]))
