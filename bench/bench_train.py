"""Training and evaluation throughput of the full-size QVHighlights model on synthetic data at QVHighlights widths.

    .venv/bin/python bench/bench_train.py [--steps 8] [--device cpu] [--threads 2] [--eval_queries 500]
    .venv/bin/python bench/bench_train.py --compare_stock [--steps 8]   # CPU speed-ups vs stock torch modules

Data: the built-in synthetic generator at the release's shapes (SlowFast 2304 + CLIP 512 + TEF, CLIP text 512, every
video 75 clips), written once under data/bench_qvh. Train: samples/s over whole steps (loader -> collate -> forward ->
loss -> backward -> clip -> AdamW step) at batch 32, after 2 warm-up steps. Eval: queries/s for the validation pass the
training loop runs (forward, eval losses, post-processing, metrics) and for prediction only (no losses). The original
TR-DETR's numbers on the dev machine are in docs/measurements.md. Timings swing 5-20x with machine load, so
/proc/loadavg is printed beside every figure.

``--compare_stock`` times the training step of the same model with its CPU-fast modules (``layers.Dropout``) and
with the stock torch modules they replace (``nn.Dropout``), alternating over ``--rounds`` rounds in one process,
and prints the ratio: on a shared machine only such same-run comparisons mean anything.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import torch
from bench_common import loadavg
from torch.utils.data import DataLoader

from trdetr_cap.config import load_config
from trdetr_cap.data import build_dataset, collate, move_to_device
from trdetr_cap.data.synthetic import SyntheticParams, generate, synthetic_overrides
from trdetr_cap.device import resolve_device
from trdetr_cap.engine.loop import run_inference, weighted_losses
from trdetr_cap.engine.schedule import build_optimizer
from trdetr_cap.engine.train import infer_feature_dims
from trdetr_cap.eval import evaluate
from trdetr_cap.models import build_model
from trdetr_cap.models.layers import Dropout

ROOT = Path(__file__).resolve().parents[1]
ORIGINAL_TRAIN_SAMPLES_PER_S = 32.0
ORIGINAL_EVAL_QUERIES_PER_S = 500 / 7.9


def swap_modules(model: torch.nn.Module, stock: bool) -> None:
    """Replace every CPU-fast module by the stock torch module it stands for (``stock``), or back."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if stock and isinstance(child, Dropout):
                setattr(parent, name, torch.nn.Dropout(child.p).train(child.training))
            elif not stock and type(child) is torch.nn.Dropout:
                setattr(parent, name, Dropout(child.p).train(child.training))


def compare_stock(model, criterion, dataset, cfg, device, steps: int, bsz: int) -> None:
    """Time ``steps`` training steps with the stock modules and ``steps`` with the fast ones, interleaved step by
    step (order flipped every pair) so that load changes on the shared machine hit both alike."""
    step = make_train_step(model, criterion, dataset, cfg, device, bsz)
    times: dict[str, list[float]] = {"stock": [], "fast": []}
    for label in ("stock", "fast"):  # warm-up
        swap_modules(model, stock=label == "stock")
        step()
        step()
    for i in range(steps):
        for label in ("stock", "fast") if i % 2 == 0 else ("fast", "stock"):
            swap_modules(model, stock=label == "stock")
            tic = time.perf_counter()
            step()
            times[label].append(time.perf_counter() - tic)
    swap_modules(model, stock=False)
    mean = {k: sum(v) / len(v) for k, v in times.items()}
    median = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    print(f"train step over {steps} interleaved steps each, stock nn.Dropout / fast Dropout: "
          f"mean {mean['stock']:.3f} / {mean['fast']:.3f} s = {mean['stock'] / mean['fast']:.2f}x, "
          f"median {median['stock']:.3f} / {median['fast']:.3f} s = {median['stock'] / median['fast']:.2f}x "
          f"| loadavg {loadavg()}")


