"""trdetr-cap train's cheap paths (parameter count, bad input)."""

from __future__ import annotations

import pytest
from tiny_runs import REPO_ROOT

from trdetr_cap.commands.train import main


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
