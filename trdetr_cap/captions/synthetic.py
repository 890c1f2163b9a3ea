"""Tiny randomly initialised captioners saved like hub checkpoints, for offline tests and benchmarks.

:func:`save_tiny_internvl` mirrors an InternVL-hf checkpoint (``InternVLForConditionalGeneration``, a Qwen2 byte-level
tokenizer carrying InternVL's image tokens and a chat template, the PIL image processor); :func:`save_tiny_llava`
is a model whose stock processor loads without torchvision, for the generic chat-template path.
"""

from __future__ import annotations

from pathlib import Path

from trdetr_cap.video.synthetic import byte_level_vocab

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
    import torch
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
    torch.manual_seed(seed)
    model = InternVLForConditionalGeneration(config).eval()
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    GotOcr2ImageProcessorPil(size={"height": image_size, "width": image_size}, crop_to_patches=False,
                             max_patches=1).save_pretrained(out_dir)
    return out_dir


def save_tiny_llava(out_dir: str | Path, image_size: int = 28, seed: int = 0) -> Path:
    """LLaVA layout (CLIP vision tower, ``LlavaProcessor``), whose processor needs no torchvision."""
    import torch
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
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config).eval()
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessorPil(size={"shortest_edge": image_size}, crop_size=image_size),
        tokenizer=tokenizer, patch_size=14, vision_feature_select_strategy="default", num_additional_image_tokens=1,
        chat_template=_template("<image>"),
    )
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir
