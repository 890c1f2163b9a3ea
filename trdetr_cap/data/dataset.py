"""Moment-retrieval dataset and its collate function: files on disk -> padded batch (docs/contracts.md, "Batch").

Per sample (as the original's tr_detr/start_end_dataset.py:317-380) the features are preprocessed by
``trdetr_cap.data.inputs``, the functions that ``MomentRetriever`` uses on a raw video too. The processed arrays are
computed once and cached when ``preload`` (a run option) allows, else read on every access as the original.

``collate`` assembles ``src_vid`` = [video, TEF, audio, TEF] along channels (TEF of clip i of L = [i/L, (i+1)/L]),
zero-pads to the batch maxima and builds float masks (1 = valid).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from trdetr_cap.config import Config, Preload
from trdetr_cap.data.annotations import filter_tvsum_domain, load_annotations
from trdetr_cap.data.captions import CaptionFeatureStore
from trdetr_cap.data.features import FeatureError, FeatureStore, Hdf5Store, ProcessedFeatures, open_store, should_preload
from trdetr_cap.data.inputs import audio_features, caption_features, make_sample, query_features, video_features
from trdetr_cap.data.labels import LabelMaker


def _cache_dtype(stores: list[FeatureStore]) -> np.dtype:
    """float16 when every source is a float16 packed store (nothing is lost by caching it so), else float32."""
    if stores and all(isinstance(s, Hdf5Store) and s.dtype == np.float16 for s in stores):
        return np.dtype(np.float16)
    return np.dtype(np.float32)


class MomentDataset(Dataset):
    """One annotation file joined to its feature stores. ``self[i]`` -> dict(meta, video, audio, text, caption,
    labels, use_tef); ``collate`` turns a list of those into the batch dict."""

    def __init__(self, cfg: Config, annotation_path: str | Path, split: str, preload: Preload = "auto"):
        d = cfg.data
        self.cfg, self.split, self.dataset = cfg, split, d.dataset
        self.records, self.labelled = load_annotations(annotation_path, d.dataset)
        if d.dataset == "tvsum":
            if not d.tvsum_domain:
                raise ValueError("TVSum is trained per domain: set --tvsum_domain (BK BT DS FM GA MS PK PR VT VU)")
            self.records = filter_tvsum_domain(self.records, d.tvsum_domain, annotation_path)
        if not d.v_feat_dirs:
            raise ValueError("no video features configured (--v_feat_dirs)")
        if not d.t_feat_dir:
            raise ValueError("no query features configured (--t_feat_dir)")

        self.video_stores = [open_store(p, d.dataset, "video") for p in d.v_feat_dirs]
        self.text_store = open_store(d.t_feat_dir, d.dataset, "text")
        self.audio_store = open_store(d.a_feat_dir, d.dataset, "audio") if d.a_feat_dir else None
        self.caption_store = (CaptionFeatureStore(d.cap_feat_path, d.clip_len)
                              if d.cap_feat_path and cfg.caption.enabled() else None)
        if self.caption_store is not None and abs(self.caption_store.clip_len - d.clip_len) > 1e-6:
            raise FeatureError(f"caption features {d.cap_feat_path} have clip_len {self.caption_store.clip_len}, "
                               f"but the video features use clip_len {d.clip_len}")

        vids = sorted({r["vid"] for r in self.records})
        qids = sorted({str(r["qid"]) for r in self.records})
        for store in self.video_stores:
            store.check_keys(vids, "vid")
        self.text_store.check_keys(qids, "qid")
        if self.audio_store is not None:
            self.audio_store.check_keys(vids, "vid (audio)")
        if self.caption_store is not None:
            self.caption_store.check_keys(vids, "vid")

        self.video = ProcessedFeatures("video", self._compute_video, _cache_dtype(self.video_stores))
        self.text = ProcessedFeatures("text", self._compute_text, _cache_dtype([self.text_store]))
        self.audio = self.caption = None
        if self.audio_store is not None:
            self.audio = ProcessedFeatures("audio", self._compute_audio, _cache_dtype([self.audio_store]))
        if self.caption_store is not None:
            self.caption = ProcessedFeatures("caption", self._compute_caption, _cache_dtype([self.caption_store]))
        self.make_labels = LabelMaker(d.dataset, d.clip_len, d.max_windows, cfg.fixes)
        self._dims = self._probe_dims(vids[0], qids[0])
        if should_preload(preload, self._estimate_bytes(len(vids), len(qids))):
            self.preload(vids, qids)

    # ---- processing of one key (truncate, normalise, cut, concatenate); reads stop at the max_v_l rows kept ------
    def _compute_video(self, vid: str) -> np.ndarray:
        d = self.cfg.data
        return video_features([store.read(vid, d.max_v_l) for store in self.video_stores], d)

    def _compute_audio(self, vid: str) -> np.ndarray:
        return audio_features(self.audio_store.read(vid, self.cfg.data.max_v_l), self.cfg.data)

    def _compute_text(self, qid: str) -> np.ndarray:
        return query_features(self.text_store.read(qid), self.cfg.data)

    def _compute_caption(self, vid: str) -> np.ndarray:
        return caption_features(self.caption_store.read(vid, self.cfg.data.max_v_l), self.cfg.data)

    def _probe_dims(self, vid: str, qid: str) -> dict[str, int]:
        tef = 2 if self.cfg.data.use_tef else 0
        v_dim = self.video[vid].shape[1] + tef
        if self.audio is not None:
            v_dim += self.audio[vid].shape[1] + tef
        cap_dim = self.caption[vid].shape[1] if self.caption is not None else 0
        return {"v_feat_dim": int(v_dim), "t_feat_dim": int(self.text[qid].shape[1]), "cap_feat_dim": int(cap_dim)}

    def _estimate_bytes(self, n_vids: int, n_qids: int) -> int:
        d, dims = self.cfg.data, self._dims
        per_clip = dims["v_feat_dim"] * self.video.cache_dtype.itemsize + dims["cap_feat_dim"] * 4
        return n_vids * d.max_v_l * per_clip + n_qids * d.max_q_l * dims["t_feat_dim"] * 4

    def preload(self, vids: list[str], qids: list[str]) -> None:
        """Compute every processed array once and keep it in RAM (before DataLoader workers fork, so they share it)."""
        self.video.preload(vids)
        self.text.preload(qids)
        if self.audio is not None:
            self.audio.preload(vids)
        if self.caption is not None:
            self.caption.preload(vids)

    @property
    def feature_dims(self) -> dict[str, int]:
        """{"v_feat_dim" (incl. TEF and audio), "t_feat_dim", "cap_feat_dim" (0 without captions)}."""
        return dict(self._dims)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        d = self.cfg.data
        record = self.records[index]
        text = self.text[str(record["qid"])]
        if self.split == "train" and d.txt_drop_ratio > 0:
            text = _drop_rows(text, d.txt_drop_ratio)
        vid = record["vid"]
        sample = make_sample(record, self.video[vid], text, d.use_tef,
                             audio=self.audio[vid] if self.audio is not None else None,
                             caption=self.caption[vid] if self.caption is not None else None)
        if self.labelled:
            sample["labels"] = self.make_labels(index, record, sample["meta"]["feat_len"])
        return sample


def _drop_rows(text: np.ndarray, ratio: float) -> np.ndarray:
    """Zero round(Lq * ratio) random token rows (np.random, as the original); returns a copy."""
    n_drop = round(len(text) * ratio)
    text = np.array(text, dtype=np.float32)
    if n_drop > 0:
        text[np.random.choice(len(text), size=n_drop, replace=False)] = 0
    return text


@functools.lru_cache(maxsize=512)
def _tef(length: int) -> np.ndarray:
    """(L, 2) temporal endpoint features [i/L, (i+1)/L] in float32, the same numbers as the original's torch code."""
    start = np.arange(length, dtype=np.float32) / np.float32(length)
    return np.stack([start, start + np.float32(1.0 / length)], axis=1)


