"""Tiny randomly initialised models and generated videos, for tests, benchmarks and trying the tools offline.

Nothing here downloads anything: every model is built from a config in memory and saved like a hub checkpoint, so the
real loading code (``from_pretrained(local_dir)``) runs on it. The models are untrained: their outputs are random.

* :func:`write_test_video`: a short H.264 video whose frames encode their own index (:func:`frame_level`);
* :func:`save_tiny_clip`: a CLIP with ViT-B/32's widths (512) for the feature extractors;
* :func:`save_tiny_internvl`: an InternVL-hf checkpoint (``InternVLForConditionalGeneration``, a Qwen2 byte-level
  tokenizer carrying InternVL's image tokens and a chat template, the PIL image processor);
* :func:`save_tiny_llava`: a LLaVA whose stock processor loads without torchvision, for the generic chat-template path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from trdetr_cap.utils.io import atomic_path


def frame_level(index: int) -> int:
    """Grey level of frame ``index`` in :func:`write_test_video` (16..235, the range that survives YUV)."""
    return 16 + (index * 3) % 220


def write_test_video(path: str | Path, seconds: float, fps: float = 30.0, size: tuple[int, int] = (96, 64),
                     faststart: bool = False) -> Path:
    """Write an H.264 mp4 of ``seconds`` s at ``fps`` whose frame i is uniform grey :func:`frame_level` (i).

    Lossless (crf 0) so a decoded frame's mean identifies it. ``size`` is (width, height), both even. ``faststart``
    puts the index (moov) before the data, as streaming sites do: such a file cut short still opens and announces its
    full duration.
    """
    from fractions import Fraction

    import av

    path = Path(path)
    n_frames = int(round(seconds * fps))
    rate = Fraction(fps).limit_denominator(1001)
    with atomic_path(path, suffix=path.suffix) as tmp:
        options = {"movflags": "+faststart"} if faststart else {}
        container = av.open(str(tmp), mode="w", format="mp4", options=options)
        stream = container.add_stream("libx264", rate=rate, options={"crf": "0", "preset": "ultrafast"})
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(n_frames):
            img = np.full((size[1], size[0], 3), frame_level(i), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        container.close()
    return path


def byte_level_vocab() -> dict[str, int]:
    """GPT-2's byte -> printable character table, as a vocabulary (id = rank of the character)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = list(bs)
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + len(cs) - 188)  # the 68 unprintable bytes map to U+0100 onwards
    return {chr(c): i for i, c in enumerate(cs)}


def _save(out_dir: str | Path, seed: int, model_class: Any, config: Any, *processors: Any) -> Path:
    """Build ``model_class(config)`` with torch seeded by ``seed`` and save it and its ``processors`` (tokenizer,
    image processor) to ``out_dir`` as ``save_pretrained`` does for a hub checkpoint."""
    import torch

    torch.manual_seed(seed)
    out_dir = Path(out_dir)
    model_class(config).eval().save_pretrained(out_dir)
    for processor in processors:
        processor.save_pretrained(out_dir)
    return out_dir


def save_tiny_clip(out_dir: str | Path, image_size: int = 32, seed: int = 0) -> Path:
    """Save a randomly initialised CLIP (projection 512, like ViT-B/32) + tokenizer + image processor to ``out_dir``."""
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPTokenizer

    chars = list(byte_level_vocab())
    vocab = {c + "</w>": i for i, c in enumerate(chars)}
    vocab.update({c: len(chars) + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    config = CLIPConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=512, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=4, max_position_embeddings=77,
                         bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"],
                         pad_token_id=vocab["<|endoftext|>"]),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=image_size, patch_size=16),
        projection_dim=512,
    )
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": image_size}, crop_size=image_size)
    return _save(out_dir, seed, CLIPModel, config, tokenizer, image_processor)


CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}{{ image_placeholder }}\n{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _template(placeholder: str) -> str:
    return CHAT_TEMPLATE.replace("{{ image_placeholder }}", placeholder)


def _text_config(vocab_size: int) -> dict:
    return dict(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                num_key_value_heads=1, intermediate_size=64, max_position_embeddings=512)


def save_tiny_internvl(out_dir: str | Path, image_size: int = 28, seed: int = 0) -> Path:
    """InternVL-hf layout; each image = (image_size / 14)^2 / 4 context tokens (1 for the default 28)."""
    from transformers import InternVLConfig, InternVLForConditionalGeneration, Qwen2Tokenizer
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    vocab = byte_level_vocab()
    vocab["<|endoftext|>"] = len(vocab)
    tokenizer = Qwen2Tokenizer(
        vocab=vocab, merges=[], chat_template=_template("<IMG_CONTEXT>"),
        extra_special_tokens={"start_image_token": "<img>", "end_image_token": "</img>",
                              "context_image_token": "<IMG_CONTEXT>", "video_token": "<video>"},
    )
    config = InternVLConfig(
        vision_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                           image_size=[image_size, image_size], patch_size=[14, 14]),
        text_config=_text_config(len(tokenizer)), image_token_id=tokenizer.context_image_token_id,
        downsample_ratio=0.5,
    )
    image_processor = GotOcr2ImageProcessorPil(size={"height": image_size, "width": image_size},
                                               crop_to_patches=False, max_patches=1)
    return _save(out_dir, seed, InternVLForConditionalGeneration, config, tokenizer, image_processor)


def save_tiny_llava(out_dir: str | Path, image_size: int = 28, seed: int = 0) -> Path:
    """LLaVA layout (CLIP vision tower, ``LlavaProcessor``), whose processor needs no torchvision."""
    from transformers import (
        CLIPImageProcessorPil,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        Qwen2Tokenizer,
    )

    vocab = byte_level_vocab()
    vocab["<|endoftext|>"] = len(vocab)
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], extra_special_tokens={"image_token": "<image>"})
    config = LlavaConfig(
        vision_config=dict(model_type="clip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, image_size=image_size, patch_size=14),
        text_config=dict(model_type="qwen2", **_text_config(len(tokenizer))),
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"), vision_feature_layer=-1,
    )
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessorPil(size={"shortest_edge": image_size}, crop_size=image_size),
        tokenizer=tokenizer, patch_size=14, vision_feature_select_strategy="default", num_additional_image_tokens=1,
        chat_template=_template("<image>"),
    )
    return _save(out_dir, seed, LlavaForConditionalGeneration, config, processor)
