"""Optimizer and learning-rate schedule.

Faithful (the defaults): one AdamW group over every parameter, ``StepLR(lr_drop)`` stepped once per epoch.
The fast recipe (docs/fast_recipe.md) can switch on, each alone:

* ``head_lr_mult``: the prediction heads (class, span, saliency and anchor-delta MLPs) in a second group with
  ``lr * head_lr_mult``;
* ``lr_ref_bsz``: the configured lr is the one for batch size ``lr_ref_bsz``; the run uses
  ``lr * sqrt(bsz / lr_ref_bsz)`` (the square-root rule for Adam-type optimizers);
* ``lr_schedule: cosine``: stepped once per optimizer step, a linear warmup over ``warmup_epochs`` then a cosine
  decay to ``min_lr_ratio * lr`` at the last step.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from trdetr_cap.config import Config

# parameter-name prefixes of the heads that get ``head_lr_mult``
HEAD_PREFIXES = ("class_embed.", "span_embed.", "saliency_proj.", "decoder.bbox_embed.")


def base_lr(cfg: Config) -> float:
    """The peak lr of the run: ``lr``, times sqrt(bsz / lr_ref_bsz) when ``lr_ref_bsz`` is set."""
    t = cfg.train
    return t.lr * math.sqrt(t.bsz / t.lr_ref_bsz) if t.lr_ref_bsz is not None else t.lr


def build_optimizer(cfg: Config, model: nn.Module) -> torch.optim.AdamW:
    """AdamW over every trainable parameter, weight decay on all of them (biases and norms too, as the original).

    One group unless ``head_lr_mult`` != 1 (then heads, named by ``HEAD_PREFIXES``, form a second group). The fused
    kernel (CPU and CUDA) is the same update rule in one pass: ~3x faster than the per-tensor loop on CPU.
    """
    lr = base_lr(cfg)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if cfg.train.head_lr_mult == 1.0:
        groups = [{"params": [p for _, p in named]}]
    else:
        heads = [p for n, p in named if n.startswith(HEAD_PREFIXES)]
        rest = [p for n, p in named if not n.startswith(HEAD_PREFIXES)]
        groups = [{"params": rest}, {"params": heads, "lr": lr * cfg.train.head_lr_mult}]
    return torch.optim.AdamW(groups, lr=lr, weight_decay=cfg.train.wd, fused=True)


def lr_factor(step: int, total_steps: int, warmup_steps: int, min_ratio: float) -> float:
    """Multiplier of the peak lr at optimizer step ``step`` (0-based) of ``total_steps``.

    Warmup: (step + 1) / warmup_steps for step < warmup_steps. Then cosine from 1 at the end of the warmup to
    ``min_ratio`` at step ``total_steps - 1``: min_ratio + (1 - min_ratio) * (1 + cos(pi * t)) / 2 with
    t = (step - warmup_steps) / max(1, total_steps - 1 - warmup_steps), clamped to [0, 1].
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    t = min(1.0, max(0.0, (step - warmup_steps) / max(1, total_steps - 1 - warmup_steps)))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * t))


def build_scheduler(cfg: Config, optimizer: torch.optim.Optimizer,
                    steps_per_epoch: int) -> tuple[torch.optim.lr_scheduler.LRScheduler, bool]:
    """The lr scheduler and whether it is stepped per optimizer step (True) or per epoch (False, the original)."""
    t = cfg.train
    if t.lr_schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=t.lr_drop), False
    if t.lr_schedule != "cosine":
        raise ValueError(f"train.lr_schedule must be 'step' or 'cosine', got {t.lr_schedule!r}")
    if not 0.0 <= t.min_lr_ratio <= 1.0:
        raise ValueError(f"train.min_lr_ratio must be in [0, 1], got {t.min_lr_ratio}")
    total = max(1, t.n_epoch * steps_per_epoch)
    warmup = round(t.warmup_epochs * steps_per_epoch)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total, warmup, t.min_lr_ratio))
    return scheduler, True
