"""Evaluation: QVHighlights (official numbers), Charades-STA and TVSum metrics. Imports numpy only, never torch.

    from trdetr_cap.eval import evaluate, evaluate_files
    metrics = evaluate(submission_rows, gt_rows)                        # dataset inferred from the GT fields
    metrics = evaluate_files("preds.jsonl", "gt.jsonl", out="metrics.json")

or ``python -m trdetr_cap.eval --submission preds.jsonl --gt gt.jsonl --out metrics.json``.
Malformed input raises ``EvalInputError`` (one line: file, line, field). The definitions: docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from trdetr_cap.eval.charades import eval_charades
from trdetr_cap.eval.io import (
    EvalInputError,
    Rows,
    check_windows_ordered,
    match_qids,
    number_lists,
    qid_list,
    read_rows,
    rows_in_memory,
)
from trdetr_cap.eval.qvhighlights import eval_qvhighlights, gt_clip_scores
from trdetr_cap.eval.tvsum import eval_tvsum, tvsum_labels

__all__ = ["DATASETS", "EvalInputError", "evaluate", "evaluate_files", "evaluate_rows", "infer_dataset",
           "validate_ground_truth"]

DATASETS = {"qvhighlights": eval_qvhighlights, "charades": eval_charades, "tvsum": eval_tvsum}


def infer_dataset(gt: Rows) -> str:
    """tvsum if the GT has ``label`` and ``domain``, qvhighlights if it has ``saliency_scores``, else charades."""
    first = gt.rows[0]
    if "label" in first and "domain" in first:
        return "tvsum"
    if first.get("saliency_scores") is not None:
        return "qvhighlights"
    return "charades"


def validate_ground_truth(gt: Rows, dataset: str, labelled: bool = True) -> None:
    """Every check the evaluator makes on ``gt`` alone (unique qids, windows, clip ids within the video, score
    shapes), without a submission: annotation loading runs it, so a bad split fails before any training."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {sorted(DATASETS)}")
    qid_list(gt)
    if not labelled:
        return
    if dataset in ("qvhighlights", "charades"):
        flat, counts = number_lists(gt, "relevant_windows", width=2, min_len=1, what="[start, end]")
        check_windows_ordered(gt, counts, flat, "relevant_windows", strict=True)
    if dataset == "qvhighlights":
        gt_clip_scores(gt)
    elif dataset == "tvsum":
        tvsum_labels(gt)


def evaluate_rows(
    sub: Rows, gt: Rows, dataset: str | None = None, allow_missing: bool = False, r5_all_rows: bool = False
) -> dict:
    """Match qids, then compute the metrics of ``dataset`` (inferred from the GT when None).

    ``r5_all_rows`` (Charades-STA only): report R5 even when some rows list fewer than 5 windows, scoring those rows
    on the windows they list as UniVTG and UMT do; by default R5 is left out then.
    """
    dataset = dataset or infer_dataset(gt)
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {sorted(DATASETS)}")
    if r5_all_rows and dataset != "charades":
        raise EvalInputError(f"{gt.name}: r5_all_rows applies to Charades-STA only, this ground truth is {dataset}")
    sub, gt = match_qids(sub, gt, allow_missing)
    if dataset == "charades":
        return eval_charades(sub, gt, r5_all_rows=r5_all_rows)
    return DATASETS[dataset](sub, gt)


def evaluate(
    submission_rows: Sequence[dict],
    gt_rows: Sequence[dict],
    dataset: str | None = None,
    allow_missing: bool = False,
    r5_all_rows: bool = False,
) -> dict:
    """Metrics dict for in-memory rows (e.g. from ``outputs_to_submission``), in the official structure:
    ``brief`` plus ``full``/``long``/``middle``/``short`` and ``HL-min-*`` for QVHighlights."""
    sub = rows_in_memory(submission_rows, "<submission rows>")
    gt = rows_in_memory(gt_rows, "<gt rows>")
    return evaluate_rows(sub, gt, dataset, allow_missing, r5_all_rows)


def evaluate_files(
    submission: str | Path,
    gt: str | Path,
    out: str | Path | None = None,
    dataset: str | None = None,
    allow_missing: bool = False,
    r5_all_rows: bool = False,
) -> dict:
    """Evaluate two jsonl files; write the metrics JSON atomically to ``out`` (nothing is written on error)."""
    metrics = evaluate_rows(read_rows(submission), read_rows(gt), dataset, allow_missing, r5_all_rows)
    if out is not None:
        from trdetr_cap.utils.io import atomic_write_json

        atomic_write_json(out, metrics, indent=4)
    return metrics
