"""Charades-STA and TVSum through build_dataset + collate, on hand-made features in their released layouts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trdetr_cap.config import load_config
from trdetr_cap.data import build_dataset, collate


def _norm(x):
    return x / (np.linalg.norm(x, axis=-1, keepdims=True) + 1e-5)


def test_charades_long_float_durations(tmp_path):
    rng = np.random.default_rng(0)
    rows = [{"qid": 0, "query": "a person opens a door.", "duration": 194.33, "vid": "LONG1",
             "relevant_windows": [[150.2, 194.33]]},
            {"qid": 1, "query": "person sits.", "duration": 33.67, "vid": "SHORT", "relevant_windows": [[0.0, 6.9]]}]
    (tmp_path / "anno.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for name, dim in (("slowfast", 6), ("clip", 4)):
        (tmp_path / name).mkdir()
        np.savez(tmp_path / name / "LONG1.npz", features=rng.random((98, dim), dtype=np.float32))
        np.savez(tmp_path / name / "SHORT.npz", features=rng.random((17, dim), dtype=np.float32))
    (tmp_path / "text").mkdir()
    for qid in (0, 1):
        np.savez(tmp_path / "text" / f"qid{qid}.npz", last_hidden_state=rng.random((5, 4), dtype=np.float32))
    cfg = load_config(overrides={"dataset": "charades", "train_path": str(tmp_path / "anno.jsonl"),
                                 "v_feat_dirs": [str(tmp_path / "slowfast"), str(tmp_path / "clip")],
                                 "t_feat_dir": str(tmp_path / "text"), "max_v_l": 100})
    ds = build_dataset(cfg, "train")
    batch = collate([ds[0], ds[1]])
    assert batch["inputs"]["src_vid"].shape == (2, 98, 6 + 4 + 2)
    spans = [t["spans"].numpy() for t in batch["targets"]["span_labels"]]
    # window [150.2, 194.33] over 98 clips * 2 s = 196 s
    np.testing.assert_allclose(spans[0], [[(150.2 + 194.33) / 2 / 196, (194.33 - 150.2) / 196]], rtol=1e-5)
    np.testing.assert_allclose(spans[1], [[6.9 / 2 / 34, 6.9 / 34]], rtol=1e-5)
    # clips whose centre (2 i + 1 s) lies in the window
    assert batch["targets"]["src_pos_mask"][0].nonzero().flatten().tolist() == list(range(75, 97))
    assert batch["targets"]["src_pos_mask"][1, :17].nonzero().flatten().tolist() == [0, 1, 2]
    assert batch["targets"]["saliency_all_labels"][1, :4].tolist() == [12, 12, 12, 0]
    assert batch["targets"]["saliency_pos_labels"].shape == (2, 2)


def test_tvsum_layout_domain_and_labels(tmp_path):
    rng = np.random.default_rng(1)
    label_a = [[1.0 + (i % 5)] * 20 for i in range(6)]  # agg = 0, 20, 40, 60, 80, 0
    rows = [{"qid": "vidA", "vid": "vidA", "query": "title a", "duration": 6, "domain": "BK", "label": label_a,
             "relevant_clip_ids": None, "relevant_windows": None},
            {"qid": "vidB", "vid": "vidB", "query": "title b", "duration": 4, "domain": "VU",
             "label": [[2.0] * 20] * 4, "relevant_clip_ids": None, "relevant_windows": None}]
    (tmp_path / "anno.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "video_features").mkdir()
    (tmp_path / "query_features").mkdir()
    rgb, opt = rng.random((6, 3), dtype=np.float32), rng.random((6, 2), dtype=np.float32)
    np.save(tmp_path / "video_features" / "vidA_rgb.npy", rgb)
    np.save(tmp_path / "video_features" / "vidA_opt.npy", opt)
    token = rng.random((40, 4), dtype=np.float32) * 3
    np.savez(tmp_path / "query_features" / "vidA.npz", token=token)
    overrides = {"dataset": "tvsum", "train_path": str(tmp_path / "anno.jsonl"),
                 "v_feat_dirs": [str(tmp_path / "video_features")], "t_feat_dir": str(tmp_path / "query_features")}
    with pytest.raises(ValueError, match="--tvsum_domain"):
        build_dataset(load_config(overrides=overrides), "train")
    ds = build_dataset(load_config(overrides={**overrides, "tvsum_domain": "BK"}), "train")
    assert len(ds) == 1  # vidB (domain VU, and no features) is not part of this domain
    batch = collate([ds[0]])
    vid = batch["inputs"]["src_vid"][0].numpy()
    # rgb and opt are joined, then normalised together (one norm over 5 channels), then TEF
    np.testing.assert_allclose(vid[:, :5], _norm(np.concatenate([rgb, opt], 1)), rtol=1e-6)
    np.testing.assert_allclose(batch["inputs"]["src_txt"][0].numpy(), token)  # neither truncated nor normalised
    t = batch["targets"]
    np.testing.assert_allclose(t["saliency_all_labels"][0].numpy(), [0, 3, 6, 9, 12, 0])
    assert t["src_pos_mask"][0].tolist() == [0, 0, 1, 1, 1, 0]  # top half by agg
    assert t["saliency_pos_labels"].tolist() == [[4]] and t["saliency_neg_labels"].shape == (1, 1)
    np.testing.assert_array_equal(t["span_labels"][0]["spans"].numpy(), [[0, 0]])
