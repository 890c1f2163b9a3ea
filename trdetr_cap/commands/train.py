"""Train TR-DETR (optionally caption-guided) into a run directory. The experiment: --config overlays (later files
win) then field flags; the run: --out, --resume, --device, --num_workers, --preload."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from trdetr_cap.commands import command_main
from trdetr_cap.config import (
    Config,
    ConfigError,
    RunConfig,
    add_config_arguments,
    add_run_arguments,
    apply_overrides,
    cli_overrides,
    config_from_args,
    default_run_dir,
    from_dict,
    run_from_args,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.usage = "%(prog)s [--config YAML]... [--FIELD VALUE]... [--out DIR | --resume DIR] [--device DEVICE]"
    add_config_arguments(parser)
    add_run_arguments(parser)
    parser.add_argument("--count_params", action="store_true", help="print 'params: N' and exit (no training)")


def resolve_config(args: argparse.Namespace) -> tuple[Config, RunConfig]:
    """The experiment (defaults < ``--config`` overlays < flags) and the run options. ``--out`` defaults to
    runs/<config names>; with ``--resume DIR`` the run's own ``config.yaml`` replaces ``--config`` and DIR is the
    output directory."""
    run = run_from_args(args)
    if run.resume is None:
        if args.out is None:
            run.out = default_run_dir(args.config)
        return config_from_args(args), run
    run_dir = Path(run.resume)
    if args.config:
        raise ConfigError(f"--resume {run_dir} uses {run_dir / 'config.yaml'}; do not pass --config as well")
    if args.out is not None and Path(args.out) != run_dir:
        raise ConfigError(f"--out {args.out}: a resumed run writes to its own directory ({run_dir})")
    saved = run_dir / "config.yaml"
    if not saved.is_file():
        raise FileNotFoundError(f"--resume {run_dir}: no config.yaml there (not a run directory?)")
    run.out = str(run_dir)
    return apply_overrides(from_dict(yaml.safe_load(saved.read_text()), str(saved)), cli_overrides(args)), run


def run(args: argparse.Namespace) -> int:
    cfg, run_cfg = resolve_config(args)  # every config error surfaces here, before torch is even imported
    from trdetr_cap.engine.loop import NonFiniteLossError
    from trdetr_cap.engine.train import count_params_only, train

    if args.count_params:
        print(f"params: {count_params_only(cfg)}")
        return 0
    try:
        metrics = train(cfg, run_cfg)
    except NonFiniteLossError:
        return 1  # logged with the last good checkpoint
    if metrics is not None:
        print(json.dumps({"val": metrics["brief"], "out": run_cfg.out,
                          "curves": str(Path(run_cfg.out) / "curves.png")}, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    return command_main("python -m trdetr_cap.train", __doc__, add_arguments, run, argv)
