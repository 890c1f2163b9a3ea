"""Raw video -> moments, end to end offline: tiny random CLIP / InternVL and a tiny random TR-DETR checkpoint.

The expectation comes from the training data path: the extract CLI writes npz files, build_dataset + collate read
them, the model runs, outputs_to_submission post-processes. MomentRetriever must give the same numbers.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from plot_pixels import C0, C1, WHITE, Axes, axes_boxes, bar_height, black_pixels, load_rgb, near, tint

from trdetr_cap.commands.extract import main as extract_main
from trdetr_cap.commands.infer import main as inference_main
from trdetr_cap.config import Config
from trdetr_cap.engine.checkpoint import save_checkpoint
from trdetr_cap.retriever import MomentRetriever, sliding_windows
from trdetr_cap.testing import save_tiny_clip, save_tiny_internvl, write_test_video

QUERY = "a person walks in"


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("inference")
    return {"root": root, "clip": save_tiny_clip(root / "clip"), "video": write_test_video(root / "walk.mp4", 7.0),
            "internvl": save_tiny_internvl(root / "internvl")}


def make_checkpoint(path, feat_root, max_v_l: int, captions: bool = False, slowfast: bool = False):
    cfg = Config()
    cfg.data.v_feat_dirs = [str(feat_root / "slowfast_features")] * slowfast + [str(feat_root / "clip_features")]
    cfg.data.t_feat_dir = str(feat_root / "clip_text_features")
    cfg.data.max_v_l = max_v_l
    cfg.model.v_feat_dim = 2304 * slowfast + 512 + 2
    cfg.post.max_duration = None  # clamp to each video's own duration
    if captions:
        cfg.caption.cap_cross_attn = True
        cfg.captioner.cap_frames = 1
        cfg.captioner.cap_max_new_tokens = 2
    from trdetr_cap.models import build_model

    torch.manual_seed(0)
    model, _ = build_model(cfg)
    save_checkpoint(path, model=model, optimizer=None, lr_scheduler=None, epoch=0, config=cfg.to_dict())
    return cfg


def dataset_prediction(cfg, annotation):
    from trdetr_cap.data import build_dataset, collate
    from trdetr_cap.engine.postprocess import outputs_to_submission
    from trdetr_cap.models import build_model

    dataset = build_dataset(cfg, "val", annotation_path=annotation)
    batch = collate([dataset[0]])
    torch.manual_seed(0)
    model, _ = build_model(cfg)
    model.eval()
    with torch.no_grad():
        outputs = model(**batch["inputs"])
    return outputs_to_submission(outputs, batch["meta"], cfg.post, cfg.data.clip_len)[0]


@pytest.fixture(scope="module")
def features(assets):
    feat_root = assets["root"] / "feats"
    clip = str(assets["clip"])
    assert extract_main(["videos", str(assets["video"]), "--out", str(feat_root), "--clip_model", clip]) == 0
    annotation = assets["root"] / "ann.jsonl"
    annotation.write_text(json.dumps({"qid": 1, "query": QUERY, "vid": "walk", "duration": 7.0}) + "\n")
    assert extract_main(["queries", str(annotation), "--out", str(feat_root), "--clip_model", clip]) == 0
    return feat_root, annotation


def test_sliding_windows_cover_with_half_overlap():
    assert sliding_windows(4, 75) == [(0, 4)]
    assert sliding_windows(10, 4) == [(0, 4), (2, 6), (4, 8), (6, 10)]
    assert sliding_windows(9, 4) == [(0, 4), (2, 6), (4, 8), (5, 9)]


def test_prediction_equals_the_training_data_path(assets, features):
    feat_root, annotation = features
    ckpt = assets["root"] / "clip_only.ckpt"
    cfg = make_checkpoint(ckpt, feat_root, max_v_l=75)
    expected = dataset_prediction(cfg, annotation)
    retriever = MomentRetriever.from_checkpoint(ckpt, clip_model=str(assets["clip"]), device="cpu")
    result = retriever.predict(QUERY, assets["video"], top_k=10)
    assert len(result["saliency"]) == 4  # 7 s -> 3 full clips + the 1 s tail
    np.testing.assert_allclose(result["saliency"], expected["pred_saliency_scores"], atol=1e-3)
    np.testing.assert_allclose(result["moments"], expected["pred_relevant_windows"], atol=1e-3)
    assert retriever.encode_video(assets["video"]) is retriever.encode_video(assets["video"])  # cached
    assert retriever.predict(QUERY, top_k=10) == result  # the last encoded video by default


def test_slowfast_clip_checkpoint_equals_the_training_data_path(assets, features, tmp_path):
    from trdetr_cap.video.slowfast import SlowFastR50

    feat_root, annotation = features
    slowfast_ckpt = tmp_path / "slowfast.pyth"
    torch.manual_seed(1)
    torch.save({"model_state": SlowFastR50().state_dict()}, slowfast_ckpt)
    assert extract_main(["videos", str(assets["video"]), "--out", str(feat_root), "--features", "slowfast",
                         "--slowfast_ckpt", str(slowfast_ckpt), "--slowfast_crop_size", "32"]) == 0
    ckpt = tmp_path / "slowfast_clip.ckpt"
    cfg = make_checkpoint(ckpt, feat_root, max_v_l=75, slowfast=True)
    expected = dataset_prediction(cfg, annotation)
    retriever = MomentRetriever.from_checkpoint(ckpt, clip_model=str(assets["clip"]), slowfast_ckpt=str(slowfast_ckpt),
                                                device="cpu", slowfast_crop_size=32)
    assert retriever.kinds == ["slowfast", "clip"]
    result = retriever.predict(QUERY, assets["video"], top_k=10)
    np.testing.assert_allclose(result["saliency"], expected["pred_saliency_scores"], atol=1e-3)
    np.testing.assert_allclose(result["moments"], expected["pred_relevant_windows"], atol=1e-3)


def test_long_video_sliding_windows_merge(assets, features):
    feat_root, annotation = features
    ckpt = assets["root"] / "short_max.ckpt"
    cfg = make_checkpoint(ckpt, feat_root, max_v_l=3)  # 4 clips -> windows [0, 3) and [1, 4)
    first_window = dataset_prediction(cfg, annotation)  # the data path truncates to max_v_l: window [0, 3)
    retriever = MomentRetriever.from_checkpoint(ckpt, clip_model=str(assets["clip"]), device="cpu")
    result = retriever.predict(QUERY, assets["video"], top_k=20)
    assert len(result["saliency"]) == 4
    assert result["saliency"][0] == pytest.approx(first_window["pred_saliency_scores"][0], abs=1e-3)
    assert all(0 <= st <= ed <= 7.0 for st, ed, _ in result["moments"])
    scores = [m[2] for m in result["moments"]]
    assert scores == sorted(scores, reverse=True)


def test_caption_checkpoint_with_and_without_a_captioner(assets, features, tmp_path):
    feat_root, _ = features
    ckpt = tmp_path / "caps.ckpt"
    make_checkpoint(ckpt, feat_root, max_v_l=75, captions=True)
    with_caps = MomentRetriever.from_checkpoint(ckpt, clip_model=str(assets["clip"]),
                                                caption_model=str(assets["internvl"]),
                                                caption_encoder=str(assets["clip"]), device="cpu")
    result = with_caps.predict(QUERY, assets["video"])
    assert len(result["captions"]) == 4 and len(result["saliency"]) == 4
    without = MomentRetriever.from_checkpoint(ckpt, clip_model=str(assets["clip"]), device="cpu")
    masked = without.predict(QUERY, assets["video"])
    assert masked["captions"] is None and len(masked["saliency"]) == 4
    assert np.isfinite(masked["saliency"]).all() and np.isfinite(masked["moments"]).all()
    # the captions reach the model: masking them changes the saliency
    assert np.abs(np.asarray(result["saliency"]) - np.asarray(masked["saliency"])).max() > 1e-4


def test_model_inputs_equal_the_training_inputs_number_for_number(assets, features, tmp_path):
    """One video through both paths: extract + caption + embed files -> MomentDataset -> collate, and
    MomentRetriever on the raw video. The preprocessing is shared, so every model input is identical."""
    from trdetr_cap.captions.embed import embed_captions
    from trdetr_cap.captions.generate import generate_captions
    from trdetr_cap.data import build_dataset, collate

    feat_root, annotation = features
    ckpt = tmp_path / "caps.ckpt"
    cfg = make_checkpoint(ckpt, feat_root, max_v_l=75, captions=True)
    retriever = MomentRetriever.from_checkpoint(ckpt, clip_model=str(assets["clip"]),
                                                caption_model=str(assets["internvl"]),
                                                caption_encoder=str(assets["clip"]), device="cpu")
    windows, served = retriever.model_inputs(QUERY, assets["video"])

    c = cfg.captioner
    captions, failures = generate_captions([assets["video"]], retriever.caption_backend, tmp_path / "caps.jsonl",
                                           c.cap_prompt, c.cap_window, c.cap_stride, c.cap_frames, log=lambda _: None)
    assert not failures
    cfg.data.cap_feat_path = str(tmp_path / "caps.h5")
    embed_captions(captions, cfg.data.cap_feat_path, str(assets["clip"]), dtype="float32")
    trained = collate([build_dataset(cfg, "val", annotation_path=annotation)[0]])

    assert windows == [(0, 4)]
    assert set(served["inputs"]) == set(trained["inputs"]) == {"src_txt", "src_txt_mask", "src_vid", "src_vid_mask",
                                                                "src_cap", "src_cap_mask"}
    for name, tensor in trained["inputs"].items():
        assert torch.equal(served["inputs"][name], tensor), name
    assert served["inputs"]["src_vid"].shape == (1, 4, 512 + 2)  # CLIP + TEF
    assert served["meta"][0]["feat_len"] == trained["meta"][0]["feat_len"] == 4


def test_cli_writes_json_and_plot(assets, features, tmp_path, capsys):
    feat_root, annotation = features
    ckpt = tmp_path / "m.ckpt"
    cfg = make_checkpoint(ckpt, feat_root, max_v_l=75)
    out, plot = tmp_path / "r.json", tmp_path / "r.png"
    args = ["--video", str(assets["video"]), "--query", QUERY, "--checkpoint", str(ckpt), "--clip_model",
            str(assets["clip"]), "--out", str(out), "--plot", str(plot), "--gt", "2,4", "--device", "cpu"]
    assert inference_main(args) == 0
    result = json.loads(out.read_text())
    assert result["query"] == QUERY and len(result["saliency"]) == 4 and len(result["moments"]) == 5
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    expected = dataset_prediction(cfg, annotation)  # the numbers of the training data path, top 5 of them
    np.testing.assert_allclose(result["saliency"], expected["pred_saliency_scores"], atol=1e-3)
    np.testing.assert_allclose(result["moments"], expected["pred_relevant_windows"][:5], atol=1e-3)
    image = load_rgb(plot)
    (box,) = axes_boxes(image)
    ax = Axes(box, xlim=(0.0, 8.0))  # 7 s video, 4 clips of 2 s
    # the GT band (--gt 2,4) at the lowest saliency, under 2-4 s only
    assert black_pixels(image, ax, 3) >= 3 and black_pixels(image, ax, 1) == black_pixels(image, ax, 6) == 0
    assert "saliency per clip" in capsys.readouterr().out
    assert inference_main([*args[:4], "--checkpoint", str(tmp_path / "missing.ckpt")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert inference_main(["--video", str(tmp_path / "nope.mp4"), *args[2:]]) == 2
    assert "nope.mp4: no such video file" in capsys.readouterr().err


def test_plot_draws_saliency_moments_and_ground_truth(tmp_path):
    from PIL import Image

    from trdetr_cap.plots import plot_result

    result = {"query": "q", "duration": 9.0, "clip_len": 2.0, "saliency": [0.1, 0.9, 0.4, 0.2, 0.0],
              "moments": [[2.0, 6.0, 0.8], [0.0, 2.0, 0.3]]}
    path = plot_result(result, tmp_path / "p.png", gt_windows=[[2.0, 4.0]])
    image = np.asarray(Image.open(path).convert("RGB"))
    assert image.shape == (384, 1200, 3)  # 10 x 3.2 inches at 120 dpi
    assert not list(tmp_path.glob(".p.png*"))  # written atomically, no temp file left

    # where things are drawn: x from 0 to 10 s (5 clips of 2 s), one bar per clip, the spans and the GT band
    image = load_rgb(path)
    (box,) = axes_boxes(image)
    ax = Axes(box, xlim=(0.0, 10.0))
    heights = {t: bar_height(image, ax, t) for t in (1, 3, 5, 7, 9)}  # clip centres
    assert heights[9] == 0 and heights[5] > 50
    for t, value in ((1, 0.1), (3, 0.9), (7, 0.2)):  # bar heights in proportion to the saliency
        assert heights[t] / heights[5] == pytest.approx(value / 0.4, abs=0.05), heights
    above_bars = ax.top + 5
    assert near(image[above_bars, ax.col(1)], tint(C1, 0.25))  # moment #2, 0-2 s
    assert near(image[above_bars, ax.col(3)], tint(C0, 0.25)) and near(image[above_bars, ax.col(5)], tint(C0, 0.25))
    assert near(image[above_bars, ax.col(7)], WHITE) and near(image[above_bars, ax.col(9)], WHITE)
    # the GT band [2, 4] s, at the lowest saliency (0: on the time axis)
    assert black_pixels(image, ax, 3) >= 3 and black_pixels(image, ax, 1) == black_pixels(image, ax, 5) == 0

def test_cli_refuses_a_truncated_video_unless_allowed(assets, features, tmp_path, capsys):
    feat_root, _ = features
    ckpt = tmp_path / "m.ckpt"
    make_checkpoint(ckpt, feat_root, max_v_l=75)
    whole = write_test_video(tmp_path / "whole.mp4", 8.0, faststart=True)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    args = ["--video", str(cut), "--query", QUERY, "--checkpoint", str(ckpt), "--clip_model", str(assets["clip"]),
            "--device", "cpu"]
    assert inference_main(args) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]  # (after transformers' weight-loading bar)
    assert last.startswith("error: ") and "cut.mp4: truncated" in last and "Traceback" not in err
    assert inference_main([*args, "--allow_truncated"]) == 0
