"""SlowFast R50 8x8: architecture size, Caffe2 / PySlowFast checkpoint loading, input assembly, extraction CLI."""

from __future__ import annotations

import pickle
import re

import numpy as np
import pytest
import torch

from trdetr_cap.commands.extract import main as extract_main
from trdetr_cap.errors import UserError
from trdetr_cap.video.clip import ClipFeatureExtractor
from trdetr_cap.video.slowfast import (
    STAGE_DEPTHS,
    SlowFastExtractor,
    SlowFastR50,
    caffe2_to_pytorch_name,
    load_caffe2_pickle,
    load_slowfast_checkpoint,
)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    net = SlowFastR50().eval()
    for m in net.modules():  # non-trivial BN statistics, so a wrong mapping shows in the numbers
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return net


def test_backbone_size_matches_pyslowfast(model):
    # PySlowFast lists SLOWFAST_8x8_R50 at 34.57M parameters including the 400-way head (2304 * 400 + 400)
    assert sum(p.numel() for p in model.parameters()) + 2304 * 400 + 400 == 34_566_488
    out = model(torch.randn(1, 3, 8, 64, 64), torch.randn(1, 3, 32, 64, 64))
    assert out.shape == (1, 2304)


@pytest.mark.parametrize(("blob", "name"), [
    ("conv1_w", "s1.pathway0_stem.conv.weight"),
    ("t_res_conv1_bn_riv", "s1.pathway1_stem.bn.running_var"),
    ("t_pool1_subsample_w", "s1_fuse.conv_f2s.weight"),
    ("t_res4_5_branch2c_bn_subsample_bn_rm", "s4_fuse.bn.running_mean"),
    ("res5_2_branch2b_bn_s", "s5.pathway0_res2.branch2.b_bn.weight"),
    ("t_res3_0_branch1_w", "s3.pathway1_res0.branch1.weight"),
    ("res2_0_branch1_bn_b", "s2.pathway0_res0.branch1_bn.bias"),
    ("pred_w", None), ("conv1_w_momentum", None), ("model_iter", None),
])
def test_caffe2_names(blob, name):
    assert caffe2_to_pytorch_name(blob) == name


def to_caffe2(key: str) -> str:
    """The Caffe2 blob name of one of our parameters, written from PySlowFast's naming rules (test-side inverse)."""
    bn = {"weight": "s", "bias": "b", "running_mean": "rm", "running_var": "riv"}
    if m := re.fullmatch(r"s1\.pathway(\d)_stem\.(conv|bn)\.(\w+)", key):
        prefix = "t_" if m[1] == "1" else ""
        return f"{prefix}conv1_w" if m[2] == "conv" else f"{prefix}res_conv1_bn_{bn[m[3]]}"
    if m := re.fullmatch(r"s(\d)_fuse\.(conv_f2s|bn)\.(\w+)", key):
        stage = int(m[1])
        last_block = STAGE_DEPTHS[stage - 2] - 1
        base = "t_pool1_subsample" if stage == 1 else f"t_res{stage}_{last_block}_branch2c_bn_subsample"
        return f"{base}_w" if m[2] == "conv_f2s" else f"{base}_bn_{bn[m[3]]}"
    m = re.fullmatch(r"s(\d)\.pathway(\d)_res(\d+)\.(branch1|branch2\.([abc]))(_bn)?\.(\w+)", key)
    prefix = "t_" if m[2] == "1" else ""
    branch = "branch1" if m[4] == "branch1" else f"branch2{m[5]}"
    return f"{prefix}res{m[1]}_{m[3]}_{branch}" + (f"_bn_{bn[m[7]]}" if m[6] else "_w")


def test_caffe2_pickle_loads_every_parameter(model, tmp_path):
    blobs = {to_caffe2(k): v.numpy() for k, v in model.state_dict().items() if "num_batches" not in k}
    blobs.update({"pred_w": np.zeros((400, 2304)), "conv1_w_momentum": np.zeros(1)})
    path = tmp_path / "SLOWFAST_8x8_R50.pkl"
    path.write_bytes(pickle.dumps({"blobs": blobs}))
    fresh = SlowFastR50()
    load_slowfast_checkpoint(fresh, path)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(fresh.state_dict()[key], value, msg=key)
    del blobs["res3_1_branch2a_w"]
    path.write_bytes(pickle.dumps({"blobs": blobs}))
    with pytest.raises(ValueError, match="SLOWFAST_8x8_R50.pkl: not a SlowFast R50 8x8 checkpoint"):
        load_slowfast_checkpoint(fresh, path)


