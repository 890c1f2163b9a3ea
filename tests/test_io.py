"""Atomic writes leave either the old file or the new one, never a partial file."""

from __future__ import annotations

import pytest

from trdetr_cap.utils.io import atomic_write_bytes, atomic_write_json, read_jsonl


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
