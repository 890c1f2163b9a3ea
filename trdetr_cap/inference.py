"""Run a trained checkpoint on a raw video: the MomentRetriever API (command line: ``trdetr-cap infer``).

    trdetr-cap infer runs/x/model_best.ckpt V.mp4 --query "a man opens the door" [--out result.json] \
        [--plot result.png] [--clip_model DIR] [--slowfast_ckpt SLOWFAST_8x8_R50.pkl] \
        [--cap_model OpenGVLab/InternVL3-8B-hf]

    retriever = MomentRetriever.from_checkpoint("best.ckpt", clip_model="openai/clip-vit-base-patch32")
    retriever = MomentRetriever.from_pretrained("DIR_OR_HUB_ID")  # a folder written by `trdetr-cap export`
    retriever.encode_video("V.mp4")                    # decoded and encoded once, then cached
    result = retriever.predict("a man opens the door")  # or predict(query, video="V.mp4")
    result["moments"]   # [[start_s, end_s, score], ...] best first
    result["saliency"]  # one score per clip_len-second clip

Features are built as the data pipeline builds them: each video feature set (in the checkpoint's ``v_feat_dirs``
order, SlowFast before CLIP for QVHighlights) L2-normalised per row, cut to a common length, TEF appended by
``trdetr_cap.data.collate``; the query is CLIP's token states, ``max_q_l`` tokens, L2-normalised; captions are CLIP
text embeddings of one MLLM caption per clip. A video longer than ``max_v_l`` clips is cut into windows of
``max_v_l`` clips overlapping by half; the windows' moments are shifted to video time and merged by temporal NMS,
and each clip's saliency is the mean over the windows that contain it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trdetr_cap.config import DEFAULT_CLIP_MODEL, Config, from_dict

FEATURE_WIDTHS = {"slowfast": 2304, "clip": 512}


def video_feature_kinds(cfg: Config) -> list[str]:
    """The checkpoint's video feature sets in input order, from ``v_feat_dirs`` names or else the input width."""
    kinds = []
    for d in cfg.data.v_feat_dirs:
        name = Path(d).name.lower()
        kinds.append("slowfast" if "slowfast" in name else "clip" if "clip" in name else "?")
    if not kinds or "?" in kinds:
        width = cfg.model.v_feat_dim - (2 if cfg.data.use_tef else 0)
        kinds = {512: ["clip"], 2816: ["slowfast", "clip"]}.get(width, [])
    if sum(FEATURE_WIDTHS[k] for k in kinds) + 2 * cfg.data.use_tef != cfg.model.v_feat_dim or cfg.data.a_feat_dir:
        raise ValueError(f"checkpoint expects video features {cfg.data.v_feat_dirs or '?'} of width "
                         f"{cfg.model.v_feat_dim}{' with audio' if cfg.data.a_feat_dir else ''}; raw-video inference "
                         "supports CLIP (512) and SlowFast (2304) + CLIP, with TEF")
    return kinds


