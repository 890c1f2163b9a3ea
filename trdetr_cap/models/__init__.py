"""TR-DETR with caption-guided fusion: ``build_model(cfg) -> (model, criterion)``."""

from __future__ import annotations

from torch import nn

from trdetr_cap.config import Config
from trdetr_cap.models.losses import SetCriterion, build_criterion
from trdetr_cap.models.trdetr import TRDETR, count_parameters

__all__ = ["TRDETR", "SetCriterion", "build_model", "count_parameters"]


def build_model(cfg: Config) -> tuple[nn.Module, SetCriterion]:
    """The model for ``cfg.model`` / ``cfg.fixes`` / ``cfg.caption`` and its criterion (``cfg.model.v_feat_dim``
    must already hold the input width: video + TEF (+ audio))."""
    # the TEF is the last 2 columns without audio; with audio the captions go before the audio's TEF instead
    tail = 2 if cfg.data.use_tef else 0
    model = TRDETR(cfg.model, cfg.fixes, cfg.caption, max_q_l=cfg.data.max_q_l, clip_len=cfg.data.clip_len,
                   video_tail_dim=tail)
    return model, build_criterion(cfg)
