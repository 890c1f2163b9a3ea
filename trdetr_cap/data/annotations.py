"""Annotation jsonl files of QVHighlights, Charades-STA and TVSum: read, validate, return plain dict records.

Records stay the dicts of the file so that what the original mutates (the in-place window shuffle of
tr_detr/start_end_dataset.py:304) can be reproduced. Every problem raises ``AnnotationError`` naming the file, the
1-based line and the field, before any feature is read. After the per-row checks below, the evaluator's checks of a ground-truth file run too
(:func:`trdetr_cap.eval.validate_ground_truth`: unique qids, clip ids within ``duration / 2``, no clip listed twice,
...), so a split the evaluator would refuse is refused when it is loaded, before any training.

Fields checked:
    qvhighlights  qid int, query str, duration > 0, vid str; labelled rows also relevant_windows [[st, ed], ...] with
                  0 <= st < ed, relevant_clip_ids [int >= 0, ...] and saliency_scores [[a1, a2, a3], ...] (0..4),
                  one score triple per clip id.
    charades      qid int, query, duration (float s), vid, relevant_windows with float windows (labelled).
    tvsum         qid and vid str, query, duration, domain (one of TVSUM_DOMAINS), label [[20 scores 1..5], ...].
"""

from __future__ import annotations

from numbers import Real
from pathlib import Path
from typing import Any, get_args

from trdetr_cap.config import TvsumDomain
from trdetr_cap.eval import EvalInputError, Rows, validate_ground_truth
from trdetr_cap.utils.io import iter_jsonl_objects

DATASETS = ("qvhighlights", "charades", "tvsum")
TVSUM_DOMAINS: tuple[str, ...] = get_args(TvsumDomain)


class AnnotationError(ValueError):
    """A bad annotation line: the message names file, line and field."""


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_num(x: Any) -> bool:
    return isinstance(x, Real) and not isinstance(x, bool)


class _Line:
    """Error helper bound to one line of one file."""

    def __init__(self, path: Path, lineno: int, row: dict):
        self.path, self.lineno, self.row = path, lineno, row

    def fail(self, field: str, msg: str) -> AnnotationError:
        return AnnotationError(f"{self.path}:{self.lineno}: field {field!r}: {msg}")

    def get(self, field: str) -> Any:
        if field not in self.row:
            raise self.fail(field, "missing")
        return self.row[field]

    def check(self, field: str, ok: bool, expected: str) -> None:
        if not ok:
            raise self.fail(field, f"expected {expected}, got {self.row.get(field)!r}")


def _check_windows(line: _Line) -> None:
    windows = line.get("relevant_windows")
    line.check("relevant_windows", isinstance(windows, list) and len(windows) > 0, "a non-empty list of [st, ed]")
    for w in windows:
        ok = isinstance(w, list) and len(w) == 2 and all(_is_num(x) for x in w) and 0 <= w[0] < w[1]
        line.check("relevant_windows", ok, "windows [st, ed] in seconds with 0 <= st < ed")


def _validate_qvhighlights(line: _Line, labelled: bool) -> None:
    line.check("qid", _is_int(line.get("qid")), "an int")
    line.check("query", isinstance(line.get("query"), str), "a string")
    line.check("duration", _is_num(line.get("duration")) and line.get("duration") > 0, "a positive number")
    line.check("vid", isinstance(line.get("vid"), str) and line.get("vid") != "", "a non-empty string")
    if not labelled:
        return
    _check_windows(line)
    ids = line.get("relevant_clip_ids")
    line.check("relevant_clip_ids", isinstance(ids, list) and len(ids) > 0 and all(_is_int(i) and i >= 0 for i in ids),
               "a non-empty list of clip indices >= 0")
    scores = line.get("saliency_scores")
    ok = isinstance(scores, list) and all(
        isinstance(s, list) and len(s) == 3 and all(_is_int(a) and 0 <= a <= 4 for a in s) for s in scores)
    line.check("saliency_scores", ok, "a list of [a1, a2, a3] triples of ints 0..4")
    if len(scores) != len(ids):
        raise line.fail("saliency_scores", f"{len(scores)} score triples for {len(ids)} relevant_clip_ids")


