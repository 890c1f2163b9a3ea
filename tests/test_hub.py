"""Shareable model folders: export -> from_pretrained gives exactly the checkpoint's predictions; nothing pickled.

A tiny TR-DETR is built and trained for a few steps (tests/tiny_models.py), saved as a run directory would hold it
(checkpoint + best_val_metrics.json), exported with the command, and loaded back from the folder and from a hub cache
laid out as huggingface_hub lays it (HF_HUB_OFFLINE: no network).
"""

from __future__ import annotations

import json
import shutil
import struct

import pytest
import torch
from tiny_models import save_tiny_run

from trdetr_cap.commands.export import main as export_main
from trdetr_cap.hub import FOLDER_FILES, load_pretrained
from trdetr_cap.retriever import MomentRetriever
from trdetr_cap.testing import write_test_video

QUERY = "a person walks in"
METRICS = {"brief": {"MR-full-R1@0.5": 53.0, "MR-full-mAP": 22.98, "HL-min-VeryGood-mAP": 68.35}}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub_run")
    save_tiny_run(root, METRICS)
    write_test_video(root / "walk.mp4", 7.0)
    return root


@pytest.fixture(scope="module")
def exported(run_dir, tiny_clip_dir):
    out = run_dir / "export"
    assert export_main([str(run_dir / "model_best.ckpt"), "--out", str(out), "--clip_model", str(tiny_clip_dir)]) == 0
    return out


def test_export_writes_no_pickle(exported):
    assert sorted(p.name for p in exported.iterdir()) == sorted(FOLDER_FILES)  # val_metrics.json too: the run has one
    for path in exported.iterdir():
        head = path.read_bytes()[:2]
        assert head[:1] != b"\x80" and head != b"PK", f"{path.name} looks like a pickle / torch zip"
    for name in ("config.json", "inputs.json"):
        json.loads((exported / name).read_text())
    blob = (exported / "model.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    assert header["__metadata__"]["format"] == "pt"
    assert {v["dtype"] for k, v in header.items() if k != "__metadata__"} <= {"F32", "I64"}


def test_inputs_and_card_say_what_the_model_reads(exported, tiny_clip_dir):
    spec = json.loads((exported / "inputs.json").read_text())
    assert spec["video"] == [{"kind": "clip", "width": 512, "extractor": spec["video"][0]["extractor"],
                              "model": str(tiny_clip_dir)}]
    assert spec["v_feat_dim"] == 514 and spec["tef"] and spec["clip_len"] == 2.0 and spec["captions"] is None
    assert spec["query"]["encoder"] == str(tiny_clip_dir) and spec["query"]["max_q_l"] == 32
    card = (exported / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: trdetr_cap\n")
    assert "| 53.00 | 22.98 | 68.35 |" in card  # the run's best_val_metrics.json
    assert "after epoch 5" in card and "untrained" not in card and "synthetic" not in card
    assert f"trdetr-cap export {exported.parent / 'model_best.ckpt'} --out {exported}" in card


def test_from_pretrained_predicts_exactly_as_the_checkpoint(run_dir, exported, tiny_clip_dir):
    video = run_dir / "walk.mp4"
    results, outputs = [], []
    for retriever in (MomentRetriever.from_checkpoint(run_dir / "model_best.ckpt", clip_model=str(tiny_clip_dir),
                                                      device="cpu"),
                      MomentRetriever.from_pretrained(exported, device="cpu")):  # CLIP named by inputs.json
        captured = []
        retriever.model.register_forward_hook(lambda _m, _i, out, into=captured: into.append(out))
        results.append(retriever.predict(QUERY, video, top_k=10))
        outputs.append(captured[0])
    assert results[0] == results[1] and len(results[0]["moments"]) == 5
    for key in ("pred_logits", "pred_spans", "saliency_scores"):
        assert torch.equal(outputs[0][key], outputs[1][key]), key


def test_config_json_is_a_training_config(exported, capsys):
    from trdetr_cap.cli import main

    assert main(["train", "--config", str(exported / "config.json"), "--count_params"]) == 0
    n = int(capsys.readouterr().out.strip().split()[-1])
    assert f"{n:,} parameters" in (exported / "README.md").read_text()


def test_hub_id_resolves_through_the_cache_offline(exported, tmp_path, monkeypatch):
    """A hub repository as snapshot_download caches it; HF_HUB_OFFLINE=1 finds it without network."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--someone--tiny-trdetr"
    shutil.copytree(exported, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    model, cfg, spec = load_pretrained("someone/tiny-trdetr", cache_dir=tmp_path)
    reference, _, _ = load_pretrained(exported)
    assert cfg.model.num_queries == 5 and spec["clip_len"] == 2.0
    for key, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    with pytest.raises(FileNotFoundError, match="someone/missing: no local folder of that name"):
        load_pretrained("someone/missing", cache_dir=tmp_path)


def test_bad_folders_and_checkpoints_are_named(exported, run_dir, tmp_path, capsys):
    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copy(exported / "config.json", partial)
    with pytest.raises(FileNotFoundError, match="missing model.safetensors"):
        load_pretrained(partial)
    wrong = tmp_path / "wrong"
    shutil.copytree(exported, wrong)
    cfg = json.loads((wrong / "config.json").read_text())
    cfg["model"]["num_queries"] = 7
    (wrong / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="weights do not fit"):
        load_pretrained(wrong)
    with pytest.raises(FileNotFoundError, match="not a model folder"):
        load_pretrained(tmp_path / "nowhere")
    assert export_main([str(tmp_path / "missing.ckpt"), "--out", str(tmp_path / "x")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
