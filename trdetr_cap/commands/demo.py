"""``trdetr-cap demo MODEL``: a web page (Gradio) to try a model on your own videos.

    trdetr-cap demo runs/qvh/model_best.ckpt [--port 7860] [--host 127.0.0.1] [--examples DIR] \\
        [--clip_model DIR] [--slowfast_ckpt SLOWFAST_8x8_R50.pkl] [--cap_model M --cap_backend B]
    trdetr-cap demo models/trdetr-qvh            # a folder written by `trdetr-cap export` (or a hub id)

MODEL is a checkpoint file, an exported model folder or a hub repository id. Needs the demo extra:
``pip install -e ".[demo]"``. The page is served on 127.0.0.1 (this machine only) unless ``--host 0.0.0.0``.
"""

from __future__ import annotations

import argparse
import os
import sys
import typing
from pathlib import Path

from trdetr_cap.commands import command_main
from trdetr_cap.config import DEFAULT_CLIP_MODEL, CaptionBackend, add_run_arguments, run_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="checkpoint file, exported model folder, or hub repository id")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0: reachable from other machines)")
    parser.add_argument("--examples", default="", help="a folder of videos offered as examples on the page")
    parser.add_argument("--clip_model", default="",
                        help=f"CLIP for video and query features (default: the folder's, else {DEFAULT_CLIP_MODEL})")
    parser.add_argument("--slowfast_ckpt", default="", help="SlowFast R50 8x8 checkpoint, for SlowFast+CLIP models")
    parser.add_argument("--slowfast_crop_size", type=int, default=224)
    parser.add_argument("--cap_model", default="",
                        help="captioner for caption models (default: none: caption rows masked out)")
    parser.add_argument("--cap_backend", default="transformers", choices=typing.get_args(CaptionBackend),
                        help="how to run --cap_model (default: transformers)")
    parser.add_argument("--cap_text_encoder", default="", help="default: the model's captioner.cap_text_encoder")
    parser.add_argument("--top_k", type=int, default=5, help="moments per query shown at first (default: 5)")
    add_run_arguments(parser, ("device",))


def load(args: argparse.Namespace):
    """(retriever, title, notes) for ``args.model``: a checkpoint file or a model folder / hub id."""
    from trdetr_cap.hub import VAL_METRICS_NAME, is_synthetic, resolve_folder
    from trdetr_cap.retriever import MomentRetriever
    from trdetr_cap.web import model_notes

    extractors = dict(slowfast_ckpt=args.slowfast_ckpt, caption_model=args.cap_model,
                      caption_backend=args.cap_backend, caption_encoder=args.cap_text_encoder,
                      device=run_from_args(args).device, slowfast_crop_size=args.slowfast_crop_size)
    path = Path(args.model)
    if path.is_file():
        retriever = MomentRetriever.from_checkpoint(path, clip_model=args.clip_model or DEFAULT_CLIP_MODEL,
                                                    **extractors)
        has_metrics = (path.parent / "best_val_metrics.json").is_file()
        title = f"{path.parent.name}/{path.name}"
    else:
        folder = resolve_folder(args.model)
        retriever = MomentRetriever.from_pretrained(folder, clip_model=args.clip_model, **extractors)
        has_metrics = (folder / VAL_METRICS_NAME).is_file()
        title = args.model
    return retriever, title, model_notes(retriever, is_synthetic(retriever.cfg), has_metrics)


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home from a lab machine
    try:
        import gradio  # noqa: F401
    except ImportError:
        print('error: the demo needs gradio: pip install -e ".[demo]"', file=sys.stderr)
        return 2
    from trdetr_cap.video.decode import VideoDecodeError
    from trdetr_cap.web import build_demo, example_videos, launch

    try:
        examples = example_videos(args.examples)
        retriever, title, notes = load(args)
    except (FileNotFoundError, ValueError, OSError, VideoDecodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"model {title}: {', '.join(retriever.kinds)} features, device {retriever.device}", flush=True)
    for note in notes:
        print(f"note: {note.replace('**', '')}", flush=True)
    launch(build_demo(retriever, title, notes, examples, args.top_k), args.host, args.port)
    return 0


def main(argv: list[str] | None = None) -> int:
    return command_main("python -m trdetr_cap.demo", __doc__, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
