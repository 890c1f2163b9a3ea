"""Moments and per-clip saliency for a raw video and text queries, end to end: decode, extract the features the
checkpoint was trained on (CLIP, SlowFast, captions), run the model. Prints the moments; --out writes JSON, --plot a
png."""

from __future__ import annotations

import argparse
import sys
import typing

from trdetr_cap.commands import command_main
from trdetr_cap.config import DEFAULT_CLIP_MODEL, CaptionBackend, add_run_arguments, run_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", nargs="?", help="a trdetr_cap checkpoint (model_best.ckpt)")
    parser.add_argument("video", nargs="?", help="the video file")
    parser.add_argument("--checkpoint", dest="checkpoint_flag", help=argparse.SUPPRESS)  # the older spellings
    parser.add_argument("--video", dest="video_flag", help=argparse.SUPPRESS)
    parser.add_argument("--query", required=True, action="append", help="a text query; repeat for several")
    parser.add_argument("--out", default=None, help="write the results as JSON")
    parser.add_argument("--plot", default=None, help="write a saliency / moments plot (png)")
    parser.add_argument("--gt", default=None, help="ground-truth windows for the plot, e.g. '10,24;60,72'")
    parser.add_argument("--top_k", type=int, default=5, help="moments per query (default: 5)")
    parser.add_argument("--clip_model", default=DEFAULT_CLIP_MODEL,
                        help=f"CLIP hub name or directory (default: {DEFAULT_CLIP_MODEL})")
    parser.add_argument("--slowfast_ckpt", default="", help="SlowFast R50 8x8 Kinetics-400 checkpoint (.pkl / .pyth)")
    parser.add_argument("--slowfast_crop_size", type=int, default=224, help="(default: 224)")
    parser.add_argument("--cap_model", default="",
                        help="captioner for caption checkpoints (default: none: caption rows masked out)")
    parser.add_argument("--cap_backend", default="transformers", choices=typing.get_args(CaptionBackend),
                        help="how to run --cap_model (default: transformers)")
    parser.add_argument("--cap_text_encoder", default="", help="default: the checkpoint's captioner.cap_text_encoder")
    parser.add_argument("--allow_truncated", action="store_true",
                        help="accept a video whose frames end before its announced duration (else: an error)")
    add_run_arguments(parser, ("device",))


def parse_windows(text: str) -> list[list[float]]:
    """'10,24;60,72' -> [[10, 24], [60, 72]]."""
    try:
        return [[float(v) for v in part.split(",")] for part in text.split(";") if part.strip()]
    except ValueError:
        raise ValueError(f"--gt: expected 'st,ed;st,ed', got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    checkpoint, video = args.checkpoint or args.checkpoint_flag, args.video or args.video_flag
    if not checkpoint or not video:
        print("error: give the checkpoint and the video (trdetr-cap infer CHECKPOINT VIDEO --query ...)",
              file=sys.stderr)
        return 2
    from trdetr_cap.retriever import MomentRetriever
    from trdetr_cap.video.decode import truncated_videos

    gt = parse_windows(args.gt) if args.gt else None
    with truncated_videos(args.allow_truncated):
        retriever = MomentRetriever.from_checkpoint(checkpoint, args.clip_model, args.slowfast_ckpt, args.cap_model,
                                                    args.cap_backend, args.cap_text_encoder,
                                                    run_from_args(args).device, args.slowfast_crop_size)
        results = [retriever.predict(q, video, args.top_k) for q in args.query]
    for res in results:
        print(f"query: {res['query']}")
        for st, ed, sc in res["moments"]:
            print(f"  {st:8.1f} s - {ed:8.1f} s   score {sc:.4f}")
        print("  saliency per clip: " + " ".join(f"{s:.2f}" for s in res["saliency"]))
    if args.out:
        from trdetr_cap.utils.io import atomic_write_json

        atomic_write_json(args.out, results if len(results) > 1 else results[0])
    if args.plot:
        from trdetr_cap.plots import plot_result

        plot_result(results[0], args.plot, gt_windows=gt)
    return 0


def main(argv: list[str] | None = None) -> int:
    return command_main("python -m trdetr_cap.inference", __doc__, add_arguments, run, argv)
