"""Feature stores behind one interface, and an in-RAM cache of the processed (truncated, normalised) features.

Two kinds of store hold per-video / per-query arrays of shape (L, D):

* ``NpzDirStore``: the released directory layouts (read by the original's
  tr_detr/start_end_dataset.py:317-380), one file per key. QVHighlights video
  ``{dir}/{vid}.npz`` key ``features``; text ``{dir}/qid{qid}.npz`` key ``last_hidden_state``; audio
  ``{dir}/{vid}.npy``; TVSum video ``{dir}/{vid}_rgb.npy`` + ``{dir}/{vid}_opt.npy`` (joined along channels);
  TVSum text ``{dir}/{qid}.npz`` key ``token``.
* ``Hdf5Store``: a packed file made by ``python -m trdetr_cap.data.pack``: one dataset per key (vid or qid as a
  string), float16 or float32, file attributes ``dim`` and ``layout``. Any path ending in ``.h5`` is one.

``FeatureStore.read(key, max_rows)`` returns float32 (L, D), checked: missing file or key, wrong array name,
NaN/inf, wrong width and empty arrays each raise ``FeatureError`` naming the key and the file.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from trdetr_cap.utils.progress import progress

L2_EPS = 1e-5  # the original divides by (norm + 1e-5)


class FeatureError(ValueError):
    """A missing or malformed feature: the message names the key and the file."""


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Row-wise x / (||x|| + 1e-5), as the original's ``l2_normalize_np_array``. (L, D) -> (L, D)."""
    return x / (np.linalg.norm(x, axis=-1, keepdims=True) + L2_EPS)


