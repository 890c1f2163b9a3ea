"""Atomic writes leave either the old file or the new one, never a partial file."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from trdetr_cap.utils.io import (
    _temp_prefix,
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    read_jsonl,
    remove_stale_temps,
)


def test_failed_write_keeps_old_content(tmp_path):
    target = tmp_path / "out.json"
    atomic_write_json(target, {"a": 1})

    def boom(f):
        f.write(b"partial")
        raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        atomic_write_bytes(target, boom)
    assert target.read_text().strip().replace(" ", "").replace("\n", "") == '{"a":1}'
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_read_jsonl_names_file_and_line(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"a": 1}\n\n{"b": \n')
    with pytest.raises(ValueError, match=r"x\.jsonl:3: not valid JSON"):
        read_jsonl(p)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_writes_honour_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        atomic_write_json(tmp_path / "m.json", {"a": 1})
        with atomic_path(tmp_path / "f.npz", suffix=".npz") as tmp:
            np.savez(tmp, x=np.zeros(2))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m.json").stat().st_mode) == mode
    assert stat.S_IMODE((tmp_path / "f.npz").stat().st_mode) == mode


def _killed_writer_leftover(directory, name: str) -> Path:
    """What a writer killed mid-write leaves: its temp file, named after a process that no longer exists."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(proc.stdout)
    prefix = _temp_prefix(name).rsplit(".", 2)[0]  # .NAME.HOST
    path = Path(directory) / f"{prefix}.{dead_pid}.abcd1234.tmp"
    path.write_bytes(b"\0" * 1000)
    return path


def test_next_write_removes_a_killed_writers_temp(tmp_path):
    stale = _killed_writer_leftover(tmp_path, "model_latest.ckpt")
    legacy = tmp_path / ".model_latest.ckpt.k3j_x9q2.tmp"  # pid-less name of earlier versions
    legacy.write_bytes(b"\0")
    live = tmp_path / f"{_temp_prefix('model_latest.ckpt')}zzzz9999.tmp"  # this (live) process: kept
    live.write_bytes(b"\0")
    other = tmp_path / ".notes.txt.tmp"  # not our pattern: kept
    other.write_text("x")
    atomic_write_bytes(tmp_path / "model_latest.ckpt", lambda f: f.write(b"ckpt"))
    assert not stale.exists() and not legacy.exists()
    assert live.exists() and other.exists()
    assert (tmp_path / "model_latest.ckpt").read_bytes() == b"ckpt"


def test_remove_stale_temps_over_a_directory(tmp_path):
    a = _killed_writer_leftover(tmp_path, "model_best.ckpt")
    b = _killed_writer_leftover(tmp_path, "best_val_metrics.json")
    keep = tmp_path / "model_best.ckpt"
    keep.write_bytes(b"x")
    assert sorted(remove_stale_temps(tmp_path)) == sorted([a, b])
    assert [p.name for p in tmp_path.iterdir()] == ["model_best.ckpt"]
