"""Caption every window of every video, sharded and resumable, into ``captions.jsonl`` (see docs/contracts.md).

Caption i sees ``window`` seconds centred on the i-th ``stride``-second clip (clipped to the video), through
``frames`` frames spread evenly over that span; the row's ``clip_len`` is ``stride``. With the defaults (2 s / 2 s)
the captions line up one-to-one with the 2 s feature clips.

Resuming: each finished video is appended (one flushed line) to ``{out}.partial``; a restarted run skips the vids
found there or in an existing ``{out}``, and at the end ``{out}`` is rewritten atomically from both and the partial
file removed. Sharding: ``--shard i/n`` keeps the vids with ``crc32(vid) % n == i`` (stable however the list is given)
and writes ``{stem}.shard{i}of{n}.jsonl``; ``merge`` joins the shard files.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from trdetr_cap.captions.backends import CaptionBackend
from trdetr_cap.data.captions import read_captions_jsonl, write_captions_jsonl
from trdetr_cap.utils.progress import progress
from trdetr_cap.video.batch import in_shard
from trdetr_cap.video.decode import VideoDecodeError, num_clips, probe_video, sample_frames


def shard_output(out: str | Path, shard: tuple[int, int]) -> Path:
    """captions.jsonl -> captions.shard{i}of{n}.jsonl (unchanged for a single shard)."""
    out = Path(out)
    return out if shard[1] == 1 else out.with_name(f"{out.stem}.shard{shard[0]}of{shard[1]}{out.suffix}")


def caption_windows(duration: float, window: float, stride: float) -> list[tuple[float, float]]:
    """(start, end) in seconds of each caption: ``window`` s centred on each ``stride`` s clip, inside the video."""
    spans = []
    for i in range(num_clips(duration, stride)):
        centre = min((i + 0.5) * stride, duration)
        start, end = max(0.0, centre - window / 2), min(duration, centre + window / 2)
        spans.append((start, max(end, start)))
    return spans


def window_frame_times(spans: Sequence[tuple[float, float]], frames: int) -> list[list[float]]:
    """``frames`` times per span at the centres of equal sub-intervals, e.g. 2 frames over [0, 2) -> 0.5, 1.5."""
    return [[st + (j + 0.5) * (ed - st) / frames for j in range(frames)] for st, ed in spans]


def caption_video(path: str | Path, backend: CaptionBackend, prompt: str, window: float = 2.0, stride: float = 2.0,
                  frames: int = 2, batch_size: int = 8, max_side: int = 768) -> dict:
    """One video -> ``{"vid", "clip_len", "captions"}``; frames are downscaled to ``max_side`` while decoding."""
    spans = caption_windows(probe_video(path).duration, window, stride)
    per_window = window_frame_times(spans, frames)
    flat = [t for times in per_window for t in times]
    order = np.argsort(flat, kind="stable")  # overlapping windows: decode in time order, regroup after
    picked: list[np.ndarray | None] = [None] * len(flat)
    sorted_times = [flat[i] for i in order]
    for k, frame in sample_frames(path, sorted_times, transform=lambda f: _shrink(f, max_side)):
        picked[order[k]] = frame
    windows = [picked[i * frames:(i + 1) * frames] for i in range(len(spans))]
    captions: list[str] = []
    for start in range(0, len(windows), batch_size):
        captions += backend.caption(windows[start:start + batch_size], prompt)
    return {"vid": Path(path).stem, "clip_len": float(stride), "captions": captions}


def _shrink(frame: np.ndarray, max_side: int) -> np.ndarray:
    from PIL import Image

    h, w = frame.shape[:2]
    if max(h, w) <= max_side:
        return frame
    scale = max_side / max(h, w)
    return np.asarray(Image.fromarray(frame).resize((round(w * scale), round(h * scale)), Image.BICUBIC))


def _read_partial(path: Path) -> list[dict]:
    """Rows appended so far. A torn last line (a crash mid-write) is dropped and cut off the file, so that appending
    goes on after the last whole row (else the next row would be glued to the torn one); a torn earlier line is an
    error."""
    if not path.exists():
        return []
    data = path.read_bytes()
    rows, good_end, start = [], 0, 0
    while start < len(data):
        newline = data.find(b"\n", start)
        end = len(data) if newline < 0 else newline + 1
        if not data[start:end].strip():
            good_end = start = end
            continue
        try:
            row = json.loads(data[start:end])
        except (json.JSONDecodeError, UnicodeDecodeError):
            if end < len(data):
                lineno = data.count(b"\n", 0, start) + 1
                raise ValueError(f"{path}:{lineno}: not valid JSON (remove the file to redo this shard)") from None
            break
        if newline < 0:  # a whole row whose newline never made it: keep it, and its line end
            with open(path, "ab") as f:
                f.write(b"\n")
            end += 1
        rows.append(row)
        good_end = start = end
    if good_end < len(data):
        os.truncate(path, good_end)
    return rows


def generate_captions(
    videos: Sequence[Path],
    backend: CaptionBackend,
    out: str | Path,
    prompt: str,
    window: float = 2.0,
    stride: float = 2.0,
    frames: int = 2,
    shard: tuple[int, int] = (0, 1),
    batch_size: int = 8,
    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr),
) -> tuple[Path, list[tuple[Path, str]]]:
    """Caption this shard's videos into its output file; return (that file, failures as (path, reason))."""
    target = shard_output(out, shard)
    partial = target.with_name(target.name + ".partial")
    done = {row["vid"]: row for row in read_captions_jsonl(target).values()} if target.exists() else {}
    done.update({row["vid"]: row for row in _read_partial(partial)})
    todo = [p for p in videos if in_shard(p.stem, shard) and p.stem not in done]
    failures: list[tuple[Path, str]] = []
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(partial, "a", encoding="utf-8") as log_file:
        for path in progress(todo, f"captions shard {shard[0]}/{shard[1]}", unit="video"):
            try:
                row = caption_video(path, backend, prompt, window, stride, frames, batch_size)
            except VideoDecodeError as e:
                log(f"skipped: {e}")
                failures.append((path, str(e)))
                continue
            log_file.write(json.dumps(row) + "\n")
            log_file.flush()
            os.fsync(log_file.fileno())
            done[row["vid"]] = row
    write_captions_jsonl(target, [done[vid] for vid in sorted(done)])
    partial.unlink()
    return target, failures


def merge_captions(inputs: Sequence[str | Path], out: str | Path) -> int:
    """Join shard files into one captions.jsonl (sorted by vid); a vid in two files raises. Returns the row count."""
    rows: dict[str, dict] = {}
    for path in inputs:
        for vid, row in read_captions_jsonl(path).items():
            if vid in rows:
                raise ValueError(f"{path}: vid {vid!r} is also in another input")
            rows[vid] = row
    write_captions_jsonl(out, [rows[vid] for vid in sorted(rows)])
    return len(rows)
