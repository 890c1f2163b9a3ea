"""Read and validate submissions and ground truth for the evaluators (numpy only).

Every problem raises ``EvalInputError`` whose message is one line naming the file, the 1-based line and the field,
e.g. ``preds.jsonl:17: pred_relevant_windows[3]: expected [start, end, score], got [4, 'a']``.
Validation is vectorised: a whole field is flattened into one numpy array and checked at once; only when that fails
does a per-row scan run to find and name the first bad value.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from trdetr_cap.utils.io import iter_jsonl_objects


class EvalInputError(ValueError):
    """A submission or ground-truth file is malformed; ``str(err)`` is one line naming file, line and field."""


@dataclass(frozen=True)
class Rows:
    """The rows of one jsonl source and where each came from, so that errors can point at a line.

    ``name`` is the file path (or e.g. ``<submission rows>`` for rows passed in memory); ``lines[i]`` is the 1-based
    line of ``rows[i]`` in that file (or its 1-based index in the list).
    """

    rows: list[dict]
    name: str
    lines: list[int]
    from_file: bool = True

    def where(self, i: int) -> str:
        return f"{self.name}:{self.lines[i]}" if self.from_file else f"{self.name} row {self.lines[i]}"

    def ref(self, i: int) -> str:
        """'line 7' (file) or 'row 7' (in memory): row ``i`` within an error that already names the source."""
        return f"{'line' if self.from_file else 'row'} {self.lines[i]}"

    def error(self, i: int, field: str, problem: str) -> EvalInputError:
        return EvalInputError(f"{self.where(i)}: {field}: {problem}")

    def subset(self, keep: Sequence[int]) -> Rows:
        return Rows([self.rows[i] for i in keep], self.name, [self.lines[i] for i in keep], self.from_file)

    def __len__(self) -> int:
        return len(self.rows)


def read_rows(path: str | Path) -> Rows:
    """Parse a jsonl file into ``Rows``; blank lines are skipped, every other line must be a JSON object."""
    rows, lines = [], []
    try:
        for lineno, row in iter_jsonl_objects(path, EvalInputError):
            rows.append(row)
            lines.append(lineno)
    except (OSError, UnicodeDecodeError) as e:
        raise EvalInputError(f"{path}: cannot read ({e.__class__.__name__}: {e})") from None
    if not rows:
        raise EvalInputError(f"{path}: no rows (the file is empty)")
    return Rows(rows, str(path), lines)


def rows_in_memory(rows: Sequence[dict], name: str) -> Rows:
    """Wrap rows given as Python objects (e.g. by the training loop) so that errors name their index."""
    rows = list(rows)
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise EvalInputError(f"{name} row {i + 1}: expected a dict, got {type(row).__name__}")
    if not rows:
        raise EvalInputError(f"{name}: no rows")
    return Rows(rows, name, list(range(1, len(rows) + 1)), from_file=False)


# ---------------------------------------------------------------------------------------------------------------
# Field extraction
# ---------------------------------------------------------------------------------------------------------------


def _is_number_type(t: type) -> bool:
    return t is not bool and t is not np.bool_ and issubclass(t, (int, float, np.integer, np.floating))


def _describe(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (list, dict, str, int, float)) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _number_problem(value: Any) -> str | None:
    """Why ``value`` is not a finite number (None if it is one)."""
    if not _is_number_type(type(value)):
        return f"expected a number, got {_describe(value)}"
    if abs(value) >= 2**62 if isinstance(value, int) else not math.isfinite(value):
        return f"{_describe(value)} is out of range" if isinstance(value, int) else f"{value} is not a finite number"
    return None


def has_field(rows: Rows, field: str) -> list[bool]:
    return [field in r for r in rows.rows]


def require_field(rows: Rows, field: str, why: str = "") -> list[Any]:
    """The value of ``field`` in every row; a row without it raises naming its line."""
    try:
        return [r[field] for r in rows.rows]
    except KeyError:
        i = next(i for i, r in enumerate(rows.rows) if field not in r)
        raise rows.error(i, field, "missing field" + (f" ({why})" if why else "")) from None


def qid_list(rows: Rows) -> list[int | str]:
    """The ``qid`` of every row (int or str), checked for presence, type and uniqueness."""
    qids = require_field(rows, "qid")
    types = set(map(type, qids))
    if not types <= {int, str}:
        i = next(i for i, q in enumerate(qids) if type(q) not in (int, str))
        raise rows.error(i, "qid", f"expected an int or a string, got {_describe(qids[i])}")
    if len(set(qids)) != len(qids):
        first: dict[int | str, int] = {}
        for i, q in enumerate(qids):
            if q in first:
                raise rows.error(i, "qid", f"duplicate qid {q!r} (first at {rows.ref(first[q])})")
            first[q] = i
    return qids


def number_field(rows: Rows, field: str, positive: bool = False) -> np.ndarray:
    """A scalar number per row -> (R,) float64."""
    values = require_field(rows, field)
    if all(map(_is_number_type, set(map(type, values)))) and max(map(abs, values)) < 2**62:
        array = np.asarray(values, dtype=np.float64)
        bad = ~np.isfinite(array) | (array <= 0 if positive else False)
        if not bad.any():
            return array
    for i, v in enumerate(values):
        problem = _number_problem(v) or (f"must be > 0, got {v}" if positive and v <= 0 else None)
        if problem:
            raise rows.error(i, field, problem)
    raise EvalInputError(f"{rows.name}: {field}: malformed values")  # unreachable: the scan above names the row


def number_lists(
    rows: Rows, field: str, width: int | None = None, min_len: int = 0, what: str = "", integer: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Flatten a list-valued field over all rows.

    ``width=None``: each row holds a list of numbers; returns (values (N,), counts (R,)).
    ``width=k``: each row holds a list of k-number lists (``what`` names them, e.g. "[start, end, score]");
    returns (values (N, k), counts (R,)). ``min_len``: fewest items per row. ``integer``: values must be ints.
    Values are float64 (int64 when ``integer``), all finite.
    """
    per_row = require_field(rows, field)
    try:
        counts = np.fromiter(map(len, per_row), dtype=np.int64, count=len(per_row))
        ok = set(map(type, per_row)) == {list}
        items = list(chain.from_iterable(per_row)) if ok else []
        if ok and width is not None:
            ok = set(map(type, items)) <= {list} and set(map(len, items)) <= {width}
            items = list(chain.from_iterable(items)) if ok else []
        ok = ok and all(map(_is_number_type, set(map(type, items))))
        if ok and integer:
            ok = all(issubclass(t, (int, np.integer)) for t in set(map(type, items)))
    except TypeError:  # len() of a number or None
        ok = False
    if ok:
        try:
            values = np.asarray(items, dtype=np.int64 if integer else np.float64)
        except OverflowError:  # an integer beyond int64 / float64
            ok = False
    if not ok:
        _raise_first_structure_problem(rows, per_row, field, width, what, integer)
    if not integer:
        finite = np.isfinite(values)
        if not finite.all():
            flat = int(np.flatnonzero(~finite)[0])
            _raise_at(rows, counts, field, flat, width, f"{values[flat]} is not a finite number")
    if width is not None:
        values = values.reshape(-1, width)
    short = np.flatnonzero(counts < min_len)
    if short.size:
        i = int(short[0])
        raise rows.error(i, field, f"needs at least {min_len} item(s), got {int(counts[i])}")
    return values, counts


