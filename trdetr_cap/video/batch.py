"""Dataset-scale extraction: many videos / queries -> the released npz layout, resumable, failures collected.

Layout under ``out_root`` (what ``--v_feat_dirs`` / ``--t_feat_dir`` read directly):

    clip_features/{vid}.npz        key "features" (L, 512)
    slowfast_features/{vid}.npz    key "features" (L, 2304)
    clip_text_features/qid{qid}.npz  keys "last_hidden_state" (Lq <= 32, 512), "pooler_output" (512,)

A file that exists is finished (every write is atomic), so a rerun skips it.
"""

from __future__ import annotations

import sys
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from trdetr_cap.utils.io import atomic_write_bytes, iter_jsonl_objects
from trdetr_cap.utils.progress import progress
from trdetr_cap.video.decode import VideoDecodeError, probe_video, sample_frame_sets


class VideoEncoder(Protocol):
    """What ClipFeatureExtractor and SlowFastExtractor offer: whole-video encoding, or sampling plan + crop + pack
    (so several encoders share one decoding pass, see :func:`decode_jointly`) + encoding of the packed frames."""

    def encode_video(self, path: str | Path, clip_len: float = 2.0) -> np.ndarray: ...

    def frame_times(self, duration: float, clip_len: float = 2.0) -> list[float]: ...

    def crop(self, frame: np.ndarray) -> np.ndarray: ...

    def pack(self, frames: list[np.ndarray]) -> np.ndarray: ...

    def encode_decoded(self, decoded: np.ndarray) -> np.ndarray: ...


def decode_jointly(path: str | Path, encoders: Sequence[VideoEncoder], clip_len: float = 2.0) -> list[np.ndarray]:
    """Each encoder's packed input frames for ``path``, from a single decoding pass."""
    duration = probe_video(path).duration
    time_sets = [enc.frame_times(duration, clip_len) for enc in encoders]
    frame_sets = sample_frame_sets(path, time_sets, [enc.crop for enc in encoders])
    return [enc.pack(frames) for enc, frames in zip(encoders, frame_sets, strict=True)]


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` (0 <= i < n) -> (i, n)."""
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard: expected i/n, got {text!r}") from None
    if not 0 <= index < count:
        raise ValueError(f"--shard: need 0 <= i < n, got {text!r}")
    return index, count


def in_shard(vid: str, shard: tuple[int, int]) -> bool:
    """Stable assignment of a vid to one of n shards (crc32, the same however the video list is ordered)."""
    return zlib.crc32(vid.encode("utf-8")) % shard[1] == shard[0]


def save_npz(path: str | Path, **arrays: np.ndarray) -> None:
    """np.savez through a temp file + rename, so an interrupted run never leaves a truncated npz."""
    atomic_write_bytes(path, lambda f: np.savez(f, **arrays))


def _prefetched(jobs: list[tuple[Path, list[str]]], load: Callable, workers: int) -> Iterator[tuple[Any, Any]]:
    """Yield (job, load(job)) in order, with up to ``workers`` jobs loading ahead in threads (PyAV decodes without
    holding the GIL). An exception from ``load`` is yielded in place of its result."""
    def attempt(job):
        try:
            return load(job)
        except VideoDecodeError as e:
            return e

    if workers <= 0:
        yield from ((job, attempt(job)) for job in jobs)
        return
    with ThreadPoolExecutor(workers) as pool:
        queue: deque = deque()
        for job in jobs:
            queue.append((job, pool.submit(attempt, job)))
            if len(queue) > workers:
                done_job, future = queue.popleft()
                yield done_job, future.result()
        while queue:
            done_job, future = queue.popleft()
            yield done_job, future.result()


def extract_videos(
    videos: Sequence[Path],
    out_root: str | Path,
    encoders: dict[str, VideoEncoder],
    clip_len: float = 2.0,
    overwrite: bool = False,
    num_workers: int = 0,
    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr),
) -> list[tuple[Path, str]]:
    """Write ``{out_root}/{dir}/{vid}.npz`` (vid = file stem) for each ``dir -> encoder``; return the failures.

    ``num_workers`` > 0 decodes that many videos ahead in threads while the model encodes the current one (decoding
    is what bounds a GPU run); 0 decodes and encodes clip batch by clip batch (least memory). An unreadable video is
    logged and skipped (the others go on); it comes back as ``(path, reason)``.
    """
    out_root = Path(out_root)

    def target(path: Path, dir_name: str) -> Path:
        return out_root / dir_name / f"{path.stem}.npz"

    jobs = [(path, [d for d in encoders if overwrite or not target(path, d).exists()]) for path in videos]
    jobs = [job for job in jobs if job[1]]

    def load(job: tuple[Path, list[str]]) -> dict[str, np.ndarray]:
        path, dirs = job
        if num_workers <= 0:
            return {d: encoders[d].encode_video(path, clip_len) for d in dirs}
        return dict(zip(dirs, decode_jointly(path, [encoders[d] for d in dirs], clip_len), strict=True))

    failures: list[tuple[Path, str]] = []
    for (path, dirs), result in progress(_prefetched(jobs, load, num_workers), "videos", total=len(jobs),
                                         unit="video"):
        if isinstance(result, VideoDecodeError):
            log(f"skipped: {result}")
            failures.append((path, str(result)))
            continue
        for d in dirs:
            features = result[d] if num_workers <= 0 else encoders[d].encode_decoded(result[d])
            save_npz(target(path, d), features=features.astype(np.float32))
    return failures


def read_queries(paths: Sequence[str | Path]) -> list[tuple[str, str]]:
    """Annotation jsonl files -> unique (qid, query); a row without them raises naming file, line and field."""
    seen: dict[str, str] = {}
    for path in paths:
        for lineno, row in iter_jsonl_objects(path):
            for key in ("qid", "query"):
                if key not in row:
                    raise ValueError(f"{path}:{lineno}: missing field {key!r}")
            if not isinstance(row["query"], str) or not row["query"].strip():
                raise ValueError(f"{path}:{lineno}: field 'query' must be a non-empty string")
            seen.setdefault(str(row["qid"]), row["query"])
    return list(seen.items())


def extract_queries(
    queries: Sequence[tuple[str, str]],
    out_root: str | Path,
    encoder,
    batch_size: int = 256,
    overwrite: bool = False,
) -> int:
    """Write ``{out_root}/clip_text_features/qid{qid}.npz`` for each (qid, query); return how many were written."""
    out_dir = Path(out_root) / "clip_text_features"
    todo = [(q, text) for q, text in queries if overwrite or not (out_dir / f"qid{q}.npz").exists()]
    for start in progress(range(0, len(todo), batch_size), "queries", unit="batch"):
        chunk = todo[start:start + batch_size]
        for (qid, _), feats in zip(chunk, encoder.encode_texts([text for _, text in chunk]), strict=True):
            save_npz(out_dir / f"qid{qid}.npz", **feats)
    return len(todo)