def _check_array(arr: np.ndarray, key: str, where: str, dim: int | None) -> np.ndarray:
    """Validate one (L, D) array; a (1, L, D) array (text saved with its batch dim) is squeezed as the original."""
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise FeatureError(f"{key!r} in {where}: expected a 2-D (L, D) array, got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise FeatureError(f"{key!r} in {where}: empty array (0 rows)")
    if dim is not None and arr.shape[1] != dim:
        raise FeatureError(f"{key!r} in {where}: wrong width {arr.shape[1]}, expected {dim}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise FeatureError(f"{key!r} in {where}: expected floating point features, got {arr.dtype}")
    if not np.isfinite(arr).all():
        raise FeatureError(f"{key!r} in {where}: contains NaN or inf")
    return arr


class FeatureStore:
    """Maps a key (vid or str(qid)) to a float32 (L, D) array. Subclasses implement ``_read`` and ``keys``."""

    path: str
    dim: int | None = None  # fixed width once known (first read or file attribute); later reads must match

    def keys(self) -> set[str]:
        raise NotImplementedError

    def location(self, key: str) -> str:
        """The file (and array) a key is read from, for error messages."""
        raise NotImplementedError

    def _read(self, key: str, max_rows: int | None) -> np.ndarray:
        raise NotImplementedError

    def read(self, key: str, max_rows: int | None = None) -> np.ndarray:
        """First ``max_rows`` rows (all if None) of ``key`` as float32 (L, D)."""
        arr = _check_array(self._read(key, max_rows), key, self.location(key), self.dim)
        if self.dim is None:
            self.dim = int(arr.shape[1])
        return arr[:max_rows].astype(np.float32, copy=False)

    def check_keys(self, keys: Iterable[str], what: str) -> None:
        """Raise naming the first missing key (checked once, up front, so no DataLoader worker dies later)."""
        have = self.keys()
        for key in keys:
            if key not in have:
                raise FeatureError(f"{what} {key!r} not found: no {self.location(key)}")


class NpzDirStore(FeatureStore):
    """A directory of per-key ``.npz``/``.npy`` files; several file templates are joined along channels."""

    def __init__(self, root: str | Path, templates: tuple[str, ...], array_key: str | None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FeatureError(f"feature directory not found: {self.root}")
        self.path = str(self.root)
        self.templates = templates
        self.array_key = array_key  # None for .npy files
        self._keys: set[str] | None = None

    def location(self, key: str) -> str:
        files = " + ".join(str(self.root / t.format(key=key)) for t in self.templates)
        return f"{files} (key {self.array_key!r})" if self.array_key else files

    def keys(self) -> set[str]:
        if self._keys is None:
            prefix, suffix = self.templates[0].split("{key}")
            names = os.listdir(self.root)
            found = {n[len(prefix): len(n) - len(suffix)] for n in names
                     if n.startswith(prefix) and n.endswith(suffix) and len(n) > len(prefix) + len(suffix)}
            for t in self.templates[1:]:
                found &= {k for k in found if t.format(key=k) in names}
            self._keys = found
        return self._keys

    def _load_one(self, file: Path, key: str) -> np.ndarray:
        if not file.is_file():
            raise FeatureError(f"{key!r}: feature file not found: {file}")
        try:
            loaded = np.load(file)
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            raise FeatureError(f"{key!r}: cannot read {file}: {e}") from None
        if self.array_key is None:
            return loaded
        with loaded:
            if self.array_key not in loaded.files:
                raise FeatureError(f"{key!r}: {file} has no array {self.array_key!r} (has: {', '.join(loaded.files)})")
            try:  # the archive's members are read here: a damaged one fails now, not at np.load
                return loaded[self.array_key]
            except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
                raise FeatureError(f"{key!r}: cannot read array {self.array_key!r} of {file}: {e}") from None

    def _read(self, key: str, max_rows: int | None) -> np.ndarray:
        parts = [self._load_one(self.root / t.format(key=key), key)[:max_rows] for t in self.templates]
        if len(parts) == 1:
            return parts[0]
        if len({len(p) for p in parts}) != 1 or any(p.ndim != 2 for p in parts):
            shapes = ", ".join(str(p.shape) for p in parts)
            raise FeatureError(f"{key!r}: streams of different shapes {shapes} in {self.location(key)}")
        return np.concatenate(parts, axis=-1)


class Hdf5Store(FeatureStore):
    """A packed HDF5 file: one (L, D) dataset per key. The handle is opened lazily per process (fork-safe)."""

    def __init__(self, path: str | Path, role: str | None = None):
        self.path = str(path)
        if not Path(path).is_file():
            raise FeatureError(f"packed feature file not found: {path}")
        self._file = None
        self._pid = -1
        attrs = self._handle().attrs
        dim = attrs.get("dim")
        self.dim = int(dim) if dim is not None else None
        packed_role = attrs.get("role")
        if role is not None and packed_role is not None and str(packed_role) != role:
            raise FeatureError(f"{path} holds {packed_role} features, but it is configured as {role} features")

    def _handle(self):
        import h5py

        if self._file is None or self._pid != os.getpid():
            try:
                self._file = h5py.File(self.path, "r")
            except OSError as e:
                raise FeatureError(f"cannot open packed feature file {self.path}: {e}") from None
            self._pid = os.getpid()
        return self._file

    def __getstate__(self) -> dict:  # DataLoader workers re-open the file themselves
        return {**self.__dict__, "_file": None, "_pid": -1}

    def location(self, key: str) -> str:
        return f"{self.path} (dataset {key!r})"

    def keys(self) -> set[str]:
        return set(self._handle().keys())

    @property
    def dtype(self) -> np.dtype:
        f = self._handle()
        first = next(iter(f.keys()), None)
        return np.dtype(f[first].dtype) if first is not None else np.dtype(np.float32)

    def _read(self, key: str, max_rows: int | None) -> np.ndarray:
        f = self._handle()
        if key not in f:
            raise FeatureError(f"{key!r} not found in packed feature file {self.path}")
        return f[key][:max_rows]


# Released layouts: (dataset, role) -> (file templates, array name)
_LAYOUTS: dict[tuple[str, str], tuple[tuple[str, ...], str | None]] = {
    ("qvhighlights", "video"): (("{key}.npz",), "features"),
    ("charades", "video"): (("{key}.npz",), "features"),
    ("tvsum", "video"): (("{key}_rgb.npy", "{key}_opt.npy"), None),
    ("qvhighlights", "text"): (("qid{key}.npz",), "last_hidden_state"),
    ("charades", "text"): (("qid{key}.npz",), "last_hidden_state"),
    ("tvsum", "text"): (("{key}.npz",), "token"),
    ("qvhighlights", "audio"): (("{key}.npy",), None),
    ("charades", "audio"): (("{key}.npy",), None),
    ("tvsum", "audio"): (("{key}.npy",), None),
}


def layout_for(dataset: str, role: str) -> tuple[tuple[str, ...], str | None]:
    """File templates and array name of the released layout of ``role`` (video | text | audio) in ``dataset``."""
    return _LAYOUTS[(dataset, role)]


def open_store(spec: str | Path, dataset: str, role: str) -> FeatureStore:
    """A ``.h5`` path is a packed store; anything else is a directory in the released layout for (dataset, role)."""
    if str(spec).endswith(".h5"):
        return Hdf5Store(spec, role)
    templates, array_key = layout_for(dataset, role)
    return NpzDirStore(spec, templates, array_key)


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (None where there is none)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class ProcessedFeatures:
    """key -> processed (L, D) array, computed by ``compute`` on demand or once for all keys (``preload``).

    Preloaded arrays are stored in ``cache_dtype`` (float16 halves RAM; float32 keeps the original's numbers
    exactly) and returned as they are: callers must not modify them.
    """

    def __init__(self, name: str, compute: Callable[[str], np.ndarray], cache_dtype: np.dtype = np.float32):
        self.name = name
        self.compute = compute
        self.cache_dtype = np.dtype(cache_dtype)
        self.cache: dict[str, np.ndarray] = {}

    def __getitem__(self, key: str) -> np.ndarray:
        hit = self.cache.get(key)
        return hit if hit is not None else self.compute(key)

    def preload(self, keys: Iterable[str]) -> None:
        keys = sorted(set(keys) - self.cache.keys())
        for key in progress(keys, f"preload {self.name}", unit="item", disable=len(keys) < 200):
            self.cache[key] = np.ascontiguousarray(self.compute(key), dtype=self.cache_dtype)


def processes_per_machine() -> int:
    """How many processes on this machine each hold their own dataset: torchrun's ``LOCAL_WORLD_SIZE`` (1 without)."""
    return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


def should_preload(mode: str, estimated_bytes: int, copies: int | None = None) -> bool:
    """``always`` / ``never`` / ``auto``: preload when ``copies`` preloaded datasets (default: one per process on
    this machine, since every DDP rank builds its own) fit in half of the available RAM."""
    if mode not in ("auto", "always", "never"):
        raise ValueError(f"preload must be auto, always or never, got {mode!r}")
    if mode != "auto":
        return mode == "always"
    avail = available_memory_bytes()
    copies = processes_per_machine() if copies is None else copies
    return avail is not None and estimated_bytes * copies < avail // 2
