"""Importing checkpoints written by the original TR-DETR code.

``original_trdetr_qvh_keys.json`` lists the parameter names and shapes of the original's QVHighlights model (recorded
from its released code with the released opt.json). A checkpoint in the original's format is built from them with
random weights, imported, and must fill this project's model exactly. That the renamed weights also compute the same
outputs was checked against the original code itself (outside this repository; docs/model.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch

from trdetr_cap.commands.import_checkpoint import main
from trdetr_cap.config import from_dict
from trdetr_cap.engine.checkpoint import load_checkpoint
from trdetr_cap.engine.original_checkpoint import convert_state_dict, rename_original_key
from trdetr_cap.engine.predict import predict_split
from trdetr_cap.eval import evaluate as evaluate_metrics
from trdetr_cap.models import build_model, count_parameters
from trdetr_cap.utils.io import read_jsonl

KEYS = json.loads((Path(__file__).with_name("original_trdetr_qvh_keys.json")).read_text())
# the hyper-parameters of the released QVHighlights run (its opt.json), as the original stores them
RELEASED_OPT = {
    "dset_name": "hl", "ctx_mode": "video_tef", "v_feat_dim": 2816, "t_feat_dim": 512, "hidden_dim": 256,
    "nheads": 8, "dim_feedforward": 1024, "enc_layers": 2, "dec_layers": 2, "num_queries": 10, "dropout": 0.1,
    "input_dropout": 0.5, "n_input_proj": 2, "use_txt_pos": False, "aux_loss": True, "max_v_l": 75, "max_q_l": 32,
    "clip_length": 2, "max_windows": 5, "no_norm_vfeat": False, "no_norm_tfeat": False, "lr": 1e-4, "n_epoch": 200,
    "VTC_loss_coef": 0.3, "CTC_loss_coef": 0.5, "nms_thd": -1, "max_before_nms": 10, "max_after_nms": 10,
}  # fmt: skip


class NotAllowed:
    """Stands for any pickled object other than the original's argparse Namespace."""


def original_checkpoint(path: Path, drop: str | None = None, prefix: str = "") -> dict[str, torch.Tensor]:
    """Write a checkpoint as the original's train.py does (opt pickled as an argparse Namespace)."""
    gen = torch.Generator().manual_seed(0)
    weights = {prefix + k: 0.05 * torch.randn(shape, generator=gen) for k, shape in KEYS.items() if k != drop}
    opt = argparse.Namespace(**RELEASED_OPT, device=torch.device("cpu"), results_dir="results/hl-video_tef-exp")
    torch.save({"model": weights, "optimizer": {}, "lr_scheduler": {}, "epoch": 154, "opt": opt}, path)
    return weights


def test_key_renaming_examples():
    assert rename_original_key("transformer.t2v_encoder.layers.1.self_attn.in_proj_weight") == \
        "t2v_encoder.layers.1.cross_attn.in_proj_weight"
    assert rename_original_key("module.transformer.encoder.layers.0.linear1.weight") == \
        "encoder.layers.0.ffn.linear1.weight"
    assert rename_original_key("fuser.cq_attention.w4Q") == "refinement.cq_attention.w_query"
    assert rename_original_key("input_vid_proj.0.net.1.weight") == "input_vid_proj.0.linear.weight"
    assert rename_original_key("query_embed.weight") == "query_embed.weight"  # same name in both


