"""CLIP image features per 2 s clip and token-level query features, in the released QVHighlights form.

The released features (Moment-DETR's extractor, OpenAI CLIP ViT-B/32) are, per video, the projected image embedding of
one frame per clip (the last frame before the clip's midpoint, see trdetr_cap.video.decode): short side resized to
224 (bicubic), 224 centre crop, pixels / 255 normalised with CLIP's mean and std -> (L, 512). Per query: the
final-layer-norm token states of the whole tokenised text, [SOT] ... [EOT], as ``last_hidden_state`` (Lq, 512), and
the projected [EOT] state as ``pooler_output`` (512,). Here the same numbers come from transformers' ``CLIPModel``
(a hub name or a local directory), without torchvision: crop and normalisation are done with PIL and numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from trdetr_cap.config import DEFAULT_CLIP_MODEL
from trdetr_cap.errors import model_load_error
from trdetr_cap.video.decode import clip_frame_times, num_clips, probe_video, sample_frame_sets

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
MAX_QUERY_TOKENS = 32  # rows kept in clip_text_features (the model reads max_q_l = 32)


def resize_center_crop(frame: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (size, size, 3) uint8: short side to ``size`` (bicubic), then the centre square."""
    h, w = frame.shape[:2]
    # the long side truncated, as the extractor behind the released features sized ffmpeg's scale filter
    new_w, new_h = (size, max(size, int(h * size / w))) if h >= w else (max(size, int(w * size / h)), size)
    img = Image.fromarray(frame).resize((new_w, new_h), Image.BICUBIC)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    return np.asarray(img.crop((left, top, left + size, top + size)))


def normalize_frames(frames: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float32, (x / 255 - mean) / std."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div_(255.0)
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


class ClipFeatureExtractor:
    """transformers ``CLIPModel`` + tokenizer wrapped to give the released feature layout.

    Args:
        name_or_path: hub name (``openai/clip-vit-base-patch32``) or a local directory saved by ``save_pretrained``.
        device: ``cpu``, ``cuda``, ``cuda:1`` ...
        batch_size: frames (or texts) per forward pass.
    """

    def __init__(self, name_or_path: str = DEFAULT_CLIP_MODEL, device: str | torch.device = "cpu",
                 batch_size: int = 64):
        from huggingface_hub.utils import HFValidationError
        from transformers import AutoTokenizer, CLIPModel

        self.name_or_path = name_or_path
        self.device = torch.device(device)
        self.batch_size = batch_size
        try:
            self.model = CLIPModel.from_pretrained(name_or_path).to(self.device).eval()
            self.tokenizer = AutoTokenizer.from_pretrained(name_or_path)
        except (OSError, HFValidationError) as e:  # a missing local path is no valid hub name either
            raise model_load_error(str(name_or_path), "CLIP model", e) from None
        self.image_size = int(self.model.config.vision_config.image_size)
        self.max_text_len = int(self.model.config.text_config.max_position_embeddings)

    @property
    def image_dim(self) -> int:
        return int(self.model.config.projection_dim)

    @property
    def text_dim(self) -> int:
        return int(self.model.config.text_config.hidden_size)

    def crop(self, frame: np.ndarray) -> np.ndarray:
        """The per-frame transform used while decoding: (H, W, 3) -> (S, S, 3) uint8."""
        return resize_center_crop(frame, self.image_size)

    @torch.no_grad()
    def encode_frames(self, frames: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 centre crops -> (N, projection_dim) float32 image embeddings."""
        out = []
        for start in range(0, len(frames), self.batch_size):
            pixels = normalize_frames(frames[start:start + self.batch_size], CLIP_MEAN, CLIP_STD).to(self.device)
            pooled = self.model.vision_model(pixel_values=pixels).pooler_output
            out.append(self.model.visual_projection(pooled).float().cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, self.image_dim), np.float32)

    def frame_times(self, duration: float, clip_len: float = 2.0) -> list[float]:
        """Times to sample (rule "before"): one per clip, ffmpeg fps=1/2's frame."""
        return clip_frame_times(num_clips(duration, clip_len), clip_len)

    def pack(self, frames: list[np.ndarray]) -> np.ndarray:
        """Sampled crops -> (L, S, S, 3) uint8, what :meth:`encode_decoded` takes."""
        return np.stack(frames)

    def decode_video(self, path: str | Path, clip_len: float = 2.0) -> np.ndarray:
        """Decode ``path``: one centre crop per clip, (L, S, S, 3) uint8, L = num_clips(duration)."""
        times = self.frame_times(probe_video(path).duration, clip_len)
        return self.pack(sample_frame_sets(path, [times], [self.crop])[0])

    def encode_video(self, path: str | Path, clip_len: float = 2.0) -> np.ndarray:
        """Video file -> (L, projection_dim) float32, one row per ``clip_len`` s clip."""
        return self.encode_frames(self.decode_video(path, clip_len))

    def encode_decoded(self, frames: np.ndarray) -> np.ndarray:
        """:meth:`decode_video`'s output -> features (the batch extractor decodes ahead in worker threads)."""
        return self.encode_frames(frames)

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str], max_tokens: int = MAX_QUERY_TOKENS) -> list[dict[str, np.ndarray]]:
        """Each text -> ``{"last_hidden_state": (min(n_tokens, max_tokens), D), "pooler_output": (projection_dim,)}``.

        The text is encoded whole (up to the model's 77 positions) and its first ``max_tokens`` rows kept: CLIP's text
        transformer is causal, so these rows equal the released files' truncated to ``max_q_l``.
        """
        results = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start:start + self.batch_size])
            enc = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_text_len,
                                 return_tensors="pt").to(self.device)
            out = self.model.text_model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
            pooled = self.model.text_projection(out.pooler_output).float().cpu().numpy()
            hidden = out.last_hidden_state.float().cpu().numpy()
            lengths = enc["attention_mask"].sum(1).tolist()
            for j, n_tok in enumerate(lengths):
                results.append({"last_hidden_state": hidden[j, :min(n_tok, max_tokens)], "pooler_output": pooled[j]})
        return results

    def encode_pooled(self, texts: Sequence[str]) -> np.ndarray:
        """(N, projection_dim) float32 projected [EOT] embeddings (the caption features' default)."""
        rows = self.encode_texts(texts, max_tokens=0)
        return np.stack([r["pooler_output"] for r in rows]) if rows else np.zeros((0, self.image_dim), np.float32)
