"""Speed of ``python -m trdetr_cap.eval`` against a per-query reference evaluator, on the QVHighlights val file.

    .venv/bin/python bench/bench_eval.py [--submission PRED.jsonl --gt GT.jsonl] [--repeats 5]
                                         [--official-dir DIR --official-python PY]

The CLI is timed as a whole command in a subprocess (interpreter start-up, numpy import, JSON parsing, writing the
metrics file). The baseline is tests/eval/qvh_oracle.py, a straightforward per-query loop implementation of the same
rules, timed in this process for reading the two files plus computing (its interpreter start-up is not counted,
which favours the baseline). Both must give the same metrics. ``--official-dir`` (a directory holding Moment-DETR's
``standalone_eval/``, never part of this repo) additionally times the official command with ``--official-python``.
Prints the times, the ratio, and /proc/loadavg (the machine is shared: compare numbers from one run only).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import loadavg

REPO = Path(__file__).resolve().parents[1]


def load_oracle():
    spec = importlib.util.spec_from_file_location("qvh_oracle", REPO / "tests" / "eval" / "qvh_oracle.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def default_data() -> Path:
    for cand in (os.environ.get("TRDETR_DATA"), REPO.parent / "shared" / "data"):
        if cand and (Path(cand) / "qvhighlights").is_dir():
            return Path(cand)
    sys.exit("no data: pass --submission and --gt (or set TRDETR_DATA)")


def time_command(cmd: list[str], repeats: int, env: dict) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--submission", type=Path)
    p.add_argument("--gt", type=Path)
    p.add_argument("--repeats", type=int, default=5, help="CLI runs (the median is reported)")
    p.add_argument("--official-dir", type=Path, help="directory containing standalone_eval/ (optional)")
    p.add_argument("--official-python", default=sys.executable, help="python with scikit-learn for the official")
    args = p.parse_args()
    if args.submission is None or args.gt is None:
        data = default_data()
        args.submission = data / "reference_predictions" / "trdetr_val_preds.jsonl"
        args.gt = data / "qvhighlights" / "highlight_val_release.jsonl"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(REPO)}
    print(f"loadavg before: {loadavg()}")

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "metrics.json"
        cmd = [sys.executable, "-m", "trdetr_cap.eval", "--submission", str(args.submission), "--gt", str(args.gt)]
        cli_times = time_command([*cmd, "--out", str(out)], args.repeats, env)
        cli_metrics = json.loads(out.read_text())

        oracle = load_oracle()
        start = time.perf_counter()
        sub = [json.loads(x) for x in args.submission.read_text().splitlines() if x.strip()]
        gt = [json.loads(x) for x in args.gt.read_text().splitlines() if x.strip()]
        ref_metrics = oracle.evaluate(sub, gt)
        ref_time = time.perf_counter() - start
        same = json.loads(json.dumps(ref_metrics)) == cli_metrics

        official = None
        if args.official_dir:
            official_out = Path(tmp) / "official.json"
            official_cmd = [
                args.official_python,
                str(args.official_dir / "standalone_eval" / "eval.py"),
                "--submission_path", str(args.submission),
                "--gt_path", str(args.gt),
                "--save_path", str(official_out),
                "--not_verbose",
            ]  # fmt: skip
            official_env = {**env, "PYTHONPATH": str(args.official_dir)}
            official = time_command(official_cmd, 1, official_env)[0]
            same_official = json.loads(official_out.read_text()) == cli_metrics

    cli = statistics.median(cli_times)
    print(f"queries: {len(sub)}  ({args.submission.name} vs {args.gt.name})")
    runs = ", ".join(f"{t:.3f}" for t in cli_times)
    print(f"CLI, whole command      : median {cli:.3f} s over {args.repeats} runs ({runs})")
    print(f"per-query reference     : {ref_time:.3f} s (read + compute, in process)   same metrics: {same}")
    print(f"speed-up vs reference   : {ref_time / cli:.1f}x")
    if official is not None:
        print(f"official standalone_eval: {official:.3f} s (whole command)   same metrics: {same_official}")
        print(f"speed-up vs official    : {official / cli:.1f}x")
    print(f"loadavg after: {loadavg()}")


if __name__ == "__main__":
    main()
