"""captions.jsonl validation, caption-feature attributes, and the preload decision."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from trdetr_cap.data.captions import CaptionFeatureStore, read_captions_jsonl, write_caption_features
from trdetr_cap.data.features import FeatureError, available_memory_bytes, should_preload


def test_captions_jsonl_round_trip_and_errors(tmp_path):
    path = tmp_path / "captions.jsonl"
    rows = [{"vid": "a", "clip_len": 2.0, "captions": ["one", "two"]}, {"vid": "b", "clip_len": 2, "captions": ["x"]}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert read_captions_jsonl(path)["a"]["captions"] == ["one", "two"]
    for bad, field in ((dict(rows[1], vid=""), "vid"), (dict(rows[1], clip_len=0), "clip_len"),
                       (dict(rows[1], captions=["x", 3]), "captions"), (rows[0], "vid")):
        path.write_text(json.dumps(rows[0]) + "\n" + json.dumps(bad) + "\n")
        with pytest.raises(ValueError, match=rf"captions.jsonl:2: field '{field}'"):
            read_captions_jsonl(path)


def test_caption_feature_attributes(tmp_path):
    write_caption_features(tmp_path / "c.h5", {"a": np.ones((3, 4))}, encoder="openai/clip-vit-base-patch32",
                           clip_len=2.0)
    store = CaptionFeatureStore(tmp_path / "c.h5")
    assert store.encoder == "openai/clip-vit-base-patch32" and store.clip_len == 2.0 and store.dim == 4
    assert store.read("a").dtype == np.float32
    with h5py.File(tmp_path / "bare.h5", "w") as f:
        f.create_dataset("a", data=np.ones((3, 4)))
    with pytest.raises(FeatureError, match="lacks the attribute 'encoder'"):
        CaptionFeatureStore(tmp_path / "bare.h5")
    with pytest.raises(ValueError, match="finite"):
        write_caption_features(tmp_path / "nan.h5", {"a": np.full((2, 4), np.nan)}, encoder="e", clip_len=2.0)
    assert not (tmp_path / "nan.h5").exists()


def test_preload_decision():
    assert should_preload("always", 10**15) and not should_preload("never", 1)
    assert should_preload("auto", 1024)  # a kilobyte always fits
    assert not should_preload("auto", 10**15)  # a petabyte never does
    with pytest.raises(ValueError, match="auto, always or never"):
        should_preload("sometimes", 1)


def test_preload_decision_counts_every_rank_on_the_machine(monkeypatch):
    avail = available_memory_bytes()
    if avail is None:
        pytest.skip("no /proc/meminfo")
    fits_once = avail // 8  # a quarter of the budget (half the available RAM)
    assert should_preload("auto", fits_once, copies=1)
    assert not should_preload("auto", fits_once, copies=8)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")  # as torchrun sets it for 8 ranks on one machine
    assert not should_preload("auto", fits_once)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    assert should_preload("auto", fits_once)
