"""Training (``trdetr-cap train``): config -> data -> model -> epochs with evaluation, model selection and checkpoints.

The run directory is exactly ``--out`` and holds ``config.yaml`` (the resolved experiment, with inferred feature
widths: reused as ``--config`` it starts a fresh run), ``run.yaml`` (the run options, for the record),
``train.log``, ``tensorboard/``, ``model_latest.ckpt`` (every epoch), ``model_best.ckpt``, ``best_val_preds.jsonl``
and ``best_val_metrics.json``. ``--resume DIR`` continues from ``DIR/model_latest.ckpt`` with ``DIR/config.yaml``
(explicit flags still override it, e.g. a larger ``--n_epoch``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch.utils.data import DataLoader, DistributedSampler

from trdetr_cap.config import (
    Config,
    ConfigError,
    RunConfig,
    save_config,
    save_run_config,
)
from trdetr_cap.data import build_dataset, collate
from trdetr_cap.device import resolve_device
from trdetr_cap.engine.checkpoint import load_checkpoint, load_model_state, restore_rng_state, save_checkpoint, unwrap
from trdetr_cap.engine.distributed import DistInfo, barrier, broadcast_flag, cleanup, init_distributed
from trdetr_cap.engine.history import History
from trdetr_cap.engine.loop import NonFiniteLossError, run_inference, train_one_epoch
from trdetr_cap.engine.schedule import build_optimizer, build_scheduler
from trdetr_cap.errors import Interrupted, UserError
from trdetr_cap.models import build_model, count_parameters
from trdetr_cap.plots import plot_history
from trdetr_cap.utils.io import atomic_write_json, atomic_write_jsonl, remove_stale_temps

LOGGER_NAME = "trdetr_cap.train"


def set_seed(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def infer_feature_dims(cfg: Config, dataset: Any) -> None:
    """Fill widths left unset (None) from ``dataset.feature_dims``; a width the data contradicts is an error."""
    dims = dataset.feature_dims
    fields = [("model", "v_feat_dim"), ("model", "t_feat_dim")]
    if cfg.caption.enabled():
        if not dims.get("cap_feat_dim"):
            raise ConfigError("a caption-fusion piece is on (caption section) but data.cap_feat_path is not set")
        fields.append(("caption", "cap_feat_dim"))
    for section, name in fields:
        have, want = int(dims.get(name, 0)), getattr(getattr(cfg, section), name)
        if want is None:
            setattr(getattr(cfg, section), name, have)
        elif have and want != have:
            raise ConfigError(f"config {section}.{name}={want}, but the features have width {have} "
                              f"(set {name}: null to infer it from the data)")


# val metrics drawn in curves.png, where the dataset's brief has them
CURVE_METRICS = ["MR-full-mAP", "MR-full-R1@0.5", "MR-full-R1@0.7", "MR-R1@0.5", "MR-R1@0.7", "MR-mIoU",
                 "HL-min-VeryGood-mAP", "HL-min-VeryGood-Hit1", "mAP"]


def selection_key(cfg: Config) -> str:
    """The val metric used for model selection, as the original's tr_detr/train.py:184 and :291: TVSum's top-5
    mAP, else MR-full-mAP."""
    return "mAP" if cfg.data.dataset == "tvsum" else "MR-full-mAP"


# ------------------------------------------------------------------------------------------------------------ logging
def setup_logger(log_path: Path | None) -> logging.Logger:
    """Logger writing to stderr and (main process) to ``log_path``, appended so a resumed run keeps its history."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    close_logger(logger)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, encoding="utf-8"))
    for h in handlers:
        h.setFormatter(fmt)
        logger.addHandler(h)
    return logger


def close_logger(logger: logging.Logger) -> None:
    for h in list(logger.handlers):
        h.close()
        logger.removeHandler(h)


def _fmt(values: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.4f}" for k, v in values.items())


# --------------------------------------------------------------------------------------------------------------- run
@dataclasses.dataclass
class RunState:
    """Model-selection bookkeeping saved in every checkpoint."""

    best_score: float = -math.inf
    best_epoch: int = -1
    es_cnt: int = 0


def _loaders(cfg: Config, workers: int, train_set, val_set, info: DistInfo, device: torch.device):
    pin = device.type == "cuda"
    sampler = DistributedSampler(train_set, shuffle=True, seed=cfg.train.seed) if info.enabled else None
    train_loader = DataLoader(train_set, batch_size=cfg.train.bsz, shuffle=sampler is None, sampler=sampler,
                              collate_fn=collate, num_workers=workers, pin_memory=pin,
                              persistent_workers=workers > 0)
    val_loader = None
    if val_set is not None:
        val_loader = DataLoader(val_set, batch_size=cfg.train.eval_bsz, shuffle=False, collate_fn=collate,
                                num_workers=workers, pin_memory=pin, persistent_workers=workers > 0)
    return train_loader, val_loader, sampler


