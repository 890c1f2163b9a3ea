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


def test_caption_features_of_other_tools_without_dim_and_clip_len(tmp_path):
    """The format's promise (one (n_clips, D) dataset per vid, an encoder attribute) is enough: the width comes from
    the datasets, the clip length from the config; files that contradict themselves are still refused."""

    def other_tool_file(name, widths, **attrs):
        path = tmp_path / name
        with h5py.File(path, "w") as f:
            f.attrs.update({"encoder": "sentence-transformers/all-MiniLM-L6-v2", **attrs})
            for i, width in enumerate(widths):
                f.create_dataset(f"v{i}", data=np.ones((3 + i, width), np.float16))
        return path

    store = CaptionFeatureStore(other_tool_file("ok.h5", [384, 384]), clip_len=2.0)
    assert store.dim == 384 and store.clip_len == 2.0 and store.read("v1").shape == (4, 384)
    with pytest.raises(FeatureError, match="lacks the attribute 'clip_len'"):
        CaptionFeatureStore(other_tool_file("no_len.h5", [384]))
    with pytest.raises(FeatureError, match=r"several widths: 384 \('v0'\), 512 \('v1'\)"):
        CaptionFeatureStore(other_tool_file("mixed.h5", [384, 512]), clip_len=2.0)
    with pytest.raises(FeatureError, match="attribute dim=512, but the datasets have width 384"):
        CaptionFeatureStore(other_tool_file("liar.h5", [384], dim=512), clip_len=2.0)
