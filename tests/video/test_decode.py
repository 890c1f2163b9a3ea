"""Frame sampling: the nearest frame by timestamp at odd frame rates, the last partial clip, unreadable files."""

from __future__ import annotations

import numpy as np
import pytest

from trdetr_cap.testing import frame_level, write_test_video
from trdetr_cap.video.decode import (
    TruncatedVideoError,
    VideoDecodeError,
    clip_frame_times,
    list_videos,
    num_clips,
    probe_video,
    sample_frames,
    slowfast_frame_times,
    truncated_videos,
)


@pytest.mark.parametrize(
    ("duration", "expected"),
    [(150.0, 75), (150.04, 75), (151.0, 76), (150.5, 75), (150.99, 75), (1.0, 1), (0.2, 1), (5.28, 3)],
)
def test_num_clips_rounds_like_ffmpeg_fps_filter(duration, expected):
    assert num_clips(duration, 2.0) == expected  # a tail of at least half a clip counts


def test_num_clips_slowfast_rule_counts_any_frame():
    assert [num_clips(d, 2.0, 1 / 30) for d in (150.0, 150.02, 150.04, 151.0)] == [75, 75, 76, 76]


def test_slowfast_times_are_32_per_clip_at_30fps():
    times = slowfast_frame_times(2, clip_len=2.0, fps=30.0, num_frames=32)
    assert len(times) == 64
    # 30 fps slots floor(linspace(0, 63, 32)) of 60, clamped: ..., 58, 59, 59; slot j is asked at (j + .5) / 30
    assert times[0] == pytest.approx(0.5 / 30) and times[29] == pytest.approx(58.5 / 30)
    assert times[30] == times[31] == pytest.approx(59.5 / 30) and times[32] == pytest.approx(2 + 0.5 / 30)
    assert all(b >= a for a, b in zip(times, times[1:], strict=False))


@pytest.mark.parametrize(("name", "fps", "n_frames"), [("v30.mp4", 30.0, 210), ("v25.mp4", 25.0, 132),
                                                       ("v2997.mp4", 30000 / 1001, 93)])
def test_sample_frames_picks_the_nearest_frame(video_dir, name, fps, n_frames):
    path = video_dir / name
    info = probe_video(path)
    assert info.duration == pytest.approx(n_frames / fps, abs=1e-3)
    times = [0.0, 0.49, 1.0, 1.99, 2.0, 3.03]
    got = dict(sample_frames(path, times))
    for k, t in enumerate(times):
        expected_index = int(np.floor(t * fps + 0.5))  # nearest frame (frame i shown at i / fps)
        assert got[k].shape == (64, 96, 3)
        assert abs(float(got[k].mean()) - frame_level(expected_index)) <= 1.5, (name, t)


def test_clip_sampling_takes_the_last_frame_before_each_midpoint(video_dir):
    # ffmpeg fps=1/2: slot i gets the last frame strictly before (i + 0.5) * 2 s; 30 fps has a frame exactly at 1.0 s
    for name, expected in [("v30.mp4", [29, 89, 149, 209]), ("v25.mp4", [24, 74, 124])]:
        path = video_dir / name
        times = clip_frame_times(num_clips(probe_video(path).duration))
        got = [f for _, f in sample_frames(path, times, rule="before")]
        assert len(got) == len(expected)
        for frame, index in zip(got, expected, strict=True):
            assert abs(float(frame.mean()) - frame_level(index)) <= 1.5, (name, index)


def test_times_past_the_end_get_the_last_frame(video_dir):
    path = video_dir / "v2997.mp4"  # 93 frames, 3.1 s: clips [0, 2) and the partial [2, 3.1)
    assert num_clips(probe_video(path).duration) == 2
    got = [f for _, f in sample_frames(path, [1.0, 3.0, 50.0], rule="before")]
    # frame i at i * 1001 / 30000 s: before 1.0 s -> 29, before 3.0 s -> 89, past the end -> the last (92)
    for frame, index in zip(got, [29, 89, 92], strict=True):
        assert abs(float(frame.mean()) - frame_level(index)) <= 1.5


