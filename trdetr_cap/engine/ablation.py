"""``python -m trdetr_cap.engine.ablation RUNS_DIR``: the caption ablation's markdown table (used by
``scripts/ablate_captions.sh``).

Reads ``RUNS_DIR/<variant>/seed<k>/best_val_metrics.json`` and writes one row per variant with the mean ± sample
standard deviation over seeds of the selected val metrics (the best epoch of each run, chosen on MR-full-mAP).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from trdetr_cap.utils.io import atomic_write_text

METRICS = ("MR-full-mAP", "MR-full-R1@0.5", "MR-full-R1@0.7", "HL-min-VeryGood-mAP", "HL-min-VeryGood-Hit1")
VARIANT_NOTES = {
    "baseline": "video only (TR-DETR)",
    "a_early": "(a) caption features joined to the clips",
    "b_cross": "(b) captions as a second text stream",
    "c_prior": "(c) caption-query similarity prior",
    "d_align": "(d) caption-clip alignment loss",
    "combo": "recommended combination",
}


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def collect(runs_dir: Path) -> dict[str, list[dict[str, float]]]:
    """variant -> list of brief metric dicts, one per finished seed run (runs without metrics are skipped)."""
    table: dict[str, list[dict[str, float]]] = {}
    for variant_dir in sorted(p for p in runs_dir.iterdir() if p.is_dir()):
        briefs = [json.loads(f.read_text())["brief"] for f in sorted(variant_dir.glob("seed*/best_val_metrics.json"))]
        if briefs:
            table[variant_dir.name] = briefs
    return table


def markdown_table(table: dict[str, list[dict[str, float]]], order: list[str] | None = None) -> str:
    metrics = [m for m in METRICS if all(m in b for briefs in table.values() for b in briefs)]
    names = [v for v in (order or list(VARIANT_NOTES)) if v in table] + sorted(set(table) - set(order or VARIANT_NOTES))
    lines = ["| variant | seeds | " + " | ".join(metrics) + " |", "|---|---|" + "---|" * len(metrics)]
    for name in names:
        cells = []
        for m in metrics:
            mean, std = mean_std([float(b[m]) for b in table[name]])
            cells.append(f"{mean:.2f} ± {std:.2f}")
        label = f"{name}: {VARIANT_NOTES[name]}" if name in VARIANT_NOTES else name
        lines.append(f"| {label} | {len(table[name])} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs_dir", help="directory holding <variant>/seed<k>/best_val_metrics.json")
    parser.add_argument("--out", default=None, help="markdown file to write (default RUNS_DIR/ablation.md)")
    parser.add_argument("--title", default="", help="a line written above the table")
    args = parser.parse_args(argv)
    runs_dir = Path(args.runs_dir)
    if not runs_dir.is_dir():
        print(f"error: {runs_dir} is not a directory", file=sys.stderr)
        return 2
    table = collect(runs_dir)
    if not table:
        print(f"error: no <variant>/seed*/best_val_metrics.json under {runs_dir}", file=sys.stderr)
        return 2
    text = (args.title + "\n\n" if args.title else "") + markdown_table(table)
    out = Path(args.out) if args.out else runs_dir / "ablation.md"
    atomic_write_text(out, text)
    print(text, end="")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
