"""Optimizer groups and lr schedules: faithful = one group + StepLR per epoch; the recipe's values by hand."""

from __future__ import annotations

import math

import pytest
import torch

from trdetr_cap.config import Config
from trdetr_cap.engine.schedule import HEAD_PREFIXES, base_lr, build_optimizer, build_scheduler, lr_factor


class _Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Linear(3, 3)
        self.class_embed = torch.nn.Linear(3, 2)
        self.span_embed = torch.nn.Linear(3, 2)


def _cfg(**train) -> Config:
    cfg = Config()
    for key, value in train.items():
        setattr(cfg.train, key, value)
    return cfg


def test_faithful_defaults_are_one_group_and_steplr_per_epoch():
    cfg = _cfg()
    model = _Tiny()
    optimizer = build_optimizer(cfg, model)
    assert len(optimizer.param_groups) == 1 and optimizer.param_groups[0]["lr"] == 1e-4
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(list(model.parameters()))
    scheduler, per_step = build_scheduler(cfg, optimizer, steps_per_epoch=7)
    assert isinstance(scheduler, torch.optim.lr_scheduler.StepLR) and not per_step
    assert scheduler.step_size == 400 and scheduler.gamma == 0.1


def test_cosine_with_warmup_by_hand():
    # 4 epochs x 5 steps = 20 steps, warmup 1 epoch = 5 steps, min ratio 0.1
    assert [lr_factor(s, 20, 5, 0.1) for s in range(5)] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert lr_factor(5, 20, 5, 0.1) == pytest.approx(1.0)  # cosine starts at the peak: t = 0
    # step 12: t = 7 / 14 = 0.5 -> 0.1 + 0.9 * (1 + cos(pi / 2)) / 2 = 0.55
    assert lr_factor(12, 20, 5, 0.1) == pytest.approx(0.55)
    assert lr_factor(19, 20, 5, 0.1) == pytest.approx(0.1)  # last step: the floor
    assert lr_factor(25, 20, 5, 0.1) == pytest.approx(0.1)  # past the end: clamped
    assert lr_factor(3, 10, 0, 0.0) == pytest.approx((1 + math.cos(math.pi / 3)) / 2)  # no warmup: t = 3 / 9


def test_scheduler_drives_the_optimizer_per_step():
    cfg = _cfg(lr=1e-3, lr_schedule="cosine", warmup_epochs=1.0, min_lr_ratio=0.1, n_epoch=4)
    model = _Tiny()
    optimizer = build_optimizer(cfg, model)
    scheduler, per_step = build_scheduler(cfg, optimizer, steps_per_epoch=5)
    assert per_step
    seen = []
    for _ in range(20):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert seen[0] == pytest.approx(2e-4) and seen[4] == pytest.approx(1e-3)
    assert seen[12] == pytest.approx(5.5e-4) and seen[19] == pytest.approx(1e-4)


def test_head_lr_multiplier_and_batch_size_scaling():
    cfg = _cfg(lr=1e-4, head_lr_mult=10.0, bsz=128, lr_ref_bsz=32)
    assert base_lr(cfg) == pytest.approx(2e-4)  # sqrt(128 / 32) = 2
    model = _Tiny()
    optimizer = build_optimizer(cfg, model)
    rest, heads = optimizer.param_groups
    assert rest["lr"] == pytest.approx(2e-4) and heads["lr"] == pytest.approx(2e-3)
    head_params = {id(p) for n, p in model.named_parameters() if n.startswith(HEAD_PREFIXES)}
    assert {id(p) for p in heads["params"]} == head_params and len(head_params) == 4
    assert {id(p) for p in rest["params"]} == {id(p) for p in model.encoder.parameters()}
    # the cosine schedule keeps the ratio between the groups
    cfg.train.lr_schedule = "cosine"
    scheduler, _ = build_scheduler(cfg, optimizer, steps_per_epoch=3)
    assert heads["lr"] / rest["lr"] == pytest.approx(10.0)


def test_every_head_prefix_names_a_model_parameter():
    from trdetr_cap.models import build_model

    cfg = Config()
    cfg.model.v_feat_dim = 8
    model, _ = build_model(cfg)
    names = [n for n, _ in model.named_parameters()]
    for prefix in HEAD_PREFIXES:
        assert any(n.startswith(prefix) for n in names), prefix


def test_bad_schedule_values_raise():
    optimizer = build_optimizer(_cfg(), _Tiny())
    with pytest.raises(ValueError, match="lr_schedule"):
        build_scheduler(_cfg(lr_schedule="linear"), optimizer, 5)
    with pytest.raises(ValueError, match="min_lr_ratio"):
        build_scheduler(_cfg(lr_schedule="cosine", min_lr_ratio=2.0), optimizer, 5)
