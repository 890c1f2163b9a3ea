"""What one in-loop evaluation of the training run costs, part by part, on the slim synthetic model.

    .venv/bin/python bench/bench_eval_overhead.py [--repeats 3] [--hidden_dim 256] [--rows 30]

Parts, each timed ``--repeats`` times in the same process (median printed): the validation forward with
post-processing (``evaluate`` without a criterion), the same with the eval losses (what the training loop runs),
the metrics, saving ``model_best.ckpt``, and redrawing ``curves.png`` for a ``--rows``-epoch history (what the run
did after every evaluation before the redraw was throttled to once a minute). Prints each part's ratio to the
forward pass and /proc/loadavg. Data: the built-in generator (written once under data/bench_compile).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from bench_common import loadavg
from torch.utils.data import DataLoader

from trdetr_cap.config import load_config
from trdetr_cap.data import build_dataset, collate
from trdetr_cap.data.synthetic import SyntheticParams, generate, synthetic_overrides
from trdetr_cap.engine.checkpoint import save_checkpoint
from trdetr_cap.engine.loop import run_inference
from trdetr_cap.engine.train import CURVE_METRICS, infer_feature_dims
from trdetr_cap.eval import evaluate as evaluate_metrics
from trdetr_cap.models import build_model
from trdetr_cap.plots import plot_history

ROOT = Path(__file__).resolve().parents[1]


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tic)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hidden_dim", type=int, default=0, help="override the config's hidden size (0 = keep)")
    parser.add_argument("--rows", type=int, default=30, help="epochs in the history drawn into curves.png")
    parser.add_argument("--data", default=str(ROOT / "data" / "bench_compile"))
    args = parser.parse_args()

    root = generate(args.data, SyntheticParams(n_train=160, n_val=60, min_clips=16, max_clips=32))
    overrides = {**synthetic_overrides(root), "cap_feat_path": "", "v_feat_dirs": [str(Path(root) / "clip_features")]}
    if args.hidden_dim:
        overrides["hidden_dim"] = args.hidden_dim
    cfg = load_config(ROOT / "configs" / "synthetic.yaml", overrides)
    val_set = build_dataset(cfg, "val")
    infer_feature_dims(cfg, val_set)
    torch.manual_seed(0)
    model, criterion = build_model(cfg)
    optimizer = torch.optim.AdamW(model.parameters())
    loader = DataLoader(val_set, batch_size=cfg.train.eval_bsz, collate_fn=collate)
    device = torch.device("cpu")

    def forward_only():
        return run_inference(model, None, loader, device, cfg.post, cfg.data.clip_len, progress=False)

    rows, _ = forward_only()
    brief = evaluate_metrics(rows, val_set.records, dataset=cfg.data.dataset)["brief"]
    history = [{"epoch": e + 1, "lr": 1e-4, "train": {"loss_overall": 1.0 / (e + 1)}, "val": brief,
                "val_loss": {"loss_overall": 1.0}} for e in range(args.rows)]
    with tempfile.TemporaryDirectory() as tmp:
        parts = {
            "forward + post-processing": lambda: forward_only(),
            "forward + post-processing + eval losses": lambda: run_inference(model, criterion, loader, device, cfg.post,
                                                                         cfg.data.clip_len, progress=False),
            "metrics": lambda: evaluate_metrics(rows, val_set.records, dataset=cfg.data.dataset),
            "save model_best.ckpt": lambda: save_checkpoint(Path(tmp) / "best.ckpt", model=model,
                                                            optimizer=optimizer, lr_scheduler=None, epoch=0,
                                                            config=cfg.to_dict()),
            f"redraw curves.png ({args.rows} epochs)": lambda: plot_history(history, Path(tmp) / "curves.png",
                                                                             CURVE_METRICS, title="bench"),
        }
        times = {name: median_time(fn, args.repeats) for name, fn in parts.items()}
    base = times["forward + post-processing"]
    print(f"{len(val_set)} val queries, hidden {cfg.model.hidden_dim}, threads {torch.get_num_threads()}, "
          f"median of {args.repeats}")
    for name, seconds in times.items():
        print(f"  {name:45s} {seconds:7.3f} s  ({seconds / base:5.2f}x the forward pass)")
    print(f"loadavg {loadavg()}")


if __name__ == "__main__":
    main()