def make_train_step(model, criterion, dataset, cfg, device, bsz: int):
    """A closure running one full optimisation step (loader -> forward -> loss -> backward -> clip -> AdamW)."""
    optimizer = build_optimizer(cfg, model)
    amp = cfg.train.amp
    loader = DataLoader(dataset, batch_size=bsz, shuffle=True, collate_fn=collate, drop_last=True)
    batches = itertools.cycle(loader)
    model.train()
    criterion.train()

    def step() -> None:
        batch = move_to_device(next(batches), device)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp and device.type == "cuda"):
            outputs = model(**batch["inputs"])
        total = weighted_losses(criterion(outputs, batch["targets"]), criterion.weight_dict)["loss_overall"]
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
        optimizer.step()

    return step


def bench_train(model, criterion, dataset, cfg, device, steps: int, bsz: int) -> float:
    """Samples/s over ``steps`` full optimisation steps (after 2 warm-up steps)."""
    step = make_train_step(model, criterion, dataset, cfg, device, bsz)
    for _ in range(2):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    tic = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * bsz / (time.perf_counter() - tic)


def bench_eval(model, criterion, dataset, cfg, device, with_losses: bool) -> tuple[float, dict]:
    """Queries/s of a full validation pass (+ metrics); returns (queries/s, brief metrics)."""
    loader = DataLoader(dataset, batch_size=cfg.train.eval_bsz, shuffle=False, collate_fn=collate)
    tic = time.perf_counter()
    rows, _ = run_inference(model, criterion if with_losses else None, loader, device, cfg.post, cfg.data.clip_len,
                       cfg.train.amp, progress=False)
    metrics = evaluate(rows, dataset.records, dataset=cfg.data.dataset)
    return len(rows) / (time.perf_counter() - tic), metrics["brief"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=8, help="timed training steps (after 2 warm-up steps)")
    parser.add_argument("--bsz", type=int, default=32)
    parser.add_argument("--eval_queries", type=int, default=500)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--data", default=str(ROOT / "data" / "bench_qvh"))
    parser.add_argument("--compare_stock", action="store_true",
                        help="only time the training step with stock torch modules vs the CPU-fast ones")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    n_train = max(args.bsz * (args.steps + 2), 64)
    params = SyntheticParams(n_train=n_train, n_val=args.eval_queries, min_clips=75, max_clips=75)
    root = generate(args.data, params)
    cfg = load_config(ROOT / "configs" / "qvhighlights.yaml", {**synthetic_overrides(root), "cap_feat_path": ""})
    device = resolve_device(args.device)
    torch.manual_seed(0)
    train_set, val_set = build_dataset(cfg, "train"), build_dataset(cfg, "val")
    infer_feature_dims(cfg, train_set)
    model, criterion = build_model(cfg)
    model.to(device)
    criterion.to(device)

    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{sum(p.numel() for p in model.parameters()):,} params, batch {args.bsz}, Lv 75")
    print(f"loadavg before: {loadavg()}")
    if args.compare_stock:
        compare_stock(model, criterion, train_set, cfg, device, args.steps, args.bsz)
        return
    train_sps = bench_train(model, criterion, train_set, cfg, device, args.steps, args.bsz)
    print(f"train: {train_sps:.1f} samples/s ({args.bsz / train_sps:.3f} s/step; "
          f"{train_sps / ORIGINAL_TRAIN_SAMPLES_PER_S:.2f}x the original's 32 samples/s) | loadavg {loadavg()}")
    for with_losses in (True, False):
        qps, _ = bench_eval(model, criterion, val_set, cfg, device, with_losses)
        what = "val pass with eval losses + postprocess + metrics" if with_losses else "predict + postprocess + metrics"
        print(f"eval ({what}): {qps:.1f} queries/s ({len(val_set) / qps:.2f} s for {len(val_set)}; "
              f"{qps / ORIGINAL_EVAL_QUERIES_PER_S:.2f}x the original's 63 queries/s) | loadavg {loadavg()}")


if __name__ == "__main__":
    main()
