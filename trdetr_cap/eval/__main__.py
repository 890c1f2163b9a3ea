"""python -m trdetr_cap.eval --submission PRED.jsonl --gt GT.jsonl --out METRICS.json [--dataset ...] [--allow-missing]
[--r5_all_rows]

Prints the ``brief`` metrics; exit code 2 (one error line, no output file) on malformed input.
"""

from __future__ import annotations

import argparse
import json
import sys

from trdetr_cap.eval import DATASETS, EvalInputError, evaluate_files


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m trdetr_cap.eval",
        description="Score a moment-retrieval / highlight-detection submission (QVHighlights official metrics, "
        "Charades-STA, TVSum top-5 mAP).",
    )
    p.add_argument("--submission", required=True, help="predictions jsonl (one row per qid)")
    p.add_argument("--gt", required=True, help="ground-truth jsonl")
    p.add_argument("--out", help="metrics JSON to write (atomically); omitted: print only")
    p.add_argument("--dataset", choices=sorted(DATASETS), help="default: inferred from the GT fields")
    p.add_argument(
        "--allow-missing", action="store_true", help="evaluate the qids common to both files instead of failing"
    )
    p.add_argument(
        "--r5_all_rows",
        action="store_true",
        help="Charades-STA: report R5 even when some rows list fewer than 5 windows, scoring them on the windows "
        "they list (as UniVTG and UMT); default: R5 only when every row lists >= 5",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        metrics = evaluate_files(args.submission, args.gt, args.out, args.dataset, args.allow_missing, args.r5_all_rows)
    except EvalInputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(metrics["brief"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
