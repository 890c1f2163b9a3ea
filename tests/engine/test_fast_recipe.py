"""The fast recipe end to end: its overlay file, a recipe run that resumes exactly, the per-step schedule in the
history, time-to-accuracy tables, and torch.compile's losses against eager."""

from __future__ import annotations

import json
import os

import pytest
import torch
import yaml
from tiny_runs import REPO_ROOT, tiny_config, tiny_run

from trdetr_cap.commands.train import main as train_main
from trdetr_cap.config import Config, RunConfig, load_config
from trdetr_cap.engine.checkpoint import load_checkpoint
from trdetr_cap.engine.schedule import lr_factor
from trdetr_cap.engine.time_to_accuracy import collect_curves, first_epoch_reaching, main, tta_table
from trdetr_cap.engine.train import train
from trdetr_cap.utils.io import read_jsonl

RECIPES = [REPO_ROOT / "configs" / "recipes" / name for name in ("fast.yaml", "fast_captions.yaml")]
PIECES = {"dn_groups": 2, "anchor_init": "saliency", "lr_schedule": "cosine", "warmup_epochs": 1.0,
          "head_lr_mult": 2.0}


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_recipe_overlay_switches_only_recipe_fields_on_any_dataset_config(recipe):
    overlay = yaml.safe_load(recipe.read_text())
    assert "_base_" not in overlay  # an overlay: applied after a dataset config, never replacing it
    defaults = Config().to_dict()
    recipe_fields = {"dn_groups", "dn_span_noise", "anchor_init", "lr_schedule", "warmup_epochs", "min_lr_ratio",
                     "head_lr_mult", "lr_ref_bsz"}
    for section, values in overlay.items():
        assert set(values) <= recipe_fields, section
    for name in ("qvhighlights.yaml", "charades_sta.yaml", "tvsum.yaml", "synthetic.yaml"):
        base = load_config(REPO_ROOT / "configs" / name).to_dict()
        cfg = load_config([REPO_ROOT / "configs" / name, recipe]).to_dict()  # --config NAME --config fast.yaml
        for section, values in overlay.items():
            for key, value in values.items():
                assert cfg[section][key] == value
                base[section][key] = value
        assert cfg == base, name  # nothing else changes
    # every recipe field defaults to the original's behaviour
    assert defaults["model"]["dn_groups"] == 0 and defaults["model"]["anchor_init"] == "learned"
    assert defaults["train"]["lr_schedule"] == "step" and defaults["train"]["head_lr_mult"] == 1.0
    assert defaults["train"]["lr_ref_bsz"] is None and RunConfig().compile is False


def _micro(video_data, **overrides):
    return tiny_config(video_data, v_feat_dirs=[str(video_data / "clip_features")], hidden_dim=32,
                       **PIECES, **overrides)


def test_recipe_run_resumes_exactly_and_logs_the_per_step_schedule(video_data, tmp_path):
    full_dir, run_dir = tmp_path / "full", tmp_path / "resumed"
    metrics = train(_micro(video_data), tiny_run(full_dir))
    history = read_jsonl(full_dir / "history.jsonl")
    steps = 6  # 96 train queries / bsz 16
    lr = 1e-3  # tiny_config's
    # the logged lr is the epoch's first step's: warmup over epoch 1 starts at lr / 6; epoch 2 starts the cosine
    assert history[0]["lr"] == pytest.approx(lr * lr_factor(0, 2 * steps, steps, 0.0))
    assert history[1]["lr"] == pytest.approx(lr * lr_factor(steps, 2 * steps, steps, 0.0)) == pytest.approx(lr)
    assert {"loss_span_dn", "loss_giou_dn", "loss_label_dn", "loss_span_dn_0"} <= set(history[0]["train"])
    assert not any("_dn" in k for k in history[0]["val_loss"])  # no denoising queries at evaluation
    ckpt = load_checkpoint(full_dir / "model_latest.ckpt")
    heads = ckpt["optimizer"]["param_groups"][1]
    assert heads["lr"] == pytest.approx(2 * ckpt["optimizer"]["param_groups"][0]["lr"])

    assert train(_micro(video_data), tiny_run(run_dir), stop_after_epochs=1) is None
    assert train_main(["--resume", str(run_dir)]) == 0
    assert json.loads((run_dir / "best_val_metrics.json").read_text()) == metrics
    assert read_jsonl(run_dir / "history.jsonl") == history
    resumed = load_checkpoint(run_dir / "model_latest.ckpt")
    for name, tensor in ckpt["model"].items():
        assert torch.equal(resumed["model"][name], tensor), name