def _ground_truth(dataset: Any) -> list[dict[str, Any]]:
    """The annotation rows the evaluator scores against (the dataset's own, after any domain filtering)."""
    return dataset.records


def train(cfg: Config, run: RunConfig, stop_after_epochs: int | None = None) -> dict[str, Any] | None:
    """Train the experiment ``cfg`` into ``run.out`` (continuing it when ``run.resume`` is set); returns the best
    val metrics (None when the split is unlabelled or training was stopped).

    ``stop_after_epochs`` ends the session after that many epochs exactly as if the process were killed right after
    writing ``model_latest.ckpt`` (used to test ``--resume``).
    """
    device = resolve_device(run.device)
    run_dir = Path(run.out)
    prepare_run_dir(run)  # before the ranks meet: no rank has written anything yet
    info = init_distributed(device.type)
    if info.enabled and device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
    logger = setup_logger(run_dir / "train.log" if info.is_main else None)
    try:
        return _run(cfg, run, device, info, run_dir, logger, stop_after_epochs)
    except KeyboardInterrupt:
        raise Interrupted(resume_hint(run_dir)) from None
    finally:
        close_logger(logger)
        cleanup(info)


RUN_DIR_MARKER = "config.yaml"  # every run directory has one from its first moments


def prepare_run_dir(run: RunConfig) -> None:
    """Refuse to mix two runs in one directory: a fresh run needs an empty (or new) ``--out``; ``--resume``
    continues the one there; ``--overwrite`` empties a run directory first. Leftover temp files of a killed write
    are removed either way."""
    run_dir = Path(run.out)
    if run.resume is not None or not run_dir.is_dir():
        remove_stale_temps(run_dir)
        return
    remove_stale_temps(run_dir)
    entries = sorted(p.name for p in run_dir.iterdir())
    if entries in ([], ["train.log"]):  # new, or a start that failed on its input (it only logged)
        return
    if not run.overwrite:
        shown = ", ".join(entries[:4]) + (", ..." if len(entries) > 4 else "")
        raise UserError(f"--out {run_dir} is not empty ({shown}): continue that run with --resume {run_dir}, "
                        "replace it with --overwrite, or choose another directory")
    if not (run_dir / RUN_DIR_MARKER).is_file():
        raise UserError(f"--overwrite: {run_dir} holds no {RUN_DIR_MARKER}, so it is not a run directory; "
                        "refusing to empty it")
    if int(os.environ.get("RANK", "0")) == 0:
        for entry in run_dir.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def resume_hint(run_dir: Path) -> str:
    """What to do after Ctrl-C: resume from the last finished epoch, if one was saved."""
    if (run_dir / "model_latest.ckpt").is_file():
        return f"continue with: bash scripts/train.sh --resume {run_dir}"
    return f"no epoch finished, nothing saved to resume in {run_dir}"


