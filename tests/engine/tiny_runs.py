"""Tiny synthetic datasets and configs for the engine tests (a few seconds to generate, seconds to train)."""

from __future__ import annotations

from pathlib import Path

from trdetr_cap.config import Config, RunConfig, load_config
from trdetr_cap.data.synthetic import SyntheticParams, synthetic_overrides

REPO_ROOT = Path(__file__).resolve().parents[2]

# Short videos and a clear video signal: learnable in a few CPU epochs.
VIDEO_SIGNAL = SyntheticParams(seed=11, n_train=96, n_val=48, queries_per_video=2, n_concepts=6, min_clips=16,
                               max_clips=24, video_signal=0.3, motion_signal=0.1)
# No concept signal in the video at all: only the captions say where the query's concept is.
CAPTION_ONLY_SIGNAL = SyntheticParams(seed=12, n_train=96, n_val=48, queries_per_video=2, n_concepts=6,
                                      min_clips=16, max_clips=24, video_signal=0.0, motion_signal=0.0,
                                      caption_noise=0.3, caption_error=0.05)


def tiny_config(data_root: Path, captions: bool = False, **overrides) -> Config:
    """configs/synthetic.yaml shrunk further (1 layer per stage, FFN 128, 5 queries) on ``data_root``."""
    flags = {**synthetic_overrides(data_root), "nheads": 4, "dim_feedforward": 128, "num_queries": 5, "bsz": 16,
             "eval_bsz": 48, "n_epoch": 2, "eval_epoch_interval": 1, "lr": 1e-3}
    if not captions:
        flags["cap_feat_path"] = ""
    flags.update(overrides)
    return load_config(REPO_ROOT / "configs" / "synthetic.yaml", flags)


def tiny_run(out: Path) -> RunConfig:
    """The run options of the engine tests: CPU, into ``out``."""
    return RunConfig(out=str(out), device="cpu")