def _pad_1d(arrays: list[np.ndarray], length: int) -> torch.Tensor:
    """Zero-pad / cut 1-D label arrays to (B, length) float32. Labels that grew past L (faithful overflow) land in
    the padding of shorter videos as in the original; past the batch's Lv, where the original's loss would fail on
    the shape, they are cut."""
    out = np.zeros((len(arrays), length), dtype=np.float32)
    for b, a in enumerate(arrays):
        n = min(len(a), length)
        out[b, :n] = a[:n]
    return torch.from_numpy(out)


def _tensor(arr: np.ndarray) -> torch.Tensor:
    """A tensor view of a (cached) array, only ever read from; read-only arrays are copied (torch wants writeable)."""
    return torch.from_numpy(arr if arr.flags.writeable else arr.copy())


def _pad_rows(parts: list[list[np.ndarray]], length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sample, a list of (n_b, D_k) blocks joined along channels -> ((B, length, sum D_k), mask (B, length)).

    The buffer is written once: blocks are copied in (torch converts float16 caches fast) and only the padding rows
    are zeroed, instead of zero-filling the whole batch first."""
    widths = [p.shape[1] for p in parts[0]]
    out = torch.empty(len(parts), length, sum(widths))
    lengths = torch.tensor([len(p[0]) for p in parts])
    for b, blocks in enumerate(parts):
        n, col = len(blocks[0]), 0
        for block, width in zip(blocks, widths, strict=True):
            out[b, :n, col:col + width].copy_(_tensor(block))
            col += width
        out[b, n:].zero_()
    mask = (torch.arange(length)[None, :] < lengths[:, None]).float()
    return out, mask


def collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """List of samples -> {"meta", "inputs", "targets" (labelled data only)}; shapes in docs/contracts.md."""
    lv = max(len(s["video"]) for s in samples)
    lt = max(len(s["text"]) for s in samples)
    vid_parts = []
    for s in samples:
        tef = [_tef(len(s["video"]))] if s["use_tef"] else []
        audio = [s["audio"], *tef] if s["audio"] is not None else []
        vid_parts.append([s["video"], *tef, *audio])
    src_vid, src_vid_mask = _pad_rows(vid_parts, lv)
    src_txt, src_txt_mask = _pad_rows([[s["text"]] for s in samples], lt)
    inputs = {"src_txt": src_txt, "src_txt_mask": src_txt_mask, "src_vid": src_vid, "src_vid_mask": src_vid_mask}
    if samples[0]["caption"] is not None:
        inputs["src_cap"], inputs["src_cap_mask"] = _pad_rows([[s["caption"]] for s in samples], lv)

    batch: dict[str, Any] = {"meta": [s["meta"] for s in samples], "inputs": inputs}
    if all("labels" in s for s in samples):
        labels = [s["labels"] for s in samples]
        batch["targets"] = {
            "span_labels": [{"spans": torch.tensor(lab.spans)} for lab in labels],  # a copy: labels may be cached
            "saliency_pos_labels": torch.tensor([lab.saliency_pos for lab in labels], dtype=torch.long),
            "saliency_neg_labels": torch.tensor([lab.saliency_neg for lab in labels], dtype=torch.long),
            "saliency_all_labels": _pad_1d([lab.saliency_all for lab in labels], lv),
            "src_pos_mask": _pad_1d([lab.pos_mask for lab in labels], lv),
        }
    return batch


def move_to_device(batch: dict[str, Any], device: torch.device | str) -> dict[str, Any]:
    """Copy of ``batch`` with inputs and targets on ``device`` (non_blocking); meta stays as it is."""
    def move(x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            return x.to(device, non_blocking=True)
        if isinstance(x, dict):
            return {k: move(v) for k, v in x.items()}
        if isinstance(x, list):
            return [move(v) for v in x]
        return x

    out = {"meta": batch["meta"], "inputs": move(batch["inputs"])}
    if "targets" in batch:
        out["targets"] = move(batch["targets"])
    return out


def build_dataset(cfg: Config, split: str, annotation_path: str | Path | None = None,
                  preload: Preload = "auto") -> MomentDataset:
    """Dataset of ``split``: "train" reads ``cfg.data.train_path``, anything else ``cfg.data.eval_path``, unless
    ``annotation_path`` is given; ``preload`` as ``RunConfig.preload``."""
    path = annotation_path or (cfg.data.train_path if split == "train" else cfg.data.eval_path)
    if not path:
        flag = "--train_path" if split == "train" else "--eval_path"
        raise ValueError(f"no annotation file for split {split!r}: set {flag}")
    return MomentDataset(cfg, path, split, preload)