def sliding_windows(n_clips: int, max_len: int) -> list[tuple[int, int]]:
    """[start, end) clip ranges of at most ``max_len`` clips, overlapping by half, covering all ``n_clips``."""
    if n_clips <= max_len:
        return [(0, n_clips)]
    stride = max(1, max_len // 2)
    starts = list(range(0, n_clips - max_len + 1, stride))
    if starts[-1] + max_len < n_clips:
        starts.append(n_clips - max_len)
    return [(s, s + max_len) for s in starts]


class MomentRetriever:
    """A TR-DETR checkpoint plus the extractors that turn a raw video and a text query into its inputs."""

    def __init__(self, model: torch.nn.Module, cfg: Config, clip_extractor, slowfast_extractor=None,
                 caption_backend=None, caption_encoder=None, device: str = "cpu"):

        self.model, self.cfg, self.device = model, cfg, torch.device(device)
        self.kinds = video_feature_kinds(cfg)
        if "slowfast" in self.kinds and slowfast_extractor is None:
            raise ValueError("this checkpoint uses SlowFast features: pass slowfast_ckpt (--slowfast_ckpt)")
        self.clip, self.slowfast = clip_extractor, slowfast_extractor
        self.uses_captions = cfg.caption.enabled()
        self.caption_backend, self.caption_encoder = caption_backend, caption_encoder
        self._videos: dict[tuple[str, int], dict[str, Any]] = {}
        self._current: tuple[str, int] | None = None  # the last encoded video: predict's default

    @classmethod
    def from_checkpoint(cls, checkpoint: str | Path, clip_model: str = DEFAULT_CLIP_MODEL, slowfast_ckpt: str = "",
                        caption_model: str = "", caption_backend: str = "transformers", caption_encoder: str = "",
                        device: str = "auto", slowfast_crop_size: int = 224) -> MomentRetriever:
        """Load ``checkpoint`` (a plain-dict trdetr_cap checkpoint) and the feature extractors it needs.

        ``caption_model`` is only used by caption checkpoints; without it their caption rows are masked out (the
        model met dropped caption rows in training, but expect weaker results). ``caption_encoder`` defaults to the
        checkpoint's ``cap_text_encoder``.
        """
        from trdetr_cap.engine.checkpoint import load_checkpoint
        from trdetr_cap.models import build_model

        ckpt = load_checkpoint(checkpoint)
        cfg = from_dict(ckpt["config"], str(checkpoint))
        model, _ = build_model(cfg)
        model.load_state_dict(ckpt["model"])
        return cls.from_model(model, cfg, clip_model, slowfast_ckpt, caption_model, caption_backend, caption_encoder,
                              device, slowfast_crop_size)

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, clip_model: str = "", slowfast_ckpt: str = "",
                        caption_model: str = "", caption_backend: str = "transformers", caption_encoder: str = "",
                        device: str = "auto", slowfast_crop_size: int = 224,
                        revision: str | None = None) -> MomentRetriever:
        """Load a model folder written by ``trdetr-cap export`` (a local directory, offline) or a hub repository id
        (through ``huggingface_hub``); ``clip_model`` defaults to the query encoder the folder names. Other
        arguments as :meth:`from_checkpoint`."""
        from trdetr_cap.hub import load_pretrained

        model, cfg, spec = load_pretrained(name_or_path, revision=revision)
        clip_model = clip_model or spec["query"]["encoder"] or DEFAULT_CLIP_MODEL
        return cls.from_model(model, cfg, clip_model, slowfast_ckpt, caption_model, caption_backend, caption_encoder,
                              device, slowfast_crop_size)

    @classmethod
    def from_model(cls, model: torch.nn.Module, cfg: Config, clip_model: str = DEFAULT_CLIP_MODEL,
                   slowfast_ckpt: str = "", caption_model: str = "", caption_backend: str = "transformers",
                   caption_encoder: str = "", device: str = "auto", slowfast_crop_size: int = 224) -> MomentRetriever:
        """A built model and its config, plus the extractors it needs (arguments as :meth:`from_checkpoint`)."""
        from trdetr_cap.device import resolve_device
        from trdetr_cap.video.clip import ClipFeatureExtractor

        device = resolve_device(device)
        model.to(device).eval()
        clip = ClipFeatureExtractor(clip_model, device)
        slowfast = None
        if "slowfast" in video_feature_kinds(cfg):
            from trdetr_cap.video.slowfast import SlowFastExtractor

            slowfast = SlowFastExtractor(slowfast_ckpt, device, crop_size=slowfast_crop_size) if slowfast_ckpt else None
        backend = encoder = None
        if cfg.caption.enabled() and caption_model:
            from trdetr_cap.captions.backends import build_backend

            c = cfg.captioner
            backend = build_backend(caption_backend, caption_model, device, "auto", c.cap_max_new_tokens,
                                    c.cap_frames)
            name = caption_encoder or c.cap_text_encoder
            encoder = clip if name == clip_model else ClipFeatureExtractor(name, device)
        return cls(model, cfg, clip, slowfast, backend, encoder, device)

    # ---- video side (cached) -------------------------------------------------------------------------------------
    def encode_video(self, path: str | Path) -> dict[str, Any]:
        """Decode and encode ``path`` once: {"video" (L, D) normalised, "caption" (L, Dc) or None, "duration",
        "captions" (strings or None)}. Cached per file (path and modification time)."""
        from trdetr_cap.data.features import l2_normalize
        from trdetr_cap.video.decode import probe_video

        path = Path(path)
        key = (str(path.resolve()), path.stat().st_mtime_ns if path.exists() else 0)
        self._current = key
        if key in self._videos:
            return self._videos[key]
        d = self.cfg.data
        sets = [(self.slowfast if kind == "slowfast" else self.clip).encode_video(path, d.clip_len)
                for kind in self.kinds]
        if d.normalize_v:
            sets = [l2_normalize(s) for s in sets]
        length = min(len(s) for s in sets)
        encoded = {"video": np.concatenate([s[:length] for s in sets], axis=1).astype(np.float32),
                   "duration": probe_video(path).duration, "caption": None, "captions": None}
        if self.uses_captions and self.caption_backend is not None:
            encoded["captions"], encoded["caption"] = self._caption_features(path, length)
        self._videos[key] = encoded
        return encoded

    def _caption_features(self, path: Path, length: int) -> tuple[list[str], np.ndarray]:
        from trdetr_cap.captions.embed import align_to_clips
        from trdetr_cap.captions.generate import caption_video
        from trdetr_cap.data.features import l2_normalize

        c = self.cfg.captioner
        row = caption_video(path, self.caption_backend, c.cap_prompt, c.cap_window, c.cap_stride, c.cap_frames)
        emb = align_to_clips(self.caption_encoder.encode_pooled(row["captions"]), row["clip_len"],
                             self.cfg.data.clip_len)[:length]
        if len(emb) < length:  # the caption grid ended early: repeat the last caption
            emb = np.concatenate([emb, np.repeat(emb[-1:], length - len(emb), axis=0)])
        return row["captions"], (l2_normalize(emb) if self.cfg.data.normalize_t else emb).astype(np.float32)

    def encode_query(self, query: str) -> np.ndarray:
        """(min(Lq, max_q_l), 512) CLIP token states, L2-normalised as the data pipeline does."""
        from trdetr_cap.data.features import l2_normalize

        feats = self.clip.encode_texts([query], max_tokens=self.cfg.data.max_q_l)[0]["last_hidden_state"]
        return l2_normalize(feats) if self.cfg.data.normalize_t else feats

    # ---- prediction ----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, query: str, video: str | Path | None = None, top_k: int = 10) -> dict[str, Any]:
        """Moments [[start_s, end_s, score], ...] (best first, at most ``top_k``) and per-clip saliency for ``video``
        (default: the video last given to ``encode_video``)."""
        from trdetr_cap.data.dataset import collate, move_to_device
        from trdetr_cap.engine.postprocess import outputs_to_submission, temporal_nms

        if video is None:
            if self._current is None:
                raise ValueError("predict: no video given and none encoded yet (call encode_video first)")
            video = self._current[0]
        enc = self.encode_video(video)
        text = self.encode_query(query)
        d, clip_len = self.cfg.data, self.cfg.data.clip_len
        n_clips = len(enc["video"])
        windows = sliding_windows(n_clips, d.max_v_l)
        samples = []
        for start, end in windows:
            caption = enc["caption"][start:end] if enc["caption"] is not None else None
            if self.uses_captions and caption is None:  # no captioner given: every caption row masked out
                caption = np.zeros((0, self.cfg.caption.cap_feat_dim), np.float32)
            duration = min(enc["duration"], end * clip_len) - start * clip_len
            samples.append({"meta": {"qid": 0, "query": query, "vid": str(video), "duration": duration,
                                     "feat_len": end - start},
                            "video": enc["video"][start:end], "audio": None, "text": text,
                            "caption": caption, "use_tef": d.use_tef})
        batch = move_to_device(collate(samples), self.device)
        outputs = self.model(**batch["inputs"])
        post = dataclasses.replace(self.cfg.post, max_duration=None, nms_thd=None)  # clamp to each window
        rows = outputs_to_submission(outputs, batch["meta"], post, clip_len)
        moments, saliency, counts = [], np.zeros(n_clips), np.zeros(n_clips)
        for (start, end), row in zip(windows, rows, strict=True):
            offset = start * clip_len
            moments += [[st + offset, ed + offset, sc] for st, ed, sc in row["pred_relevant_windows"]]
            saliency[start:end] += np.asarray(row["pred_saliency_scores"], dtype=np.float64)
            counts[start:end] += 1
        if len(windows) > 1:
            nms = self.cfg.post.nms_thd if self.cfg.post.nms_thd is not None else 0.7
            moments = temporal_nms(moments, nms, len(moments))
        moments = sorted(moments, key=lambda m: m[2], reverse=True)[:top_k]
        return {"query": query, "video": str(video), "duration": enc["duration"], "clip_len": clip_len,
                "moments": [[round(v, 4) for v in m] for m in moments],
                "saliency": [round(float(s), 4) for s in saliency / np.maximum(counts, 1)],
                "captions": enc["captions"]}


if __name__ == "__main__":
    from trdetr_cap.commands.infer import main

    raise SystemExit(main())
