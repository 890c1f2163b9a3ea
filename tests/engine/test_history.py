"""history.jsonl: rows merge per epoch, resuming drops epochs after the checkpoint; curves.png from any history."""

from __future__ import annotations

from plot_pixels import C0, C1, axes_boxes, colour_rows, load_rgb

from trdetr_cap.engine.history import History
from trdetr_cap.plots import plot_history
from trdetr_cap.utils.io import read_jsonl

PNG = b"\x89PNG\r\n\x1a\n"


def test_rows_merge_per_epoch_and_resume_keeps_only_checkpointed_epochs(tmp_path):
    path = tmp_path / "history.jsonl"
    history = History(path)
    for epoch in (1, 2, 3):
        history.log(epoch, lr=1e-4, train={"loss_overall": 10.0 - epoch})
    history.log(3, val={"MR-full-mAP": 5.0})
    assert read_jsonl(path)[-1] == {"epoch": 3, "lr": 1e-4, "train": {"loss_overall": 7.0}, "val": {"MR-full-mAP": 5.0}}

    resumed = History(path, keep_upto=2)  # the checkpoint holds 2 finished epochs
    assert [r["epoch"] for r in resumed.rows] == [1, 2]
    resumed.log(3, lr=5e-5, train={"loss_overall": 6.5})
    assert [r["train"]["loss_overall"] for r in read_jsonl(path)] == [9.0, 8.0, 6.5]
    assert History(path, keep_upto=0).rows == []  # a fresh run ignores an old file (and overwrites it on first log)


def test_plot_history_without_val_and_with_null_metrics(tmp_path):
    rows = [{"epoch": 1, "train": {"loss_overall": 3.0}}, {"epoch": 2, "train": {"loss_overall": 2.0}}]
    assert plot_history(rows, tmp_path / "a.png", ["MR-full-mAP"]).read_bytes()[:8] == PNG
    image = load_rgb(tmp_path / "a.png")
    assert image.shape == (396, 1210, 3)  # 11 x 3.6 inches at 110 dpi
    loss_box, metric_box = axes_boxes(image)
    # the train loss falls from 3.0 (epoch 1, left end) to 2.0 (epoch 2, right end): the line goes down
    start, end = colour_rows(image, loss_box, 0.05, 0.1, C0), colour_rows(image, loss_box, 0.9, 0.95, C0)
    assert len(start) and len(end) and end.mean() - start.mean() > 0.5 * (loss_box[3] - loss_box[1])
    assert not len(colour_rows(image, metric_box, 0, 1, C0))  # no val metrics: an empty panel
    rows[1]["val"] = {"MR-full-mAP": 4.0, "MR-short-mAP": None}
    out = plot_history(rows, tmp_path / "b.png", ["MR-full-mAP", "MR-short-mAP", "absent"], title="run")
    assert out.read_bytes()[:8] == PNG
    image = load_rgb(out)
    _, metric_box = axes_boxes(image)
    # one metric with a value: one series (C0); the all-null one and the absent one draw nothing (no C1)
    assert len(colour_rows(image, metric_box, 0, 1, C0)) and not len(colour_rows(image, metric_box, 0, 1, C1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]  # no temp files left