def _write_history(path, values: list[float | None]) -> None:
    path.parent.mkdir(parents=True)
    rows = [{"epoch": e + 1, "lr": 1.0, **({"val": {"MR-full-mAP": v}} if v is not None else {})}
            for e, v in enumerate(values)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_time_to_accuracy_by_hand(tmp_path, capsys):
    # faithful bests 20 and 30 -> target 0.9 * 25 = 22.5; eval every 2 epochs (None = not evaluated)
    _write_history(tmp_path / "faithful" / "seed1" / "history.jsonl", [None, 10, None, 20, None, 18])
    _write_history(tmp_path / "faithful" / "seed2" / "history.jsonl", [None, 5, None, 23, None, 30])
    _write_history(tmp_path / "fast" / "seed1" / "history.jsonl", [None, 25, None, 26, None, 27])
    _write_history(tmp_path / "fast" / "seed2" / "history.jsonl", [None, 22, None, 24, None, 20])
    curves = collect_curves(tmp_path, "MR-full-mAP")
    assert curves["faithful"][0] == [(2, 10.0), (4, 20.0), (6, 18.0)]
    assert first_epoch_reaching(curves["faithful"][0], 22.5) is None
    assert first_epoch_reaching(curves["faithful"][1], 22.5) == 4
    target, table = tta_table(curves, "faithful")
    assert target == pytest.approx(22.5)
    rows = table.splitlines()[2:]
    # faithful: reached by 1 of 2 (epoch 4, std 0 over one run); bests 20, 30; last 18, 30
    assert rows[0] == "| faithful | 2 | 4.0 ± 0.0 | 1/2 | 25.00 ± 7.07 | 24.00 ± 8.49 | 6 |"
    # fast: epochs 2 and 4 -> 3 ± 1.41; bests 27, 24; last 27, 20
    assert rows[1] == "| fast | 2 | 3.0 ± 1.4 | 2/2 | 25.50 ± 2.12 | 23.50 ± 4.95 | 6 |"
    # cut at epoch 4: faithful bests 20 and 23 -> target 19.35; fast seed 1 reaches it at 2, seed 2 at 2
    cut = collect_curves(tmp_path, "MR-full-mAP", max_epoch=4)
    assert cut["faithful"][1] == [(2, 5.0), (4, 23.0)]
    target, _ = tta_table(cut, "faithful")
    assert target == pytest.approx(0.9 * 21.5)
    assert main([str(tmp_path)]) == 0
    assert (tmp_path / "time_to_accuracy.md").read_text() == table
    assert main([str(tmp_path), "--reference", "nope"]) == 2
    assert "nope" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("TRDETR_CAP_TEST_COMPILE") != "1",
                    reason="TorchDynamo tracing takes 2+ CPU-minutes; set TRDETR_CAP_TEST_COMPILE=1 to run it")
def test_compiled_training_steps_give_the_eager_losses(video_data, tmp_path):
    """--compile: the same weights, batches and (no) dropout give the eager losses over a few steps.

    Through the aot_eager backend: TorchDynamo's graph capture (with its graph breaks and dynamic shapes) and
    AOTAutograd's forward/backward split, as ``--compile`` uses them, without inductor's C++ code generation, which
    takes many CPU-minutes on the 2-core CI machine; bench/bench_compile.py compares inductor's losses with eager's.
    """
    from torch.utils.data import DataLoader

    from trdetr_cap.data import build_dataset, collate
    from trdetr_cap.engine.loop import weighted_losses
    from trdetr_cap.engine.schedule import build_optimizer
    from trdetr_cap.engine.train import compile_model, infer_feature_dims
    from trdetr_cap.models import build_model

    cfg = tiny_config(video_data, v_feat_dirs=[str(video_data / "clip_features")], hidden_dim=32,
                      dropout=0.0, input_dropout=0.0)
    dataset = build_dataset(cfg, "train")
    infer_feature_dims(cfg, dataset)
    batches = list(DataLoader(dataset, batch_size=8, collate_fn=collate))[:2]
    losses = {}
    for compiled in (False, True):
        torch.manual_seed(0)
        model, criterion = build_model(cfg)
        model.train()
        forward = compile_model(model, backend="aot_eager") if compiled else model
        optimizer = build_optimizer(cfg, model)
        losses[compiled] = []
        for batch in batches:
            total = weighted_losses(criterion(forward(**batch["inputs"]), batch["targets"]),
                                    criterion.weight_dict)["loss_overall"]
            optimizer.zero_grad()
            total.backward()
            optimizer.step()
            losses[compiled].append(float(total))
    assert losses[True] == pytest.approx(losses[False], rel=1e-4)
    assert losses[False][0] != losses[False][-1]  # the steps really trained
