"""The per-epoch record of a training run: ``run_dir/history.jsonl``, one row per epoch (drawn by
``trdetr_cap.plots.plot_history`` into ``curves.png``).

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
