"""Cost of each variant (captions, or the fast recipe's pieces) against the first one, same run: parameters and
training-step time.

    .venv/bin/python bench/bench_caption_cost.py [--config configs/synthetic_siblings.yaml] [--variants FILE]
        [--steps 6] [--rounds 3] [--threads 1]

Every variant of a variants file (default configs/ablations/caption_benchmark.yaml) is built from the config plus its
flags, on the config's data (generate it first; see the config's header). A step is a whole training step on one
real batch of the config's batch size (forward -> losses -> backward -> AdamW step), timed in CPU seconds of this
process (``time.process_time``), so other processes on a shared machine distort it less than wall time. The
variants are timed round-robin over ``--rounds`` rounds of ``--steps`` steps after 2 warm-up steps; the table gives
the median step time and its ratio to the first variant's, and /proc/loadavg.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from bench_common import loadavg
from torch.utils.data import DataLoader

from trdetr_cap.config import apply_overrides, load_config
from trdetr_cap.data import build_dataset, collate
from trdetr_cap.engine.ablation import load_variants
from trdetr_cap.engine.loop import training_inputs, uses_denoising, weighted_losses
from trdetr_cap.engine.schedule import build_optimizer
from trdetr_cap.engine.train import infer_feature_dims
from trdetr_cap.models import build_model, count_parameters

ROOT = Path(__file__).resolve().parents[1]


def build_variant(config: str, common: dict, flags: dict, seed: int = 0):
    cfg = apply_overrides(load_config(config), {**common, **flags})
    dataset = build_dataset(cfg, "train")
    infer_feature_dims(cfg, dataset)
    torch.manual_seed(seed)
    model, criterion = build_model(cfg)
    batch = next(iter(DataLoader(dataset, batch_size=cfg.train.bsz, shuffle=False, collate_fn=collate)))
    return model, criterion, build_optimizer(cfg, model), batch


def step(model, criterion, optimizer, batch) -> float:
    inputs = training_inputs(batch, uses_denoising(model))  # what the training loop feeds the model
    start = time.process_time()
    out = model(**inputs)
    loss = weighted_losses(criterion(out, batch["targets"]), criterion.weight_dict)["loss_overall"]
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/synthetic_siblings.yaml")
    parser.add_argument("--variants", default="configs/ablations/caption_benchmark.yaml")
    parser.add_argument("--only", nargs="*", default=None, help="variant names (default: all)")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spec = load_variants(ROOT / args.variants)
    names = args.only or list(spec.variants)
    built = {}
    for name in names:
        model, criterion, optimizer, batch = build_variant(args.config, spec.common, spec.variants[name][1])
        model.train()
        for _ in range(2):
            step(model, criterion, optimizer, batch)
        built[name] = (model, criterion, optimizer, batch)
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(args.rounds):
        for name in names:
            times[name] += [step(*built[name]) for _ in range(args.steps)]
    base = names[0]
    base_params, base_time = count_parameters(built[base][0]), statistics.median(times[base])
    print(f"loadavg before/after: {loadavg()}")
    print(f"| variant | parameters | x {base} | step CPU s (median of {args.rounds * args.steps}) | x {base} |")
    print("|---|---|---|---|---|")
    for name in names:
        params, t = count_parameters(built[name][0]), statistics.median(times[name])
        print(f"| {name} | {params:,} | {params / base_params:.3f} | {t:.4f} | {t / base_time:.2f} |")
    print(f"loadavg: {loadavg()}")


if __name__ == "__main__":
    main()
