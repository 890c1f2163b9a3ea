"""A training run redirected to a file (``train > log 2>&1``): plain progress lines, no carriage-return frames."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from tiny_runs import REPO_ROOT


@pytest.mark.slow
def test_training_redirected_to_a_file_has_no_frames(video_data, tmp_path):
    log = tmp_path / "out.log"
    cmd = [sys.executable, "-m", "trdetr_cap.train", "--config", str(REPO_ROOT / "configs" / "synthetic.yaml"),
           "--train_path", str(video_data / "train.jsonl"), "--eval_path", str(video_data / "val.jsonl"),
           "--v_feat_dirs", str(video_data / "clip_features"), "--t_feat_dir", str(video_data / "clip_text_features"),
           "--cap_feat_path=", "--nheads", "4", "--dim_feedforward", "128", "--num_queries", "5", "--bsz", "8",
           "--n_epoch", "2", "--device", "cpu", "--results_dir", str(tmp_path / "run")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", "TRDETR_CAP_PROGRESS": "25%"}
    with open(log, "w") as f:
        proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, stdout=f, stderr=subprocess.STDOUT, timeout=600)
    text = log.read_text()
    assert proc.returncode == 0, text[-3000:]
    assert "\r" not in text
    # 2 epochs of 12 train steps (96 queries / 8) and 1 eval pass each: 3 lines + "done" per training epoch, and
    # the 1-batch eval loop (48 val queries, eval_bsz 100) ends before its first 25%: 8 progress lines in all
    train_lines = [line for line in text.splitlines() if line.startswith("train epoch ")]
    assert len(train_lines) == 8, text
    assert [line.split(" ")[3] for line in train_lines[:4]] == ["3/12", "6/12", "9/12", "done,"]
    assert not [line for line in text.splitlines() if line.startswith("evaluate")]
