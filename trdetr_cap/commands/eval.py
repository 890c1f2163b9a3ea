"""Score a moment-retrieval / highlight-detection submission: QVHighlights official metrics, Charades-STA, TVSum
top-5 mAP. Prints the brief metrics; one error line and exit 2 (no output file) on malformed input."""

from __future__ import annotations

import argparse
import json
import sys

from trdetr_cap.commands import command_main
from trdetr_cap.eval import DATASETS, EvalInputError, evaluate_files


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("submission", nargs="?", help="predictions jsonl (one row per qid)")
    parser.add_argument("--submission", dest="submission_flag", metavar="PRED_JSONL", help=argparse.SUPPRESS)
    parser.add_argument("--gt", required=True, help="ground-truth jsonl")
    parser.add_argument("--out", help="metrics JSON to write (atomically); omitted: print only")
    parser.add_argument("--dataset", choices=sorted(DATASETS), help="default: inferred from the GT fields")
    parser.add_argument("--allow_missing", "--allow-missing", action="store_true",
                        help="evaluate the qids common to both files instead of failing")
    parser.add_argument("--r5_all_rows", action="store_true",
                        help="Charades-STA: report R5 even when some rows list fewer than 5 windows, scoring them on "
                             "the windows they list (as UniVTG and UMT); default: R5 only when every row lists >= 5")


def run(args: argparse.Namespace) -> int:
    submission = args.submission or args.submission_flag
    if not submission or (args.submission and args.submission_flag):
        print("error: give the submission once (positional; --submission is its older spelling)", file=sys.stderr)
        return 2
    try:
        metrics = evaluate_files(submission, args.gt, args.out, args.dataset, args.allow_missing, args.r5_all_rows)
    except EvalInputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(metrics["brief"], indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    return command_main("python -m trdetr_cap.eval", __doc__, add_arguments, run, argv)
