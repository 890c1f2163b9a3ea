"""Features -> one sample of model inputs: the preprocessing that training (``MomentDataset``) and serving
(``MomentRetriever``) share, so that the two cannot drift.

As the original's dataset (tr_detr/start_end_dataset.py:317-380): each video feature set is cut to ``max_v_l`` rows,
L2-normalised per row (``normalize_v``), cut to the sets' common length and concatenated along channels; audio is
cut and normalised the same way and shares the video's length L. The query keeps ``max_q_l`` token rows,
L2-normalised (``normalize_t``; TVSum queries neither). Caption rows (one per clip) are cut and normalised like text
and cut to L; a shorter caption sequence leaves rows that ``collate`` pads and masks out. ``collate`` then appends
TEF and pads the batch (docs/contracts.md, "Batch").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from trdetr_cap.config import DataConfig
from trdetr_cap.data.features import l2_normalize


def video_features(sets: Sequence[np.ndarray], d: DataConfig) -> np.ndarray:
    """Video feature sets (L_k, D_k) in ``v_feat_dirs`` order -> (L, sum D_k), L = min(min_k L_k, max_v_l)."""
    parts = [s[:d.max_v_l] for s in sets]
    if d.normalize_v:
        parts = [l2_normalize(p) for p in parts]
    length = min(len(p) for p in parts)  # some feature sets are a row longer than others
    return np.concatenate([p[:length] for p in parts], axis=1)


def audio_features(audio: np.ndarray, d: DataConfig) -> np.ndarray:
    """(La, Da) audio features -> (min(La, max_v_l), Da), normalised as the video."""
    audio = audio[:d.max_v_l]
    return l2_normalize(audio) if d.normalize_v else audio


def query_features(tokens: np.ndarray, d: DataConfig) -> np.ndarray:
    """(Lq, Dt) query token features -> (min(Lq, max_q_l), Dt), normalised; TVSum queries as they are (the
    original neither cuts nor normalises them)."""
    if d.dataset == "tvsum":
        return tokens
    tokens = tokens[:d.max_q_l]
    return l2_normalize(tokens) if d.normalize_t else tokens


def caption_features(captions: np.ndarray, d: DataConfig) -> np.ndarray:
    """(Lc, Dc) caption features, one row per clip -> (min(Lc, max_v_l), Dc), normalised as the query."""
    captions = captions[:d.max_v_l]
    return l2_normalize(captions) if d.normalize_t else captions


def make_sample(meta: dict[str, Any], video: np.ndarray, text: np.ndarray, use_tef: bool,
                audio: np.ndarray | None = None, caption: np.ndarray | None = None) -> dict[str, Any]:
    """Processed arrays -> the sample dict ``collate`` takes: video (L, Dv) and audio (L, Da) cut to their common
    length L, caption to at most (L, Dc), text (Lq, Dt) as given; ``meta`` gains ``feat_len`` = L."""
    length = len(video)
    if audio is not None:
        length = min(length, len(audio))
        video, audio = video[:length], audio[:length]
    if caption is not None:
        caption = caption[:length]
    return {"meta": {**meta, "feat_len": length}, "video": video, "audio": audio, "text": text, "caption": caption,
            "use_tef": use_tef}