def _run(cfg: Config, run: RunConfig, device: torch.device, info: DistInfo, run_dir: Path, logger: logging.Logger,
         stop_after_epochs: int | None) -> dict[str, Any] | None:
    resuming = run.resume is not None
    set_seed(cfg.train.seed + info.rank, cfg.train.deterministic)
    if device.type == "cpu" and info.is_main:
        logger.info("device cpu, %d torch threads", torch.get_num_threads())
    train_set = build_dataset(cfg, "train", preload=run.preload)
    val_set = build_dataset(cfg, "val", preload=run.preload) if cfg.data.eval_path else None
    infer_feature_dims(cfg, train_set)

    model, criterion = build_model(cfg)
    model.to(device)
    criterion.to(device)
    optimizer = build_optimizer(cfg, model)
    train_loader, val_loader, sampler = _loaders(cfg, run.num_workers, train_set, val_set, info, device)
    lr_scheduler, step_per_batch = build_scheduler(cfg, optimizer, len(train_loader))
    state, start_epoch, ckpt = RunState(), 0, None
    if resuming:
        ckpt = load_checkpoint(run_dir / "model_latest.ckpt")  # on CPU: RNG states must stay CPU tensors
        load_model_state(model, ckpt["model"], run_dir / "model_latest.ckpt")
        optimizer.load_state_dict(ckpt["optimizer"])
        lr_scheduler.load_state_dict(ckpt["lr_scheduler"])
        state = RunState(**ckpt["train_state"])
        start_epoch = ckpt["epoch"] + 1
        _apply_resume_flags(cfg, ckpt["config"], optimizer, lr_scheduler)
    if info.is_main:
        save_config(cfg, run_dir / "config.yaml")
        save_run_config(run, run_dir / "run.yaml")
        logger.info("%s run %s: %s parameters, %d train / %d val queries, epochs %d..%d, device %s x%d",
                    "resuming" if resuming else "starting", run_dir, f"{count_parameters(model):,}",
                    len(train_set), len(val_set) if val_set is not None else 0, start_epoch + 1,
                    cfg.train.n_epoch, device, info.world_size)

    if info.enabled:
        ids = [info.local_rank] if device.type == "cuda" else None
        # the never-used text position embedding (kept for the faithful parameter count) gets no gradient
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)
    forward_model = compile_model(model) if run.compile else model
    gt_rows = _ground_truth(val_set) if val_set is not None else None
    writer = _tensorboard(cfg, run_dir, start_epoch) if info.is_main else None
    history = History(run_dir / "history.jsonl", keep_upto=start_epoch) if info.is_main else None
    curves = CurvePlotter(run_dir / "curves.png", title=str(run_dir))
    if ckpt is not None:
        restore_rng_state(ckpt["rng"])  # last: building the model and loaders above must not shift the streams

    for epoch in range(start_epoch, cfg.train.n_epoch):
        if sampler is not None:
            sampler.set_epoch(epoch)
        tic = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]  # the epoch's (first step's) lr
        try:
            losses = train_one_epoch(forward_model, criterion, train_loader, optimizer, device, epoch,
                                     cfg.train.grad_clip, cfg.train.amp, progress=info.is_main,
                                     lr_scheduler=lr_scheduler if step_per_batch else None)
        except NonFiniteLossError as e:
            last = run_dir / "model_latest.ckpt"
            kept = f"the last good checkpoint is {last} (epoch {epoch})" if last.is_file() else "no checkpoint was kept"
            logger.error("%s. Stopping; %s.", e, kept)
            raise
        if not step_per_batch:
            lr_scheduler.step()
        if info.is_main:
            logger.info("epoch %d/%d (%.1f s) lr %.2e | %s", epoch + 1, cfg.train.n_epoch,
                        time.perf_counter() - tic, lr, _fmt(losses))
            writer.add_scalar("Train/lr", lr, epoch + 1)
            for k, v in losses.items():
                writer.add_scalar(f"Train/{k}", v, epoch + 1)
            history.log(epoch + 1, lr=lr, train=losses)
        stop = False
        last_epoch = epoch + 1 == cfg.train.n_epoch
        if info.is_main and val_loader is not None and ((epoch + 1) % cfg.train.eval_epoch_interval == 0 or last_epoch):
            stop = _evaluate_and_select(cfg, model, criterion, optimizer, lr_scheduler, val_loader, gt_rows,
                                        device, epoch, state, run_dir, logger, writer, history)
            curves.maybe_draw(history.rows)
        if info.is_main:
            save_checkpoint(run_dir / "model_latest.ckpt", model=model, optimizer=optimizer,
                            lr_scheduler=lr_scheduler, epoch=epoch, config=cfg.to_dict(),
                            train_state=dataclasses.asdict(state))
        stop = broadcast_flag(stop, info)
        if stop:
            logger.info("early stopping: %d evaluations without improvement", state.es_cnt)
            break
        if stop_after_epochs is not None and epoch + 1 - start_epoch >= stop_after_epochs:
            barrier(info)
            if writer is not None:
                writer.close()
            return None
    if writer is not None:
        writer.close()
        curves.draw(history.rows)
    barrier(info)
    return _report_best(run_dir, state, logger) if info.is_main else None


def compile_model(model: torch.nn.Module, backend: str = "inductor") -> torch.nn.Module:
    """``torch.compile`` of the training forward (dynamic shapes: every batch is padded to its own lengths).

    The eager module keeps the weights, so checkpoints and evaluation are unchanged; bench/bench_compile.py measures
    the step time against eager. ``backend`` other than inductor is for tests (aot_eager: the same graph capture and
    autograd split without generating C++ kernels, which takes minutes on a small CPU).
    """
    return torch.compile(model, dynamic=True, backend=backend)