def test_transform_is_applied_once_per_decoded_frame(video_dir):
    calls = []

    def transform(frame):
        calls.append(1)
        return frame[:8, :8]

    got = list(sample_frames(video_dir / "v30.mp4", [1.0, 1.0, 1.01, 2.0], transform=transform))
    assert [f.shape for _, f in got] == [(8, 8, 3)] * 4
    assert len(calls) == 2  # frames 30 and 60
    assert got[0][1] is got[1][1] is got[2][1]


def test_corrupt_and_missing_files_name_the_file(video_dir, tmp_path):
    with pytest.raises(VideoDecodeError, match="broken.mp4"):
        list(sample_frames(video_dir / "broken.mp4", [0.0]))
    with pytest.raises(VideoDecodeError, match="nope.mp4: no such video file"):
        probe_video(tmp_path / "nope.mp4")


def test_list_videos_expands_dirs_and_lists(video_dir, tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text(f"{video_dir / 'v25.mp4'}\n\n{video_dir / 'v30.mp4'}\n")
    assert [p.name for p in list_videos([video_dir])] == ["broken.mp4", "v25.mp4", "v2997.mp4", "v30.mp4"]
    assert [p.name for p in list_videos([listing])] == ["v25.mp4", "v30.mp4"]


def test_slowfast_sampling_resamples_25fps_like_ffmpeg(video_dir):
    got = [f for _, f in sample_frames(video_dir / "v25.mp4", slowfast_frame_times(1), rule="before")]
    slots = np.minimum(np.floor(np.linspace(0, 63, 32)).astype(int), 59)
    # ffmpeg fps=30 slot j shows the last 25 fps frame i with i / 25 < (j + 0.5) / 30
    expected = [int(np.ceil((j + 0.5) * 25 / 30)) - 1 for j in slots]
    assert len(got) == 32
    for frame, index in zip(got, expected, strict=True):
        assert abs(float(frame.mean()) - frame_level(index)) <= 1.5, index


@pytest.fixture(scope="module")
def truncated_video(tmp_path_factory):
    """An 8 s faststart mp4 (index first: it still opens and announces 8 s) with the second half of its bytes cut."""
    root = tmp_path_factory.mktemp("truncated")
    whole = write_test_video(root / "whole.mp4", 8.0, 30.0, faststart=True)
    cut = root / "cut.mp4"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    return whole, cut


def test_a_truncated_video_is_detected(truncated_video):
    whole, cut = truncated_video
    assert probe_video(cut).duration == pytest.approx(8.0, abs=0.1)  # the container still claims the full length
    times = clip_frame_times(4)
    assert len(list(sample_frames(whole, times, rule="before"))) == 4  # the intact file passes
    with pytest.raises(TruncatedVideoError, match=r"cut\.mp4: truncated .* of the 8\.00 s"):
        list(sample_frames(cut, times, rule="before"))


def test_allow_truncated_accepts_it_with_a_warning(truncated_video, capsys):
    _, cut = truncated_video
    with truncated_videos(True):
        frames = list(sample_frames(cut, clip_frame_times(4), rule="before"))
    assert len(frames) == 4
    assert "cut.mp4: truncated" in capsys.readouterr().err
    with pytest.raises(TruncatedVideoError):  # restored on leaving the block
        list(sample_frames(cut, clip_frame_times(4), rule="before"))


def test_extract_lists_a_truncated_video_as_failed(truncated_video, tiny_clip_dir, tmp_path, capsys):
    from trdetr_cap.extract import main as extract_main

    whole, cut = truncated_video
    out = tmp_path / "feats"
    args = ["videos", str(whole), str(cut), "--out", str(out), "--clip_model", str(tiny_clip_dir),
            "--device", "cpu"]
    assert extract_main(args) == 1
    err = capsys.readouterr().err
    assert "1 failed" in err and "cut.mp4: truncated" in err
    assert sorted(p.name for p in (out / "clip_features").iterdir()) == ["whole.npz"]
    assert extract_main([*args, "--allow_truncated"]) == 0
    assert (out / "clip_features" / "cut.npz").is_file()
