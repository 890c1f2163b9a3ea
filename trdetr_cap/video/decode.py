"""Frame sampling with PyAV (it ships its own FFmpeg): one pass over the stream, frames picked by timestamp.

Time 0 is the first decoded frame. A video of ``duration`` seconds is cut into ``num_clips`` clips of ``clip_len``
seconds (the 2 s grid of the released QVHighlights features); a trailing fragment of at least ``min_tail`` seconds
makes a last, partial clip. Frames are picked by timestamp, so any frame rate (25, 29.97, variable) maps onto the same
grid; requests past the last frame get the last frame (the partial clip at the end).

The two samplings of the released features (HERO_Video_Feature_Extractor, used by Moment-DETR for QVHighlights):
* CLIP: ffmpeg's ``fps=1/2`` filter. It rounds every input timestamp to the nearest output slot (2 s) and emits, for
  slot i, the last input frame that rounds to i or before, i.e. the last frame strictly before ``(i + 0.5) * 2`` s;
  it emits ``round(duration / 2)`` slots (a tail of at least 1 s counts). See :func:`clip_frame_times`.
* SlowFast: the video at 30 fps cut into 2 s clips (``ceil(duration / 2)``, the last padded with its final frame),
  32 frames every other frame per clip, see :func:`slowfast_frame_times`.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trdetr_cap.errors import UserError

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".flv")


class VideoDecodeError(UserError, RuntimeError):
    """A video that cannot be opened or decoded; the message names the file (bad input: one line from the CLIs)."""


class TruncatedVideoError(VideoDecodeError):
    """The decodable frames end well before the duration the container announces (a cut-off download, a partly
    undecodable file): features for the missing part would silently repeat the last frame."""


# A decoded span this much shorter than the container's duration means truncation: one second or 2 % of the video
# (whichever is larger) absorbs rounding, a last frame's duration and audio/video length mismatches of normal files.
TRUNCATION_TOLERANCE_S = 1.0
TRUNCATION_TOLERANCE_FRACTION = 0.02
_allow_truncated = False


def allow_truncated_videos(allow: bool = True) -> None:
    """Accept truncated videos (frames past the decodable end repeat the last decoded frame, with a warning on
    stderr) instead of raising :class:`TruncatedVideoError`. Process-wide; see :func:`truncated_videos`."""
    global _allow_truncated
    _allow_truncated = allow


@contextmanager
def truncated_videos(allow: bool):
    """``with truncated_videos(args.allow_truncated): ...``: the commands' ``--allow_truncated``, restored after."""
    before = _allow_truncated
    allow_truncated_videos(allow)
    try:
        yield
    finally:
        allow_truncated_videos(before)


def _announced_duration(container: Any) -> float | None:
    stream = container.streams.video[0]
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000  # AV_TIME_BASE
    return None


def check_decoded_span(path: str | Path, decoded: float, announced: float | None) -> None:
    """Raise :class:`TruncatedVideoError` when ``decoded`` seconds of frames fall short of the ``announced``
    duration by more than the tolerance (unless :func:`allow_truncated_videos` was called)."""
    if announced is None or announced <= 0:
        return
    missing = announced - decoded
    if missing <= max(TRUNCATION_TOLERANCE_S, TRUNCATION_TOLERANCE_FRACTION * announced):
        return
    msg = (f"{path}: truncated or partly undecodable: frames end at {decoded:.2f} s of the {announced:.2f} s the "
           "container announces")
    if not _allow_truncated:
        raise TruncatedVideoError(msg + " (--allow_truncated accepts it, repeating the last frame)")
    print(f"warning: {msg}; accepted (--allow_truncated): the rest repeats the last frame", file=sys.stderr)


@dataclass(frozen=True)
class VideoInfo:
    path: str
    duration: float  # seconds
    fps: float  # average frame rate of the video stream
    width: int
    height: int


def _open(path: str | Path) -> Any:
    import av

    path = Path(path)
    if not path.is_file():
        raise VideoDecodeError(f"{path}: no such video file")
    try:
        container = av.open(str(path))
    except Exception as e:  # PyAV raises many FFmpegError subclasses; all mean "unreadable"
        raise VideoDecodeError(f"{path}: cannot open video ({type(e).__name__}: {e})") from None
    if not container.streams.video:
        container.close()
        raise VideoDecodeError(f"{path}: no video stream")
    return container


def probe_video(path: str | Path) -> VideoInfo:
    """Duration, frame rate and size from the container metadata (no decoding unless the duration is missing)."""
    container = _open(path)
    try:
        stream = container.streams.video[0]
        fps = float(stream.average_rate) if stream.average_rate else 0.0
        duration = _announced_duration(container) or -1.0
        width, height = stream.codec_context.width, stream.codec_context.height
    finally:
        container.close()
    if duration <= 0:  # no usable metadata: count by decoding
        times = [t for t, _ in _decoded_frames(path)]
        step = 1.0 / fps if fps > 0 else (times[-1] - times[0]) / max(len(times) - 1, 1)
        duration = times[-1] + step
    return VideoInfo(str(path), duration, fps, width, height)


def num_clips(duration: float, clip_len: float = 2.0, min_tail: float | None = None) -> int:
    """Number of ``clip_len`` clips covering ``duration`` s; a trailing fragment >= ``min_tail`` s counts as one.

    The default ``min_tail`` (half a clip) is ffmpeg's fps-filter rounding (the CLIP grid); SlowFast uses one frame.
    """
    min_tail = clip_len / 2 if min_tail is None else min_tail
    full = math.floor(duration / clip_len + 1e-6)
    tail = duration - full * clip_len
    return max(1, full + int(tail > 1e-6 and tail >= min_tail - 1e-6))


