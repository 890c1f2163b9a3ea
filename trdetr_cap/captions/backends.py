"""Multimodal LLM backends that caption short video windows: each takes windows of frames and returns one string each.

Three ways to run a captioner:

* ``transformers`` -- :class:`TransformersBackend`: any ``AutoModelForImageTextToText`` checkpoint with a chat template,
  e.g. ``OpenGVLab/InternVL3-8B-hf`` or ``Qwen/Qwen2.5-VL-7B-Instruct``, in this project's environment (transformers
  5.x). Frames are given as images (not as a video), so no video processor (which needs torchvision) is used. The
  stock ``InternVLProcessor`` cannot even be built without torchvision (``AutoProcessor`` fails, or returns only the
  tokenizer when the checkpoint has no processor config); InternVL checkpoints then go through an image-only path
  that expands the image placeholders exactly as that processor does. Other models need a working ``AutoProcessor``.

* ``internvl2`` -- :class:`InternVL2RemoteBackend`: ``OpenGVLab/InternVL2-8B`` (the seed's captioner) through its own
  remote code and ``model.chat`` / ``model.batch_chat``. That code does **not** run on transformers 5.x. Its model card
  asks for ``transformers>=4.37.2``; its language model (InternLM2.5-7B-chat, remote code) relies on
  ``PreTrainedModel`` inheriting ``GenerationMixin``, which transformers 4.50 removed ("'InternLM2ForCausalLM' object
  has no attribute 'generate'"), so the working range is ``4.37.2 <= transformers <= 4.49``. Run it in a separate
  environment: ``bash scripts/captions.sh VIDEOS --out captions.jsonl`` creates ``.venv-captioner/`` with
  ``transformers>=4.37.2,<4.50``, timm (+ torchvision), einops, sentencepiece, accelerate (``flash-attn`` optional)
  and runs ``captions generate`` there, with ``trust_remote_code=True``; bf16 needs ~16 GB of GPU memory. Frames are
  preprocessed as its video demo does: one 448x448 tile per frame (bicubic), ImageNet mean/std, and the question
  ``Frame1: <image>\\nFrame2: <image>\\n...{prompt}``.

* ``vllm`` -- :class:`VLLMBackend`: vLLM's offline ``LLM.chat`` for throughput at dataset scale (optional dependency,
  GPU only). vLLM serves InternVL2 (``--trust-remote-code``, since vLLM 0.5.4) and the -hf InternVL / Qwen-VL models.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Sequence
from typing import Protocol, get_args

import numpy as np
import torch
from PIL import Image

from trdetr_cap.config import CaptionBackend
from trdetr_cap.errors import model_load_error

BACKENDS: tuple[str, ...] = get_args(CaptionBackend)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# the chat template InternVL-hf checkpoints ship (used when a tokenizer was saved without it): images -> <IMG_CONTEXT>
INTERNVL_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}{{ '<IMG_CONTEXT>\\n' }}{% elif item['type'] == 'text' %}{{ item['text'] }}"
    "{% endif %}{% endfor %}{% endif %}{{ '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


class CaptionBackend(Protocol):
    def caption(self, windows: Sequence[Sequence[np.ndarray]], prompt: str) -> list[str]:
        """``windows[i]`` = frames (H, W, 3) uint8 of one window -> one caption per window."""
        ...


def _dtype(name: str, device: torch.device) -> torch.dtype:
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def _user_message(n_images: int, prompt: str, images: Sequence[Image.Image] | None = None) -> list[dict]:
    content = [{"type": "image", **({"image": images[i]} if images else {})} for i in range(n_images)]
    return [{"role": "user", "content": [*content, {"type": "text", "text": prompt}]}]


class InternVLImagePrompter:
    """Image-only replacement for ``InternVLProcessor``: chat template -> expand ``<IMG_CONTEXT>`` -> tokenize.

    Each image becomes ``<img>`` + ``<IMG_CONTEXT>`` * ``image_seq_length`` + ``</img>`` (one tile per frame, as
    InternVL does for video frames), ``image_seq_length = (image_size / patch_size)^2 * downsample_ratio^2``.
    """

    def __init__(self, tokenizer, image_processor, model_config):
        vision = model_config.vision_config
        size = vision.image_size[0] if isinstance(vision.image_size, (list, tuple)) else vision.image_size
        patch = vision.patch_size[0] if isinstance(vision.patch_size, (list, tuple)) else vision.patch_size
        self.image_seq_length = int((size // patch) ** 2 * model_config.downsample_ratio ** 2)
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        for attr in ("start_image_token", "end_image_token", "context_image_token"):
            if getattr(tokenizer, attr, None) is None:
                raise RuntimeError(f"InternVL tokenizer lacks {attr}: not an InternVL-hf checkpoint")
        if tokenizer.chat_template is None:
            tokenizer.chat_template = INTERNVL_CHAT_TEMPLATE
        tokenizer.padding_side = "left"  # batched generation continues every row at the same position

    def __call__(self, windows: Sequence[Sequence[Image.Image]], prompt: str) -> dict[str, torch.Tensor]:
        tok = self.tokenizer
        expanded = tok.start_image_token + tok.context_image_token * self.image_seq_length + tok.end_image_token
        texts = []
        for frames in windows:
            text = tok.apply_chat_template(_user_message(len(frames), prompt), add_generation_prompt=True,
                                           tokenize=False)
            if text.count(tok.context_image_token) != len(frames):
                raise RuntimeError("the chat template did not emit one image placeholder per frame")
            texts.append(text.replace(tok.context_image_token, expanded))
        images = [img for frames in windows for img in frames]
        pixels = self.image_processor(images=images, crop_to_patches=False, return_tensors="pt")["pixel_values"]
        enc = tok(texts, padding=True, return_tensors="pt", add_special_tokens=False)
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "pixel_values": pixels}


class TransformersBackend:
    """A transformers image-text-to-text model with a chat template (greedy decoding)."""

    def __init__(self, model: str, device: str | torch.device = "cpu", dtype: str = "auto",
                 max_new_tokens: int = 48):
        from transformers import AutoModelForImageTextToText

        self.device = torch.device(device)
        self.max_new_tokens = max_new_tokens
        self.model = AutoModelForImageTextToText.from_pretrained(model, dtype=_dtype(dtype, self.device))
        self.model.to(self.device).eval()
        self.processor, self.prompter = self._load_processor(model)

    def _load_processor(self, model: str):
        from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer, ProcessorMixin

        error = "it returned only a tokenizer"
        try:
            processor = AutoProcessor.from_pretrained(model)
            if isinstance(processor, ProcessorMixin) and getattr(processor, "image_processor", None) is not None:
                processor.tokenizer.padding_side = "left"
                return processor, None
        except (ValueError, ImportError, AttributeError, OSError) as e:
            error = f"{type(e).__name__}: {e}"
        if self.model.config.model_type == "internvl":
            tokenizer = AutoTokenizer.from_pretrained(model)
            return None, InternVLImagePrompter(tokenizer, AutoImageProcessor.from_pretrained(model), self.model.config)
        raise RuntimeError(f"{model}: AutoProcessor gave no image processor ({error}). Image-only captioning is built "
                           "in for InternVL checkpoints; for this model install what its processor needs "
                           "(often torchvision) or use --cap_backend vllm.")

    def _inputs(self, images: list[list[Image.Image]], prompt: str) -> dict[str, torch.Tensor]:
        if self.prompter is not None:
            return self.prompter(images, prompt)
        messages = [_user_message(len(frames), prompt, frames) for frames in images]
        return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                  return_dict=True, return_tensors="pt",
                                                  processor_kwargs={"padding": True})

    @torch.no_grad()
    def caption(self, windows: Sequence[Sequence[np.ndarray]], prompt: str) -> list[str]:
        images = [[Image.fromarray(f) for f in frames] for frames in windows]
        inputs = {k: v.to(self.device) for k, v in self._inputs(images, prompt).items() if torch.is_tensor(v)}
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        new_tokens = out[:, inputs["input_ids"].shape[1]:]
        tokenizer = self.prompter.tokenizer if self.prompter is not None else self.processor.tokenizer
        return [t.strip() for t in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]


def internvl2_pixels(frames: Sequence[np.ndarray], size: int = 448) -> torch.Tensor:
    """Frames -> (N, 3, size, size) float32: bicubic resize to a square tile, ImageNet normalisation."""
    tiles = np.stack([np.asarray(Image.fromarray(f).resize((size, size), Image.BICUBIC)) for f in frames])
    x = torch.from_numpy(tiles).permute(0, 3, 1, 2).float().div_(255.0)
    return (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)


def internvl2_question(n_frames: int, prompt: str) -> str:
    """The question InternVL2's video demo builds: ``Frame1: <image>\\n...FrameN: <image>\\n{prompt}``; ``chat``
    expands each ``<image>`` into that frame's tokens."""
    return "".join(f"Frame{i + 1}: <image>\n" for i in range(n_frames)) + prompt


