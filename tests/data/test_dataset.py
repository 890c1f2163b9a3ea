"""Dataset + collate on hand-made feature directories: values, shapes, preload, audio, captions, and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from data_helpers import write_npz_dataset

from trdetr_cap.config import load_config
from trdetr_cap.data import build_dataset, collate, move_to_device
from trdetr_cap.data.captions import write_caption_features
from trdetr_cap.data.features import FeatureError

ROWS = [
    {"qid": 5, "query": "a", "duration": 12, "vid": "va", "relevant_windows": [[2, 6]], "relevant_clip_ids": [1, 2],
     "saliency_scores": [[1, 1, 1], [2, 2, 2]]},
    {"qid": 6, "query": "b", "duration": 8, "vid": "vb", "relevant_windows": [[0, 2]], "relevant_clip_ids": [0],
     "saliency_scores": [[3, 3, 3]]},
]


def _arrays(seed=0):
    rng = np.random.default_rng(seed)
    videos = {"va": {"a_set": rng.random((6, 4), dtype=np.float32), "b_set": rng.random((5, 3), dtype=np.float32)},
              "vb": {"a_set": rng.random((4, 4), dtype=np.float32), "b_set": rng.random((4, 3), dtype=np.float32)}}
    texts = {5: rng.random((3, 4), dtype=np.float32), 6: rng.random((40, 4), dtype=np.float32)}
    return videos, texts


def _norm(x):
    return x / (np.linalg.norm(x, axis=-1, keepdims=True) + 1e-5)


@pytest.fixture
def hand_made(tmp_path):
    videos, texts = _arrays()
    return videos, texts, write_npz_dataset(tmp_path, videos, texts, ROWS)


def test_batch_values_match_the_reference_processing(hand_made):
    videos, texts, overrides = hand_made
    ds = build_dataset(load_config(overrides=overrides), "train")
    assert ds.feature_dims == {"v_feat_dim": 4 + 3 + 2, "t_feat_dim": 4, "cap_feat_dim": 0}
    batch = collate([ds[0], ds[1]])
    inp = batch["inputs"]
    assert inp["src_vid"].shape == (2, 5, 9) and inp["src_txt"].shape == (2, 32, 4)  # L cut to 5; text to max_q_l
    # va: each set L2-normalised separately, cut to the shorter set (5 rows), then TEF [i/5, (i+1)/5]
    want = np.concatenate([_norm(videos["va"]["a_set"])[:5], _norm(videos["va"]["b_set"]),
                           np.stack([np.arange(5) / 5, np.arange(1, 6) / 5], 1)], 1)
    np.testing.assert_allclose(inp["src_vid"][0].numpy(), want, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(inp["src_vid_mask"].numpy(), [[1] * 5, [1] * 4 + [0]])
    assert inp["src_vid"][1, 4].abs().sum() == 0
    np.testing.assert_allclose(inp["src_txt"][1].numpy(), _norm(texts[6][:32]), rtol=1e-6)
    np.testing.assert_array_equal(inp["src_txt_mask"][0].numpy(), [1, 1, 1] + [0] * 29)
    t = batch["targets"]
    np.testing.assert_allclose(t["span_labels"][0]["spans"].numpy(), [[0.4, 0.4]])  # [2, 6] / (5 * 2)
    assert t["saliency_all_labels"].tolist() == [[0, 3, 6, 0, 0], [9, 0, 0, 0, 0]]
    assert t["src_pos_mask"].tolist() == [[0, 1, 1, 0, 0], [1, 0, 0, 0, 0]]
    assert t["saliency_pos_labels"].dtype == torch.long and t["saliency_pos_labels"].shape == (2, 2)
    assert batch["meta"][0]["feat_len"] == 5 and batch["meta"][1]["qid"] == 6
    moved = move_to_device(batch, "cpu")
    assert moved["targets"]["span_labels"][1]["spans"].shape == (1, 2) and moved["meta"] is batch["meta"]


def test_preload_equals_lazy_and_packed_store(hand_made, tmp_path):
    from trdetr_cap.data.pack import pack_directory

    _, _, overrides = hand_made
    lazy = build_dataset(load_config(overrides=overrides), "val", preload="never")
    eager = build_dataset(load_config(overrides=overrides), "val", preload="always")
    assert not lazy.video.cache and len(eager.video.cache) == 2
    packed = {**overrides,
              "v_feat_dirs": [str(pack_directory(d, tmp_path / f"{i}.h5", dtype="float32", progress=False))
                              for i, d in enumerate(overrides["v_feat_dirs"])],
              "t_feat_dir": str(pack_directory(overrides["t_feat_dir"], tmp_path / "t.h5", dtype="float32",
                                               progress=False))}
    from_h5 = build_dataset(load_config(overrides=packed), "val", preload="always")
    for key in ("src_vid", "src_txt"):
        a, b, c = (collate([d[0], d[1]])["inputs"][key] for d in (lazy, eager, from_h5))
        assert torch.equal(a, b) and torch.equal(a, c)


def test_audio_is_joined_with_its_own_tef_and_a_shared_length(hand_made, tmp_path):
    _, _, overrides = hand_made
    (tmp_path / "audio").mkdir()
    audio = {"va": np.random.default_rng(1).random((3, 2), dtype=np.float32),
             "vb": np.random.default_rng(2).random((9, 2), dtype=np.float32)}
    for vid, arr in audio.items():
        np.save(tmp_path / "audio" / f"{vid}.npy", arr)
    ds = build_dataset(load_config(overrides={**overrides, "a_feat_dir": str(tmp_path / "audio")}), "train")
    assert ds.feature_dims["v_feat_dim"] == (4 + 3 + 2) + (2 + 2)  # as 2818 + 2050 = 4868 with real widths
    batch = collate([ds[0], ds[1]])
    vid = batch["inputs"]["src_vid"]
    assert vid.shape == (2, 4, 13) and batch["meta"][0]["feat_len"] == 3  # va cut to its 3 audio rows
    tef3 = np.stack([np.arange(3) / 3, np.arange(1, 4) / 3], 1)
    np.testing.assert_allclose(vid[0, :3, 7:9].numpy(), tef3)
    np.testing.assert_allclose(vid[0, :3, 9:11].numpy(), _norm(audio["va"]), rtol=1e-6)
    np.testing.assert_allclose(vid[0, :3, 11:].numpy(), tef3)
    np.testing.assert_allclose(vid[1, :4, 9:11].numpy(), _norm(audio["vb"][:4]), rtol=1e-6)


def test_captions_align_clip_by_clip(hand_made, tmp_path):
    _, _, overrides = hand_made
    captioned = {**overrides, "cap_cross_attn": True}  # caption features are read when a caption piece is on
    caps = {"va": np.arange(1, 9 * 3 + 1, dtype=np.float32).reshape(9, 3), "vb": np.ones((2, 3), np.float32)}
    write_caption_features(tmp_path / "cap.h5", caps, encoder="test-encoder", clip_len=2.0, dtype="float32")
    ds = build_dataset(load_config(overrides={**captioned, "cap_feat_path": str(tmp_path / "cap.h5")}), "train")
    assert ds.feature_dims["cap_feat_dim"] == 3
    without = build_dataset(load_config(overrides={**overrides, "cap_feat_path": str(tmp_path / "cap.h5")}), "train")
    assert without.caption_store is None and without.feature_dims["cap_feat_dim"] == 0  # every piece off
    batch = collate([ds[0], ds[1]])
    cap, mask = batch["inputs"]["src_cap"], batch["inputs"]["src_cap_mask"]
    assert cap.shape == (2, 5, 3)
    np.testing.assert_allclose(cap[0].numpy(), _norm(caps["va"][:5]), rtol=1e-6)  # cut to the video's 5 clips
    assert mask.tolist() == [[1] * 5, [1, 1, 0, 0, 0]]  # vb has captions for 2 of its 4 clips
    assert cap[1, 2:].abs().sum() == 0

    write_caption_features(tmp_path / "cap2.h5", {"va": caps["va"]}, encoder="e", clip_len=2.0)
    with pytest.raises(FeatureError, match=r"vid 'vb' has no captions in caption feature file .*cap2.h5"):
        build_dataset(load_config(overrides={**captioned, "cap_feat_path": str(tmp_path / "cap2.h5")}), "train")
    write_caption_features(tmp_path / "cap3.h5", caps, encoder="e", clip_len=1.0)
    with pytest.raises(FeatureError, match="clip_len 1.0"):
        build_dataset(load_config(overrides={**captioned, "cap_feat_path": str(tmp_path / "cap3.h5")}), "train")


def test_unlabelled_split_has_no_targets(tmp_path):
    videos, texts = _arrays()
    rows = [{k: r[k] for k in ("qid", "query", "duration", "vid")} for r in ROWS]
    ds = build_dataset(load_config(overrides=write_npz_dataset(tmp_path, videos, texts, rows)), "test")
    batch = collate([ds[0]])
    assert "targets" not in batch and "relevant_windows" not in batch["meta"][0]


@pytest.mark.parametrize("breakage, message", [
    ("missing", r"vid 'vb' not found: no .*a_set/vb.npz \(key 'features'\)"),
    ("wrong_key", r"'vb': .*a_set/vb.npz has no array 'features' \(has: feats\)"),
    ("nan", r"'vb' in .*a_set/vb.npz \(key 'features'\): contains NaN or inf"),
    ("width", r"'vb' in .*a_set/vb.npz \(key 'features'\): wrong width 5, expected 4"),
    ("text_missing", r"qid '6' not found: no .*text/qid6.npz"),
    ("damaged", r"'vb': cannot read array 'features' of .*a_set/vb.npz"),
    ("truncated", r"'vb': cannot read .*a_set/vb.npz"),
])
def test_bad_features_name_key_and_file(tmp_path, breakage, message):
    videos, texts = _arrays()
    overrides = write_npz_dataset(tmp_path, videos, texts, ROWS)
    path = tmp_path / "a_set" / "vb.npz"
    if breakage == "missing":
        path.unlink()
    elif breakage == "wrong_key":
        np.savez(path, feats=videos["vb"]["a_set"])
    elif breakage == "nan":
        bad = videos["vb"]["a_set"].copy()
        bad[1, 2] = np.nan
        np.savez(path, features=bad)
    elif breakage == "width":
        np.savez(path, features=np.ones((4, 5), np.float32))
    elif breakage == "damaged":  # a flipped byte inside the array data (the zip directory still reads)
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    elif breakage == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    else:
        (tmp_path / "text" / "qid6.npz").unlink()
    with pytest.raises(FeatureError, match=message):
        ds = build_dataset(load_config(overrides=overrides), "train", preload="always")
        collate([ds[0], ds[1]])


def test_missing_paths_and_tvsum_domain(tmp_path, hand_made):
    _, _, overrides = hand_made
    with pytest.raises(ValueError, match="--eval_path"):
        build_dataset(load_config(overrides={**overrides, "eval_path": ""}), "val")
    with pytest.raises(FeatureError, match="feature directory not found"):
        build_dataset(load_config(overrides={**overrides, "t_feat_dir": str(tmp_path / "nope")}), "train")
    with pytest.raises(FeatureError, match="packed feature file not found"):
        build_dataset(load_config(overrides={**overrides, "t_feat_dir": str(tmp_path / "nope.h5")}), "train")


def test_dataloader_workers_read_a_lazy_packed_store(hand_made, tmp_path):
    """Each worker re-opens the HDF5 file itself; batches equal the in-process ones."""
    from torch.utils.data import DataLoader

    from trdetr_cap.data.pack import pack_directory

    _, _, overrides = hand_made
    packed = {**overrides,
              "v_feat_dirs": [str(pack_directory(d, tmp_path / f"{i}.h5", progress=False))
                              for i, d in enumerate(overrides["v_feat_dirs"])]}
    ds = build_dataset(load_config(overrides=packed), "val", preload="never")
    ds.video[ROWS[0]["vid"]]  # the parent has the file open before the workers start
    serial = next(iter(DataLoader(ds, batch_size=2, collate_fn=collate)))
    parallel = next(iter(DataLoader(ds, batch_size=2, collate_fn=collate, num_workers=2)))
    assert torch.equal(serial["inputs"]["src_vid"], parallel["inputs"]["src_vid"])


def test_collate_empty_caption_rows_are_masked():
    sample = {"meta": {}, "video": np.ones((3, 2), np.float32), "audio": None, "text": np.ones((1, 2), np.float32),
              "caption": np.zeros((0, 4), np.float32), "use_tef": False}
    batch = collate([sample])
    assert batch["inputs"]["src_cap"].shape == (1, 3, 4) and batch["inputs"]["src_cap_mask"].sum() == 0
    assert batch["inputs"]["src_vid"].shape == (1, 3, 2)
