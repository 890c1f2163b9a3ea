"""Run a trained checkpoint on an annotation split: writes {split}_preds.jsonl (submission rows) and, when the split
is labelled, {split}_metrics.json. Features and post-processing come from the checkpoint's config; flags override
the feature paths (another machine) and the post-processing."""

from __future__ import annotations

import argparse
import json

from trdetr_cap.commands import command_main
from trdetr_cap.config import add_config_arguments, add_run_arguments, cli_overrides, run_from_args

FEATURE_PATHS = ("v_feat_dirs", "t_feat_dir", "a_feat_dir", "cap_feat_path")  # what moves with the machine


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="a model_best.ckpt / model_latest.ckpt written by training")
    parser.add_argument("split", help="annotation jsonl to run on (labelled or not)")
    parser.add_argument("--out", default=None, help="output directory (default: the checkpoint's directory)")
    add_config_arguments(parser, ("data",), config_files=False, only=FEATURE_PATHS)
    add_config_arguments(parser, ("post",), config_files=False)
    add_run_arguments(parser, ("device", "num_workers", "preload"))


def run(args: argparse.Namespace) -> int:
    from trdetr_cap.engine.predict import predict_split

    sub_path, metrics = predict_split(args.checkpoint, args.split, args.out, cli_overrides(args), run_from_args(args))
    print(f"wrote {sub_path}")
    if metrics is not None:
        print(json.dumps(metrics["brief"], indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    return command_main("python -m trdetr_cap.predict", __doc__, add_arguments, run, argv)
