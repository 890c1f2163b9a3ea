"""Generate the built-in synthetic dataset (QVHighlights format: annotations, CLIP / SlowFast / query features,
captions and caption features). Complete or not at all; a second call with the same parameters returns at once."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from trdetr_cap.commands import command_main


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from trdetr_cap.data.synthetic import SyntheticParams

    parser.add_argument("--out", default="data/synthetic", help="output directory (default: data/synthetic)")
    parser.add_argument("--force", action="store_true", help="rebuild even when a complete dataset is there")
    for f in dataclasses.fields(SyntheticParams):
        if isinstance(f.default, bool):  # type=bool would read "false" as True
            parser.add_argument(f"--{f.name}", action="store_true", help=f"(default: {f.default})")
        else:
            parser.add_argument(f"--{f.name}", type=type(f.default), default=f.default, help=f"(default: {f.default})")


def run(args: argparse.Namespace) -> int:
    from trdetr_cap.data.synthetic import SyntheticParams, generate, synthetic_overrides

    params = SyntheticParams(**{f.name: getattr(args, f.name) for f in dataclasses.fields(SyntheticParams)})
    try:
        out = generate(args.out, params, force=args.force)
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    flags = synthetic_overrides(out)
    print(f"synthetic dataset ready in {out}\nuse: --train_path {flags['train_path']} --eval_path {flags['eval_path']} "
          f"--v_feat_dirs {' '.join(flags['v_feat_dirs'])} --t_feat_dir {flags['t_feat_dir']} "
          f"--cap_feat_path {flags['cap_feat_path']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return command_main("python -m trdetr_cap.data.synthetic", __doc__, add_arguments, run, argv)
