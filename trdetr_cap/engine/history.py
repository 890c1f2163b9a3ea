"""The per-epoch record of a training run: ``run_dir/history.jsonl``, one row per epoch, and its plot.

A row is ``{"epoch": e, "lr": x, "train": {loss: value}, "val": {brief metric: value}, "val_loss": {...}}`` (the
two ``val`` parts only on evaluated epochs). The file is rewritten atomically after every epoch, so it always matches
``model_latest.ckpt``; a resumed run first drops the rows of epochs after the checkpoint (written by the killed
process after its last checkpoint), so the history of a resumed run equals that of an uninterrupted one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trdetr_cap.utils.io import atomic_write_jsonl, read_jsonl


class History:
    """Rows of ``path`` for epochs <= ``keep_upto`` (1-based); ``log`` merges into an epoch's row and saves."""

    def __init__(self, path: str | Path, keep_upto: int = 0):
        self.path = Path(path)
        rows = read_jsonl(self.path) if keep_upto and self.path.is_file() else []
        self.rows: list[dict[str, Any]] = [r for r in rows if r["epoch"] <= keep_upto]

    def log(self, epoch: int, **parts: Any) -> None:
        if not self.rows or self.rows[-1]["epoch"] != epoch:
            self.rows.append({"epoch": epoch})
        self.rows[-1].update(parts)
        atomic_write_jsonl(self.path, self.rows)


def plot_history(rows: list[dict[str, Any]], path: str | Path, metric_keys: list[str], title: str = "") -> Path:
    """Write a png with two panels: train (and val) loss_overall per epoch, and those of ``metric_keys`` that the
    val brief has."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on training machines
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from trdetr_cap.utils.io import atomic_path

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
    path = Path(path)
    with atomic_path(path, suffix=path.suffix) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path