class CurvePlotter:
    """Redraws ``curves.png`` after an evaluation at most every ``min_interval_s`` seconds (and always on ``draw``).

    Why: a matplotlib redraw costs ~1 CPU-second, as much as a whole epoch of the slim synthetic model; with an
    evaluation every epoch the redraws were a third of the run. TensorBoard has the live curves; the PNG is also
    drawn at the first evaluation and at the end of the run.
    """

    def __init__(self, path: Path, title: str, min_interval_s: float = 60.0):
        self.path, self.title, self.min_interval_s = path, title, min_interval_s
        self.last: float | None = None

    def maybe_draw(self, rows: list[dict[str, Any]]) -> None:
        if self.last is None or time.monotonic() - self.last >= self.min_interval_s:
            self.draw(rows)

    def draw(self, rows: list[dict[str, Any]]) -> None:
        plot_history(rows, self.path, CURVE_METRICS, title=self.title)
        self.last = time.monotonic()


def _apply_resume_flags(cfg: Config, saved: dict[str, Any], optimizer, lr_scheduler) -> None:
    """Flags given at resume time (--lr, --wd, --lr_drop) win over the hyper-parameters restored with the states."""
    scale = cfg.train.lr / saved["train"]["lr"]
    for group in optimizer.param_groups:
        group["lr"] *= scale
        group["initial_lr"] *= scale
        group["weight_decay"] = cfg.train.wd
    lr_scheduler.base_lrs = [lr * scale for lr in lr_scheduler.base_lrs]
    if isinstance(lr_scheduler, torch.optim.lr_scheduler.StepLR):
        lr_scheduler.step_size = cfg.train.lr_drop


def _tensorboard(cfg: Config, run_dir: Path, start_epoch: int):
    from torch.utils.tensorboard import SummaryWriter  # imported late: tensorboard is slow to import

    writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"), purge_step=start_epoch + 1 if start_epoch else None)
    if not start_epoch:
        writer.add_text("hyperparameters", "```\n" + yaml.safe_dump(cfg.to_dict(), sort_keys=False) + "```")
    return writer


def _evaluate_and_select(cfg, model, criterion, optimizer, lr_scheduler, val_loader, gt_rows, device, epoch,
                         state: RunState, run_dir: Path, logger: logging.Logger, writer, history: History) -> bool:
    """Evaluate on val, log, keep the best (preds, metrics, checkpoint); returns True when early stopping fires."""
    from trdetr_cap.eval import evaluate  # only runs that evaluate need the evaluator

    tic = time.perf_counter()
    rows, eval_losses = run_inference(unwrap(model), criterion, val_loader, device, cfg.post, cfg.data.clip_len,
                                 cfg.train.amp, progress=False)
    metrics = evaluate(rows, gt_rows, dataset=cfg.data.dataset)
    brief = metrics["brief"]
    score = float(brief[selection_key(cfg)])
    logger.info("eval epoch %d (%.1f s) | %s", epoch + 1, time.perf_counter() - tic, json.dumps(brief))
    for k, v in {**eval_losses, **brief}.items():
        if v is not None:  # a metric is null when no GT falls in its bucket
            writer.add_scalar(f"Eval/{k}", v, epoch + 1)
    history.log(epoch + 1, val=brief, val_loss=eval_losses)
    if score > state.best_score:
        state.best_score, state.best_epoch, state.es_cnt = score, epoch, 0
        atomic_write_jsonl(run_dir / "best_val_preds.jsonl", rows)
        atomic_write_json(run_dir / "best_val_metrics.json", metrics)
        save_checkpoint(run_dir / "model_best.ckpt", model=model, optimizer=optimizer, lr_scheduler=lr_scheduler,
                        epoch=epoch, config=cfg.to_dict(), train_state=dataclasses.asdict(state))
        logger.info("new best %s %.2f at epoch %d", selection_key(cfg), score, epoch + 1)
        return False
    state.es_cnt += 1
    return state.es_cnt > cfg.train.max_es_cnt


def _report_best(run_dir: Path, state: RunState, logger: logging.Logger) -> dict[str, Any] | None:
    path = run_dir / "best_val_metrics.json"
    if state.best_epoch < 0 or not path.is_file():  # never a file this run did not write
        logger.info("done (no labelled val split: no model selection)")
        return None
    metrics = json.loads(path.read_text())
    logger.info("done. best epoch %d; val metrics: %s", state.best_epoch + 1, json.dumps(metrics["brief"]))
    return metrics


def count_params_only(cfg: Config) -> int:
    """Build the model (inferring unset widths from the training data) and return its parameter count."""
    if cfg.model.v_feat_dim is None or cfg.model.t_feat_dim is None:
        infer_feature_dims(cfg, build_dataset(cfg, "train"))
    model, _ = build_model(cfg)
    return count_parameters(model)


if __name__ == "__main__":
    from trdetr_cap.commands.train import main

    raise SystemExit(main())
