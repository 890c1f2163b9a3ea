"""The training run end to end on a tiny synthetic set: run-directory contents, kill + resume, the non-finite-loss
stop, DDP with gloo, and scripts/eval.sh on the resulting checkpoint."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest
import torch
from plot_pixels import axes_boxes, load_rgb
from tiny_runs import REPO_ROOT, tiny_config, tiny_run

from trdetr_cap.commands.train import main
from trdetr_cap.engine.checkpoint import load_checkpoint
from trdetr_cap.engine.train import train
from trdetr_cap.errors import UserError
from trdetr_cap.utils.io import read_jsonl

pytestmark = pytest.mark.slow  # every test here trains or spawns processes

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}


def _micro(video_data, **overrides):
    """Smallest useful run: CLIP features only (514-d input), 2 epochs of 6 steps, evaluation every epoch."""
    flags = {"v_feat_dirs": [str(video_data / "clip_features")], "n_epoch": 2, **overrides}
    return tiny_config(video_data, **flags)


@pytest.fixture(scope="module")
def finished_run(video_data, tmp_path_factory):
    """An uninterrupted 2-epoch run."""
    run_dir = tmp_path_factory.mktemp("runs") / "full"
    metrics = train(_micro(video_data), tiny_run(run_dir))
    return run_dir, metrics


def test_run_directory_contents(finished_run):
    run_dir, metrics = finished_run
    names = {p.name for p in run_dir.iterdir()}
    assert {"config.yaml", "train.log", "tensorboard", "model_latest.ckpt", "model_best.ckpt",
            "best_val_preds.jsonl", "best_val_metrics.json", "history.jsonl", "curves.png"} <= names
    assert not [n for n in names if n.endswith(".tmp")]
    assert any(p.name.startswith("events.out.tfevents") for p in (run_dir / "tensorboard").iterdir())
    assert json.loads((run_dir / "best_val_metrics.json").read_text()) == metrics
    assert "MR-full-mAP" in metrics["brief"]
    log = (run_dir / "train.log").read_text()
    assert "epoch 2/2" in log and "loss_vtc" in log and "loss_ctc" in log and "eval epoch 2" in log
    history = read_jsonl(run_dir / "history.jsonl")
    assert [r["epoch"] for r in history] == [1, 2]
    assert all(r["train"]["loss_overall"] > 0 and r["val_loss"]["loss_overall"] > 0 for r in history)
    assert max(r["val"]["MR-full-mAP"] for r in history) == metrics["brief"]["MR-full-mAP"]
    assert (run_dir / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    curves = load_rgb(run_dir / "curves.png")
    assert curves.shape == (396, 1210, 3) and len(axes_boxes(curves)) == 2  # the loss and the metric panels
    assert history[1]["train"]["loss_overall"] < history[0]["train"]["loss_overall"]  # 6 steps at lr 1e-3 learn

    ckpt = torch.load(run_dir / "model_latest.ckpt", weights_only=True)
    assert ckpt["epoch"] == 1
    assert ckpt["config"]["model"]["v_feat_dim"] == 514  # inferred: 512 CLIP + 2 TEF
    best = load_checkpoint(run_dir / "model_best.ckpt")
    assert best["train_state"]["best_epoch"] == best["epoch"]
    assert best["train_state"]["best_score"] == metrics["brief"]["MR-full-mAP"]


def test_kill_and_resume_equals_uninterrupted(video_data, finished_run, tmp_path):
    full_dir, full_metrics = finished_run
    run_dir = tmp_path / "resumed"
    assert train(_micro(video_data), tiny_run(run_dir), stop_after_epochs=1) is None  # "killed" after epoch 1
    assert load_checkpoint(run_dir / "model_latest.ckpt")["epoch"] == 0
    with open(run_dir / "history.jsonl", "a") as f:  # killed after logging epoch 2, before its checkpoint
        f.write(json.dumps({"epoch": 2, "lr": 1.0, "train": {"loss_overall": -1.0}}) + "\n")
    assert main(["--resume", str(run_dir)]) == 0

    assert json.loads((run_dir / "best_val_metrics.json").read_text()) == full_metrics
    assert read_jsonl(run_dir / "best_val_preds.jsonl") == read_jsonl(full_dir / "best_val_preds.jsonl")
    resumed, full = load_checkpoint(run_dir / "model_latest.ckpt"), load_checkpoint(full_dir / "model_latest.ckpt")
    assert resumed["epoch"] == full["epoch"] == 1
    for name, tensor in full["model"].items():
        assert torch.equal(resumed["model"][name], tensor), name
    assert "resuming run" in (run_dir / "train.log").read_text()
    assert read_jsonl(run_dir / "history.jsonl") == read_jsonl(full_dir / "history.jsonl")


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(video_data, tmp_path, capsys):
    run_dir = tmp_path / "nan"
    train(_micro(video_data, n_epoch=1), tiny_run(run_dir))
    before = (run_dir / "model_latest.ckpt").read_bytes()
    # An absurd learning rate blows the weights up after the first step of epoch 2: the next loss is not finite.
    assert main(["--resume", str(run_dir), "--n_epoch", "3", "--lr", "1e30"]) == 1
    log = (run_dir / "train.log").read_text()
    assert "non-finite loss at epoch 2" in log
    assert f"the last good checkpoint is {run_dir / 'model_latest.ckpt'} (epoch 1)" in log
    assert (run_dir / "model_latest.ckpt").read_bytes() == before


def test_eval_sh_reproduces_best_val_predictions(finished_run, video_data, tmp_path):
    run_dir, metrics = finished_run
    out = tmp_path / "eval"
    proc = subprocess.run(["bash", "scripts/eval.sh", str(run_dir / "model_best.ckpt"), str(video_data / "val.jsonl"),
                           "--out", str(out)], cwd=REPO_ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert read_jsonl(out / "val_preds.jsonl") == read_jsonl(run_dir / "best_val_preds.jsonl")
    assert json.loads((out / "val_metrics.json").read_text()) == metrics
    assert json.loads(proc.stdout[proc.stdout.index("{"):]) == metrics["brief"]


def test_eval_sh_bad_input_exits_2(finished_run, tmp_path):
    run_dir, _ = finished_run
    missing = tmp_path / "missing.jsonl"
    proc = subprocess.run(["bash", "scripts/eval.sh", str(run_dir / "model_best.ckpt"), str(missing)],
                          cwd=REPO_ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "missing.jsonl" in proc.stderr


def test_ddp_gloo_two_processes(video_data, tmp_path):
    run_dir = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "trdetr_cap.train", "--config", str(REPO_ROOT / "configs" / "synthetic.yaml"),
           "--train_path", str(video_data / "train.jsonl"), "--eval_path", str(video_data / "val.jsonl"),
           "--v_feat_dirs", str(video_data / "clip_features"), "--t_feat_dir", str(video_data / "clip_text_features"),
           "--nheads", "4", "--dim_feedforward", "128", "--num_queries", "5", "--bsz", "16",
           "--n_epoch", "1", "--device", "cpu", "--out", str(run_dir)]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (run_dir / "train.log").read_text()
    assert "device cpu x2" in log and "epoch 1/1" in log
    ckpt = load_checkpoint(run_dir / "model_best.ckpt")
    assert not any(k.startswith("module.") for k in ckpt["model"])  # saved unwrapped: loads without DDP
    printed = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert printed["val"] == json.loads((run_dir / "best_val_metrics.json").read_text())["brief"]


def _old_run(run_dir):
    """What an earlier run left: its config, best checkpoint and metrics."""
    run_dir.mkdir(parents=True)
    for name, text in {"config.yaml": "train: {}\n", "model_best.ckpt": "old", "best_val_metrics.json": "{}"}.items():
        (run_dir / name).write_text(text)


def test_a_second_run_into_a_used_results_dir_is_refused(video_data, tmp_path):
    run_dir = tmp_path / "used"
    _old_run(run_dir)
    with pytest.raises(UserError, match=r"is not empty .*--resume .*--overwrite"):
        train(_micro(video_data, n_epoch=1), tiny_run(run_dir))
    assert sorted(p.name for p in run_dir.iterdir()) == ["best_val_metrics.json", "config.yaml", "model_best.ckpt"]
    stranger = tmp_path / "not_a_run"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not a run directory"):
        train(_micro(video_data, n_epoch=1), dataclasses.replace(tiny_run(stranger), overwrite=True))
    assert (stranger / "notes.txt").read_text() == "mine"


def test_overwrite_empties_the_old_run_first(video_data, tmp_path):
    """The old run's best checkpoint and metrics must not survive beside the new config (nor be reported)."""
    run_dir = tmp_path / "used"
    _old_run(run_dir)
    run = dataclasses.replace(tiny_run(run_dir), overwrite=True)
    assert train(_micro(video_data, n_epoch=1, eval_path=None), run) is None
    names = {p.name for p in run_dir.iterdir()}
    assert "model_best.ckpt" not in names and "best_val_metrics.json" not in names
    assert {"config.yaml", "model_latest.ckpt", "train.log"} <= names
