"""``python -m trdetr_cap.predict CKPT SPLIT_JSONL [--out DIR] [flags]``: run a checkpoint on a split.

The checkpoint's own config decides features and post-processing; flags override the feature paths (another
machine) and the post-processing (e.g. ``--nms_thd 0.7``, ``--max_duration``). Writes
``{split}_preds.jsonl`` (submission rows) and, when the split is labelled, ``{split}_metrics.json`` (evaluator
format) into ``--out`` (default: the checkpoint's directory).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch.utils.data import DataLoader

from trdetr_cap.config import Config, RunConfig
from trdetr_cap.data import build_dataset, collate
from trdetr_cap.device import resolve_device
from trdetr_cap.engine.checkpoint import load_model
from trdetr_cap.engine.loop import run_inference
from trdetr_cap.errors import UserError
from trdetr_cap.eval import evaluate
from trdetr_cap.utils.io import atomic_write_json, atomic_write_jsonl


def check_feature_widths(cfg: Config, dims: dict[str, int], ckpt_path: str | Path) -> None:
    """Features of another width than the checkpoint was trained on: one line now, not a matmul error later."""
    fields = [("model", "v_feat_dim", "video"), ("model", "t_feat_dim", "query")]
    if cfg.data.cap_feat_path:
        fields.append(("caption", "cap_feat_dim", "caption"))
    for section, name, what in fields:
        want, have = getattr(getattr(cfg, section), name), int(dims.get(name, 0))
        if have and want and have != want:
            raise UserError(f"the {what} features have width {have}, but {ckpt_path} was trained on width {want} "
                            f"({section}.{name}); point the feature paths at the features it was trained on")


def predict_split(ckpt_path: str | Path, split_path: str | Path, out_dir: str | Path | None = None,
                  overrides: dict[str, Any] | None = None, run: RunConfig | None = None
                  ) -> tuple[Path, dict[str, Any] | None]:
    """Run the checkpoint on ``split_path`` (``overrides``: flat config fields; ``run``: device, workers, preload);
    returns (submission path, metrics or None when unlabelled)."""
    run = run or RunConfig()
    device = resolve_device(run.device)
    model, cfg = load_model(ckpt_path, overrides, device)
    dataset = build_dataset(cfg, "eval", annotation_path=split_path, preload=run.preload)
    check_feature_widths(cfg, dataset.feature_dims, ckpt_path)
    loader = DataLoader(dataset, batch_size=cfg.train.eval_bsz, shuffle=False, collate_fn=collate,
                        num_workers=run.num_workers, pin_memory=device.type == "cuda")
    rows, _ = run_inference(model, None, loader, device, cfg.post, cfg.data.clip_len, cfg.train.amp)

    out_dir = Path(out_dir) if out_dir else Path(ckpt_path).parent
    stem = Path(split_path).name.removesuffix(".jsonl")
    sub_path = out_dir / f"{stem}_preds.jsonl"
    # metrics first: when they fail, neither file is written (no predictions without their metrics beside them)
    metrics = evaluate(rows, dataset.records, dataset=cfg.data.dataset) if dataset.labelled else None
    atomic_write_jsonl(sub_path, rows)
    if metrics is not None:
        atomic_write_json(out_dir / f"{stem}_metrics.json", metrics)
    return sub_path, metrics


if __name__ == "__main__":
    from trdetr_cap.commands.predict import main

    raise SystemExit(main())
