"""Fixtures for the video tests: generated mp4 files (the tiny random CLIP is in tests/conftest.py)."""

from __future__ import annotations

import pytest

from trdetr_cap.testing import write_test_video


@pytest.fixture(scope="session")
def video_dir(tmp_path_factory):
    """Three readable videos (7 s at 30 fps, 5.28 s at 25 fps, 3.1 s at 29.97 fps) and one corrupt file."""
    root = tmp_path_factory.mktemp("videos")
    write_test_video(root / "v30.mp4", 7.0, 30.0)
    write_test_video(root / "v25.mp4", 5.28, 25.0)
    write_test_video(root / "v2997.mp4", 3.1, 30000 / 1001)
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50)
    return root