def clip_frame_times(n_clips: int, clip_len: float = 2.0) -> list[float]:
    """One time per clip, its midpoint, (n_clips,): sample with ``rule="before"`` for ffmpeg's fps-filter frame."""
    return [(i + 0.5) * clip_len for i in range(n_clips)]


def slowfast_frame_times(n_clips: int, clip_len: float = 2.0, fps: float = 30.0, num_frames: int = 32,
                         sampling_rate: int = 2) -> list[float]:
    """(n_clips * num_frames,) times, to sample with ``rule="before"``: each clip resampled at ``fps`` as ffmpeg's fps
    filter does (slot j = the last frame before (j + 0.5) / fps), then ``num_frames`` slots taken every
    ``sampling_rate`` (indices floor(linspace(0, num_frames * sampling_rate - 1, num_frames))), clamped to the clip:
    for 2 s at 30 fps, 32 frames over slots 0..59, the last two repeating slot 59 (HERO's SlowFast 8x8 input)."""
    per_clip = max(int(round(clip_len * fps)), 1)  # 60 frames for a 2 s clip at 30 fps
    idx = np.floor(np.linspace(0, num_frames * sampling_rate - 1, num_frames)).astype(int).clip(0, per_clip - 1)
    return [i * clip_len + (j + 0.5) / fps for i in range(n_clips) for j in idx]


def _decoded_frames(path: str | Path) -> Iterator[tuple[float, Any]]:
    """Yield (time in s from the first frame, av.VideoFrame) in presentation order; errors name the file.

    Reaching the end of the stream well before the container's announced duration raises
    :class:`TruncatedVideoError` (see :func:`check_decoded_span`).
    """
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = float(stream.average_rate) if stream.average_rate else 30.0
        announced = _announced_duration(container)
        origin = None
        count, last = 0, 0.0
        try:
            for frame in container.decode(stream):
                t = frame.time if frame.time is not None else count / fps
                origin = t if origin is None else origin
                count += 1
                last = t - origin
                yield last, frame
        except VideoDecodeError:
            raise
        except Exception as e:
            raise VideoDecodeError(f"{path}: decoding failed after {count} frames ({type(e).__name__}: {e})") from None
        if count == 0:
            raise VideoDecodeError(f"{path}: the video stream has no decodable frames")
        check_decoded_span(path, last + 1.0 / fps, announced)
    finally:
        container.close()


def sample_frames(
    path: str | Path,
    times: Sequence[float],
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    rule: str = "nearest",
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(k, frame)`` for each requested time ``times[k]`` (non-decreasing) in order, in one decoding pass.

    ``frame`` is the RGB frame (H, W, 3) uint8 nearest in time (``rule="nearest"``) or the last one strictly before
    it (``rule="before"``, the first frame if there is none), passed through ``transform`` (applied once per decoded
    frame even when several times pick it, so resizing early keeps memory small).
    """
    if any(b < a for a, b in zip(times, times[1:], strict=False)):
        raise ValueError("sample_frames: times must be non-decreasing")
    if rule not in ("nearest", "before"):
        raise ValueError(f"sample_frames: rule must be 'nearest' or 'before', got {rule!r}")
    cache: dict[int, np.ndarray] = {}

    def convert(key: int, frame: Any) -> np.ndarray:
        if key not in cache:
            for old in [c for c in cache if c < key - 1]:  # only the previous and current frames can be picked
                del cache[old]
            rgb = frame.to_ndarray(format="rgb24")
            cache[key] = transform(rgb) if transform else rgb
        return cache[key]

    k, prev = 0, None  # prev = (time, index, frame)
    for index, (t, frame) in enumerate(_decoded_frames(path)):
        while k < len(times) and times[k] <= t:
            if prev is not None and (rule == "before" or times[k] - prev[0] <= t - times[k]):
                yield k, convert(prev[1], prev[2])
            else:
                yield k, convert(index, frame)
            k += 1
        if k == len(times):
            return
        prev = (t, index, frame)
    while k < len(times):  # past the end of the stream (the last partial clip): the last frame
        yield k, convert(prev[1], prev[2])
        k += 1


def sample_frame_sets(
    path: str | Path,
    time_sets: Sequence[Sequence[float]],
    transforms: Sequence[Callable[[np.ndarray], np.ndarray]],
    rule: str = "before",
) -> list[list[np.ndarray]]:
    """Several samplings of one video in a single decoding pass (e.g. CLIP's and SlowFast's): ``out[s][i]`` is the
    frame for ``time_sets[s][i]`` through ``transforms[s]``; each set's times must be non-decreasing."""
    entries = sorted((t, s, i) for s, times in enumerate(time_sets) for i, t in enumerate(times))
    out: list[list[Any]] = [[None] * len(times) for times in time_sets]
    last: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # set -> (raw frame, its transform): repeats reuse it
    for k, raw in sample_frames(path, [t for t, _, _ in entries], rule=rule):
        _, s, i = entries[k]
        if s not in last or last[s][0] is not raw:
            last[s] = (raw, transforms[s](raw))
        out[s][i] = last[s][1]
    return out


def list_videos(inputs: Sequence[str | Path]) -> list[Path]:
    """Expand directories (their video files, sorted) and ``.txt`` lists (one path per line) into video paths."""
    paths: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            paths += sorted(p for p in item.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS)
        elif item.suffix == ".txt":
            paths += [Path(line.strip()) for line in item.read_text().splitlines() if line.strip()]
        else:
            paths.append(item)
    return paths
