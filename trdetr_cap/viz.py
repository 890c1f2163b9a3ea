"""Plots of one prediction: per-clip saliency over time with the predicted (and ground-truth) windows."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trdetr_cap.utils.io import atomic_path


def plot_result(result: dict[str, Any], path: str | Path, gt_windows: Sequence[Sequence[float]] | None = None,
                top_k: int = 3) -> Path:
    """Write a png: saliency bars per ``clip_len`` clip, the ``top_k`` moments as shaded spans (score in the
    legend), ground-truth windows as a band under the axis. ``result`` is a ``MomentRetriever.predict`` dict."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on training machines
    import matplotlib.pyplot as plt

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
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path, suffix=path.suffix) as tmp:
        fig.savefig(tmp, dpi=120, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path
