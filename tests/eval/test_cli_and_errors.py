"""The CLI: output file round trip, --allow-missing, dataset inference, and every bad-input path (one line naming
file, line and field; exit code 2; no output file)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trdetr_cap.eval import evaluate
from trdetr_cap.eval.__main__ import main

REPO = Path(__file__).resolve().parents[2]
GT_ROWS = [
    {"qid": 1, "duration": 150, "relevant_windows": [[0, 10]], "relevant_clip_ids": [0, 1]},
    {"qid": 2, "duration": 150, "relevant_windows": [[20, 30]], "relevant_clip_ids": [10]},
]
GT_ROWS[0]["saliency_scores"] = [[1, 2, 3], [4, 4, 4]]
GT_ROWS[1]["saliency_scores"] = [[1, 2, 3]]
GOOD = [
    '{"qid": 1, "pred_relevant_windows": [[0, 10, 0.9]], "pred_saliency_scores": [0.1, 0.2]}',
    '{"qid": 2, "pred_relevant_windows": [[20, 30, 0.9], [0, 4, 0.1]], "pred_saliency_scores": [0.3]}',
]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


@pytest.fixture
def gt_file(tmp_path: Path) -> Path:
    return write(tmp_path / "gt.jsonl", [json.dumps(r) for r in GT_ROWS])


def run_main(tmp_path, gt_file, sub_lines, *extra):
    sub = write(tmp_path / "sub.jsonl", sub_lines)
    out = tmp_path / "out" / "metrics.json"
    code = main(["--submission", str(sub), "--gt", str(gt_file), "--out", str(out), *extra])
    return code, out


def test_output_file_round_trip(tmp_path, gt_file, capsys):
    code, out = run_main(tmp_path, gt_file, GOOD)
    assert code == 0
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(evaluate([json.loads(x) for x in GOOD], GT_ROWS)))
    assert written["brief"]["MR-full-mAP"] == 100.0
    assert json.loads(capsys.readouterr().out) == written["brief"]  # stdout: the brief dict
    assert [p.name for p in out.parent.iterdir()] == ["metrics.json"]  # no temp file left behind


def test_allow_missing_evaluates_intersection_and_says_so(tmp_path, gt_file, capsys):
    extra = '{"qid": 99, "pred_relevant_windows": [[0, 1, 0.5]], "pred_saliency_scores": [0.3]}'
    code, out = run_main(tmp_path, gt_file, [GOOD[0], extra])
    assert code == 2 and not out.exists()
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err
    assert "1 GT qid(s) missing from the submission (e.g. 2)" in err
    assert "1 submission qid(s) not in the GT (e.g. qid 99 at line 2)" in err
    code, out = run_main(tmp_path, gt_file, [GOOD[0], extra], "--allow-missing")
    assert code == 0
    assert "evaluating the 1 qids present in both files" in capsys.readouterr().err
    alone = evaluate([json.loads(GOOD[0])], GT_ROWS[:1])
    assert json.loads(out.read_text()) == json.loads(json.dumps(alone))


NAN, INF = float("nan"), float("inf")


def line(qid=2, windows=None, saliency=(1.0,), **extra) -> str:
    """A second submission line (json.dumps writes NaN / Infinity / true as the tokens a bad writer would)."""
    row = {"qid": qid, **extra}
    if windows is not None:
        row["pred_relevant_windows"] = windows
    if saliency is not None:
        row["pred_saliency_scores"] = list(saliency)
    return json.dumps(row)


BAD_SUBMISSIONS = [  # (the second line, or all lines; expected message)
    (["not json {"], "sub.jsonl:1: not valid JSON"),
    (["[1, 2]"], "sub.jsonl:1: expected a JSON object"),
    (json.dumps({"pred_relevant_windows": [[0, 1, 0.5]]}), "sub.jsonl:2: qid: missing"),
    (GOOD[0], "sub.jsonl:2: qid: duplicate qid 1 (first at line 1)"),
    (line(2.5, [[0, 1, 1]], [1]), "sub.jsonl:2: qid: expected an int or a string"),
    (line("2", [[0, 1, 1]], [1]), "sub.jsonl: qid: does not match"),
    (line(2, None, [1]), "sub.jsonl:2: pred_relevant_windows: missing field"),
    (line(2, [[0, 1, 1]], None), "sub.jsonl:2: pred_saliency_scores: missing field"),
    (line(2, "abc"), "sub.jsonl:2: pred_relevant_windows: expected a list"),
    (line(2, [[0, 1, 0.5], [3, 4]]), "sub.jsonl:2: pred_relevant_windows[1]: expected [start, end, score]"),
    (line(2, [[0, "a", 0.5]]), 'sub.jsonl:2: pred_relevant_windows[0]: expected a number, got "a"'),
    (line(2, [[0, 1, True]]), "sub.jsonl:2: pred_relevant_windows[0]: expected a number, got true"),
    (line(2, [[0, 1, NAN]]), "sub.jsonl:2: pred_relevant_windows[0]: nan is not a finite"),
    (line(2, [[0, 1, 1], [2, INF, 1]]), "sub.jsonl:2: pred_relevant_windows[1]: inf is not"),
    (line(2, [[5, 1, 0.5]]), "sub.jsonl:2: pred_relevant_windows[0]: start must be <= end"),
    (line(2, [[0, 10**400, 0.5]]), "sub.jsonl:2: pred_relevant_windows[0]: 1000000"),
    (line(2, []), "sub.jsonl:2: pred_relevant_windows: needs at least 1"),
    (line(2, [[0, 1, 1]], [1, -INF]), "sub.jsonl:2: pred_saliency_scores[1]: -inf is not"),
    (line(2, [[0, 1, 1]], []), "sub.jsonl:2: pred_saliency_scores: needs at least 1"),
    (line(2, [[0, 1, 1]], [[1]]), "sub.jsonl:2: pred_saliency_scores[0]: expected a number"),
]


@pytest.mark.parametrize("lines, message", BAD_SUBMISSIONS)
def test_bad_submission_one_line_exit_2_no_output(tmp_path, gt_file, capsys, lines, message):
    code, out = run_main(tmp_path, gt_file, lines if isinstance(lines, list) else [GOOD[0], lines])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err


BAD_GT = [
    ({"relevant_windows": [[10, 10]]}, "gt.jsonl:2: relevant_windows[0]: start must be < end"),
    ({"relevant_windows": []}, "gt.jsonl:2: relevant_windows: needs at least 1"),
    ({"relevant_clip_ids": [75]}, "gt.jsonl:2: relevant_clip_ids[0]: clip 75 outside [0, 75)"),
    ({"relevant_clip_ids": [3, 3], "saliency_scores": [[1, 1, 1]] * 2}, "gt.jsonl:2: relevant_clip_ids[1]: clip 3"),
    ({"relevant_clip_ids": [1.5]}, "gt.jsonl:2: relevant_clip_ids[0]: expected an integer"),
    ({"saliency_scores": [[1, 2]]}, "gt.jsonl:2: saliency_scores[0]: expected [a1, a2, a3]"),
    ({"saliency_scores": [[1, 2, 3], [1, 2, 3]]}, "gt.jsonl:2: saliency_scores: 2 entries for 1 relevant_clip"),
    ({"duration": 1}, "gt.jsonl:2: duration: 1.0 s is shorter than one 2 s clip"),
    ({"duration": "150"}, 'gt.jsonl:2: duration: expected a number, got "150"'),
]


@pytest.mark.parametrize("change, message", BAD_GT)
def test_bad_ground_truth(tmp_path, capsys, change, message):
    gt = write(tmp_path / "gt.jsonl", [json.dumps(GT_ROWS[0]), json.dumps({**GT_ROWS[1], **change})])
    code, out = run_main(tmp_path, gt, GOOD, "--dataset", "qvhighlights")
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert err.count("\n") == 1 and message in err, err


def test_missing_file_is_a_clear_error(tmp_path, gt_file, capsys):
    code = main(["--submission", str(tmp_path / "nope.jsonl"), "--gt", str(gt_file)])
    assert code == 2 and "nope.jsonl: cannot read" in capsys.readouterr().err


def test_in_memory_rows_name_the_row():
    rows = [json.loads(GOOD[0]), {"qid": 2, "pred_relevant_windows": [[0, 1]], "pred_saliency_scores": [1]}]
    with pytest.raises(ValueError, match=r"^<submission rows> row 2: pred_relevant_windows\[0\]: expected"):
        evaluate(rows, GT_ROWS)


@pytest.mark.slow
def test_cli_subprocess_exit_code_and_no_torch(tmp_path, gt_file):
    """The real command: exit 2 on a bad file, and neither the CLI nor ``import trdetr_cap.eval`` loads torch."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    sub = write(tmp_path / "sub.jsonl", [GOOD[0], "{oops"])
    out = tmp_path / "m.json"
    cmd = [sys.executable, "-m", "trdetr_cap.eval", "--submission", str(sub), "--gt", str(gt_file), "--out", str(out)]
    bad = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and not out.exists() and "sub.jsonl:2: not valid JSON" in bad.stderr
    unknown = subprocess.run([*cmd, "--bogus"], capture_output=True, text=True, env=env)
    assert unknown.returncode == 2
    probe = "import sys, trdetr_cap.eval, trdetr_cap.eval.__main__; print('torch' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert loaded.stdout.strip() == "False"
