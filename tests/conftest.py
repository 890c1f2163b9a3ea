"""Shared fixtures. Real annotation files come from $TRDETR_DATA or ../shared/data; tests needing them skip without."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """The directory holding qvhighlights/, charades_sta/, tvsum/, reference_predictions/ (or None)."""
    for cand in (os.environ.get("TRDETR_DATA"), REPO_ROOT.parent / "shared" / "data"):
        if cand and (Path(cand) / "qvhighlights").is_dir():
            return Path(cand)
    return None


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory) -> Path:
    """A tiny randomly initialised CLIP (model, tokenizer, image processor) saved once per session."""
    from trdetr_cap.testing import save_tiny_clip

    return save_tiny_clip(tmp_path_factory.mktemp("tiny_clip"))


@pytest.fixture(scope="session")
def real_data() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("real annotation files not found (set TRDETR_DATA or provide ../shared/data)")
    return path
