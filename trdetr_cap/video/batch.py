"""Dataset-scale extraction: many videos / queries -> the released npz layout, resumable, failures collected.

Layout under ``out_root`` (what ``--v_feat_dirs`` / ``--t_feat_dir`` read directly):

    clip_features/{vid}.npz        key "features" (L, 512)
    slowfast_features/{vid}.npz    key "features" (L, 2304)
    clip_text_features/qid{qid}.npz  keys "last_hidden_state" (Lq <= 32, 512), "pooler_output" (512,)

A file that exists is finished (every write is atomic), so a rerun skips it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm import tqdm

from trdetr_cap.utils.io import atomic_write_bytes, read_jsonl
from trdetr_cap.video.decode import VideoDecodeError


class VideoEncoder(Protocol):
    def encode_video(self, path: str | Path, clip_len: float = 2.0) -> np.ndarray: ...


def save_npz(path: str | Path, **arrays: np.ndarray) -> None:
    """np.savez through a temp file + rename, so an interrupted run never leaves a truncated npz."""
    atomic_write_bytes(path, lambda f: np.savez(f, **arrays))


def extract_videos(
    videos: Sequence[Path],
    out_root: str | Path,
    encoders: dict[str, VideoEncoder],
    clip_len: float = 2.0,
    overwrite: bool = False,
    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr),
) -> list[tuple[Path, str]]:
    """Write ``{out_root}/{dir}/{vid}.npz`` (vid = file stem) for each ``dir -> encoder``; return the failures.

    An unreadable video is logged and skipped (the others go on); it comes back as ``(path, reason)``.
    """
    failures: list[tuple[Path, str]] = []
    out_root = Path(out_root)
    for path in tqdm(videos, desc="videos", unit="video"):
        for dir_name, encoder in encoders.items():
            target = out_root / dir_name / f"{path.stem}.npz"
            if target.exists() and not overwrite:
                continue
            try:
                features = encoder.encode_video(path, clip_len)
            except VideoDecodeError as e:
                log(f"skipped: {e}")
                failures.append((path, str(e)))
                break
            save_npz(target, features=features.astype(np.float32))
    return failures


def read_queries(paths: Sequence[str | Path]) -> list[tuple[str, str]]:
    """Annotation jsonl files -> unique (qid, query); a row without them raises naming file, line and field."""
    seen: dict[str, str] = {}
    for path in paths:
        for lineno, row in enumerate(read_jsonl(path), 1):
            for key in ("qid", "query"):
                if not isinstance(row, dict) or key not in row:
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
    for start in tqdm(range(0, len(todo), batch_size), desc="queries", unit="batch"):
        chunk = todo[start:start + batch_size]
        for (qid, _), feats in zip(chunk, encoder.encode_texts([text for _, text in chunk]), strict=True):
            save_npz(out_dir / f"qid{qid}.npz", **feats)
    return len(todo)