def test_imported_weights_fill_the_model_exactly(tmp_path):
    weights = original_checkpoint(tmp_path / "model_best.ckpt")
    assert main([str(tmp_path / "model_best.ckpt"), "--out", str(tmp_path / "imported")]) == 0

    ckpt = load_checkpoint(tmp_path / "imported" / "model_best.ckpt")
    cfg = from_dict(ckpt["config"])
    assert (cfg.model.v_feat_dim, cfg.model.t_feat_dim, cfg.model.t2v_layers) == (2818, 512, 2)
    assert cfg.data.clip_len == 2.0 and cfg.data.use_tef and cfg.loss.vtc_loss_coef == 0.3 and ckpt["epoch"] == 154
    assert not cfg.train.amp  # fp32 as the original, so its numbers are reproduced on a GPU too
    model, _ = build_model(cfg)
    model.load_state_dict(ckpt["model"])  # strict: every parameter filled, nothing left over
    assert count_parameters(model) == 8_308_773
    converted = convert_state_dict(weights)
    for key, tensor in ckpt["model"].items():
        assert torch.equal(tensor, converted[key]), key
    assert torch.equal(ckpt["model"]["refinement.fuse.weight"], weights["fuser.cq_concat.conv1d.conv1d.weight"][..., 0])
    assert (tmp_path / "imported" / "config.yaml").is_file()


def test_imported_checkpoint_runs_through_predict(video_data, tmp_path):
    """The released architecture on features of the released widths (SlowFast 2304 + CLIP 512 + TEF 2)."""
    original_checkpoint(tmp_path / "orig.ckpt", prefix="module.")
    feats = [str(video_data / "slowfast_features"), str(video_data / "clip_features")]
    flags = ["--v_feat_dirs", *feats, "--t_feat_dir", str(video_data / "clip_text_features")]
    assert main([str(tmp_path / "orig.ckpt"), "--out", str(tmp_path / "imported"), *flags]) == 0
    sub_path, metrics = predict_split(tmp_path / "imported" / "model_best.ckpt", video_data / "val.jsonl")
    rows = read_jsonl(sub_path)
    assert len(rows) == len(read_jsonl(video_data / "val.jsonl"))
    assert all(len(r["pred_relevant_windows"]) == 10 for r in rows)
    assert metrics is not None and "MR-full-mAP" in metrics["brief"]
    # the released post-processing: windows sorted by score, clamped to [0, 150] and on the 2 s grid
    for r in rows:
        scores = [w[2] for w in r["pred_relevant_windows"]]
        assert scores == sorted(scores, reverse=True)
        assert all(0 <= st <= ed <= 150 and st % 2 == 0 and ed % 2 == 0 for st, ed, _ in r["pred_relevant_windows"])
    assert metrics == evaluate_metrics(rows, read_jsonl(video_data / "val.jsonl"))  # the metrics of these rows


def test_errors_name_the_problem(tmp_path, capsys):
    original_checkpoint(tmp_path / "partial.ckpt", drop="fuser.cq_attention.w4C")
    assert main([str(tmp_path / "partial.ckpt"), "--out", str(tmp_path / "a")]) == 2
    assert "missing: refinement.cq_attention.w_context" in capsys.readouterr().err

    torch.save({"model": {}, "opt": NotAllowed()}, tmp_path / "foreign.ckpt")  # refused, never unpickled
    assert main([str(tmp_path / "foreign.ckpt"), "--out", str(tmp_path / "b")]) == 2
    assert "not a readable original TR-DETR checkpoint" in capsys.readouterr().err
    (tmp_path / "text.ckpt").write_text("hello")
    assert main([str(tmp_path / "text.ckpt"), "--out", str(tmp_path / "c")]) == 2
    assert main([str(tmp_path / "absent.ckpt"), "--out", str(tmp_path / "d")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert not any((tmp_path / d).exists() for d in "abcd")


@pytest.mark.parametrize(("flag", "value"), [("--nms_thd", 0.5), ("--max_after_nms", 5)])
def test_flags_override_the_original_opt(tmp_path, flag, value):
    original_checkpoint(tmp_path / "orig.ckpt")
    assert main([str(tmp_path / "orig.ckpt"), "--out", str(tmp_path / "o"), flag, str(value)]) == 0
    post = from_dict(load_checkpoint(tmp_path / "o" / "model_best.ckpt")["config"]).post
    assert getattr(post, flag.removeprefix("--")) == value
