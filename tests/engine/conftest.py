"""Session-wide tiny synthetic datasets for the engine tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_runs import CAPTION_ONLY_SIGNAL, VIDEO_SIGNAL

from trdetr_cap.data.synthetic import generate


@pytest.fixture(scope="session")
def video_data(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("synthetic") / "video_signal", VIDEO_SIGNAL)


@pytest.fixture(scope="session")
def caption_data(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("synthetic") / "caption_signal", CAPTION_ONLY_SIGNAL)
