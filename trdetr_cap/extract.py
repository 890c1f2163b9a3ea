"""python -m trdetr_cap.extract: videos and queries -> features in the released QVHighlights layout.

    python -m trdetr_cap.extract videos VIDEO_DIR_OR_FILES_OR_LIST.txt --out_dir features/ \
        [--features clip slowfast] [--clip_model openai/clip-vit-base-patch32] [--slowfast_ckpt SLOWFAST_8x8_R50.pkl]
    python -m trdetr_cap.extract queries highlight_train_release.jsonl ... --out_dir features/

Reruns skip finished files; ``--shard i/n`` splits a dataset across GPUs or machines (stable per vid) and
``--num_workers N`` decodes N videos ahead in threads while the model encodes (decoding bounds a GPU run). Unreadable
videos are listed at the end and make the exit status 1; bad arguments or annotation rows exit with status 2.
"""

from __future__ import annotations

import argparse
import sys

from trdetr_cap.video.clip import DEFAULT_CLIP_MODEL


def resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m trdetr_cap.extract", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    videos = sub.add_parser("videos", help="per-clip video features")
    videos.add_argument("inputs", nargs="+", help="video files, directories of videos, or .txt lists of paths")
    videos.add_argument("--features", nargs="+", choices=["clip", "slowfast"], default=["clip"])
    videos.add_argument("--slowfast_ckpt", default="", help="SlowFast R50 8x8 Kinetics-400 checkpoint (.pkl or .pyth)")
    videos.add_argument("--slowfast_crop_size", type=int, default=224, help="SlowFast input crop (HERO: 224)")
    videos.add_argument("--clip_len", type=float, default=2.0)
    videos.add_argument("--shard", default="0/1", help="i/n: only this shard's videos (split across GPUs/machines)")
    videos.add_argument("--num_workers", type=int, default=0,
                        help="videos decoded ahead in threads while the model encodes (use 2-8 on a GPU)")
    queries = sub.add_parser("queries", help="token-level CLIP text features of annotation queries")
    queries.add_argument("inputs", nargs="+", help="annotation jsonl files with qid and query fields")
    for p in (videos, queries):
        p.add_argument("--out_dir", required=True, help="feature root: clip_features/, slowfast_features/, ...")
        p.add_argument("--clip_model", default=DEFAULT_CLIP_MODEL, help="hub name or local CLIPModel directory")
        p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
        p.add_argument("--batch_size", type=int, default=64)
        p.add_argument("--overwrite", action="store_true", help="recompute files that already exist")
    return parser


def run_videos(args: argparse.Namespace) -> int:
    from trdetr_cap.video.batch import extract_videos, in_shard, parse_shard
    from trdetr_cap.video.clip import ClipFeatureExtractor
    from trdetr_cap.video.decode import list_videos

    try:
        shard = parse_shard(args.shard)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    device = resolve_device(args.device)
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
    failures = extract_videos(videos, args.out_dir, encoders, args.clip_len, args.overwrite, args.num_workers)
    print(f"{len(videos) - len(failures)}/{len(videos)} videos done -> {args.out_dir}")
    if failures:
        print(f"{len(failures)} failed:", file=sys.stderr)
        for path, reason in failures:
            print(f"  {path}: {reason}", file=sys.stderr)
        return 1
    return 0


def run_queries(args: argparse.Namespace) -> int:
    from trdetr_cap.video.batch import extract_queries, read_queries
    from trdetr_cap.video.clip import ClipFeatureExtractor

    try:
        queries = read_queries(args.inputs)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    encoder = ClipFeatureExtractor(args.clip_model, resolve_device(args.device), args.batch_size)
    written = extract_queries(queries, args.out_dir, encoder, overwrite=args.overwrite)
    print(f"{written} query feature files written ({len(queries) - written} already there) -> {args.out_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_videos(args) if args.command == "videos" else run_queries(args)


if __name__ == "__main__":
    sys.exit(main())
