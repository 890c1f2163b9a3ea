"""Caption formats: the text the captioner writes and the embeddings the model reads.

``captions.jsonl``: one line per video, ``{"vid": str, "clip_len": float, "captions": [one string per clip]}``.

Caption features: an HDF5 file with one dataset per vid of shape (n_clips, D) (float16 or float32), row i embedding
the caption of clip i (seconds [i * clip_len, (i + 1) * clip_len)), i.e. aligned with the video feature rows.
File attributes: ``encoder`` (name or path of the text encoder), ``dim`` (D), ``clip_len`` (seconds).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from trdetr_cap.data.features import FeatureError, Hdf5Store
from trdetr_cap.utils.io import atomic_path, atomic_write_jsonl, iter_jsonl_objects


def read_captions_jsonl(path: str | Path) -> dict[str, dict]:
    """captions.jsonl -> {vid: {"vid", "clip_len", "captions"}}; a bad line raises naming file, line and field."""
    out: dict[str, dict] = {}
    for lineno, row in iter_jsonl_objects(path):
        where = f"{path}:{lineno}"
        vid, clip_len, caps = row.get("vid"), row.get("clip_len"), row.get("captions")
        if not isinstance(vid, str) or not vid:
            raise ValueError(f"{where}: field 'vid': expected a non-empty string, got {vid!r}")
        if isinstance(clip_len, bool) or not isinstance(clip_len, (int, float)) or clip_len <= 0:
            raise ValueError(f"{where}: field 'clip_len': expected a positive number, got {clip_len!r}")
        if not isinstance(caps, list) or not caps or not all(isinstance(c, str) for c in caps):
            raise ValueError(f"{where}: field 'captions': expected a non-empty list of strings")
        if vid in out:
            raise ValueError(f"{where}: field 'vid': duplicate vid {vid!r}")
        out[vid] = row
    return out


def write_captions_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    """Write captions.jsonl atomically (rows as ``read_captions_jsonl`` returns them)."""
    atomic_write_jsonl(path, rows)


def write_caption_features(path: str | Path, features: Mapping[str, np.ndarray], encoder: str, clip_len: float,
                           dtype: str = "float16") -> None:
    """Write {vid: (n_clips, D)} to an HDF5 file atomically, with attributes encoder, dim, clip_len."""
    import h5py

    dims = {int(np.shape(a)[-1]) for a in features.values()}
    if len(dims) != 1:
        raise ValueError(f"caption features of several widths {sorted(dims)} for {path}")
    with atomic_path(path, suffix=".h5") as tmp, h5py.File(tmp, "w") as f:
        f.attrs["encoder"] = encoder
        f.attrs["dim"] = dims.pop()
        f.attrs["clip_len"] = float(clip_len)
        for vid, arr in features.items():
            arr = np.asarray(arr)
            if arr.ndim != 2 or not np.isfinite(arr).all():
                raise ValueError(f"caption features of {vid!r}: expected finite (n_clips, D), got shape {arr.shape}")
            f.create_dataset(vid, data=arr.astype(dtype))


class CaptionFeatureStore(Hdf5Store):
    """Caption features (n_clips, D) per vid, with the file's ``encoder`` and ``clip_len`` attributes.

    Files written by other tools may lack ``dim`` and ``clip_len``: the width is then inferred from the datasets
    (which must all be (n_clips, D) of one D) and the clip length is ``clip_len`` (the config's). A ``dim`` the
    datasets contradict, datasets of several widths, or no ``encoder`` are refused.
    """

    def __init__(self, path: str | Path, clip_len: float | None = None):
        super().__init__(path)
        f = self._handle()
        if "encoder" not in f.attrs:
            raise FeatureError(f"caption feature file {path} lacks the attribute 'encoder' (the text encoder's name)")
        self.encoder = str(f.attrs["encoder"])
        widths: dict[int, str] = {}
        for vid, ds in f.items():
            shape = getattr(ds, "shape", None)
            if shape is None or len(shape) != 2:
                raise FeatureError(f"caption feature file {path}: {vid!r} is not a (n_clips, D) dataset "
                                   f"(shape {shape})")
            widths.setdefault(int(shape[1]), vid)
        if len(widths) > 1:
            shown = ", ".join(f"{w} ({v!r})" for w, v in sorted(widths.items())[:3])
            raise FeatureError(f"caption feature file {path}: datasets of several widths: {shown}")
        if widths and self.dim is not None and self.dim not in widths:
            raise FeatureError(f"caption feature file {path}: attribute dim={self.dim}, but the datasets have width "
                               f"{next(iter(widths))}")
        if self.dim is None and widths:
            self.dim = next(iter(widths))
        if "clip_len" in f.attrs:
            self.clip_len = float(f.attrs["clip_len"])
        elif clip_len is not None:
            self.clip_len = float(clip_len)
        else:
            raise FeatureError(f"caption feature file {path} lacks the attribute 'clip_len' and none was given")

    def check_keys(self, keys: Iterable[str], what: str = "vid") -> None:
        have = self.keys()
        for key in keys:
            if key not in have:
                raise FeatureError(f"{what} {key!r} has no captions in caption feature file {self.path}")
