"""Packing feature directories into HDF5: round trip, layouts, resume, bad input."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from trdetr_cap.data.features import FeatureError, open_store
from trdetr_cap.commands.pack import main
from trdetr_cap.data.pack import pack_directory


def _write(dirpath, arrays, key="features", template="{}.npz"):
    dirpath.mkdir(parents=True, exist_ok=True)
    for k, a in arrays.items():
        if template.endswith(".npy"):
            np.save(dirpath / template.format(k), a)
        else:
            np.savez(dirpath / template.format(k), **{key: a})


def test_round_trip_float32_exact_float16_close(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {f"v{i}": rng.standard_normal((5 + i, 6)).astype(np.float32) for i in range(4)}
    _write(tmp_path / "clip_features", arrays)
    exact = pack_directory(tmp_path / "clip_features", tmp_path / "f32.h5", dtype="float32", progress=False)
    half = pack_directory(tmp_path / "clip_features", tmp_path / "f16.h5", compression="gzip", progress=False)
    npz, h32, h16 = (open_store(p, "qvhighlights", "video") for p in (tmp_path / "clip_features", exact, half))
    assert npz.keys() == h32.keys() == h16.keys() == set(arrays)
    for k, a in arrays.items():
        np.testing.assert_array_equal(h32.read(k), a)
        np.testing.assert_allclose(h16.read(k), a, rtol=1e-3, atol=1e-3)
        np.testing.assert_array_equal(h32.read(k, max_rows=3), a[:3])
    with h5py.File(half) as f:
        assert f.attrs["dim"] == 6 and f.attrs["role"] == "video" and f["v0"].dtype == np.float16
        assert f["v0"].compression == "gzip"
    with pytest.raises(FeatureError, match="f16.h5 holds video features, but it is configured as text features"):
        open_store(half, "qvhighlights", "text")


def test_layouts_are_detected(tmp_path):
    rng = np.random.default_rng(1)
    text = {str(q): rng.random((3, 4), dtype=np.float32) for q in (1, 22)}
    _write(tmp_path / "txt", text, key="last_hidden_state", template="qid{}.npz")
    _write(tmp_path / "tv", {"abc": rng.random((4, 2), dtype=np.float32)}, template="{}_rgb.npy")
    _write(tmp_path / "tv", {"abc": rng.random((4, 3), dtype=np.float32)}, template="{}_opt.npy")
    _write(tmp_path / "tq", {"abc": rng.random((2, 4), dtype=np.float32)}, key="token")
    _write(tmp_path / "au", {"v": rng.random((4, 5), dtype=np.float32)}, template="{}.npy")
    with h5py.File(pack_directory(tmp_path / "txt", tmp_path / "t.h5", dtype="float32", progress=False)) as f:
        assert sorted(f) == ["1", "22"] and f.attrs["role"] == "text"
        np.testing.assert_array_equal(f["22"][()], text["22"])
    with h5py.File(pack_directory(tmp_path / "tv", tmp_path / "tv.h5", progress=False)) as f:
        assert f["abc"].shape == (4, 5) and f.attrs["dataset"] == "tvsum"  # rgb + opt joined along channels
    with h5py.File(pack_directory(tmp_path / "tq", tmp_path / "tq.h5", progress=False)) as f:
        assert f.attrs["role"] == "text" and f.attrs["array_key"] == "token"
    with h5py.File(pack_directory(tmp_path / "au", tmp_path / "au.h5", progress=False)) as f:
        assert f.attrs["role"] == "audio" and f["v"].shape == (4, 5)


def test_resume_skips_keys_already_packed(tmp_path):
    rng = np.random.default_rng(2)
    arrays = {f"v{i}": rng.random((3, 4), dtype=np.float32) for i in range(5)}
    _write(tmp_path / "src", arrays)
    out = tmp_path / "packed.h5"
    with h5py.File(tmp_path / "packed.h5.partial", "w") as f:  # as left by an interrupted run
        f.create_dataset("v1", data=np.full((3, 4), 7, np.float32))
        f.attrs["dim"] = 4
    pack_directory(tmp_path / "src", out, dtype="float32", progress=False)
    assert not (tmp_path / "packed.h5.partial").exists()
    with h5py.File(out) as f:
        assert sorted(f) == sorted(arrays)
        assert (f["v1"][()] == 7).all()  # kept, not recomputed
        np.testing.assert_array_equal(f["v3"][()], arrays["v3"])


def test_bad_input_exit_code_and_no_output(tmp_path, capsys):
    _write(tmp_path / "src", {"a": np.ones((2, 3), np.float32), "b": np.full((2, 3), np.inf, np.float32)})
    assert main([str(tmp_path / "src"), "--out", str(tmp_path / "o.h5")]) == 2
    err = capsys.readouterr().err
    assert "'b' in" in err and "b.npz" in err and "NaN or inf" in err
    assert not (tmp_path / "o.h5").exists()
    assert main([str(tmp_path / "src"), "--out", str(tmp_path / "o.hdf")]) == 2
    _write(tmp_path / "big", {"a": np.full((2, 3), 1e6, np.float32)})
    with pytest.raises(FeatureError, match="float16 range"):
        pack_directory(tmp_path / "big", tmp_path / "big.h5", progress=False)
    assert main([str(tmp_path / "nope"), "--out", str(tmp_path / "n.h5")]) == 2