def _validate_charades(line: _Line, labelled: bool) -> None:
    line.check("qid", _is_int(line.get("qid")), "an int")
    line.check("query", isinstance(line.get("query"), str), "a string")
    line.check("duration", _is_num(line.get("duration")) and line.get("duration") > 0, "a positive number")
    line.check("vid", isinstance(line.get("vid"), str) and line.get("vid") != "", "a non-empty string")
    if labelled:
        _check_windows(line)


def _validate_tvsum(line: _Line, labelled: bool) -> None:
    line.check("qid", isinstance(line.get("qid"), str) and line.get("qid") != "", "a non-empty string")
    line.check("vid", isinstance(line.get("vid"), str) and line.get("vid") != "", "a non-empty string")
    line.check("query", isinstance(line.get("query"), str), "a string")
    line.check("duration", _is_num(line.get("duration")) and line.get("duration") > 0, "a positive number")
    line.check("domain", line.get("domain") in TVSUM_DOMAINS, f"one of {', '.join(TVSUM_DOMAINS)}")
    if not labelled:
        return
    label = line.get("label")
    ok = isinstance(label, list) and len(label) > 0 and all(
        isinstance(r, list) and len(r) == 20 and all(_is_num(a) and 1 <= a <= 5 for a in r) for r in label)
    line.check("label", ok, "a non-empty list of per-clip rows of 20 annotator scores in 1..5")


_VALIDATORS = {"qvhighlights": _validate_qvhighlights, "charades": _validate_charades, "tvsum": _validate_tvsum}
_LABEL_FIELD = {"qvhighlights": "relevant_windows", "charades": "relevant_windows", "tvsum": "label"}


def load_annotations(path: str | Path, dataset: str) -> tuple[list[dict], bool]:
    """Read and validate an annotation jsonl -> (records, labelled).

    A file is labelled when its rows carry labels (``relevant_windows`` or TVSum's ``label``); a file where only some
    rows do is an error naming the first row that differs. Blank lines are skipped; line numbers count them.
    """
    if dataset not in _VALIDATORS:
        raise ValueError(f"unknown dataset {dataset!r} (expected one of {', '.join(DATASETS)})")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"annotation file not found: {path}")
    label_field = _LABEL_FIELD[dataset]
    records: list[dict] = []
    lines: list[int] = []
    labelled: bool | None = None
    for lineno, row in iter_jsonl_objects(path, AnnotationError):
        line = _Line(path, lineno, row)
        has_label = row.get(label_field) is not None
        if labelled is None:
            labelled = has_label
        elif has_label != labelled:
            state = "has" if has_label else "lacks"
            raise line.fail(label_field, f"this row {state} labels but earlier rows do not agree")
        _VALIDATORS[dataset](line, labelled)
        records.append(row)
        lines.append(lineno)
    if not records:
        raise AnnotationError(f"{path}: no annotation rows")
    try:  # the evaluator's own checks of a ground-truth file, now rather than at the first evaluation
        validate_ground_truth(Rows(records, str(path), lines), dataset, bool(labelled))
    except EvalInputError as e:
        raise AnnotationError(str(e)) from None
    return records, bool(labelled)


def filter_tvsum_domain(records: list[dict], domain: str, path: str | Path) -> list[dict]:
    """Keep one TVSum domain (each domain is trained and evaluated separately: the
    original's tr_detr/scripts/tvsum/train_tvsum.sh runs one training per domain)."""
    if domain not in TVSUM_DOMAINS:
        raise ValueError(f"tvsum_domain must be one of {', '.join(TVSUM_DOMAINS)}, got {domain!r}")
    kept = [r for r in records if r["domain"] == domain]
    if not kept:
        raise AnnotationError(f"{path}: no rows with domain {domain!r}")
    return kept
