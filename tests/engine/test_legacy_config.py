"""Config files and checkpoints written before the experiment / run / captioner split keep loading, evaluating and
resuming. tests/fixtures/legacy_config_973c042.yaml is a config.yaml the old code wrote (a resumed tiny run)."""

from __future__ import annotations

import argparse

import torch
import yaml
from tiny_runs import REPO_ROOT, tiny_config, tiny_run

from trdetr_cap.commands.train import add_arguments, main, resolve_config
from trdetr_cap.config import from_dict, is_legacy, load_config, save_config
from trdetr_cap.engine.checkpoint import load_checkpoint
from trdetr_cap.engine.predict import predict_split
from trdetr_cap.engine.train import train
from trdetr_cap.utils.io import read_jsonl

LEGACY = REPO_ROOT / "tests" / "fixtures" / "legacy_config_973c042.yaml"
# the old layout's "not set" values, by field
OLD_UNSET = {"v_feat_dim": 0, "t_feat_dim": 0, "cap_feat_dim": 0, "max_duration": 0.0, "nms_thd": -1.0}


def legacy_dict() -> dict:
    return yaml.safe_load(LEGACY.read_text())


def as_legacy(new: dict) -> dict:
    """``new`` (a current config dict) written in the old layout: the fixture's keys, each with the new value (None
    as the old sentinel), run state as the fixture has it."""
    flat = {k: v for section in new.values() for k, v in section.items()}
    out = legacy_dict()
    for values in out.values():
        for key in values:
            if key in flat:
                values[key] = OLD_UNSET.get(key, "") if flat[key] is None else flat[key]
    return out


def test_the_old_layout_maps_to_the_new_one():
    old = legacy_dict()
    assert is_legacy(old) and old["train"]["resume"] and old["post"]["nms_thd"] == -1.0  # the fixture is old
    cfg = from_dict(old, str(LEGACY))
    assert cfg.captioner.cap_model == "OpenGVLab/InternVL2-8B" and cfg.captioner.cap_frames == 2  # moved
    assert (cfg.caption.cap_early_fusion, cfg.caption.cap_feat_dim) == ("gated", 512)
    assert (cfg.post.nms_thd, cfg.post.max_duration, cfg.post.span_scale) == (None, None, "feat_len")
    assert (cfg.data.a_feat_dir, cfg.data.tvsum_domain) == (None, None)  # '' -> None
    assert (cfg.model.v_feat_dim, cfg.model.nheads, cfg.train.n_epoch, cfg.train.bsz) == (514, 2, 2, 8)
    assert "results_dir" not in cfg.to_dict()["train"] and "preload" not in cfg.to_dict()["data"]
    assert load_config(LEGACY) == cfg  # the same through the YAML reader


def test_an_old_run_config_as_config_starts_a_fresh_run():
    """The fixture's train.resume names the old run: reused as --config it must not look for that checkpoint."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--config", str(LEGACY), "--n_epoch", "3"])
    cfg, run = resolve_config(args)
    assert run.resume is None and run.out == "runs/legacy_config_973c042"
    assert cfg.train.n_epoch == 3 and cfg.model.v_feat_dim == 514


def test_old_checkpoints_evaluate_and_resume(video_data, tmp_path):
    run_dir = tmp_path / "old_run"
    cfg = tiny_config(video_data, v_feat_dirs=[str(video_data / "clip_features")], n_epoch=1)
    metrics = train(cfg, tiny_run(run_dir))
    # rewrite the run as the old code wrote it: old-layout config.yaml and checkpoint configs
    new = yaml.safe_load((run_dir / "config.yaml").read_text())
    old = as_legacy(new)
    assert from_dict(old) == from_dict(new)  # the test's own conversion is lossless
    (run_dir / "config.yaml").write_text(yaml.safe_dump(old, sort_keys=False))
    for name in ("model_best.ckpt", "model_latest.ckpt"):
        ckpt = torch.load(run_dir / name, weights_only=True)
        torch.save({**ckpt, "config": old}, run_dir / name)

    sub_path, again = predict_split(run_dir / "model_best.ckpt", video_data / "val.jsonl", tmp_path / "eval")
    assert again == metrics and read_jsonl(sub_path) == read_jsonl(run_dir / "best_val_preds.jsonl")

    assert main(["--resume", str(run_dir), "--n_epoch", "2"]) == 0
    resumed = load_checkpoint(run_dir / "model_latest.ckpt")
    assert resumed["epoch"] == 1 and from_dict(resumed["config"]).train.n_epoch == 2
    assert not is_legacy(yaml.safe_load((run_dir / "config.yaml").read_text()))  # rewritten in the new layout
    assert (run_dir / "run.yaml").is_file()


def test_save_config_writes_only_the_experiment(tmp_path):
    cfg = load_config(REPO_ROOT / "configs" / "synthetic.yaml")
    save_config(cfg, tmp_path / "config.yaml")
    data = yaml.safe_load((tmp_path / "config.yaml").read_text())
    flat = {k for section in data.values() for k in section}
    assert not flat & {"results_dir", "out", "resume", "device", "num_workers", "preload", "count_params"}
    assert set(data) == {"data", "fixes", "model", "caption", "captioner", "loss", "train", "post"}