def test_extractor_input_assembly_and_cli(model, video_dir, tiny_clip_dir, tmp_path):
    ckpt = tmp_path / "slowfast.pyth"
    torch.save({"model_state": model.state_dict()}, ckpt)
    extractor = SlowFastExtractor(ckpt, batch_size=2, crop_size=32)
    rng = np.random.default_rng(0)
    clips = rng.integers(0, 256, (3, 32, 32, 32, 3), dtype=np.uint8)
    # by hand: /255, (x - 0.45) / 0.225, (N, 3, T, H, W); slow = frames 0 4 8 13 17 22 26 31
    fast = (torch.from_numpy(clips).float() / 255 - 0.45) / 0.225
    fast = fast.permute(0, 4, 1, 2, 3)
    slow = fast[:, :, [0, 4, 8, 13, 17, 22, 26, 31]]
    with torch.no_grad():
        expected = model(slow, fast).numpy()
    np.testing.assert_allclose(extractor.encode_clips(clips), expected, rtol=1e-4, atol=1e-4)

    out = tmp_path / "feats"
    args = ["videos", str(video_dir / "v2997.mp4"), "--out", str(out), "--features", "slowfast",
            "--slowfast_ckpt", str(ckpt), "--slowfast_crop_size", "32", "--num_workers", "1",
            "--features", "clip", "slowfast", "--clip_model", str(tiny_clip_dir)]
    assert extract_main(args) == 0  # both samplings in one decoding pass in a worker thread, then encoded
    saved = np.load(out / "slowfast_features" / "v2997.npz")["features"]
    assert saved.shape == (2, 2304)
    streamed = extractor.encode_video(video_dir / "v2997.mp4")  # alone, decoded and encoded clip batch by batch
    np.testing.assert_allclose(saved, streamed, rtol=1e-4, atol=1e-4)
    alone = ClipFeatureExtractor(str(tiny_clip_dir)).encode_video(video_dir / "v2997.mp4")
    np.testing.assert_allclose(np.load(out / "clip_features" / "v2997.npz")["features"], alone, rtol=1e-5, atol=1e-5)


class _RunsCode:
    """Unpickling this calls os.system (what a crafted checkpoint would do)."""

    def __init__(self, cmd: str):
        self.cmd = cmd

    def __reduce__(self):
        import os

        return os.system, (self.cmd,)


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_crafted_pickle_is_refused_without_running_it(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "SLOWFAST_8x8_R50.pkl"
    path.write_bytes(pickle.dumps({"blobs": {"conv1_w": _RunsCode(f"touch {marker}")}}, protocol=protocol))
    with pytest.raises(UserError, match=r"refusing to unpickle (os|posix)\.system"):
        load_slowfast_checkpoint(SlowFastR50(), path)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_caffe2_pickle_of_arrays_loads_through_the_restricted_unpickler(tmp_path, protocol):
    blobs = {"conv1_w": np.arange(6, dtype=np.float32).reshape(2, 3), "model_iter": np.int64(7),
             "lr": np.float32(0.1)}
    path = tmp_path / "blobs.pkl"
    path.write_bytes(pickle.dumps({"blobs": blobs}, protocol=protocol))
    loaded = load_caffe2_pickle(path)["blobs"]
    np.testing.assert_array_equal(loaded["conv1_w"], blobs["conv1_w"])
    assert loaded["model_iter"] == 7


def test_pyth_with_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "SLOWFAST_8x8_R50.pyth"
    torch.save({"model_state": _RunsCode(f"touch {marker}")}, path)
    with pytest.raises(UserError, match="not a loadable PyTorch checkpoint"):
        load_slowfast_checkpoint(SlowFastR50(), path)
    assert not marker.exists()
