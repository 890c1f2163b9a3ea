"""Time-to-accuracy of ablation runs: the first epoch at which val MR mAP reaches a fraction of a reference's best.

    python -m trdetr_cap.engine.time_to_accuracy runs/fast_recipe [--reference faithful] [--fraction 0.9]
        [--metric MR-full-mAP] [--out FILE]

Reads ``RUNS/<variant>/seed<k>/history.jsonl`` (as written by ``engine.ablation run``). The target is
``fraction`` x the mean over the reference variant's seeds of each run's best val ``metric``; for every run the
epoch of its first evaluation at or above the target (a run that never gets there counts as "not reached": the
table gives how many did and the mean ± sample std over those that did), and its best and last-epoch value.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from trdetr_cap.engine.ablation import mean_std
from trdetr_cap.utils.io import atomic_write_text, read_jsonl


def val_curve(history_path: Path, metric: str, max_epoch: int = 0) -> list[tuple[int, float]]:
    """[(epoch, value)] of every evaluated epoch of one run (up to ``max_epoch`` when > 0), in order."""
    return [(int(r["epoch"]), float(r["val"][metric])) for r in read_jsonl(history_path)
            if r.get("val") and r["val"].get(metric) is not None and (max_epoch <= 0 or r["epoch"] <= max_epoch)]


def first_epoch_reaching(curve: list[tuple[int, float]], target: float) -> int | None:
    """The first evaluated epoch whose value is >= target, or None."""
    return next((epoch for epoch, value in curve if value >= target), None)


def collect_curves(runs_dir: Path, metric: str, max_epoch: int = 0) -> dict[str, list[list[tuple[int, float]]]]:
    """variant -> one val curve per seed run (runs without an evaluated epoch are skipped).

    ``max_epoch`` > 0 cuts every curve there: with a constant learning rate (the faithful schedule) the first E
    epochs of a longer run are exactly an E-epoch run.
    """
    curves: dict[str, list[list[tuple[int, float]]]] = {}
    for variant_dir in sorted(p for p in runs_dir.iterdir() if p.is_dir()):
        runs = [val_curve(h, metric, max_epoch) for h in sorted(variant_dir.glob("seed*/history.jsonl"))]
        runs = [c for c in runs if c]
        if runs:
            curves[variant_dir.name] = runs
    return curves


def _cell(values: list[float], digits: int = 1) -> str:
    if not values:
        return "-"
    mean, std = mean_std(values)
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def tta_table(curves: dict[str, list[list[tuple[int, float]]]], reference: str, fraction: float = 0.9,
              metric: str = "MR-full-mAP") -> tuple[float, str]:
    """(target, markdown table) with the reference variant first, then the others by name."""
    if reference not in curves:
        raise ValueError(f"reference variant {reference!r} has no runs (have: {', '.join(curves) or 'none'})")
    target = fraction * mean_std([max(v for _, v in c) for c in curves[reference]])[0]
    lines = [f"| variant | seeds | epochs to {fraction:.0%} of {reference}'s best {metric} ({target:.2f}) | reached "
             f"| best {metric} | last-epoch {metric} | epochs |", "|---|---|---|---|---|---|---|"]
    for name in [reference] + sorted(set(curves) - {reference}):
        runs = curves[name]
        reached = [e for e in (first_epoch_reaching(c, target) for c in runs) if e is not None]
        lines.append(f"| {name} | {len(runs)} | {_cell([float(e) for e in reached])} | {len(reached)}/{len(runs)} | "
                     f"{_cell([max(v for _, v in c) for c in runs], 2)} | {_cell([c[-1][1] for c in runs], 2)} | "
                     f"{max(c[-1][0] for c in runs)} |")
    return target, "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trdetr_cap.engine.time_to_accuracy",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("runs_dir", help="an ablation runs directory (<variant>/seed<k>/history.jsonl)")
    parser.add_argument("--reference", default="faithful", help="the variant whose best sets the target")
    parser.add_argument("--fraction", type=float, default=0.9, help="target = fraction x the reference's best")
    parser.add_argument("--metric", default="MR-full-mAP", help="val metric (a key of history.jsonl's val)")
    parser.add_argument("--max_epoch", type=int, default=0, help="cut every curve at this epoch (0 = keep all)")
    parser.add_argument("--out", default=None, help="markdown file to write (default RUNS_DIR/time_to_accuracy.md)")
    args = parser.parse_args(argv)
    runs_dir = Path(args.runs_dir)
    try:
        if not runs_dir.is_dir():
            raise ValueError(f"{runs_dir} is not a directory")
        curves = collect_curves(runs_dir, args.metric, args.max_epoch)
        _, text = tta_table(curves, args.reference, args.fraction, args.metric)
        out = Path(args.out) if args.out else runs_dir / "time_to_accuracy.md"
        atomic_write_text(out, text)
    except (ValueError, OSError, KeyError, json.JSONDecodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(text, end="")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
