"""``trdetr-cap export CKPT --out DIR``: a checkpoint -> a shareable model folder (safetensors, JSON, model card).

    trdetr-cap export runs/qvh/model_best.ckpt --out models/trdetr-qvh
    trdetr-cap export runs/qvh/model_best.ckpt --out models/trdetr-qvh --push_to_hub me/trdetr-qvh [--private]

The folder loads with ``MomentRetriever.from_pretrained(DIR)`` (or the hub id after ``--push_to_hub``, which needs a
token from ``huggingface-cli login`` or ``HF_TOKEN``); see :mod:`trdetr_cap.hub` for its contents.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from trdetr_cap.commands import command_main
from trdetr_cap.config import DEFAULT_CLIP_MODEL

PROG = "trdetr-cap export"  # recorded in the model card as the command that made the folder


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="a trdetr_cap checkpoint (e.g. RUN/model_best.ckpt)")
    parser.add_argument("--out", required=True, help="the model folder to write")
    parser.add_argument("--clip_model", default=DEFAULT_CLIP_MODEL,
                        help="the CLIP that made the video and query features (recorded in inputs.json and used by "
                             "from_pretrained by default)")
    parser.add_argument("--push_to_hub", default="", metavar="REPO",
                        help="also upload the folder to this hub repository (owner/name), created if missing")
    parser.add_argument("--private", action="store_true", help="with --push_to_hub: create a private repository")


def run(args: argparse.Namespace) -> int:
    from trdetr_cap.hub import export_checkpoint, push_to_hub

    command = f"{PROG} " + shlex.join([args.checkpoint, "--out", args.out]
                                                + (["--clip_model", args.clip_model]
                                                   if args.clip_model != DEFAULT_CLIP_MODEL else []))
    try:
        out = export_checkpoint(args.checkpoint, args.out, args.clip_model, command=command)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"model folder -> {out}")
    if args.push_to_hub:
        url = push_to_hub(out, args.push_to_hub, private=args.private)
        print(f"pushed to {args.push_to_hub}: {url}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return command_main("python -m trdetr_cap.export", __doc__, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
