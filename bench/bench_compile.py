"""Training step time with ``--compile`` (torch.compile) against eager, in the same process.

    .venv/bin/python bench/bench_compile.py [--steps 10] [--config configs/synthetic.yaml] [--hidden_dim 256]

Two copies of the same model (same initial weights): eager and ``torch.compile(model, dynamic=True)`` (what
``--compile true`` trains with). Both run the same batches with the same dropout seed; the timed steps alternate
eager / compiled (order flipped every pair) so that load changes on the shared machine hit both alike. Prints the
compile (first-steps) time, the mean and median step times, their ratio, the largest relative difference of the
two runs' losses, and /proc/loadavg. Data: the built-in synthetic generator (written once under data/bench_compile).
"""

from __future__ import annotations

import argparse
import copy
import itertools
import time
from pathlib import Path

import torch
from bench_common import loadavg
from torch.utils.data import DataLoader

from trdetr_cap.config import load_config
from trdetr_cap.data import build_dataset, collate, move_to_device
from trdetr_cap.data.synthetic import SyntheticParams, generate, synthetic_overrides
from trdetr_cap.engine.loop import weighted_losses
from trdetr_cap.engine.schedule import build_optimizer
from trdetr_cap.engine.train import compile_model, infer_feature_dims
from trdetr_cap.models import build_model

ROOT = Path(__file__).resolve().parents[1]


def make_step(model, forward, criterion, cfg):
    """One optimisation step on ``batch`` through ``forward`` (eager or compiled view of ``model``); returns loss."""
    optimizer = build_optimizer(cfg, model)

    def step(batch, seed: int) -> float:
        torch.manual_seed(seed)  # same dropout draws for both copies (eager semantics; see --no_dropout)
        outputs = forward(**batch["inputs"])
        total = weighted_losses(criterion(outputs, batch["targets"]), criterion.weight_dict)["loss_overall"]
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
        optimizer.step()
        return total.item()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps of each (after the compile steps)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed first steps (compilation happens here)")
    parser.add_argument("--config", default=str(ROOT / "configs" / "synthetic.yaml"))
    parser.add_argument("--hidden_dim", type=int, default=0, help="override the config's hidden size (0 = keep)")
    parser.add_argument("--no_dropout", action="store_true", help="dropout 0, so the two runs' losses must agree")
    parser.add_argument("--data", default=str(ROOT / "data" / "bench_compile"))
    args = parser.parse_args()

    root = generate(args.data, SyntheticParams(n_train=160, n_val=60, min_clips=16, max_clips=32))
    overrides = {**synthetic_overrides(root), "cap_feat_path": "",
                 "v_feat_dirs": [str(Path(root) / "clip_features")]}
    if args.hidden_dim:
        overrides["hidden_dim"] = args.hidden_dim
    if args.no_dropout:
        overrides.update(dropout=0.0, input_dropout=0.0)
    cfg = load_config(args.config, overrides)
    train_set = build_dataset(cfg, "train")
    infer_feature_dims(cfg, train_set)
    torch.manual_seed(0)
    eager_model, criterion = build_model(cfg)
    compiled_model = copy.deepcopy(eager_model)
    eager_model.train()
    compiled_model.train()
    steps = {"eager": make_step(eager_model, eager_model, criterion, cfg),
             "compiled": make_step(compiled_model, compile_model(compiled_model), criterion, cfg)}
    loader = DataLoader(train_set, batch_size=cfg.train.bsz, shuffle=True, collate_fn=collate, drop_last=True,
                        generator=torch.Generator().manual_seed(0))
    batches = [move_to_device(b, torch.device("cpu")) for b in itertools.islice(itertools.cycle(loader),
                                                                                 args.warmup + args.steps)]
    losses: dict[str, list[float]] = {"eager": [], "compiled": []}
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    first: dict[str, float] = {}
    for i, batch in enumerate(batches):
        for label in ("eager", "compiled") if i % 2 == 0 else ("compiled", "eager"):
            tic = time.perf_counter()
            losses[label].append(steps[label](batch, seed=i))
            elapsed = time.perf_counter() - tic
            if i < args.warmup:
                first[label] = first.get(label, 0.0) + elapsed
            else:
                times[label].append(elapsed)
    mean = {k: sum(v) / len(v) for k, v in times.items()}
    median = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    diff = max(abs(a - b) / max(abs(a), 1e-12) for a, b in zip(losses["eager"], losses["compiled"], strict=True))
    print(f"config {args.config} hidden {cfg.model.hidden_dim} bsz {cfg.train.bsz} threads {torch.get_num_threads()}")
    print(f"first {args.warmup} steps (compilation): eager {first['eager']:.1f} s, compiled {first['compiled']:.1f} s")
    print(f"train step over {args.steps} interleaved steps each, eager / compiled: mean {mean['eager']:.3f} / "
          f"{mean['compiled']:.3f} s = {mean['eager'] / mean['compiled']:.2f}x, median {median['eager']:.3f} / "
          f"{median['compiled']:.3f} s = {median['eager'] / median['compiled']:.2f}x | loadavg {loadavg()}")
    print(f"largest relative loss difference over {len(batches)} steps: {diff:.2e}"
          f"{' (dropout on: the compiled graph draws its own masks)' if not args.no_dropout else ''}")


if __name__ == "__main__":
    main()
