"""CLIP features against transformers' own image processor / text path, and the extraction CLI end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from trdetr_cap.commands.extract import main as extract_main
from trdetr_cap.testing import frame_level
from trdetr_cap.video.clip import ClipFeatureExtractor, resize_center_crop
from trdetr_cap.video.decode import sample_frames


@pytest.fixture(scope="module")
def clip(tiny_clip_dir):
    return ClipFeatureExtractor(str(tiny_clip_dir), batch_size=3)


def test_resize_center_crop_keeps_the_middle():
    frame = np.zeros((40, 80, 3), np.uint8)
    frame[:, 30:50] = 255  # a white band in the middle fifth
    crop = resize_center_crop(frame, 20)  # -> 40 x 20, then the middle 20 columns
    assert crop.shape == (20, 20, 3)
    assert crop[:, 6:14].min() >= 250 and crop[:, 0].max() <= 5 and crop[:, -1].max() <= 5


def test_video_features_match_transformers_image_path(clip, tiny_clip_dir, video_dir):
    from transformers import CLIPImageProcessorPil

    path = video_dir / "v25.mp4"  # 5.28 s -> 3 clips (the last partial)
    feats = clip.encode_video(path)
    assert feats.shape == (3, 512) and feats.dtype == np.float32
    raw = [f for _, f in sample_frames(path, [1.0, 3.0, 5.0], rule="before")]  # frames 24, 74, 124 at 25 fps
    assert all(abs(float(f.mean()) - frame_level(i)) <= 1.5 for f, i in zip(raw, [24, 74, 124], strict=True))
    processor = CLIPImageProcessorPil.from_pretrained(tiny_clip_dir)
    pixels = processor(images=raw, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        expected = clip.model.get_image_features(pixel_values=pixels)
    expected = getattr(expected, "pooler_output", expected).numpy()
    np.testing.assert_allclose(feats, expected, atol=2e-3, rtol=1e-3)


def test_text_features_are_per_token_and_truncated(clip):
    texts = ["a man cooks pasta", "word " * 40]
    rows = clip.encode_texts(texts)
    n_tokens = len(clip.tokenizer(texts[0]).input_ids)  # [SOT] ... [EOT]
    assert rows[0]["last_hidden_state"].shape == (n_tokens, 512)
    assert rows[1]["last_hidden_state"].shape == (32, 512)
    with torch.no_grad():
        enc = clip.tokenizer(texts[0], return_tensors="pt")
        alone = clip.model.text_model(**enc).last_hidden_state[0].numpy()  # unbatched, unpadded
        pooled = clip.model.get_text_features(**enc)
    pooled = getattr(pooled, "pooler_output", pooled)[0].numpy()
    np.testing.assert_allclose(rows[0]["last_hidden_state"], alone, atol=1e-4)
    np.testing.assert_allclose(rows[0]["pooler_output"], pooled, atol=1e-4)


def test_extract_videos_cli_writes_layout_skips_done_and_lists_failures(tiny_clip_dir, video_dir, tmp_path, capsys):
    out = tmp_path / "feats"
    args = ["videos", str(video_dir), "--out", str(out), "--clip_model", str(tiny_clip_dir), "--device", "cpu"]
    assert extract_main(args) == 1  # broken.mp4 fails, the others are written
    err = capsys.readouterr().err
    assert "1 failed" in err and "broken.mp4" in err
    written = sorted(p.name for p in (out / "clip_features").iterdir())
    assert written == ["v25.npz", "v2997.npz", "v30.npz"]
    assert {n: np.load(out / "clip_features" / n)["features"].shape for n in written} == {
        "v25.npz": (3, 512), "v2997.npz": (2, 512), "v30.npz": (4, 512)}
    stamp = (out / "clip_features" / "v30.npz").stat().st_mtime_ns
    assert extract_main(args) == 1
    assert (out / "clip_features" / "v30.npz").stat().st_mtime_ns == stamp  # finished files are skipped
    sharded = tmp_path / "sharded"  # shards write disjoint parts (crc32 % 3: v25, broken -> 1; v2997, v30 -> 0)
    assert extract_main([*args[:3], str(sharded), *args[4:], "--shard", "0/3"]) == 0
    assert sorted(p.name for p in (sharded / "clip_features").iterdir()) == ["v2997.npz", "v30.npz"]
    assert extract_main([*args[:3], str(sharded), *args[4:], "--shard", "1/3"]) == 1
    assert sorted(p.name for p in (sharded / "clip_features").iterdir()) == written
    threaded = tmp_path / "threaded"  # decoding ahead in 2 threads gives the same files
    assert extract_main([*args[:3], str(threaded), *args[4:], "--num_workers", "2"]) == 1
    for name in written:
        np.testing.assert_array_equal(np.load(threaded / "clip_features" / name)["features"],
                                      np.load(out / "clip_features" / name)["features"])


def test_extract_queries_cli(tiny_clip_dir, tmp_path, capsys):
    ann = tmp_path / "ann.jsonl"
    ann.write_text(json.dumps({"qid": 7, "query": "a dog runs", "vid": "x"}) + "\n"
                   + json.dumps({"qid": 9, "query": "people talk", "vid": "y"}) + "\n")
    out = tmp_path / "feats"
    assert extract_main(["queries", str(ann), "--out", str(out), "--clip_model", str(tiny_clip_dir)]) == 0
    with np.load(out / "clip_text_features" / "qid7.npz") as z:
        assert z["last_hidden_state"].shape[1] == 512 and z["pooler_output"].shape == (512,)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"qid": 1, "query": "ok"}) + "\n" + json.dumps({"qid": 2}) + "\n")
    assert extract_main(["queries", str(bad), "--out", str(out), "--clip_model", str(tiny_clip_dir)]) == 2
    assert f"{bad}:2: missing field 'query'" in capsys.readouterr().err
