"""Every command, fed bad input as a new user would: one ``error:`` line, a non-zero exit, no traceback, nothing
half-written. Each case runs the real command in a subprocess (docs/bad_input.md lists the classes)."""

from __future__ import annotations

import copy
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from trdetr_cap.config import load_config
from trdetr_cap.data import build_dataset
from trdetr_cap.data.synthetic import SyntheticParams, generate, synthetic_overrides
from trdetr_cap.engine.checkpoint import save_checkpoint
from trdetr_cap.engine.train import infer_feature_dims
from trdetr_cap.models import build_model
from trdetr_cap.testing import save_tiny_clip, write_test_video

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1",
       "TRANSFORMERS_OFFLINE": "1", "TRDETR_CAP_DEBUG": ""}
SMALL = SyntheticParams(seed=3, n_train=16, n_val=8, n_concepts=4, min_clips=8, max_clips=12)
TINY_MODEL = {"nheads": 2, "dim_feedforward": 32, "num_queries": 3, "dec_layers": 1}


class _RunsCode:
    def __init__(self, cmd: str):
        self.cmd = cmd

    def __reduce__(self):
        return os.system, (self.cmd,)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    """Good inputs (a tiny synthetic set, a checkpoint for it, a CLIP, a video) and bad ones built from them."""
    root = tmp_path_factory.mktemp("sweep")
    data = generate(root / "data", SMALL)
    flags = {**synthetic_overrides(data), "cap_feat_path": "", "v_feat_dirs": [str(data / "clip_features")],
             **TINY_MODEL}
    cfg = load_config(REPO_ROOT / "configs" / "synthetic.yaml", flags)
    infer_feature_dims(cfg, build_dataset(cfg, "train"))
    torch.manual_seed(0)
    model, _ = build_model(cfg)
    save_checkpoint(root / "model.ckpt", model=model, optimizer=None, lr_scheduler=None, epoch=0,
                    config=cfg.to_dict())
    wider = copy.deepcopy(cfg)  # a config whose model the saved weights do not fit
    wider.model.hidden_dim = 2 * cfg.model.hidden_dim
    save_checkpoint(root / "mismatch.ckpt", model=model, optimizer=None, lr_scheduler=None, epoch=0,
                    config=wider.to_dict())
    w = {"root": root, "data": data, "ckpt": root / "model.ckpt", "clip": save_tiny_clip(root / "clip")}
    rows = [json.loads(line) for line in (data / "val.jsonl").read_text().splitlines()]
    (root / "val_dup.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [*rows, rows[2]]))
    rows[3] = {**rows[3], "relevant_clip_ids": [*rows[3]["relevant_clip_ids"][:-1], 10_000]}
    (root / "val_past_end.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "bad.yaml").write_text("model:\n  hidden_dim: [256\ntrain: {}\n")
    (root / "garbage.ckpt").write_bytes(os.urandom(4096))
    (root / "crafted.pkl").write_bytes(pickle.dumps({"blobs": {"conv1_w": _RunsCode(f"touch {root / 'pwned'}")}}))
    w["video"] = write_test_video(root / "v.mp4", 4.0, faststart=True)
    (root / "cut.mp4").write_bytes(w["video"].read_bytes()[: w["video"].stat().st_size // 2])
    (root / "torn.jsonl").write_text('{"vid": "a", "clip_len": 2.0, "captions": ["x"]}\n{"vid": "b", "cl\n')
    (root / "no_query.jsonl").write_text('{"qid": 1}\n')
    bad_npz = root / "bad_npz"
    bad_npz.mkdir()
    for name in ("a", "b"):
        np.savez(bad_npz / f"{name}.npz", features=np.ones((4, 8), np.float32))
    (bad_npz / "b.npz").write_bytes((bad_npz / "b.npz").read_bytes()[:120])
    broken_feats = root / "broken_feats"  # a copy of the features with one damaged file, for DataLoader workers
    broken_feats.mkdir()
    for f in (data / "clip_features").iterdir():
        (broken_feats / f.name).write_bytes(f.read_bytes())
    last_train_vid = json.loads((data / "train.jsonl").read_text().splitlines()[-1])["vid"]
    victim = broken_feats / f"{last_train_vid}.npz"  # not the first: that one is read up front for the widths
    victim.write_bytes(victim.read_bytes()[:150])
    sub = [{"qid": r["qid"], "pred_relevant_windows": [[0, 2, 0.5]], "pred_saliency_scores": [0.1] * 4}
           for r in rows]
    sub[5]["pred_relevant_windows"] = [[4, 2, 0.5]]
    (root / "bad_sub.jsonl").write_text("".join(json.dumps(r) + "\n" for r in sub))
    (root / "used_run").mkdir()
    (root / "used_run" / "config.yaml").write_text("train: {}\n")
    (root / "used_run" / "model_best.ckpt").write_text("old")
    return w


def _train(w, *extra):
    d = w["data"]
    return ["trdetr_cap.train", "--config", str(REPO_ROOT / "configs" / "synthetic.yaml"),
            "--train_path", str(d / "train.jsonl"), "--eval_path", str(d / "val.jsonl"),
            "--v_feat_dirs", str(d / "clip_features"), "--t_feat_dir", str(d / "clip_text_features"),
            "--n_epoch", "1", "--nheads", "2", "--dim_feedforward", "32", "--num_queries", "3", "--dec_layers", "1",
            "--device", "cpu", "--out", str(w["root"] / "run_out"), *extra]


# (id, argv builder -> (module + args), expected text in the error line, paths that must not exist afterwards)
CASES = [
    ("train-malformed-yaml", lambda w: ["trdetr_cap.train", "--config", str(w["root"] / "bad.yaml")],
     "bad.yaml line 3: not valid YAML", ["run_out"]),
    ("train-bad-flag-value", lambda w: _train(w, "--bsz", "many"), "--bsz: expected int", ["run_out"]),
    ("train-unknown-device", lambda w: _train(w, "--device", "tpu"), "is not one of auto, cpu", ["run_out"]),
    ("train-absent-cuda", lambda w: _train(w, "--device", "cuda:0"), "CUDA is not available", ["run_out"]),
    ("train-duplicate-qid", lambda w: _train(w, "--eval_path", str(w["root"] / "val_dup.jsonl")),
     "val_dup.jsonl:9: qid: duplicate qid", ["run_out/model_latest.ckpt", "run_out/config.yaml"]),
    ("train-clip-past-end", lambda w: _train(w, "--eval_path", str(w["root"] / "val_past_end.jsonl")),
     "val_past_end.jsonl:4: relevant_clip_ids", ["run_out/model_latest.ckpt", "run_out/config.yaml"]),
    ("train-used-results-dir", lambda w: _train(w, "--out", str(w["root"] / "used_run")),
     "is not empty", ["used_run/train.log"]),
    ("train-resume-nothing", lambda w: ["trdetr_cap.train", "--resume", str(w["root"] / "nope")],
     "no config.yaml there", ["nope"]),
    ("train-worker-corrupt-npz",
     lambda w: _train(w, "--v_feat_dirs", str(w["root"] / "broken_feats"), "--num_workers", "1", "--preload", "never"),
     "cannot read", ["run_out/model_latest.ckpt"]),
    ("predict-missing-ckpt", lambda w: ["trdetr_cap.predict", str(w["root"] / "nope.ckpt"),
                                        str(w["data"] / "val.jsonl")], "checkpoint not found", []),
    ("predict-garbage-ckpt", lambda w: ["trdetr_cap.predict", str(w["root"] / "garbage.ckpt"),
                                        str(w["data"] / "val.jsonl")], "not a readable trdetr_cap checkpoint", []),
    ("predict-shape-mismatch", lambda w: ["trdetr_cap.predict", str(w["root"] / "mismatch.ckpt"),
                                          str(w["data"] / "val.jsonl"), "--out", str(w["root"] / "p1")],
     "does not fit the model", ["p1"]),
    ("predict-feature-width", lambda w: ["trdetr_cap.predict", str(w["ckpt"]), str(w["data"] / "val.jsonl"),
                                         "--v_feat_dirs", str(w["data"] / "slowfast_features"),
                                         "--out", str(w["root"] / "p2")], "features have width 2306", ["p2"]),
    ("predict-clip-past-end", lambda w: ["trdetr_cap.predict", str(w["ckpt"]), str(w["root"] / "val_past_end.jsonl"),
                                         "--out", str(w["root"] / "p3")], "val_past_end.jsonl:4", ["p3"]),
    ("predict-unknown-device", lambda w: ["trdetr_cap.predict", str(w["ckpt"]), str(w["data"] / "val.jsonl"),
                                          "--device", "gpu0", "--out", str(w["root"] / "p4")], "is not one of",
     ["p4"]),
    ("eval-bad-window", lambda w: ["trdetr_cap.eval", "--submission", str(w["root"] / "bad_sub.jsonl"), "--gt",
                                   str(w["data"] / "val.jsonl"), "--out", str(w["root"] / "m.json")],
     "bad_sub.jsonl:6: pred_relevant_windows", ["m.json"]),
    ("infer-mistyped-clip", lambda w: ["trdetr_cap.inference", "--video", str(w["video"]), "--query", "q",
                                       "--checkpoint", str(w["ckpt"]), "--clip_model", str(w["root"] / "clp"),
                                       "--device", "cpu", "--out", str(w["root"] / "r.json")],
     "clp: no such local directory", ["r.json"]),
    ("infer-truncated-video", lambda w: ["trdetr_cap.inference", "--video", str(w["root"] / "cut.mp4"), "--query",
                                         "q", "--checkpoint", str(w["ckpt"]), "--clip_model", str(w["clip"]),
                                         "--device", "cpu", "--out", str(w["root"] / "r.json")],
     "cut.mp4: truncated", ["r.json"]),
    ("extract-crafted-pickle", lambda w: ["trdetr_cap.extract", "videos", str(w["video"]), "--features", "slowfast",
                                          "--slowfast_ckpt", str(w["root"] / "crafted.pkl"),
                                          "--out", str(w["root"] / "f1")],
     "refusing to unpickle", ["pwned", "f1"]),
    ("extract-bad-queries", lambda w: ["trdetr_cap.extract", "queries", str(w["root"] / "no_query.jsonl"),
                                       "--out", str(w["root"] / "f2"), "--clip_model", str(w["clip"])],
     "no_query.jsonl:1", ["f2"]),
    ("extract-unknown-device", lambda w: ["trdetr_cap.extract", "videos", str(w["video"]), "--clip_model",
                                          str(w["clip"]), "--device", "npu", "--out", str(w["root"] / "f3")],
     "--device: 'npu' is not one of", ["f3"]),
    ("captions-merge-torn", lambda w: ["trdetr_cap.captions", "merge", str(w["root"] / "torn.jsonl"),
                                       "--out", str(w["root"] / "c.jsonl")], "torn.jsonl:2", ["c.jsonl"]),
    ("captions-mistyped-model", lambda w: ["trdetr_cap.captions", "generate", str(w["video"]), "--cap_model",
                                           str(w["root"] / "no_model"), "--cap_backend", "transformers", "--device",
                                           "cpu", "--out", str(w["root"] / "c2.jsonl")],
     "no_model: no such local directory", ["c2.jsonl"]),
    ("captions-embed-missing", lambda w: ["trdetr_cap.captions", "embed", str(w["root"] / "none.jsonl"),
                                          "--out", str(w["root"] / "c.h5"), "--cap_text_encoder", str(w["clip"])],
     "none.jsonl", ["c.h5"]),
    ("pack-missing-src", lambda w: ["trdetr_cap.data.pack", str(w["root"] / "nope"), "--out",
                                    str(w["root"] / "p.h5")], "feature directory not found", ["p.h5"]),
    ("pack-corrupt-npz", lambda w: ["trdetr_cap.data.pack", str(w["root"] / "bad_npz"), "--out",
                                    str(w["root"] / "p2.h5"), "--dataset", "qvhighlights", "--role", "video"],
     "b.npz", ["p2.h5"]),
    ("synth-bad-value", lambda w: ["trdetr_cap.data.synthetic", "--out", str(w["root"] / "s"), "--n_train", "x"],
     "invalid int value", ["s"]),
    ("import-not-a-checkpoint", lambda w: ["trdetr_cap.import_checkpoint", str(w["root"] / "garbage.ckpt"),
                                           "--out", str(w["root"] / "imp")],
     "not a readable original TR-DETR checkpoint", ["imp"]),
    ("viz-bad-row", lambda w: ["trdetr_cap.viz", str(w["root"] / "bad_sub.jsonl"), "--out", str(w["root"] / "v")],
     "bad_sub.jsonl:6: pred_relevant_windows", ["v"]),
    ("ablate-malformed-yaml", lambda w: ["trdetr_cap.engine.ablation", "run", str(w["root"] / "bad.yaml"),
                                         "--out", str(w["root"] / "abl")], "bad.yaml", ["abl/ablation.md"]),
    ("ablate-table-missing", lambda w: ["trdetr_cap.engine.ablation", "table", str(w["root"] / "no_runs")],
     "no_runs", []),
]


def _run(argv: list[str], timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *argv], cwd=REPO_ROOT, env=ENV, capture_output=True, text=True,
                          timeout=timeout)


def _assert_one_clean_error(proc: subprocess.CompletedProcess, expected: str) -> None:
    assert proc.returncode not in (0, None), proc.stdout[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [ln for ln in proc.stderr.replace("\r", "\n").splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:") or ": error: " in ln]  # ours, or argparse's
    assert len(errors) == 1 and lines[-1] == errors[0], proc.stderr[-3000:]
    assert expected in errors[0], errors[0]


@pytest.mark.parametrize("build, expected, absent", [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_bad_input_gets_one_line(world, build, expected, absent):
    proc = _run(build(world))
    _assert_one_clean_error(proc, expected)
    for rel in absent:
        assert not (world["root"] / rel).exists(), rel
    assert not [p for p in world["root"].rglob("*.tmp")], "temp files left behind"


def test_debug_gives_the_traceback(world):
    proc = _run(["trdetr_cap.predict", str(world["root"] / "nope.ckpt"), str(world["data"] / "val.jsonl"), "--debug"])
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "checkpoint not found" in proc.stderr


def test_ctrl_c_in_training_hints_at_resume(world):
    run_dir = world["root"] / "interrupted"
    argv = _train(world, "--n_epoch", "500", "--eval_epoch_interval", "1000", "--out", str(run_dir))
    # A suite started in the background of a non-interactive shell (CI, nohup) hands its children SIGINT ignored,
    # and Python then installs no KeyboardInterrupt handler: give the child the terminal's default, as Ctrl-C sees it.
    proc = subprocess.Popen([sys.executable, "-m", *argv], cwd=REPO_ROOT, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 240
        while not (run_dir / "model_latest.ckpt").exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:  # never leave a 500-epoch run behind a failed assertion
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == f"interrupted; continue with: bash scripts/train.sh --resume {run_dir}"
