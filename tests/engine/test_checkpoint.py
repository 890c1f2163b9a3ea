"""Checkpoints: plain dicts readable with weights_only=True, atomic writes, RNG state round trip."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from trdetr_cap.config import Config
from trdetr_cap.engine.checkpoint import load_checkpoint, load_model, restore_rng_state, save_checkpoint
from trdetr_cap.models import build_model


def _tiny_training_state():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.1)
    for _ in range(3):
        model(torch.randn(5, 4)).pow(2).mean().backward()
        optimizer.step()
        optimizer.zero_grad()
        scheduler.step()
    return model, optimizer, scheduler


def test_checkpoint_round_trip_weights_only(tmp_path):
    model, optimizer, scheduler = _tiny_training_state()
    cfg = Config()
    path = tmp_path / "run" / "model_latest.ckpt"
    save_checkpoint(path, model=model, optimizer=optimizer, lr_scheduler=scheduler, epoch=2,
                    config=cfg.to_dict(), train_state={"best_score": 12.5, "es_cnt": 1})
    assert [p.name for p in path.parent.iterdir()] == ["model_latest.ckpt"]  # no temp file left behind

    raw = torch.load(path, weights_only=True)  # plain containers only: no pickled classes
    assert raw["epoch"] == 2 and raw["train_state"] == {"best_score": 12.5, "es_cnt": 1}
    assert raw["config"] == cfg.to_dict()

    model2, optimizer2, scheduler2 = _tiny_training_state()
    torch.nn.init.zeros_(model2[0].weight)
    ckpt = load_checkpoint(path)
    model2.load_state_dict(ckpt["model"])
    optimizer2.load_state_dict(ckpt["optimizer"])
    scheduler2.load_state_dict(ckpt["lr_scheduler"])
    for a, b in zip(model.parameters(), model2.parameters(), strict=True):
        assert torch.equal(a, b)
    # 3 scheduler steps with step_size 2: lr dropped once
    assert scheduler2.get_last_lr() == pytest.approx([1e-4])
    st1, st2 = optimizer.state_dict()["state"], optimizer2.state_dict()["state"]
    assert all(torch.equal(st1[k]["exp_avg_sq"], st2[k]["exp_avg_sq"]) for k in st1)


def test_rng_states_are_restored(tmp_path):
    model, optimizer, scheduler = _tiny_training_state()
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    path = tmp_path / "c.ckpt"
    save_checkpoint(path, model=model, optimizer=None, lr_scheduler=None, epoch=0, config={})
    expected = (random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist())
    random.seed(99)
    np.random.seed(99)
    torch.manual_seed(99)
    restore_rng_state(load_checkpoint(path)["rng"])
    assert (random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist()) == expected


def test_bad_checkpoint_files_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.ckpt"):
        load_checkpoint(tmp_path / "nope.ckpt")
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.ckpt"):
        load_checkpoint(junk)
    other = tmp_path / "other.ckpt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(ValueError, match="missing keys: model, config, epoch"):
        load_checkpoint(other)


def _saved_model(path, **model_fields):
    cfg = Config()
    cfg.model.v_feat_dim, cfg.model.t_feat_dim = 514, 512
    for name, value in model_fields.items():
        setattr(cfg.model, name, value)
    torch.manual_seed(0)
    model, _ = build_model(cfg)
    save_checkpoint(path, model=model, optimizer=None, lr_scheduler=None, epoch=0, config=cfg.to_dict())
    return model, cfg


def test_load_model_gives_the_saved_model_in_eval_mode_with_overrides(tmp_path):
    model, cfg = _saved_model(tmp_path / "m.ckpt")
    loaded, loaded_cfg = load_model(tmp_path / "m.ckpt", {"nms_thd": 0.7}, device="cpu")
    assert not loaded.training
    assert loaded_cfg.post.nms_thd == 0.7 and loaded_cfg.model == cfg.model
    saved = model.state_dict()
    assert all(torch.equal(v, saved[k]) for k, v in loaded.state_dict().items()) and saved.keys() == \
        loaded.state_dict().keys()


def test_load_model_names_the_checkpoint_when_weights_do_not_fit(tmp_path):
    _saved_model(tmp_path / "m.ckpt", hidden_dim=64)
    ckpt = torch.load(tmp_path / "m.ckpt", weights_only=True)
    ckpt["config"]["model"]["hidden_dim"] = 256  # the config no longer matches the weights
    torch.save(ckpt, tmp_path / "bad.ckpt")
    fits = r"bad\.ckpt: the checkpoint does not fit the model its config builds \(shape: "
    with pytest.raises(ValueError, match=fits):
        load_model(tmp_path / "bad.ckpt")
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        load_model(tmp_path / "m.ckpt", device="gpu")
