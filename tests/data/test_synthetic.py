"""The synthetic generator: deterministic, complete, QVHighlights-format, skips finished work, never clobbers."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import h5py
import numpy as np
import pytest
from data_helpers import TINY

from trdetr_cap.data.annotations import load_annotations
from trdetr_cap.data.captions import read_captions_jsonl
from trdetr_cap.commands.synth import main
from trdetr_cap.data.synthetic import generate


def _digest(root) -> str:
    """Hash of every file's name and content, plus the caption arrays (HDF5 bytes may carry timestamps)."""
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".h5"):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    with h5py.File(root / "caption_features.h5") as f:
        for vid in sorted(f):
            h.update(vid.encode() + f[vid][()].tobytes())
    return h.hexdigest()


def test_same_seed_same_bytes_other_seed_differs(tiny_synthetic, tmp_path):
    again = generate(tmp_path / "again", TINY)
    assert _digest(again) == _digest(tiny_synthetic)
    other = generate(tmp_path / "other", dataclasses.replace(TINY, seed=8))
    assert _digest(other) != _digest(tiny_synthetic)


def test_layout_and_content(tiny_synthetic):
    train, labelled = load_annotations(tiny_synthetic / "train.jsonl", "qvhighlights")
    val, _ = load_annotations(tiny_synthetic / "val.jsonl", "qvhighlights")
    assert labelled and len(train) == 12 and len(val) == 4
    assert not {r["vid"] for r in train} & {r["vid"] for r in val}  # split by video
    captions = read_captions_jsonl(tiny_synthetic / "captions.jsonl")
    with h5py.File(tiny_synthetic / "caption_features.h5") as caps:
        assert caps.attrs["dim"] == 512 and caps.attrs["clip_len"] == 2.0
        for r in train + val:
            n = r["duration"] // 2
            sf = np.load(tiny_synthetic / "slowfast_features" / f"{r['vid']}.npz")["features"]
            clip = np.load(tiny_synthetic / "clip_features" / f"{r['vid']}.npz")["features"]
            text = np.load(tiny_synthetic / "clip_text_features" / f"qid{r['qid']}.npz")["last_hidden_state"]
            assert sf.shape == (n, 2304) and clip.shape == (n, 512) and text.shape == (len(r["query"].split()) + 2, 512)
            assert caps[r["vid"]].shape == (n, 512) and len(captions[r["vid"]]["captions"]) == n
            # windows are the maximal runs of the relevant clips, in seconds
            covered = sorted(i for st, ed in r["relevant_windows"] for i in range(st // 2, ed // 2))
            assert covered == r["relevant_clip_ids"]


def test_captions_carry_the_query_concept_more_clearly_than_video(tiny_synthetic):
    """Cosine(query mean token, caption row) separates relevant clips; the raw CLIP rows barely do."""
    def norm(x):
        return x / np.linalg.norm(x, axis=-1, keepdims=True)
    rows, _ = load_annotations(tiny_synthetic / "train.jsonl", "qvhighlights")
    cap_gap, vid_gap = [], []
    with h5py.File(tiny_synthetic / "caption_features.h5") as caps:
        for r in rows:
            q = norm(np.load(tiny_synthetic / "clip_text_features" / f"qid{r['qid']}.npz")["last_hidden_state"].mean(0))
            rel = np.zeros(r["duration"] // 2, bool)
            rel[r["relevant_clip_ids"]] = True
            for gaps, feats in ((cap_gap, caps[r["vid"]][()]),
                                (vid_gap, np.load(tiny_synthetic / "clip_features" / f"{r['vid']}.npz")["features"])):
                sim = norm(feats) @ q
                gaps.append(sim[rel].mean() - sim[~rel].mean())
    assert np.mean(cap_gap) > 0.3 and np.mean(cap_gap) > 10 * abs(np.mean(vid_gap))


def test_skip_when_complete_and_refuse_foreign_dir(tiny_synthetic, tmp_path, capsys):
    manifest = tiny_synthetic / "manifest.json"
    before = manifest.stat().st_mtime_ns
    generate(tiny_synthetic, TINY)
    assert manifest.stat().st_mtime_ns == before
    assert json.loads(manifest.read_text())["params"]["seed"] == TINY.seed
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a synthetic dataset directory"):
        generate(foreign, TINY)
    assert main(["--out", str(foreign)]) == 2
    assert "not overwriting" in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text() == "keep me"
    assert main(["--out", str(tmp_path / "bad"), "--min_clips", "9", "--max_clips", "5"]) == 2
    assert not (tmp_path / "bad").exists() and not list(tmp_path.glob(".bad*"))
