"""One device helper: every entry point resolves ``--device`` the same way, and a bad name fails in one line."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from trdetr_cap.device import resolve_device


def test_names_resolve_to_torch_devices():
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "cuda:-1", "CPU", "", "cuda:0:1"])
def test_an_unknown_name_is_one_clear_error(name):
    with pytest.raises(ValueError, match=rf"^unknown device '{name}': use auto, cpu, cuda, cuda:N or mps$"):
        resolve_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("name", ["cuda", "cuda:1"])
def test_cuda_without_cuda_says_so(name):
    with pytest.raises(ValueError, match="CUDA is not available on this machine"):
        resolve_device(name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_cuda_index_past_the_devices_says_how_many_there_are():
    with pytest.raises(ValueError, match=r"this machine has \d+ CUDA device"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")


@pytest.mark.parametrize("argv", [
    ["trdetr_cap.train", "--train_path", "missing.jsonl"],
    ["trdetr_cap.extract", "queries", "missing.jsonl", "--out", "feats"],
])
def test_entry_points_fail_on_a_bad_device_in_one_line(argv, tmp_path):
    """Training (before it reads any data: the missing file is not what it reports) and extraction (before it loads
    a model) name the device and exit with status 2, no traceback."""
    if argv[0] == "trdetr_cap.extract":  # extraction reads its queries first: give it a readable file
        (tmp_path / "missing.jsonl").write_text('{"qid": 1, "query": "q"}\n')
    proc = subprocess.run([sys.executable, "-m", *argv, "--device", "gpu"], cwd=tmp_path, capture_output=True,
                          text=True)
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()  # training's run options check the name first, with their own words
    assert line.startswith("error: ") and "'gpu'" in line and "cuda:N" in line
