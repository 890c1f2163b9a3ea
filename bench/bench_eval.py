"""Speed of ``python -m trdetr_cap.eval`` against a per-query reference evaluator, on the QVHighlights val file.

    .venv/bin/python bench/bench_eval.py [--submission PRED.jsonl --gt GT.jsonl] [--repeats 5]
                                         [--official-dir DIR --official-python PY]

Every contender is timed the same way: as a whole command in a subprocess (interpreter start-up, imports, reading
and parsing both files, computing, writing the metrics file), median of ``--repeats`` runs, all in this one run.

* CLI: ``python -m trdetr_cap.eval``.
* reference: tests/eval/qvh_oracle.py, a straightforward per-query loop implementation of the same rules (the
  oracle the evaluator is fuzz-tested against). Both must give the same metrics.
* floor: start the interpreter, ``import numpy`` and ``json.loads`` both files, nothing else. No numpy evaluator
  reading these files can be faster, so ``reference / floor`` is the highest ratio any such evaluator could show.
* official (optional, ``--official-dir``: a directory holding Moment-DETR's ``standalone_eval/``, never part of this
  repo; ``--official-python``: an interpreter with scikit-learn): timed once as its own command, and once more with
  its multiprocessing pools off (``num_workers=1`` passed to its two pooled functions): the official per-query path
  in one process.

Prints the times, the ratios, and /proc/loadavg (the machine is shared: compare numbers from one run only).
"""

from __future__ import annotations

import argparse
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
FLOOR = "import json, sys, numpy\nfor p in sys.argv[1:]:\n    [json.loads(x) for x in open(p) if x.strip()]"
# the official eval with its pools off: its own code, only num_workers forced to 1 (argv: dir, submission, gt, out)
OFFICIAL_SINGLE = """import json, sys
sys.path.insert(0, sys.argv[1])
import standalone_eval.eval as E
for name in ("compute_mr_ap", "compute_hl_ap"):
    pooled = getattr(E, name)
    setattr(E, name, lambda *a, _f=pooled, **k: _f(*a, **{**k, "num_workers": 1}))
rows = [[json.loads(x) for x in open(p) if x.strip()] for p in sys.argv[2:4]]
json.dump(E.eval_submission(*rows, verbose=False), open(sys.argv[4], "w"))
"""


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


def report(name: str, times: list[float], extra: str = "") -> float:
    median = statistics.median(times)
    runs = ", ".join(f"{t:.3f}" for t in times)
    print(f"{name:<24}: median {median:.3f} s over {len(times)} run(s) ({runs}){extra}")
    return median


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--submission", type=Path)
    p.add_argument("--gt", type=Path)
    p.add_argument("--repeats", type=int, default=5, help="runs per contender (the median is reported)")
    p.add_argument("--official-dir", type=Path, help="directory containing standalone_eval/ (optional)")
    p.add_argument("--official-python", default=sys.executable, help="python with scikit-learn for the official")
    args = p.parse_args()
    if args.submission is None or args.gt is None:
        data = default_data()
        args.submission = data / "reference_predictions" / "trdetr_val_preds.jsonl"
        args.gt = data / "qvhighlights" / "highlight_val_release.jsonl"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(REPO)}
    queries = sum(1 for line in args.submission.read_text().splitlines() if line.strip())
    print(f"queries: {queries}  ({args.submission.name} vs {args.gt.name})")
    print(f"loadavg before: {loadavg()}")

    with tempfile.TemporaryDirectory() as tmp:
        outs = {name: Path(tmp) / f"{name}.json" for name in ("cli", "reference", "official", "single")}
        files = [str(args.submission), str(args.gt)]
        cli_cmd = [sys.executable, "-m", "trdetr_cap.eval", "--submission", files[0], "--gt", files[1]]
        cli = report("CLI", time_command([*cli_cmd, "--out", str(outs["cli"])], args.repeats, env))
        oracle = str(REPO / "tests" / "eval" / "qvh_oracle.py")
        ref_times = time_command([sys.executable, oracle, *files, str(outs["reference"])], args.repeats, env)
        cli_metrics = json.loads(outs["cli"].read_text())
        same = json.loads(outs["reference"].read_text()) == cli_metrics
        ref = report("per-query reference", ref_times, f"   same metrics: {same}")
        floor = report("floor (numpy + parse)", time_command([sys.executable, "-c", FLOOR, *files], args.repeats, env))
        official = single = None
        if args.official_dir:
            official_cmd = [
                args.official_python,
                str(args.official_dir / "standalone_eval" / "eval.py"),
                "--submission_path", files[0],
                "--gt_path", files[1],
                "--save_path", str(outs["official"]),
                "--not_verbose",
            ]  # fmt: skip
            official_env = {**env, "PYTHONPATH": str(args.official_dir)}
            official_times = time_command(official_cmd, 1, official_env)
            same_official = json.loads(outs["official"].read_text()) == cli_metrics
            official = report("official standalone_eval", official_times, f"   same metrics: {same_official}")
            single_cmd = [args.official_python, "-c", OFFICIAL_SINGLE, str(args.official_dir), *files,
                          str(outs["single"])]
            single_times = time_command(single_cmd, 1, official_env)
            same_single = json.loads(outs["single"].read_text()) == cli_metrics
            single = report("official, pools off", single_times, f"   same metrics: {same_single}")

    print(f"speed-up vs reference   : {ref / cli:.1f}x   (highest possible for a numpy evaluator: {ref / floor:.1f}x)")
    if official is not None:
        print(f"speed-up vs official    : {official / cli:.1f}x   (vs its pools-off path: {single / cli:.1f}x)")
    print(f"loadavg after: {loadavg()}")


if __name__ == "__main__":
    main()