INTERNVL2_TRANSFORMERS = ((4, 37, 2), (4, 49, 99))  # the remote code's working range (module docstring)


def check_internvl2_transformers(version: str) -> None:
    """Raise before any download when InternVL2's remote code cannot run on this transformers ``version``."""
    parts = tuple(int(p) for p in re.findall(r"\d+", version)[:3])
    low, high = INTERNVL2_TRANSFORMERS
    if not low <= parts <= high:
        raise ValueError(
            f"the internvl2 backend (InternVL2 remote code) needs 4.37.2 <= transformers <= 4.49, this environment "
            f"has {version}: run it in its own environment (bash scripts/captions.sh VIDEOS --out captions.jsonl "
            f"creates one), or use --cap_backend vllm with --cap_model OpenGVLab/InternVL2-8B, or --cap_backend "
            f"transformers with an -hf checkpoint such as --cap_model OpenGVLab/InternVL3-8B-hf"
        )


# what InternVL2's remote code files import beyond torch (modeling_intern_vit: einops, timm's DropPath; the InternLM2
# tokenizer: sentencepiece; device placement: accelerate); scripts/captioner/internvl2.txt installs them
INTERNVL2_REMOTE_IMPORTS = ("einops", "timm.models.layers", "sentencepiece", "accelerate")


