"""scripts/download_data.sh argument handling (it cannot download here: --dry-run shows what it would do)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "download_data.sh"
pytestmark = pytest.mark.slow  # every test spawns bash


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=30)


def fetched(out: str) -> list[str]:
    return [line.split()[1] for line in out.splitlines() if line.startswith("fetch ")]


def test_help_exits_0():
    r = run("--help")
    assert r.returncode == 0 and r.stdout.startswith("Usage: bash scripts/download_data.sh")
    assert "--annotations-only" in r.stdout and "--dest DIR" in r.stdout


def test_bad_arguments_exit_2():
    for args in (["--bogus"], ["--dest"], ["--dataset", "kinetics"], ["--features", "--annotations-only"],
                 ["--videos", "--features"]):
        r = run(*args)
        assert r.returncode == 2, args
        assert r.stderr.startswith("download_data.sh: ") and r.stdout == "", args


def test_dry_run_annotations_lists_every_file_and_writes_nothing(tmp_path):
    dest = tmp_path / "data"
    r = run("--dry-run", "--annotations-only", "--dest", str(dest))
    assert r.returncode == 0, r.stderr
    urls = fetched(r.stdout)
    qvh = "https://raw.githubusercontent.com/jayleicn/moment_detr/main/data/"
    trdetr = "https://raw.githubusercontent.com/mingyao1120/TR-DETR/main/data/"
    assert urls == [
        qvh + "highlight_train_release.jsonl",
        qvh + "highlight_val_release.jsonl",
        qvh + "highlight_test_release.jsonl",
        qvh + "highlight_test_with_gt.jsonl",
        qvh + "LICENSE",
        trdetr + "charades/charades_sta_train_tvr_format.jsonl",
        trdetr + "charades/charades_sta_val_tvr_format.jsonl",
        trdetr + "tvsum/tvsum_train.jsonl",
        trdetr + "tvsum/tvsum_val.jsonl",
    ]
    assert f"-> {dest}/charades_sta/charades_sta_val_tvr_format.jsonl" in r.stdout
    assert not dest.exists()


def test_dry_run_features_for_one_dataset(tmp_path):
    r = run("--dry-run", "--features", "--dataset", "tvsum", "--dest", str(tmp_path))
    assert r.returncode == 0
    assert fetched(r.stdout) == ["https://huggingface.co/yeliudev/UMT/resolve/main/datasets/tvsum-ec05ad4e.zip"]
    assert f"unpack {tmp_path}/archives/tvsum-ec05ad4e.zip -> {tmp_path}/tvsum/" in r.stdout
    r = run("--dry-run", "--features", "--dataset", "qvhighlights", "--dest", str(tmp_path))
    assert fetched(r.stdout) == [
        "https://drive.usercontent.google.com/download?id=1Hiln02F1NEpoW8-iPZurRyi-47-W2_B9&export=download&confirm=t"
    ]


def test_existing_files_are_skipped(tmp_path):
    (tmp_path / "tvsum").mkdir()
    (tmp_path / "tvsum" / "tvsum_val.jsonl").write_text("{}\n")
    r = run("--dry-run", "--annotations-only", "--dataset", "tvsum", "--dest", str(tmp_path))
    assert fetched(r.stdout) == [
        "https://raw.githubusercontent.com/mingyao1120/TR-DETR/main/data/tvsum/tvsum_train.jsonl"
    ]
    assert f"skip   {tmp_path}/tvsum/tvsum_val.jsonl (exists)" in r.stdout


def test_dry_run_videos_only_on_request(tmp_path):
    r = run("--dry-run", "--videos", "--dest", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert fetched(r.stdout) == ["https://nlp.cs.unc.edu/data/jielei/qvh/qvhilights_videos.tar.gz"]
    assert f"unpack {tmp_path}/archives/qvhilights_videos.tar.gz -> {tmp_path}/qvhighlights/videos/" in r.stdout
    assert "Charades-STA videos" in r.stdout and "TVSum videos" in r.stdout
    default = fetched(run("--dry-run", "--dest", str(tmp_path)).stdout)
    assert len(default) == 11 and not any("videos" in url for url in default)  # 9 annotations + 2 feature archives
