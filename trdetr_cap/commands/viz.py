"""Plot predictions: one png per query of a submission (e.g. a run's best_val_preds.jsonl), per-clip saliency with
the predicted and ground-truth windows; --worst N picks the N queries whose top-1 window overlaps the ground truth
least."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trdetr_cap.commands import command_main


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("predictions", help="submission jsonl (qid, query, pred_relevant_windows, ...)")
    parser.add_argument("--gt", default=None, help="annotation jsonl: draws the GT windows, needed by --worst")
    parser.add_argument("--out", required=True, help="directory for the pngs (qid<qid>.png)")
    pick = parser.add_mutually_exclusive_group()
    pick.add_argument("--qids", nargs="+", default=None, help="these qids")
    pick.add_argument("--worst", type=int, default=None, help="the N queries with the lowest top-1 IoU")
    pick.add_argument("--first", type=int, default=10, help="the first N rows (default: 10)")
    parser.add_argument("--clip_len", type=float, default=2.0, help="seconds per saliency score (default: 2.0)")


def run(args: argparse.Namespace) -> int:
    from trdetr_cap.plots import GT_FIELDS, PRED_FIELDS, plot_result, read_rows, submission_result, top1_iou

    rows = read_rows(args.predictions, PRED_FIELDS)
    gt = {str(g["qid"]): g for g in read_rows(args.gt, GT_FIELDS)} if args.gt else {}
    if args.worst is not None and not gt:
        print("error: --worst needs --gt", file=sys.stderr)
        return 2
    by_qid = {str(r["qid"]): r for r in rows}
    if args.qids:
        unknown = [q for q in args.qids if q not in by_qid]
        if unknown:
            print(f"error: qid(s) not in {args.predictions}: {', '.join(unknown)}", file=sys.stderr)
            return 2
        chosen = [by_qid[q] for q in args.qids]
    elif args.worst is not None:
        scored = [(top1_iou(r, gt[str(r["qid"])].get("relevant_windows", [])), i) for i, r in enumerate(rows)
                  if str(r["qid"]) in gt]
        chosen = [rows[i] for _, i in sorted(scored)[: args.worst]]
    else:
        chosen = rows[: args.first]
    out = Path(args.out)
    for row in chosen:
        g = gt.get(str(row["qid"]), {})
        plot_result(submission_result(row, args.clip_len, g.get("duration")), out / f"qid{row['qid']}.png",
                    gt_windows=g.get("relevant_windows"))
    print(f"{len(chosen)} plots -> {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return command_main("python -m trdetr_cap.viz", __doc__, add_arguments, run, argv)