def _raise_at(rows: Rows, counts: np.ndarray, field: str, flat: int, width: int | None, problem: str):
    """Raise for flat value index ``flat`` of a field flattened by ``number_lists``."""
    item = flat // (width or 1)
    row = int(np.searchsorted(np.cumsum(counts), item, side="right"))
    index = item - int(counts[:row].sum())
    raise rows.error(row, f"{field}[{index}]", problem)


def raise_at_item(rows: Rows, counts: np.ndarray, field: str, item: int, problem: str):
    """Raise for item ``item`` (an index into the flattened (N, ...) values) of a field read by ``number_lists``."""
    _raise_at(rows, counts, field, item, None, problem)


def _raise_first_structure_problem(
    rows: Rows, per_row: list[Any], field: str, width: int | None, what: str, integer: bool
):
    for i, value in enumerate(per_row):
        if not isinstance(value, list):
            raise rows.error(i, field, f"expected a list, got {_describe(value)}")
        for j, item in enumerate(value):
            if width is None:
                problem = _number_problem(item)
            elif not (isinstance(item, list) and len(item) == width):
                problem = f"expected {what or f'a list of {width} numbers'}, got {_describe(item)}"
            else:
                problem = next(filter(None, map(_number_problem, item)), None)
                problem = problem and f"{problem} in {_describe(item)}"
            if problem is None and integer:
                bad = [v for v in (item if width else [item]) if not isinstance(v, (int, np.integer))]
                problem = f"expected an integer, got {_describe(bad[0])}" if bad else None
            if problem:
                raise rows.error(i, f"{field}[{j}]", problem)
    raise EvalInputError(f"{rows.name}: {field}: malformed values")  # unreachable: the scan above names the row


