"""The synthetic generator: deterministic, complete, QVHighlights-format, skips finished work, never clobbers."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat

import h5py
import numpy as np
import pytest
from data_helpers import TINY

from trdetr_cap.commands.synth import main
from trdetr_cap.data.annotations import load_annotations
from trdetr_cap.data.captions import read_captions_jsonl
from trdetr_cap.data.synthetic import SyntheticParams, generate


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


SIBLINGS = dataclasses.replace(TINY, siblings=True, function_words=4, query_context=0.0, caption_error=0.0,
                               video_signal=1.0)


def test_siblings_look_alike_in_the_video_and_differ_in_words(tmp_path):
    from trdetr_cap.data.synthetic import _World

    world = _World(SIBLINGS, np.random.default_rng(0))
    assert np.array_equal(world.image[0], world.image[1]) and np.array_equal(world.motion[2], world.motion[3])
    assert not np.allclose(world.image[0], world.image[2])
    assert abs(world.text[0] @ world.text[1]) < 0.3  # distinct words

    root = generate(tmp_path / "sib", SIBLINGS)
    rows, _ = load_annotations(root / "train.jsonl", "qvhighlights")
    captions = read_captions_jsonl(root / "captions.jsonl")
    names = {"dog": "puppy", "puppy": "dog", "guitar": "violin", "violin": "guitar", "beach": "lake", "lake": "beach",
             "kitchen": "bakery", "bakery": "kitchen", "car": "truck", "truck": "car", "snow": "rain", "rain": "snow"}
    checked = 0
    for r in rows:
        concept = next(w for w in r["query"].split() if w in names)
        texts = captions[r["vid"]]["captions"]
        own = [i for i, t in enumerate(texts) if t.split()[-1] == concept or f" {concept} " in f" {t} "]
        sibling = [i for i, t in enumerate(texts) if f" {names[concept]} " in f" {t} "]
        assert own == r["relevant_clip_ids"]  # caption_error 0: captions name exactly the relevant clips
        checked += bool(sibling)  # the video shows the sibling too (in its own segments) when it has room
        # one content word, four function words, the template's words and <sos> / <eos>
        tokens = np.load(root / "clip_text_features" / f"qid{r['qid']}.npz")["last_hidden_state"]
        assert len(tokens) == len(r["query"].split()) + 2
    assert checked > 0


def test_shuffled_captions_come_from_another_video_and_default_data_has_none(tmp_path, tiny_synthetic):
    assert not (tiny_synthetic / "caption_features_shuffled.h5").exists()
    root = generate(tmp_path / "sib", SIBLINGS)
    with h5py.File(root / "caption_features.h5") as real, h5py.File(root / "caption_features_shuffled.h5") as fake:
        assert set(real) == set(fake)
        for vid in real:
            rows = fake[vid][()]
            assert rows.shape == real[vid].shape
            donors = [v for v in real if np.array_equal(np.resize(real[v][()], rows.shape), rows)]
            assert donors and vid not in donors


def test_function_words_are_inserted_into_the_queries(tmp_path):
    from trdetr_cap.data.synthetic import CONCEPTS, FUNCTION_WORDS, QUERY_TEMPLATES

    def is_subsequence(small, big):
        it = iter(big)
        return all(w in it for w in small)

    root = generate(tmp_path / "fw", dataclasses.replace(TINY, function_words=3))
    rows, _ = load_annotations(root / "train.jsonl", "qvhighlights")
    for r in rows:
        words = r["query"].split()
        concept = next(w for w in words if w in CONCEPTS)
        templates = [t.format(c=concept).split() for t in QUERY_TEMPLATES]
        # the query is a template with 3 function words inserted somewhere
        assert any(len(words) == len(t) + 3 and is_subsequence(t, words) for t in templates), r["query"]
        assert sum(w in FUNCTION_WORDS for w in words) >= 3


def test_generated_dataset_is_readable_by_others(tmp_path):
    """Built in a temp directory (mkdtemp: 0700) and renamed: it must end up with the umask's modes."""
    old = os.umask(0o022)
    try:
        out = generate(tmp_path / "syn", SyntheticParams(n_train=4, n_val=2, min_clips=4, max_clips=6))
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    assert stat.S_IMODE((out / "train.jsonl").stat().st_mode) == 0o644
    assert {stat.S_IMODE(p.stat().st_mode) for p in (out / "clip_features").iterdir()} == {0o644}
