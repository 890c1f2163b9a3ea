"""Convert a checkpoint written by the original TR-DETR code into this project's format (model_best.ckpt +
config.yaml). The model comes from the original's opt and weights; the data (feature paths on this machine) and
post-processing from --config (default configs/<dataset>.yaml) and the flags."""

from __future__ import annotations

import argparse

from trdetr_cap.commands import command_main
from trdetr_cap.config import add_config_arguments, cli_overrides

# what the original's opt does not say for this machine: the dataset, its files and the TVSum domain
DATA_FIELDS = ("dataset", "train_path", "eval_path", "v_feat_dirs", "t_feat_dir", "a_feat_dir", "tvsum_domain")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="a .ckpt written by the original TR-DETR code (e.g. its model_best.ckpt)")
    parser.add_argument("--out", required=True, help="directory for model_best.ckpt and config.yaml")
    add_config_arguments(parser, ("data",), only=DATA_FIELDS)
    add_config_arguments(parser, ("post",), config_files=False)
    add_config_arguments(parser, ("train",), config_files=False, only=("amp",))


def run(args: argparse.Namespace) -> int:
    from trdetr_cap.engine.original_checkpoint import import_checkpoint
    from trdetr_cap.models import count_parameters

    path, cfg, model = import_checkpoint(args.checkpoint, args.out, args.config, cli_overrides(args))
    print(f"wrote {path} ({count_parameters(model):,} parameters) and {path.with_name('config.yaml')}")
    print(f"evaluate: trdetr-cap predict {path} {cfg.data.eval_path or 'SPLIT.jsonl'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return command_main("python -m trdetr_cap.import_checkpoint", __doc__, add_arguments, run, argv)
