"""Training targets of one sample, exactly as the original computes them
(tr_detr/start_end_dataset.py:227-316: span, pos_mask, saliency labels and pairs, TVSum labels).

All functions take the sample's feature length ``L`` (rows after truncation and the shared-length cut) and return
numpy arrays; random draws use Python's ``random`` module in the original's order (window shuffle, then easy
positive, then easy negative) so a seeded run draws the same clips.

Faithful quirks, each behind a ``FixConfig`` switch:
* ``fix_pos_mask_overflow``: a relevant clip id >= L grows ``pos_mask`` to max(id) + 1, erasing its in-range
  positives, and ``saliency_all_labels`` to L + 1 (faithful); fixed, such ids are dropped from both and from the
  easy-positive pool.
* ``fix_window_shuffle``: more than ``max_windows`` windows are shuffled in the annotation list itself (faithful, so
  the record changes from epoch to epoch); fixed, a copy is shuffled with the same random draws.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from trdetr_cap.config import FixConfig


@dataclass
class Labels:
    """Targets of one sample: spans (n, 2) cxw, saliency pairs (P,), per-clip labels (>= L,)."""

    spans: np.ndarray
    saliency_pos: list[int]
    saliency_neg: list[int]
    saliency_all: np.ndarray
    pos_mask: np.ndarray


def span_targets(windows: list, feat_len: int, clip_len: float, max_windows: int, fixes: FixConfig) -> np.ndarray:
    """Windows in seconds -> (n, 2) float32 (center, width) normalised by ``feat_len * clip_len`` (not duration)."""
    if len(windows) > max_windows:
        if fixes.fix_window_shuffle:
            windows = list(windows)
        random.shuffle(windows)  # faithful: shuffles the annotation's own list
        windows = windows[:max_windows]
    xx = np.asarray(windows, dtype=np.float32).reshape(-1, 2) / np.float32(feat_len * clip_len)
    cxw = np.empty_like(xx)
    cxw[:, 0] = (xx[:, 0] + xx[:, 1]) * np.float32(0.5)
    cxw[:, 1] = xx[:, 1] - xx[:, 0]
    return cxw


def _pos_mask(clip_ids: np.ndarray, feat_len: int) -> np.ndarray:
    """1 at the relevant clips. Faithful quirk: when an id is >= L the original grows the mask to max(id) + 1 and
    then copies its still-empty L-long mask over the front, so only the out-of-range ids stay marked."""
    top = int(clip_ids.max(initial=-1))
    mask = np.zeros(max(feat_len, top + 1), dtype=np.float32)
    mask[clip_ids] = 1.0
    if top >= feat_len:
        mask[:feat_len] = 0.0
    return mask


@dataclass
class _QvhFixedPart:
    """What a QVHighlights record's targets are before any random draw (cached per record and length)."""

    feat_len: int
    spans: np.ndarray | None  # None when the windows must be re-drawn every time (> max_windows)
    pos_mask: np.ndarray
    saliency_all: np.ndarray
    hard_pos: int
    hard_neg: int
    easy_pool_pos: list[int]
    easy_neg_pool: list[int]


def _qvh_fixed_part(record: dict, feat_len: int, clip_len: float, max_windows: int,
                    fixes: FixConfig) -> _QvhFixedPart:
    all_ids = record["relevant_clip_ids"]
    ids = np.asarray(all_ids)
    scores = np.asarray(record["saliency_scores"]).sum(1)  # (n_rel,), 0..12
    in_range = ids < feat_len
    if fixes.fix_pos_mask_overflow:
        ids, kept_scores, grow = ids[in_range], scores[in_range], 0
    else:  # the first id >= L grows saliency_all by one; the original crashes on an id > L, we drop it instead
        kept_scores, grow = scores, int(not in_range.all())
    saliency_all = np.zeros(feat_len + grow, dtype=np.float32)
    fits = ids < len(saliency_all)
    saliency_all[ids[fits]] = kept_scores[fits]
    # hard pair over all annotated clips (clamped to L - 1); ties resolve in np.argsort order, as the original
    order = np.argsort(scores)
    hard_pos, hard_neg = min(all_ids[order[-1]], feat_len - 1), min(all_ids[order[0]], feat_len - 1)
    easy_pool_pos = list(all_ids)
    if fixes.fix_pos_mask_overflow and not in_range.all():
        easy_pool_pos = [c for c in all_ids if c < feat_len] or [hard_pos]
    windows = record["relevant_windows"]
    spans = span_targets(windows, feat_len, clip_len, max_windows, fixes) if len(windows) <= max_windows else None
    return _QvhFixedPart(feat_len, spans, _pos_mask(ids, feat_len), saliency_all, int(hard_pos), int(hard_neg),
                         easy_pool_pos, list(set(range(feat_len)) - set(all_ids)))  # built as the original: same draws


