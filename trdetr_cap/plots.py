"""Plots: one prediction (per-clip saliency with the predicted and ground-truth windows), a run's curves.

Matplotlib is imported on first use (Agg backend: files only, no display on training machines); every figure is
written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trdetr_cap.spans import cross_iou
from trdetr_cap.utils.io import atomic_path


def plot_result(result: dict[str, Any], path: str | Path, gt_windows: Sequence[Sequence[float]] | None = None,
                top_k: int = 3) -> Path:
    """Write a png: saliency bars per ``clip_len`` clip, the ``top_k`` moments as shaded spans (score in the
    legend), ground-truth windows as a band under the axis. ``result`` is a ``MomentRetriever.predict`` dict."""
    plt = _pyplot()
    clip_len, saliency = float(result["clip_len"]), result["saliency"]
    fig, ax = plt.subplots(figsize=(10, 3.2))
    ax.bar([i * clip_len for i in range(len(saliency))], saliency, width=clip_len, align="edge",
           color="0.6", label="saliency")
    colors = plt.get_cmap("tab10").colors
    for rank, (st, ed, score) in enumerate(result["moments"][:top_k]):
        ax.axvspan(st, ed, color=colors[rank % len(colors)], alpha=0.25, label=f"#{rank + 1} {st:.0f}-{ed:.0f} s "
                                                                                 f"({score:.2f})")
    low = min(saliency, default=0.0)
    for i, (st, ed) in enumerate(gt_windows or []):
        ax.plot([st, ed], [low, low], color="black", linewidth=6, solid_capstyle="butt",
                label="ground truth" if i == 0 else None)
    ax.set_xlim(0, max(float(result["duration"]), len(saliency) * clip_len))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("saliency")
    ax.set_title(result["query"][:100])
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)  # outside: never hides the GT band
    fig.tight_layout()
    return _save(fig, path, dpi=120)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on training machines
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path, dpi: int) -> Path:
    """Write ``fig`` atomically (format from the suffix, png without one) and close it."""
    path = Path(path)
    with atomic_path(path, suffix=path.suffix) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")
    _pyplot().close(fig)
    return path


def plot_history(rows: list[dict[str, Any]], path: str | Path, metric_keys: list[str], title: str = "") -> Path:
    """Write a png with two panels: train (and val) loss_overall per epoch, and those of ``metric_keys`` that the
    val brief has."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, (loss_ax, metric_ax) = plt.subplots(1, 2, figsize=(11, 3.6))
    for part, style in (("train", "-"), ("val_loss", "o--")):
        points = [(r["epoch"], r[part]["loss_overall"]) for r in rows if "loss_overall" in r.get(part, {})]
        if points:
            loss_ax.plot(*zip(*points, strict=True), style, label=f"{part.split('_')[0]} loss_overall")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("loss")
    loss_ax.legend(fontsize=8)
    evaluated = [r for r in rows if r.get("val")]
    for key in metric_keys:
        points = [(r["epoch"], r["val"][key]) for r in evaluated if r["val"].get(key) is not None]
        if points:
            metric_ax.plot(*zip(*points, strict=True), "o-", label=key)
    metric_ax.set_xlabel("epoch")
    metric_ax.set_ylabel("val metric")
    if evaluated:
        metric_ax.legend(fontsize=8)
    for ax in (loss_ax, metric_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path, dpi=110)


def submission_result(row: dict[str, Any], clip_len: float, duration: float | None = None) -> dict[str, Any]:
    """A submission row (``qid``, ``query``, ``pred_relevant_windows``, ``pred_saliency_scores``) as the result
    dict ``plot_result`` draws."""
    moments = row.get("pred_relevant_windows", [])
    saliency = row.get("pred_saliency_scores", [])
    if duration is None:
        duration = max([len(saliency) * clip_len] + [w[1] for w in moments])
    return {"query": f"qid {row['qid']}: {row.get('query', '')}", "clip_len": clip_len, "duration": duration,
            "moments": moments, "saliency": saliency}


def top1_iou(row: dict[str, Any], gt_windows: Sequence[Sequence[float]]) -> float:
    """IoU of the first predicted window with its best-matching GT window (0 without prediction or GT)."""
    if not row.get("pred_relevant_windows") or not gt_windows:
        return 0.0
    first = np.asarray([row["pred_relevant_windows"][0][:2]], dtype=float)
    return float(np.nan_to_num(cross_iou(first, np.asarray(gt_windows, dtype=float)), nan=0.0).max())


def read_rows(path: str, fields: dict[str, tuple[int | None, str]]) -> list[dict[str, Any]]:
    """Rows of a jsonl file, checked as the evaluator checks them: unique ``qid``s, and each of ``fields`` the rows
    carry (name -> (width, what)) a list of finite numbers, or of ``width``-number lists described as ``what``. A bad
    row raises naming the file, line and field (it would otherwise fail deep inside matplotlib)."""
    from trdetr_cap.eval.io import check_windows_ordered, has_field, number_lists, qid_list
    from trdetr_cap.eval.io import read_rows as read_eval_rows

    rows = read_eval_rows(path)
    qid_list(rows)
    for field, (width, what) in fields.items():
        if any(has_field(rows, field)):
            values, counts = number_lists(rows, field, width=width, what=what)
            if width is not None:  # windows: start <= end (GT: strictly)
                check_windows_ordered(rows, counts, values, field, strict=field == "relevant_windows")
    return rows.rows


PRED_FIELDS = {"pred_relevant_windows": (3, "[start, end, score]"), "pred_saliency_scores": (None, "")}
GT_FIELDS = {"relevant_windows": (2, "[start, end]")}
