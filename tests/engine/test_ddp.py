"""DDP (gloo, 2 processes, 4 samples each) against one process on the same 8-sample batches: same losses, same
gradients, same parameters after 3 SGD steps.

Why they must agree: with every loss term a per-sample mean (ddp_worker.py lists what that takes, and why the steps
are SGD's), the loss of the 8-sample batch is the mean of the two 4-sample losses, and DDP averages the ranks'
gradients, so both runs take the same step. They differ only in float32 summation order (a mean of 8 against the
mean of two means of 4), ~1e-7 relative per sum. Tolerances: 1e-5 relative for losses and gradients (plus an
absolute floor of 1e-6 of the largest gradient for entries that cancel to ~0; measured max difference 6e-7 on a
largest gradient of 2.4), 1e-6 absolute for parameters (float32 spacing at |w| ~ 1 is 1.2e-7; each SGD step adds lr
x gradient difference, 0.01 x 6e-7; measured 1.2e-7) while the 3 steps move weights by up to 2.6e-2. The two ranks'
own losses differ by far more (checked), so a missing all-reduce or a wrong split of the batch would show.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from tiny_runs import REPO_ROOT

from trdetr_cap.data.synthetic import SyntheticParams, generate

WORKER = REPO_ROOT / "tests" / "engine" / "ddp_worker.py"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
# equal video lengths (no padding anywhere); the train file keeps one-window queries only (see ddp_worker.py)
EQUAL_LENGTHS = SyntheticParams(seed=13, n_train=96, n_val=8, queries_per_video=2, n_concepts=6, min_clips=16,
                                max_clips=16, video_signal=0.3, motion_signal=0.1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    data = generate(root / "data", EQUAL_LENGTHS)
    rows = [json.loads(line) for line in (data / "train.jsonl").read_text().splitlines()]
    one_window = [r for r in rows if len(r["relevant_windows"]) == 1]
    assert len(one_window) >= 24
    (data / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in one_window[:24]))
    commands = {"single": [sys.executable, str(WORKER), str(data), str(root / "single")],
                "ddp": [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        str(WORKER), str(data), str(root / "ddp")]}
    for name, cmd in commands.items():
        proc = subprocess.run(cmd, cwd=REPO_ROOT, env=ENV, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, (name, proc.stderr[-3000:])
    load = lambda path: torch.load(path, weights_only=True)  # noqa: E731
    return load(root / "single" / "rank0.pt"), [load(root / "ddp" / f"rank{r}.pt") for r in (0, 1)]


@pytest.mark.slow
def test_ddp_losses_are_the_mean_of_the_ranks(runs):
    single, ranks = runs
    for step, full in enumerate(single["losses"]):
        for key, value in full.items():
            halves = [r["losses"][step][key] for r in ranks]
            assert (halves[0] + halves[1]) / 2 == pytest.approx(value, rel=1e-5, abs=1e-7), (step, key)
    # the two halves are different samples with different losses: their mean matching is not a coincidence
    assert abs(ranks[0]["losses"][0]["loss_overall"] - ranks[1]["losses"][0]["loss_overall"]) > 1e-3


@pytest.mark.slow
def test_ddp_gradients_and_parameters_equal_one_process(runs):
    single, ranks = runs
    assert set(ranks[0]["grads"]) == set(single["grads"])
    scale = max(g.abs().max().item() for g in single["grads"].values())
    for name, grad in single["grads"].items():
        torch.testing.assert_close(ranks[0]["grads"][name], grad, rtol=1e-5, atol=1e-6 * scale, msg=name)
    for name, param in single["params"].items():
        assert torch.equal(ranks[0]["params"][name], ranks[1]["params"][name]), name  # replicas stay in sync
        torch.testing.assert_close(ranks[0]["params"][name], param, rtol=0, atol=1e-6, msg=name)
    # the 3 steps moved the weights by four orders of magnitude more than the tolerance
    assert max((single["params"][n] - single["init"][n]).abs().max().item() for n in single["params"]) > 1e-2
