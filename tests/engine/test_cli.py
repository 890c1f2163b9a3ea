"""The training CLI's cheap paths (parameter count, bad input) and the ablation table."""

from __future__ import annotations

import json

import pytest
from tiny_runs import REPO_ROOT

from trdetr_cap.engine.ablation import collect, markdown_table, mean_std
from trdetr_cap.engine.train import main


def test_count_params_prints_the_original_count_last(capsys):
    assert main(["--config", str(REPO_ROOT / "configs" / "qvhighlights.yaml"), "--count_params"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "params: 8308773"


@pytest.mark.parametrize("argv, message", [
    (["--config", "configs/nope.yaml"], "config file not found"),
    (["--config", "configs/synthetic.yaml", "--bsz", "many"], "--bsz: expected int"),
    (["--resume", "/nonexistent/run"], "no config.yaml there"),
    (["--config", "configs/synthetic.yaml", "--train_path", "/nonexistent/train.jsonl", "--eval_path", ""],
     "/nonexistent/train.jsonl"),
])
def test_bad_input_exits_2_with_one_clear_line(argv, message, capsys, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    assert main(argv) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last


def test_ablation_table_mean_and_sample_std(tmp_path):
    for variant, seed, value in [("baseline", 1, 10.0), ("baseline", 2, 14.0), ("combo", 1, 20.0),
                                 ("combo", 2, 21.0), ("combo", 3, 25.0)]:
        run = tmp_path / variant / f"seed{seed}"
        run.mkdir(parents=True)
        brief = {"MR-full-mAP": value, "MR-full-R1@0.5": 2 * value}
        (run / "best_val_metrics.json").write_text(json.dumps({"brief": brief}))
    (tmp_path / "combo" / "seed4").mkdir()  # unfinished run: no metrics, skipped
    table = collect(tmp_path)
    assert [len(table["baseline"]), len(table["combo"])] == [2, 3]
    assert mean_std([10.0, 14.0]) == (12.0, pytest.approx(2.8284271))  # sqrt(((-2)^2 + 2^2) / 1)
    md = markdown_table(table)
    assert "| baseline: video only (TR-DETR) | 2 | 12.00 ± 2.83 | 24.00 ± 5.66 |" in md
    # combo: mean 22, sample std sqrt((4 + 1 + 9) / 2) = 2.65
    assert "| combo: recommended combination | 3 | 22.00 ± 2.65 | 44.00 ± 5.29 |" in md
