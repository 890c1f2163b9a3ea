"""captions.jsonl -> caption-feature HDF5 aligned to the video clips (format in trdetr_cap.data.captions).

Default encoder: the CLIP text tower (``cap_text_encoder``), projected pooled [EOT] output (512 for ViT-B/32) -- the
same vector as ``pooler_output`` in the query feature files and in the joint space of the CLIP clip features.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from trdetr_cap.data.captions import read_captions_jsonl, write_caption_features
from trdetr_cap.utils.progress import progress

if TYPE_CHECKING:
    import torch


def align_to_clips(features: np.ndarray, caption_len: float, clip_len: float = 2.0) -> np.ndarray:
    """(n_captions, D) on a ``caption_len`` grid -> (n_clips, D) on the ``clip_len`` grid.

    Each clip takes the caption whose span holds the clip's centre; n_clips covers the captions' span
    (``ceil(n_captions * caption_len / clip_len)``). Identity when the grids agree.
    """
    if math.isclose(caption_len, clip_len):
        return features
    n_clips = max(1, math.ceil(len(features) * caption_len / clip_len - 1e-6))
    centres = (np.arange(n_clips) + 0.5) * clip_len
    index = np.clip(np.floor(centres / caption_len).astype(int), 0, len(features) - 1)
    return features[index]


def embed_captions(captions_path: str | Path, out_path: str | Path, encoder_name: str,
                   device: str | torch.device = "cpu", batch_size: int = 256, clip_len: float = 2.0,
                   dtype: str = "float16") -> int:
    """Embed every caption with the CLIP text encoder and write the HDF5; returns the number of videos."""
    from trdetr_cap.video.clip import ClipFeatureExtractor

    rows = read_captions_jsonl(captions_path)
    encoder = ClipFeatureExtractor(encoder_name, device, batch_size)
    features = {}
    for vid, row in progress(rows.items(), "embedding captions", unit="video"):
        pooled = encoder.encode_pooled(row["captions"])
        features[vid] = align_to_clips(pooled, float(row["clip_len"]), clip_len).astype(dtype)
    write_caption_features(out_path, features, encoder=encoder_name, clip_len=clip_len, dtype=dtype)
    return len(features)