def qvhighlights_labels(record: dict, feat_len: int, clip_len: float, max_windows: int, fixes: FixConfig,
                        fixed: _QvhFixedPart | None = None) -> Labels:
    """QVHighlights targets: two saliency pairs (hard in-moment, easy in-vs-out), summed annotator scores.

    ``fixed`` is this record's cached draw-free part (computed here when None). Random draws, in the original's
    order: window shuffle (only with > max_windows windows), easy positive, easy negative."""
    if fixed is None or fixed.feat_len != feat_len:
        fixed = _qvh_fixed_part(record, feat_len, clip_len, max_windows, fixes)
    spans = fixed.spans
    if spans is None:
        spans = span_targets(record["relevant_windows"], feat_len, clip_len, max_windows, fixes)
    if fixed.easy_neg_pool:
        easy_pos = random.sample(fixed.easy_pool_pos, k=1)[0]  # not clamped in the original
        easy_neg = random.sample(fixed.easy_neg_pool, k=1)[0]
    else:
        easy_pos, easy_neg = fixed.hard_pos, fixed.hard_neg
    return Labels(spans, [fixed.hard_pos, easy_pos], [fixed.hard_neg, easy_neg], fixed.saliency_all, fixed.pos_mask)


def charades_clip_ids(window: list[float], feat_len: int, clip_len: float) -> list[int]:
    """Clips whose centre lies in the window; at least the clip holding the window's midpoint."""
    st, ed = window
    ids = [i for i in range(feat_len) if st <= (i + 0.5) * clip_len <= ed]
    return ids or [min(int(0.5 * (st + ed) / clip_len), feat_len - 1)]


def charades_labels(record: dict, feat_len: int, clip_len: float, max_windows: int, fixes: FixConfig) -> Labels:
    """Charades-STA has one window and no saliency scores. This project's choice (no original code exists):

    relevant clips = clips whose centre lies in the window; ``saliency_all_labels`` = 12 on them (the QVH scale's
    maximum, three "very good" votes) and 0 elsewhere; two pairs, each a random in-window clip vs a random
    out-of-window clip (a clip vs itself, a zero-gradient pair, when the window covers the whole video);
    windows are clipped to the feature extent ``feat_len * clip_len`` before normalising (so use max_v_l >= 98 with
    2 s clips: Charades videos run to 194 s, and a window past the truncation would collapse to zero width).
    """
    extent = feat_len * clip_len
    windows = [[min(st, extent), min(ed, extent)] for st, ed in record["relevant_windows"]]
    spans = span_targets(windows, feat_len, clip_len, max_windows, fixes)
    clip_ids = charades_clip_ids(record["relevant_windows"][0], feat_len, clip_len)
    pos_mask = _pos_mask(np.asarray(clip_ids), feat_len)
    saliency_all = pos_mask * np.float32(12.0)
    relevant = set(clip_ids)
    outside = [i for i in range(feat_len) if i not in relevant]
    pos = random.sample(clip_ids, k=2) if len(clip_ids) >= 2 else clip_ids * 2
    if len(outside) >= 2:
        neg = random.sample(outside, k=2)
    elif outside:
        neg = outside * 2
    else:
        neg = list(pos)
    return Labels(spans, pos, neg, saliency_all, pos_mask)


def tvsum_labels(record: dict, feat_len: int) -> Labels:
    """TVSum (the original's tr_detr/start_end_dataset.py:273): agg = sum over 20 annotators of (score - 1), 0..80;
    saliency = agg / 80 * 12; pos_mask = top half of clips by agg (argsort order); one hard pair (argmax vs argmin
    agg); dummy span [[0, 0]]."""
    label = np.asarray(record["label"], dtype=np.float64)
    agg = (label - 1.0).sum(-1)[:feat_len]
    order = np.argsort(agg)
    pos_mask = np.zeros(feat_len, dtype=np.float32)
    pos_mask[order[feat_len // 2:]] = 1.0
    saliency_all = (agg / 80 * 12).astype(np.float32)
    spans = np.zeros((1, 2), dtype=np.float32)
    return Labels(spans, [min(int(order[-1]), feat_len - 1)], [min(int(order[0]), feat_len - 1)],
                  saliency_all, pos_mask)


class LabelMaker:
    """Targets per dataset item; caches each QVHighlights record's draw-free part (arrays shared: read only)."""

    def __init__(self, dataset: str, clip_len: float, max_windows: int, fixes: FixConfig):
        self.dataset, self.clip_len, self.max_windows, self.fixes = dataset, clip_len, max_windows, fixes
        self._fixed: dict[int, _QvhFixedPart] = {}

    def __call__(self, index: int, record: dict, feat_len: int) -> Labels:
        if self.dataset != "qvhighlights":
            return make_labels(self.dataset, record, feat_len, self.clip_len, self.max_windows, self.fixes)
        fixed = self._fixed.get(index)
        if fixed is None or fixed.feat_len != feat_len:
            fixed = self._fixed[index] = _qvh_fixed_part(record, feat_len, self.clip_len, self.max_windows,
                                                          self.fixes)
        return qvhighlights_labels(record, feat_len, self.clip_len, self.max_windows, self.fixes, fixed)


def make_labels(dataset: str, record: dict, feat_len: int, clip_len: float, max_windows: int,
                fixes: FixConfig) -> Labels:
    if dataset == "tvsum":
        return tvsum_labels(record, feat_len)
    if dataset == "charades":
        return charades_labels(record, feat_len, clip_len, max_windows, fixes)
    return qvhighlights_labels(record, feat_len, clip_len, max_windows, fixes)