def check_internvl2_environment() -> None:
    """Raise before any download when this environment cannot run InternVL2's remote code: the transformers range,
    the modules it imports (importing them, so e.g. a torchvision that does not fit torch fails here), and the
    ``generate`` its language model inherits from ``PreTrainedModel``."""
    import importlib

    import transformers
    from transformers.modeling_utils import PreTrainedModel

    check_internvl2_transformers(transformers.__version__)
    for name in INTERNVL2_REMOTE_IMPORTS:
        try:
            importlib.import_module(name)
        except Exception as e:  # noqa: BLE001 - a broken install raises anything; all mean "cannot run"
            raise ValueError(f"the internvl2 backend needs {name.split('.')[0]} ({type(e).__name__}: {e}); "
                             "create its environment with: bash scripts/captions.sh --setup-only") from None
    if not hasattr(PreTrainedModel, "generate"):
        raise ValueError(f"transformers {transformers.__version__}: PreTrainedModel has no generate(), which "
                         "InternVL2's remote InternLM2 needs")


class InternVL2RemoteBackend:
    """OpenGVLab InternVL2 (remote code, ``model.chat``); needs transformers 4.37.2-4.49, see the module docstring."""

    def __init__(self, model: str, device: str | torch.device = "cuda", dtype: str = "auto",
                 max_new_tokens: int = 48):
        from transformers import AutoModel, AutoTokenizer

        check_internvl2_environment()

        self.device = torch.device(device)
        self.dtype = _dtype(dtype, self.device)
        self.model = AutoModel.from_pretrained(model, torch_dtype=self.dtype, trust_remote_code=True,
                                               low_cpu_mem_usage=True).to(self.device).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(model, trust_remote_code=True, use_fast=False)
        self.generation = {"max_new_tokens": max_new_tokens, "do_sample": False}

    @torch.no_grad()
    def caption(self, windows: Sequence[Sequence[np.ndarray]], prompt: str) -> list[str]:
        if all(len(frames) == 1 for frames in windows):  # one image per question: batch_chat handles a batch
            pixels = internvl2_pixels([frames[0] for frames in windows]).to(self.device, self.dtype)
            questions = [f"<image>\n{prompt}"] * len(windows)
            answers = self.model.batch_chat(self.tokenizer, pixels, num_patches_list=[1] * len(windows),
                                            questions=questions, generation_config=self.generation)
            return [a.strip() for a in answers]
        answers = []
        for frames in windows:  # several frames: chat() expands one <image> per entry of num_patches_list
            pixels = internvl2_pixels(frames).to(self.device, self.dtype)
            question = internvl2_question(len(frames), prompt)
            answers.append(self.model.chat(self.tokenizer, pixels, question, self.generation,
                                           num_patches_list=[1] * len(frames)).strip())
        return answers


def _data_url(frame: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=95)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class VLLMBackend:
    """vLLM offline chat (``pip install vllm``; GPU). Frames are passed as JPEG data URLs in OpenAI-style messages."""

    def __init__(self, model: str, max_new_tokens: int = 48, frames_per_window: int = 2, dtype: str = "auto"):
        from vllm import LLM, SamplingParams

        self.llm = LLM(model=model, trust_remote_code=True, dtype=dtype,
                       limit_mm_per_prompt={"image": frames_per_window})
        self.sampling = SamplingParams(temperature=0.0, max_tokens=max_new_tokens)

    def caption(self, windows: Sequence[Sequence[np.ndarray]], prompt: str) -> list[str]:
        conversations = [[{"role": "user", "content": [
            *({"type": "image_url", "image_url": {"url": _data_url(f)}} for f in frames),
            {"type": "text", "text": prompt}]}] for frames in windows]
        outputs = self.llm.chat(conversations, self.sampling, use_tqdm=False)
        return [o.outputs[0].text.strip() for o in outputs]


def build_backend(name: str, model: str, device: str | torch.device, dtype: str, max_new_tokens: int,
                  frames_per_window: int) -> CaptionBackend:
    """``name`` in :data:`BACKENDS` -> a loaded backend."""
    from huggingface_hub.utils import HFValidationError

    try:
        if name == "transformers":
            return TransformersBackend(model, device, dtype, max_new_tokens)
        if name == "internvl2":
            return InternVL2RemoteBackend(model, device, dtype, max_new_tokens)
    except (OSError, HFValidationError) as e:  # a missing local path is no valid hub name either
        raise model_load_error(model, "caption model", e) from None
    if name == "vllm":
        return VLLMBackend(model, max_new_tokens, frames_per_window, dtype)
    raise ValueError(f"unknown caption backend {name!r} (expected one of {', '.join(BACKENDS)})")