def check_windows_ordered(rows: Rows, counts: np.ndarray, windows: np.ndarray, field: str, strict: bool) -> None:
    """Windows (N, >=2) must have start <= end (``strict``: start < end)."""
    bad = windows[:, 0] >= windows[:, 1] if strict else windows[:, 0] > windows[:, 1]
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        need = "<" if strict else "<="
        raise_at_item(rows, counts, field, k, f"start must be {need} end, got {_describe(windows[k].tolist())}")


# ---------------------------------------------------------------------------------------------------------------
# Matching submission and ground truth
# ---------------------------------------------------------------------------------------------------------------


def match_qids(sub: Rows, gt: Rows, allow_missing: bool) -> tuple[Rows, Rows]:
    """Pair submission and GT rows by qid; returns both restricted and ordered as the submission.

    Without ``allow_missing`` the two qid sets must be equal; otherwise the intersection is evaluated and a note
    saying so goes to stderr.
    """
    sub_qids, gt_qids = qid_list(sub), qid_list(gt)
    gt_index = {q: i for i, q in enumerate(gt_qids)}
    sub_set = set(sub_qids)
    extra = [i for i, q in enumerate(sub_qids) if q not in gt_index]
    missing = [q for q in gt_qids if q not in sub_set]
    if (extra or missing) and not allow_missing:
        parts = []
        if missing:
            parts.append(f"{len(missing)} GT qid(s) missing from the submission (e.g. {_examples(missing)})")
        if extra:
            first = extra[0]
            example = f"qid {sub_qids[first]!r} at {sub.ref(first)}"
            parts.append(f"{len(extra)} submission qid(s) not in the GT (e.g. {example})")
        hint = " (--allow-missing evaluates the common qids)"
        raise EvalInputError(f"{sub.name}: qid: does not match {gt.name}: " + "; ".join(parts) + hint)
    keep = [i for i, q in enumerate(sub_qids) if q in gt_index]
    if not keep:
        raise EvalInputError(f"{sub.name}: qid: no qid in common with {gt.name}")
    if extra or missing:
        print(
            f"[trdetr_cap.eval] evaluating the {len(keep)} qids present in both files "
            f"({len(missing)} GT qids missing from the submission, {len(extra)} submission qids not in the GT ignored)",
            file=sys.stderr,
        )
    return sub.subset(keep), gt.subset([gt_index[sub_qids[i]] for i in keep])


def _examples(values: list[Any], n: int = 3) -> str:
    return ", ".join(map(repr, values[:n])) + (", ..." if len(values) > n else "")
