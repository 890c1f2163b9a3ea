"""Generated inputs for tests and benchmarks: a short video whose frames encode their own index, a tiny random CLIP.

Nothing here downloads anything: the CLIP model and its byte-level tokenizer are built from configs in memory.
"""

from __future__ import annotations

from pathlib import Path

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


def save_tiny_clip(out_dir: str | Path, image_size: int = 32, seed: int = 0) -> Path:
    """Save a randomly initialised CLIP (projection 512, like ViT-B/32) + tokenizer + image processor to ``out_dir``."""
    import torch
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
    torch.manual_seed(seed)
    model = CLIPModel(config).eval()
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    CLIPImageProcessorPil(size={"shortest_edge": image_size}, crop_size=image_size).save_pretrained(out_dir)
    return out_dir
