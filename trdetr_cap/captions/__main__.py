"""python -m trdetr_cap.captions generate | merge | embed

    python -m trdetr_cap.captions generate VIDEOS... --out captions.jsonl [--model OpenGVLab/InternVL2-8B] \
        [--backend internvl2|transformers|vllm] [--shard 0/4] [--config configs/x.yaml] [--prompt "..."]
    python -m trdetr_cap.captions merge captions.shard*of4.jsonl --out captions.jsonl
    python -m trdetr_cap.captions embed captions.jsonl --out caption_features.h5 [--encoder CLIP_NAME_OR_DIR]

Model, backend, prompt, window, stride, frames, max_new_tokens and the text encoder default to the ``captioner`` section
of the config (``--config`` YAML, then these flags): InternVL2-8B through its remote code unless told otherwise.
Exit status: 0 done, 1 some videos failed (listed), 2 bad input.
"""

from __future__ import annotations

import argparse
import sys

from trdetr_cap.captions.backends import BACKENDS
from trdetr_cap.config import CaptionerConfig, load_config


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m trdetr_cap.captions", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="caption each clip of each video with a multimodal LLM")
    gen.add_argument("inputs", nargs="+", help="video files, directories of videos, or .txt lists of paths")
    gen.add_argument("--out", required=True, help="captions.jsonl (with --shard: captions.shard{i}of{n}.jsonl)")
    gen.add_argument("--model", dest="cap_model", default=None,
                     help=f"hub name or local directory of the captioner (default: captioner.cap_model, "
                          f"{CaptionerConfig().cap_model})")
    gen.add_argument("--backend", dest="cap_backend", choices=BACKENDS, default=None,
                     help=f"default: captioner.cap_backend ({CaptionerConfig().cap_backend})")
    gen.add_argument("--shard", default="0/1", help="i/n: caption only this shard's videos (0 <= i < n)")
    gen.add_argument("--batch_size", type=int, default=8, help="windows per generate call")
    gen.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    for name in ("cap_prompt", "cap_window", "cap_stride", "cap_frames", "cap_max_new_tokens"):
        gen.add_argument(f"--{name.removeprefix('cap_')}", dest=name, default=None,
                         help=f"default: captioner.{name} of the config ({getattr(CaptionerConfig(), name)!r})")
    merge = sub.add_parser("merge", help="join shard outputs into one captions.jsonl")
    merge.add_argument("inputs", nargs="+")
    merge.add_argument("--out", required=True)
    emb = sub.add_parser("embed", help="captions.jsonl -> caption-feature HDF5")
    emb.add_argument("inputs", nargs=1, metavar="captions.jsonl")
    emb.add_argument("--out", required=True, help="caption feature HDF5 (data.cap_feat_path)")
    emb.add_argument("--encoder", dest="cap_text_encoder", default=None, help="CLIP model name or directory")
    emb.add_argument("--clip_len", type=float, default=2.0, help="seconds per video feature row")
    emb.add_argument("--batch_size", type=int, default=256)
    emb.add_argument("--feature_dtype", default="float16", choices=["float16", "float32"])
    for p in (gen, emb):
        p.add_argument("--config", default=None, help="YAML config whose captioner section gives the defaults")
        p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    return parser


def caption_settings(args: argparse.Namespace) -> CaptionerConfig:
    """Config defaults < --config YAML < explicit flags, for the captioner section."""
    overrides = {k: v for k, v in vars(args).items() if k.startswith("cap_") and v is not None}
    return load_config(args.config, overrides).captioner


def run_generate(args: argparse.Namespace, cfg: CaptionerConfig) -> int:
    from trdetr_cap.captions.backends import build_backend
    from trdetr_cap.captions.generate import generate_captions
    from trdetr_cap.extract import resolve_device
    from trdetr_cap.video.batch import parse_shard
    from trdetr_cap.video.decode import list_videos

    shard = parse_shard(args.shard)
    videos = list_videos(args.inputs)
    backend = build_backend(cfg.cap_backend, cfg.cap_model, resolve_device(args.device), args.dtype,
                            cfg.cap_max_new_tokens, cfg.cap_frames)
    target, failures = generate_captions(videos, backend, args.out, cfg.cap_prompt, cfg.cap_window, cfg.cap_stride,
                                         cfg.cap_frames, shard, args.batch_size)
    print(f"captions -> {target}")
    for path, reason in failures:
        print(f"failed: {path}: {reason}", file=sys.stderr)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "merge":
            from trdetr_cap.captions.generate import merge_captions

            print(f"{merge_captions(args.inputs, args.out)} videos -> {args.out}")
            return 0
        cfg = caption_settings(args)
        if args.command == "generate":
            return run_generate(args, cfg)
        from trdetr_cap.captions.embed import embed_captions
        from trdetr_cap.extract import resolve_device

        n = embed_captions(args.inputs[0], args.out, cfg.cap_text_encoder, resolve_device(args.device),
                           args.batch_size, args.clip_len, args.feature_dtype)
        print(f"{n} videos embedded -> {args.out}")
        return 0
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
