"""Captions: caption each clip of each video with a multimodal LLM (generate), join shard outputs (merge), embed
captions.jsonl into the caption-feature HDF5 the model reads (embed). The captioner settings default to the
config's captioner section (--config, then the flags): InternVL2-8B through its remote code unless told otherwise.
Exit status: 0 done, 1 some videos failed (listed), 2 bad input."""

from __future__ import annotations

import argparse
import sys

from trdetr_cap.commands import command_main
from trdetr_cap.config import (
    CaptionerConfig,
    add_config_arguments,
    add_run_arguments,
    cli_overrides,
    load_config,
    run_from_args,
)

GENERATE_FIELDS = ("cap_model", "cap_backend", "cap_prompt", "cap_window", "cap_stride", "cap_frames",
                   "cap_max_new_tokens")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="captions_command", required=True, metavar="{generate,merge,embed}",
                                parser_class=type(parser))
    gen = sub.add_parser("generate", help="caption each clip of each video with a multimodal LLM",
                         description="caption each clip of each video with a multimodal LLM")
    gen.add_argument("inputs", nargs="+", help="video files, directories of videos, or .txt lists of paths")
    gen.add_argument("--out", required=True, help="captions.jsonl (with --shard: captions.shard{i}of{n}.jsonl)")
    gen.add_argument("--shard", default="0/1", help="i/n: caption only this shard's videos (default: 0/1)")
    gen.add_argument("--batch_size", type=int, default=8, help="windows per generate call (default: 8)")
    gen.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"],
                     help="the captioner's compute dtype (default: auto)")
    gen.add_argument("--allow_truncated", action="store_true",
                     help="accept videos whose frames end before their announced duration (else: a failure)")
    add_config_arguments(gen, ("captioner",), only=GENERATE_FIELDS)
    merge = sub.add_parser("merge", help="join shard outputs into one captions.jsonl",
                           description="join shard outputs into one captions.jsonl")
    merge.add_argument("inputs", nargs="+", help="captions.shard*of*.jsonl")
    merge.add_argument("--out", required=True, help="captions.jsonl")
    emb = sub.add_parser("embed", help="captions.jsonl -> caption-feature HDF5",
                         description="captions.jsonl -> caption-feature HDF5 (data.cap_feat_path)")
    emb.add_argument("inputs", nargs=1, metavar="captions.jsonl")
    emb.add_argument("--out", required=True, help="caption feature HDF5 (data.cap_feat_path)")
    emb.add_argument("--clip_len", type=float, default=2.0, help="seconds per video feature row (default: 2.0)")
    emb.add_argument("--batch_size", type=int, default=256, help="captions per encoder call (default: 256)")
    emb.add_argument("--store_dtype", default="float16", choices=["float16", "float32"],
                     help="stored precision (default: float16)")
    add_config_arguments(emb, ("captioner",), only=("cap_text_encoder",))
    for p in (gen, emb):
        add_run_arguments(p, ("device",))


def captioner_settings(args: argparse.Namespace) -> CaptionerConfig:
    """Config defaults < --config overlays < explicit flags, for the captioner section."""
    return load_config(args.config, cli_overrides(args)).captioner


def run_generate(args: argparse.Namespace, cfg: CaptionerConfig) -> int:
    from trdetr_cap.captions.backends import build_backend
    from trdetr_cap.captions.generate import generate_captions
    from trdetr_cap.device import resolve_device
    from trdetr_cap.video.batch import parse_shard
    from trdetr_cap.video.decode import list_videos, truncated_videos

    shard = parse_shard(args.shard)
    videos = list_videos(args.inputs)
    backend = build_backend(cfg.cap_backend, cfg.cap_model, resolve_device(args.device), args.dtype,
                            cfg.cap_max_new_tokens, cfg.cap_frames)
    with truncated_videos(args.allow_truncated):
        target, failures = generate_captions(videos, backend, args.out, cfg.cap_prompt, cfg.cap_window,
                                             cfg.cap_stride, cfg.cap_frames, shard, args.batch_size)
    print(f"captions -> {target}")
    for path, reason in failures:
        print(f"failed: {path}: {reason}", file=sys.stderr)
    return 1 if failures else 0


def run(args: argparse.Namespace) -> int:
    if args.captions_command == "merge":
        from trdetr_cap.captions.generate import merge_captions

        print(f"{merge_captions(args.inputs, args.out)} videos -> {args.out}")
        return 0
    cfg = captioner_settings(args)
    args.device = run_from_args(args).device  # checked; default auto
    if args.captions_command == "generate":
        return run_generate(args, cfg)
    from trdetr_cap.captions.embed import embed_captions
    from trdetr_cap.device import resolve_device

    n = embed_captions(args.inputs[0], args.out, cfg.cap_text_encoder, resolve_device(args.device),
                       args.batch_size, args.clip_len, args.store_dtype)
    print(f"{n} videos embedded -> {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return command_main("python -m trdetr_cap.captions", __doc__, add_arguments, run, argv)
