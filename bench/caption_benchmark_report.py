"""Table of an ablation output directory with take-off epochs: best val metrics (mean ± sample std over seeds) plus
the first evaluated epoch at which MR-full-mAP reaches ``--takeoff`` and HL-min-VeryGood-mAP reaches
``--hd_takeoff`` (levels the untrained model stays below).

    .venv/bin/python bench/caption_benchmark_report.py runs/caption_benchmark [--takeoff 30] [--hd_takeoff 45]

Reads ``<variant>/seed*/history.jsonl`` and ``best_val_metrics.json`` as written by ``trdetr_cap.engine.ablation``;
a run that never reaches the level is shown as ">" its last epoch.
The last lines compare each variant with the baseline: difference of means in units of the baseline's seed std.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from trdetr_cap.engine.ablation import is_finished, load_variants, mean_std
from trdetr_cap.utils.io import read_jsonl

COLUMNS = ("MR-full-mAP", "MR-full-R1@0.5", "HL-min-VeryGood-mAP", "HL-min-VeryGood-Hit1")


def takeoff_epoch(history: list[dict], level: float, metric: str = "MR-full-mAP") -> tuple[int, bool]:
    """(first evaluated epoch with ``metric`` >= level, reached?)."""
    evaluated = [r for r in history if r.get("val")]
    for row in evaluated:
        if row["val"][metric] >= level:
            return row["epoch"], True
    return (evaluated[-1]["epoch"] if evaluated else 0), False


def collect(out: Path, level: float, hd_level: float) -> dict[str, dict]:
    rows = {}
    for variant in sorted(p for p in out.iterdir() if p.is_dir()):
        runs = [d for d in sorted(variant.glob("seed*")) if is_finished(d)]  # runs still training are left out
        if not runs:
            continue
        briefs = [json.loads((d / "best_val_metrics.json").read_text())["brief"] for d in runs]
        histories = [read_jsonl(d / "history.jsonl") for d in runs]
        rows[variant.name] = {"briefs": briefs, "takeoffs": [takeoff_epoch(h, level) for h in histories],
                              "hd_takeoffs": [takeoff_epoch(h, hd_level, "HL-min-VeryGood-mAP") for h in histories]}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--takeoff", type=float, default=30.0,
                        help="MR-full-mAP level that counts as take-off (the video-only baseline never reaches it)")
    parser.add_argument("--hd_takeoff", type=float, default=45.0, help="HL-min-VeryGood-mAP level, likewise")
    parser.add_argument("--variants", default="configs/ablations/caption_benchmark.yaml", help="for the notes/order")
    parser.add_argument("--baseline", default="baseline")
    args = parser.parse_args()
    spec = load_variants(args.variants)
    rows = collect(args.out, args.takeoff, args.hd_takeoff)
    order = [n for n in spec.variants if n in rows] + [n for n in rows if n not in spec.variants]
    print(f"| variant | seeds | {' | '.join(COLUMNS)} | MR take-off (mAP >= {args.takeoff:g}) "
          f"| HD take-off (mAP >= {args.hd_takeoff:g}) |")
    print("|---|---|" + "---|" * (len(COLUMNS) + 2))
    for name in order:
        briefs, takeoffs = rows[name]["briefs"], rows[name]["takeoffs"]
        cells = ["{:.2f} ± {:.2f}".format(*mean_std([float(b[c]) for b in briefs])) for c in COLUMNS]
        epochs = ", ".join(f"{e}" if ok else f">{e}" for e, ok in takeoffs)
        hd_epochs = ", ".join(f"{e}" if ok else f">{e}" for e, ok in rows[name]["hd_takeoffs"])
        note = spec.variants[name][0] if name in spec.variants else ""
        print(f"| {name}: {note} | {len(briefs)} | {' | '.join(cells)} | {epochs} | {hd_epochs} |")
    if args.baseline in rows:
        base = rows[args.baseline]["briefs"]
        print()
        for c in ("MR-full-mAP", "HL-min-VeryGood-mAP"):
            m0, s0 = mean_std([float(b[c]) for b in base])
            diffs = []
            for name in order:
                m, _ = mean_std([float(b[c]) for b in rows[name]["briefs"]])
                diffs.append(f"{name} {m - m0:+.2f} ({(m - m0) / s0:+.1f} std)" if s0 > 0 else f"{name} {m - m0:+.2f}")
            print(f"- {c} vs {args.baseline} (std {s0:.2f}): " + "; ".join(diffs))


if __name__ == "__main__":
    main()
