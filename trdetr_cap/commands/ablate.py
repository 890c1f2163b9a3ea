"""Ablations: train every variant of a variants file x seed (resumable, several at a time) and tabulate their best
val metrics (mean ± sample std over seeds); or tabulate a runs directory. Flags after -- go to every training run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trdetr_cap.commands import command_main


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from trdetr_cap.engine.ablation import DEFAULT_SEEDS

    sub = parser.add_subparsers(dest="ablate_command", required=True, metavar="{run,table}",
                                parser_class=type(parser))
    run_p = sub.add_parser("run", help="train every variant x seed, then write the table",
                           description="train every variant x seed, then write the table; flags after -- go to "
                                       "every run (e.g. -- --n_epoch 6 --device cuda)")
    run_p.add_argument("variants", help="variants YAML (configs/ablations/*.yaml)")
    run_p.add_argument("--out", required=True, help="runs directory (<variant>/seed<k>, ablation.md)")
    run_p.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS),
                       help=f"(default: {' '.join(map(str, DEFAULT_SEEDS))})")
    run_p.add_argument("--jobs", type=int, default=1, help="runs at a time (CPU: one thread each; default: 1)")
    run_p.add_argument("--title", default="", help="a line written above the table")
    run_p.set_defaults(train_flags=[])  # what follows -- on the command line (commands.parse_with_passthrough)
    table = sub.add_parser("table", help="tabulate a runs directory", description="tabulate a runs directory")
    table.add_argument("runs_dir", help="directory holding <variant>/seed<k>/best_val_metrics.json")
    table.add_argument("--out", default=None, help="markdown file to write (default: RUNS_DIR/ablation.md)")
    table.add_argument("--title", default="", help="a line written above the table")


def run(args: argparse.Namespace) -> int:
    import yaml

    from trdetr_cap.engine.ablation import collect, load_variants, run_ablation, write_table
    from trdetr_cap.utils.io import atomic_write_text

    try:
        if args.ablate_command == "run":
            spec = load_variants(args.variants)
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            atomic_write_text(out / "variants.yaml", Path(args.variants).read_text())
            failed = run_ablation(spec, out, args.seeds, args.jobs, args.train_flags)
            if collect(out):
                print(write_table(out, title=args.title), end="")
                print(f"wrote {out / 'ablation.md'}")
            if failed:
                print(f"error: {len(failed)} run(s) failed: {', '.join(failed)}", file=sys.stderr)
                return 1
            return 0
        runs_dir = Path(args.runs_dir)
        if not runs_dir.is_dir():
            raise ValueError(f"{runs_dir} is not a directory")
        out = Path(args.out) if args.out else None
        print(write_table(runs_dir, out, args.title), end="")
        print(f"wrote {out or runs_dir / 'ablation.md'}")
        return 0
    except (OSError, yaml.YAMLError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    return command_main("python -m trdetr_cap.engine.ablation", __doc__, add_arguments, run, argv)
