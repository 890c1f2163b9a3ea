"""``MomentRetriever``: a trained model plus the extractors that turn a raw video and a text query into its inputs.

    retriever = MomentRetriever.from_checkpoint("best.ckpt", clip_model="openai/clip-vit-base-patch32")
    retriever.encode_video("V.mp4")                    # decoded and encoded once, then cached
    result = retriever.predict("a man opens the door")  # or predict(query, video="V.mp4")
    result["moments"]   # [[start_s, end_s, score], ...] best first
    result["saliency"]  # one score per clip_len-second clip

The raw features are those of the extract / caption pipelines (each video feature set in the checkpoint's
``v_feat_dirs`` order, SlowFast before CLIP for QVHighlights; the query's CLIP token states; one CLIP text embedding
per clip of the MLLM captions), and they become model inputs through ``trdetr_cap.data.inputs`` and ``collate``,
exactly as in training. A video longer than ``max_v_l`` clips is cut into windows of ``max_v_l`` clips overlapping by
half; the windows' moments are shifted to video time and merged by temporal NMS, and each clip's saliency is the
mean over the windows that contain it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trdetr_cap.config import DEFAULT_CLIP_MODEL, Config
from trdetr_cap.data.dataset import collate, move_to_device
from trdetr_cap.data.inputs import caption_features, make_sample, query_features, video_features
from trdetr_cap.device import resolve_device
from trdetr_cap.engine.postprocess import outputs_to_submission
from trdetr_cap.spans import temporal_nms
from trdetr_cap.video.clip import ClipFeatureExtractor

FEATURE_WIDTHS = {"slowfast": 2304, "clip": 512}
WINDOW_NMS_THD = 0.7  # merging overlapping windows' moments when the checkpoint's own post-processing has no NMS


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
    """A TR-DETR model (eval mode, on ``device``), its config, and the feature extractors its inputs need.

    Build one with :meth:`from_checkpoint`, or with :meth:`from_model` for a model loaded another way.
    """

    def __init__(self, model: torch.nn.Module, cfg: Config, clip_extractor: ClipFeatureExtractor,
                 slowfast_extractor: Any | None = None, caption_backend: Any | None = None,
                 caption_encoder: ClipFeatureExtractor | None = None, device: str | torch.device = "cpu"):
        self.model, self.cfg, self.device = model, cfg, resolve_device(device)
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
                        device: str | torch.device = "auto", slowfast_crop_size: int = 224) -> MomentRetriever:
        """Load ``checkpoint`` (a plain-dict trdetr_cap checkpoint) and the feature extractors it needs; the
        extractor arguments are those of :meth:`from_model`."""
        from trdetr_cap.engine.checkpoint import load_model

        device = resolve_device(device)
        model, cfg = load_model(checkpoint, device=device)
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
                   caption_encoder: str = "", device: str | torch.device = "auto",
                   slowfast_crop_size: int = 224) -> MomentRetriever:
        """Wrap a loaded ``model`` of ``cfg`` with the extractors its inputs need, all on ``device``.

        ``slowfast_ckpt`` is needed by SlowFast checkpoints. ``caption_model`` is only used by caption checkpoints;
        without it their caption rows are masked out (the model met dropped caption rows in training, but expect
        weaker results). ``caption_encoder`` defaults to the config's ``captioner.cap_text_encoder``.
        """
        device = resolve_device(device)
        model.to(device).eval()
        clip = ClipFeatureExtractor(clip_model, device)
        slowfast = None
        if "slowfast" in video_feature_kinds(cfg) and slowfast_ckpt:
            from trdetr_cap.video.slowfast import SlowFastExtractor

            slowfast = SlowFastExtractor(slowfast_ckpt, device, crop_size=slowfast_crop_size)
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
        """Decode and encode ``path`` once -> {"video_sets": raw (L, D_k) per feature set, cut to a common L,
        "caption": raw (Lc, Dc) per-clip caption features or None, "captions": strings or None, "duration"}.

        Cached per file (path and modification time).
        """
        from trdetr_cap.video.decode import probe_video

        path = Path(path)
        key = (str(path.resolve()), path.stat().st_mtime_ns if path.exists() else 0)
        self._current = key
        if key in self._videos:
            return self._videos[key]
        clip_len = self.cfg.data.clip_len
        sets = [(self.slowfast if kind == "slowfast" else self.clip).encode_video(path, clip_len)
                for kind in self.kinds]
        length = min(len(s) for s in sets)
        encoded = {"video_sets": [s[:length] for s in sets], "duration": probe_video(path).duration,
                   "caption": None, "captions": None}
        if self.uses_captions and self.caption_backend is not None:
            encoded["captions"], encoded["caption"] = self._caption_rows(path)
        self._videos[key] = encoded
        return encoded

    def _caption_rows(self, path: Path) -> tuple[list[str], np.ndarray]:
        """The MLLM's captions of ``path`` and their embeddings on the clip grid, (Lc, Dc) as caption embedding
        writes them for training."""
        from trdetr_cap.captions.embed import align_to_clips
        from trdetr_cap.captions.generate import caption_video

        c = self.cfg.captioner
        row = caption_video(path, self.caption_backend, c.cap_prompt, c.cap_window, c.cap_stride, c.cap_frames)
        pooled = self.caption_encoder.encode_pooled(row["captions"])
        return row["captions"], align_to_clips(pooled, row["clip_len"], self.cfg.data.clip_len)

    def encode_query(self, query: str) -> np.ndarray:
        """(min(Lq, max_q_l), Dt) CLIP token states as the query feature files hold them, preprocessed."""
        return query_features(self.clip.encode_texts([query])[0]["last_hidden_state"], self.cfg.data)

    # ---- prediction ----------------------------------------------------------------------------------------------
    def _video_or_current(self, video: str | Path | None) -> str | Path:
        if video is not None:
            return video
        if self._current is None:
            raise ValueError("predict: no video given and none encoded yet (call encode_video first)")
        return self._current[0]

    def model_inputs(self, query: str, video: str | Path | None = None) -> tuple[list[tuple[int, int]], dict]:
        """The clip windows of ``video`` (default: the last encoded one) and the batch ``collate`` builds for them,
        one sample per window, on the CPU: the same inputs the training data path gives for the same features."""
        video = self._video_or_current(video)
        enc = self.encode_video(video)
        text = self.encode_query(query)
        d = self.cfg.data
        windows = sliding_windows(len(enc["video_sets"][0]), d.max_v_l)
        samples = []
        for start, end in windows:
            caption = None
            if self.uses_captions:  # without a captioner every caption row is masked out
                caption = (caption_features(enc["caption"][start:end], d) if enc["caption"] is not None
                           else np.zeros((0, self.cfg.caption.cap_feat_dim), np.float32))
            duration = min(enc["duration"], end * d.clip_len) - start * d.clip_len
            meta = {"qid": 0, "query": query, "vid": str(video), "duration": duration}
            samples.append(make_sample(meta, video_features([s[start:end] for s in enc["video_sets"]], d), text,
                                       d.use_tef, caption=caption))
        return windows, collate(samples)

    @torch.no_grad()
    def predict(self, query: str, video: str | Path | None = None, top_k: int = 10) -> dict[str, Any]:
        """Moments [[start_s, end_s, score], ...] (best first, at most ``top_k``) and per-clip saliency for ``video``
        (default: the video last given to ``encode_video``)."""
        video = self._video_or_current(video)
        enc = self.encode_video(video)
        windows, batch = self.model_inputs(query, video)
        clip_len = self.cfg.data.clip_len
        batch = move_to_device(batch, self.device)
        outputs = self.model(**batch["inputs"])
        post = dataclasses.replace(self.cfg.post, max_duration=None, nms_thd=None)  # clamp to each window
        rows = outputs_to_submission(outputs, batch["meta"], post, clip_len)
        n_clips = windows[-1][1]
        moments, saliency, counts = [], np.zeros(n_clips), np.zeros(n_clips)
        for (start, end), row in zip(windows, rows, strict=True):
            offset = start * clip_len
            moments += [[st + offset, ed + offset, sc] for st, ed, sc in row["pred_relevant_windows"]]
            saliency[start:end] += np.asarray(row["pred_saliency_scores"], dtype=np.float64)
            counts[start:end] += 1
        if len(windows) > 1:
            nms = self.cfg.post.nms_thd if self.cfg.post.nms_thd is not None else WINDOW_NMS_THD
            moments = temporal_nms(moments, nms, len(moments))
        moments = sorted(moments, key=lambda m: m[2], reverse=True)[:top_k]
        return {"query": query, "video": str(video), "duration": enc["duration"], "clip_len": clip_len,
                "moments": [[round(v, 4) for v in m] for m in moments],
                "saliency": [round(float(s), 4) for s in saliency / np.maximum(counts, 1)],
                "captions": enc["captions"]}
