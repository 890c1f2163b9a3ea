"""Caption embedding: grid alignment and the HDF5 the data pipeline reads, end to end from generated captions."""

from __future__ import annotations

import json

import numpy as np
import torch

from trdetr_cap.captions.embed import align_to_clips
from trdetr_cap.commands.captions import main as captions_main
from trdetr_cap.data.captions import CaptionFeatureStore, read_captions_jsonl


def test_align_to_clips():
    feats = np.arange(7)[:, None].astype(np.float32)  # 7 captions on a 1 s grid (7 s)
    # 2 s clips centred at 1, 3, 5, 7 s -> captions 1, 3, 5 and the last one (6)
    np.testing.assert_array_equal(align_to_clips(feats, 1.0, 2.0)[:, 0], [1, 3, 5, 6])
    np.testing.assert_array_equal(align_to_clips(feats[:3], 4.0, 2.0)[:, 0], [0, 0, 1, 1, 2, 2])
    assert align_to_clips(feats, 2.0, 2.0) is feats


def test_embed_matches_clip_text_features(tiny_clip_dir, tmp_path):
    captions = tmp_path / "captions.jsonl"
    rows = [{"vid": "v1", "clip_len": 2.0, "captions": ["a dog runs", "a dog sits", "empty room"]},
            {"vid": "v2", "clip_len": 1.0, "captions": ["x", "y", "z"]}]
    captions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "caps.h5"
    assert captions_main(["embed", str(captions), "--out", str(out), "--cap_text_encoder", str(tiny_clip_dir),
                          "--device", "cpu"]) == 0
    store = CaptionFeatureStore(out)
    assert store.encoder == str(tiny_clip_dir) and store.clip_len == 2.0
    from transformers import AutoTokenizer, CLIPModel

    model, tok = CLIPModel.from_pretrained(tiny_clip_dir).eval(), AutoTokenizer.from_pretrained(tiny_clip_dir)
    with torch.no_grad():
        expected = [model.get_text_features(**tok(t, return_tensors="pt")) for t in rows[0]["captions"]]
    expected = np.concatenate([getattr(e, "pooler_output", e).numpy() for e in expected])
    got = np.asarray(store.read("v1"), dtype=np.float32)
    assert got.shape == (3, 512)
    np.testing.assert_allclose(got, expected, atol=2e-2, rtol=1e-2)  # stored as float16
    assert np.asarray(store.read("v2")).shape == (2, 512)  # 3 s of 1 s captions -> clips centred at 1 s and 3 s


def test_generate_then_embed_aligns_with_video_clips(internvl_dir, tiny_clip_dir, caption_videos, tmp_path):
    out = tmp_path / "captions.jsonl"
    videos = [str(caption_videos / "a.mp4"), str(caption_videos / "b.mp4")]
    assert captions_main(["generate", *videos, "--out", str(out), "--cap_model", str(internvl_dir),
                          "--cap_backend", "transformers", "--cap_max_new_tokens", "2", "--cap_window", "4",
                          "--cap_frames", "2"]) == 0
    assert {vid: len(r["captions"]) for vid, r in read_captions_jsonl(out).items()} == {"a": 4, "b": 2}
    h5 = tmp_path / "caps.h5"
    assert captions_main(["embed", str(out), "--out", str(h5), "--cap_text_encoder", str(tiny_clip_dir)]) == 0
    store = CaptionFeatureStore(h5)
    assert np.asarray(store.read("a")).shape == (4, 512) and np.asarray(store.read("b")).shape == (2, 512)


def test_bad_captions_file_exits_2(tiny_clip_dir, tmp_path, capsys):
    bad = tmp_path / "captions.jsonl"
    bad.write_text(json.dumps({"vid": "v", "clip_len": 2.0, "captions": []}) + "\n")
    argv = ["embed", str(bad), "--out", str(tmp_path / "x.h5"), "--cap_text_encoder", str(tiny_clip_dir)]
    assert captions_main(argv) == 2
    assert f"{bad}:1: field 'captions'" in capsys.readouterr().err
