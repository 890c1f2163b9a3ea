"""Pack a released feature directory into one HDF5 file (``trdetr-cap pack DIR --out FILE.h5``).

One dataset per key (vid, or qid for query features), all rows kept (truncation happens when reading), float16 by
default (QVHighlights video: ~4.3 GB instead of 8.6 GB; use ``--store_dtype float32`` to keep the original's numbers
bit-exact). Every array is validated as the dataset would (finite, one width, the expected array name).

The layout of DIR is detected from its file names (override with ``--dataset`` / ``--role``):
``{vid}.npz`` with ``features`` (video), ``qid{qid}.npz`` (QVHighlights/Charades text), ``{vid}_rgb.npy`` +
``{vid}_opt.npy`` (TVSum video), ``{qid}.npz`` with ``token`` (TVSum text), ``{vid}.npy`` (audio).

Atomic and resumable: the file is built as ``FILE.h5.partial`` and renamed when complete; a rerun after an
interruption skips the keys the partial file already holds.
"""

from __future__ import annotations

from trdetr_cap.errors import report_bad_input, run_cli
import argparse
import os
import sys
from pathlib import Path

import numpy as np

from trdetr_cap.data.features import FeatureError, NpzDirStore, layout_for
from trdetr_cap.utils.progress import progress as progress_bar

FLOAT16_MAX = 65504.0
ROLES = ("video", "text", "audio")


def detect_layout(src: Path) -> tuple[str, str]:
    """(dataset, role) whose released layout matches the file names in ``src``."""
    names = os.listdir(src)
    if not names:
        raise FeatureError(f"{src}: empty directory, nothing to pack")
    if any(n.endswith("_rgb.npy") for n in names):
        return "tvsum", "video"
    if any(n.startswith("qid") and n.endswith(".npz") for n in names):
        return "qvhighlights", "text"
    npz = sorted(n for n in names if n.endswith(".npz"))
    if npz:
        with np.load(src / npz[0]) as f:
            files = set(f.files)
        if "features" in files:
            return "qvhighlights", "video"
        if "token" in files:
            return "tvsum", "text"
        raise FeatureError(f"{src / npz[0]}: unknown layout (arrays {sorted(files)}); pass --dataset and --role")
    if any(n.endswith(".npy") for n in names):
        return "qvhighlights", "audio"
    raise FeatureError(f"{src}: no .npz or .npy feature files")


def _open_partial(path: Path):
    """Open (or start) the partial file; an unreadable one (killed mid-write) is started over."""
    import h5py

    if path.exists():
        try:
            return h5py.File(path, "a")
        except OSError:
            print(f"warning: {path} is unreadable, starting over", file=sys.stderr)
            path.unlink()
    return h5py.File(path, "w")


def pack_directory(src: str | Path, out: str | Path, dataset: str | None = None, role: str | None = None,
                   dtype: str = "float16", compression: str | None = None, progress: bool = True) -> Path:
    """Pack every key of the feature directory ``src`` into the HDF5 file ``out``; returns ``out``."""
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise FeatureError(f"feature directory not found: {src}")
    if dtype not in ("float16", "float32"):
        raise ValueError(f"dtype must be float16 or float32, got {dtype!r}")
    if compression not in (None, "gzip", "lzf"):
        raise ValueError(f"compression must be gzip, lzf or none, got {compression!r}")
    if dataset is None or role is None:
        found_dataset, found_role = detect_layout(src)
        dataset, role = dataset or found_dataset, role or found_role
    templates, array_key = layout_for(dataset, role)
    store = NpzDirStore(src, templates, array_key)
    keys = sorted(store.keys())
    if not keys:
        raise FeatureError(f"{src}: no files matching {' + '.join(templates)}")

    partial = out.with_name(out.name + ".partial")
    out.parent.mkdir(parents=True, exist_ok=True)
    with _open_partial(partial) as f:
        if "dim" in f.attrs:
            store.dim = int(f.attrs["dim"])
        todo = [k for k in keys if k not in f]
        for i, key in enumerate(progress_bar(todo, f"pack {src.name}", unit="file", disable=not progress)):
            arr = store.read(key)
            if dtype == "float16" and np.abs(arr).max() > FLOAT16_MAX:
                raise FeatureError(f"{key!r} in {store.location(key)}: values beyond the float16 range; use "
                                   "--store_dtype float32")
            f.create_dataset(key, data=arr.astype(dtype), compression=compression)
            if "dim" not in f.attrs:
                f.attrs["dim"] = arr.shape[1]
            if i % 200 == 199:
                f.flush()
        f.attrs.update({"dataset": dataset, "role": role, "layout": " + ".join(templates),
                        "array_key": array_key or "", "source": str(src.resolve()), "dtype": dtype})
    os.replace(partial, out)
    return out


if __name__ == "__main__":
    from trdetr_cap.commands.pack import main

    raise SystemExit(main())
