"""Config: YAML overlays and _base_, flat CLI overrides, checks that name the file and field, None for unset,
run options apart, plain-data round trip."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from trdetr_cap.config import (
    FIELDS,
    Config,
    ConfigError,
    RunConfig,
    add_config_arguments,
    config_from_args,
    default_run_dir,
    from_dict,
    load_config,
    run_config,
    save_config,
)


def test_defaults_are_the_qvhighlights_reference_values():
    cfg = Config()
    assert (cfg.train.bsz, cfg.train.lr, cfg.train.n_epoch, cfg.train.seed) == (32, 1e-4, 200, 2017)
    assert (cfg.loss.vtc_loss_coef, cfg.loss.ctc_loss_coef, cfg.loss.saliency_margin) == (0.3, 0.5, 0.2)
    assert (cfg.model.hidden_dim, cfg.model.num_queries, cfg.data.max_v_l, cfg.data.max_q_l) == (256, 10, 75, 32)


def test_yaml_base_then_file_then_cli(tmp_path):
    (tmp_path / "base.yaml").write_text("train:\n  lr: 0.001\n  bsz: 8\nmodel:\n  dec_layers: 3\n")
    (tmp_path / "child.yaml").write_text("_base_: base.yaml\ntrain:\n  bsz: 16\n")
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    args = parser.parse_args(["--config", str(tmp_path / "child.yaml"), "--n_epoch", "3", "--fix_hd2mr_mask",
                              "--v_feat_dirs", "a", "b"])
    cfg = config_from_args(args)
    assert cfg.train.lr == 0.001  # from base
    assert cfg.train.bsz == 16  # child overrides base
    assert cfg.model.dec_layers == 3
    assert cfg.train.n_epoch == 3  # CLI overrides files, string coerced to int
    assert cfg.fixes.fix_hd2mr_mask is True
    assert cfg.data.v_feat_dirs == ["a", "b"]


def test_bad_values_name_the_field(tmp_path):
    with pytest.raises(ValueError, match=r"train\.bsz"):
        from_dict({"train": {"bsz": "many"}}, "x.yaml")
    with pytest.raises(ValueError, match=r"unknown field model\.hiden_dim"):
        from_dict({"model": {"hiden_dim": 3}}, "x.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  lr: 1\n")
    with pytest.raises(ValueError, match="unknown section 'optim'"):
        load_config(bad)
    with pytest.raises(ValueError, match="unknown config field"):
        load_config(None, {"learning_rate": 1})


def test_saved_config_is_plain_yaml_and_round_trips(tmp_path):
    cfg = load_config(None, {"lr": "0.5", "cap_early_fusion": "gated", "v_feat_dirs": "x,y"})
    save_config(cfg, tmp_path / "config.yaml")
    data = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert data["train"]["lr"] == 0.5 and data["caption"]["cap_early_fusion"] == "gated"
    assert from_dict(data) == cfg
    assert not list(tmp_path.glob(".*tmp"))  # no temp file left behind


def test_apply_overrides_returns_a_checked_copy():
    from trdetr_cap.config import apply_overrides

    cfg = Config()
    new = apply_overrides(cfg, {"n_epoch": "7", "fix_ctc_mask": "true"})
    assert (new.train.n_epoch, new.fixes.fix_ctc_mask) == (7, True)
    assert (cfg.train.n_epoch, cfg.fixes.fix_ctc_mask) == (200, False)  # the original is untouched
    with pytest.raises(ValueError, match="--bsz"):
        apply_overrides(cfg, {"bsz": "x"})


def test_overlays_compose_and_later_files_win(tmp_path):
    (tmp_path / "data.yaml").write_text("data:\n  max_v_l: 50\n  clip_len: 1.0\ntrain:\n  lr: 0.01\n")
    (tmp_path / "recipe.yaml").write_text("train:\n  lr: 0.002\n  n_epoch: 4\n")
    (tmp_path / "both.yaml").write_text("_base_: [data.yaml, recipe.yaml]\n")
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    args = parser.parse_args(["--config", str(tmp_path / "data.yaml"), "--config", str(tmp_path / "recipe.yaml"),
                              "--n_epoch", "7"])
    cfg = config_from_args(args)
    assert (cfg.data.max_v_l, cfg.data.clip_len, cfg.train.lr, cfg.train.n_epoch) == (50, 1.0, 0.002, 7)
    assert load_config(tmp_path / "both.yaml") == load_config([tmp_path / "data.yaml", tmp_path / "recipe.yaml"])


def test_recommended_captions_overlay_any_dataset():
    root = Path(__file__).resolve().parents[1] / "configs"
    for name in ("qvhighlights", "synthetic", "charades_sta", "tvsum"):
        plain = load_config(root / f"{name}.yaml")
        cfg = load_config([root / f"{name}.yaml", root / "captions" / "recommended.yaml"])
        assert not plain.caption.enabled() and cfg.caption.enabled()
        c = cfg.caption  # SRF's full model (docs/caption_benchmark.md)
        assert (c.srf_captions, c.srf_word_highlight, c.srf_scene, c.srf_rfm, c.srf_top_n, c.srf_cc_loss_coef) == \
            (True, True, True, True, 5, 1.5)
        assert cfg.data == plain.data and cfg.model == plain.model  # the overlay touches captions only


@pytest.mark.parametrize("text, message", [
    ("post:\n  span_scale: feat_le\n", "post.span_scale: 'feat_le' is not one of duration, feat_len"),
    ("data:\n  dataset: qvhighlight\n", "data.dataset: 'qvhighlight' is not one of qvhighlights, charades, tvsum"),
    ("caption:\n  cap_early_fusion: gate\n", "caption.cap_early_fusion: 'gate' is not one of none, concat, gated"),
    ("data:\n  tvsum_domain: XX\n", "data.tvsum_domain: 'XX' is not one of BK, BT"),
    ("post:\n  nms_thd: -1\n", "post.nms_thd: must be > 0 (or none), got -1.0"),
    ("model:\n  v_feat_dim: 0\n", "model.v_feat_dim: must be > 0 (or none), got 0"),
    ("train:\n  bsz: many\n", "train.bsz: expected int, got 'many'"),
    ("train:\n  results_dir: runs/x\n  bsz: 1\n  bzs: 2\n", "unknown field train.bzs"),
    ("model: [1\n", "line 2: not valid YAML"),
])
def test_a_bad_file_fails_in_one_line_naming_file_and_field(tmp_path, text, message):
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_none_means_not_set():
    cfg = load_config(None, {"nms_thd": "none", "cap_feat_path": "", "max_duration": "null", "v_feat_dim": "12"})
    assert (cfg.post.nms_thd, cfg.data.cap_feat_path, cfg.post.max_duration, cfg.model.v_feat_dim) == \
        (None, None, None, 12)
    assert Config().post.nms_thd is None and Config().model.v_feat_dim is None and Config().data.a_feat_dir is None


def test_run_options_are_not_config_fields():
    with pytest.raises(ConfigError, match="--device: unknown config field"):
        load_config(None, {"device": "cpu"})
    assert run_config({"device": "cuda:1", "num_workers": "2"}) == RunConfig(device="cuda:1", num_workers=2)
    with pytest.raises(ConfigError, match="--device: 'gpu' is not one of auto, cpu, cuda, cuda:N, mps"):
        run_config({"device": "gpu"})
    with pytest.raises(ConfigError, match="--preload: 'sometimes' is not one of auto, always, never"):
        run_config({"preload": "sometimes"})
    assert default_run_dir(["configs/qvhighlights.yaml", "configs/captions/recommended.yaml"]) == \
        "runs/qvhighlights+recommended"


def test_every_field_documents_itself_in_help():
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    text = " ".join(parser.format_help().split())  # argparse wraps lines
    for name, (_, f, _) in FIELDS.items():
        assert f.metadata["help"], name
        if f.name not in RunConfig.__dataclass_fields__:
            assert f"--{name}" in text
    assert "--span_scale {duration,feat_len}" in text and "(default: duration)" in text
    assert "--nms_thd FLOAT" in text and "none = no NMS (default: none)" in text
