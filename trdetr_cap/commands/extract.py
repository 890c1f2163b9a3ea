"""Features in the released QVHighlights layout: per-clip CLIP / SlowFast features of videos, token-level CLIP
features of annotation queries. Reruns skip finished files; --shard i/n splits a dataset across GPUs or machines;
unreadable videos are listed at the end (exit status 1); bad arguments or rows exit with status 2."""

from __future__ import annotations

import argparse
import sys

from trdetr_cap.commands import command_main
from trdetr_cap.config import DEFAULT_CLIP_MODEL, add_run_arguments, run_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="extract_command", required=True, metavar="{videos,queries}",
                                parser_class=type(parser))
    videos = sub.add_parser("videos", help="per-clip video features", description="per-clip video features")
    videos.add_argument("inputs", nargs="+", help="video files, directories of videos, or .txt lists of paths")
    videos.add_argument("--features", nargs="+", choices=["clip", "slowfast"], default=["clip"],
                        help="(default: clip)")
    videos.add_argument("--slowfast_ckpt", default="", help="SlowFast R50 8x8 Kinetics-400 checkpoint (.pkl or .pyth)")
    videos.add_argument("--slowfast_crop_size", type=int, default=224, help="SlowFast input crop (default: 224)")
    videos.add_argument("--clip_len", type=float, default=2.0, help="seconds per feature row (default: 2.0)")
    videos.add_argument("--shard", default="0/1", help="i/n: only this shard's videos (default: 0/1)")
    videos.add_argument("--allow_truncated", action="store_true",
                        help="accept videos whose frames end before their announced duration (else: a failure)")
    videos.add_argument("--num_workers", type=int, default=0,
                        help="videos decoded ahead in threads while the model encodes (2-8 on a GPU; default: 0)")
    queries = sub.add_parser("queries", help="token-level CLIP text features of annotation queries",
                             description="token-level CLIP text features of annotation queries")
    queries.add_argument("inputs", nargs="+", help="annotation jsonl files with qid and query fields")
    for p in (videos, queries):
        p.add_argument("--out", required=True, help="feature root: clip_features/, slowfast_features/, ...")
        p.add_argument("--clip_model", default=DEFAULT_CLIP_MODEL,
                       help=f"hub name or local CLIPModel directory (default: {DEFAULT_CLIP_MODEL})")
        p.add_argument("--batch_size", type=int, default=64, help="frames per CLIP call (default: 64)")
        p.add_argument("--overwrite", action="store_true", help="recompute files that already exist")
        add_run_arguments(p, ("device",))


def run_videos(args: argparse.Namespace, device: str) -> int:
    from trdetr_cap.video.batch import extract_videos, in_shard, parse_shard
    from trdetr_cap.video.clip import ClipFeatureExtractor
    from trdetr_cap.video.decode import list_videos, truncated_videos

    shard = parse_shard(args.shard)
    encoders = {}
    if "slowfast" in args.features:
        from trdetr_cap.video.slowfast import SlowFastExtractor

        if not args.slowfast_ckpt:
            print("error: --features slowfast needs --slowfast_ckpt", file=sys.stderr)
            return 2
        encoders["slowfast_features"] = SlowFastExtractor(args.slowfast_ckpt, device, max(1, args.batch_size // 8),
                                                          args.slowfast_crop_size)
    if "clip" in args.features:
        encoders["clip_features"] = ClipFeatureExtractor(args.clip_model, device, args.batch_size)
    videos = [p for p in list_videos(args.inputs) if in_shard(p.stem, shard)]
    with truncated_videos(args.allow_truncated):
        failures = extract_videos(videos, args.out, encoders, args.clip_len, args.overwrite, args.num_workers)
    print(f"{len(videos) - len(failures)}/{len(videos)} videos done -> {args.out}")
    if failures:
        print(f"{len(failures)} failed:", file=sys.stderr)
        for path, reason in failures:
            print(f"  {path}: {reason}", file=sys.stderr)
        return 1
    return 0


def run_queries(args: argparse.Namespace, device: str) -> int:
    from trdetr_cap.video.batch import extract_queries, read_queries
    from trdetr_cap.video.clip import ClipFeatureExtractor

    try:
        queries = read_queries(args.inputs)
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    encoder = ClipFeatureExtractor(args.clip_model, device, args.batch_size)
    written = extract_queries(queries, args.out, encoder, overwrite=args.overwrite)
    print(f"{written} query feature files written ({len(queries) - written} already there) -> {args.out}")
    return 0


def run(args: argparse.Namespace) -> int:
    from trdetr_cap.device import resolve_device

    device = resolve_device(run_from_args(args).device)
    return (run_videos if args.extract_command == "videos" else run_queries)(args, device)


def main(argv: list[str] | None = None) -> int:
    return command_main("python -m trdetr_cap.extract", __doc__, add_arguments, run, argv)
