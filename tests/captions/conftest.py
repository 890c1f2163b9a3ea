"""Fixtures for the caption tests: tiny random captioners saved once per session, generated videos."""

from __future__ import annotations

import pytest

from trdetr_cap.testing import save_tiny_internvl, save_tiny_llava, write_test_video


@pytest.fixture(scope="session")
def internvl_dir(tmp_path_factory):
    return save_tiny_internvl(tmp_path_factory.mktemp("tiny_internvl"))


@pytest.fixture(scope="session")
def llava_dir(tmp_path_factory):
    return save_tiny_llava(tmp_path_factory.mktemp("tiny_llava"))


@pytest.fixture(scope="session")
def caption_videos(tmp_path_factory):
    """a.mp4 7 s at 30 fps (4 clips), b.mp4 3.1 s at 25 fps (2 clips), d.mp4 4 s (2 clips), broken.mp4."""
    root = tmp_path_factory.mktemp("caption_videos")
    write_test_video(root / "a.mp4", 7.0, 30.0)
    write_test_video(root / "b.mp4", 3.1, 25.0)
    write_test_video(root / "d.mp4", 4.0, 30.0)
    (root / "broken.mp4").write_bytes(b"not a video at all")
    return root
