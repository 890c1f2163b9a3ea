"""Config: YAML with _base_, flat CLI overrides, type checks that name the field, plain-data round trip."""

from __future__ import annotations

import argparse

import pytest
import yaml

from trdetr_cap.config import Config, add_config_arguments, config_from_args, from_dict, load_config, save_config


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
