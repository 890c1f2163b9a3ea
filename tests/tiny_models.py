"""A tiny TR-DETR run directory (checkpoint, optionally best_val_metrics.json), for the export and demo tests."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from trdetr_cap.config import Config
from trdetr_cap.engine.checkpoint import save_checkpoint


def tiny_config(root: Path) -> Config:
    """CLIP features only (width 512 + TEF), one layer per stage, 5 queries; videos are clamped to their duration."""
    cfg = Config()
    cfg.data.train_path, cfg.data.eval_path = "data/qvh/train.jsonl", "data/qvh/val.jsonl"
    cfg.data.v_feat_dirs = [str(root / "clip_features")]
    cfg.data.t_feat_dir = str(root / "clip_text_features")
    cfg.model.v_feat_dim, cfg.model.nheads, cfg.model.dim_feedforward = 514, 4, 64
    cfg.model.t2v_layers = cfg.model.enc_layers = cfg.model.dec_layers = 1
    cfg.model.num_queries = 5
    cfg.post.max_duration = None
    return cfg


def train_a_little(cfg: Config, steps: int = 3) -> torch.nn.Module:
    """A few optimiser steps on random inputs, so the weights are not an initialisation anyone could rebuild."""
    from trdetr_cap.models import build_model

    torch.manual_seed(0)
    model, _ = build_model(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for _ in range(steps):
        out = model(src_txt=torch.randn(2, 6, 512), src_txt_mask=torch.ones(2, 6),
                    src_vid=torch.randn(2, 8, 514), src_vid_mask=torch.ones(2, 8))
        loss = sum(v.float().mean() for v in out.values() if torch.is_tensor(v) and v.is_floating_point())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def save_tiny_run(root: Path, metrics: dict | None = None, epoch: int = 4) -> Path:
    """``root/model_best.ckpt`` (+ ``best_val_metrics.json`` when ``metrics``); returns the checkpoint path."""
    cfg = tiny_config(root)
    path = root / "model_best.ckpt"
    save_checkpoint(path, model=train_a_little(cfg), optimizer=None, lr_scheduler=None, epoch=epoch,
                    config=cfg.to_dict(), train_state={"best_epoch": epoch})
    if metrics is not None:
        (root / "best_val_metrics.json").write_text(json.dumps(metrics))
    return path
