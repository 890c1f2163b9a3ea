"""One training epoch and one inference pass over a loader (the DETR ``engine.py`` split; metrics are
``trdetr_cap.eval.evaluate``'s job).

Losses are accumulated on the device and read back once per epoch, so the loop adds no host syncs of its own beyond
the per-step finiteness check (the Hungarian matcher already syncs every step).
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import nullcontext
from typing import Any

import torch

from trdetr_cap.config import PostprocessConfig
from trdetr_cap.data import move_to_device
from trdetr_cap.engine.postprocess import outputs_to_submission
from trdetr_cap.utils.progress import progress as progress_bar


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the message lists every loss term of the offending step."""


def autocast_context(device: torch.device, amp: bool):
    """bf16 autocast on CUDA when ``amp`` (no grad scaler needed for bf16); a no-op elsewhere."""
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def to_float32(obj: Any) -> Any:
    """Cast floating tensors in a (nested) output dict to fp32, so the losses never run in bf16."""
    if torch.is_tensor(obj):
        return obj.float() if obj.is_floating_point() else obj
    if isinstance(obj, dict):
        return {k: to_float32(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_float32(v) for v in obj]
    return obj


def weighted_losses(losses: dict[str, torch.Tensor], weight_dict: dict[str, float]) -> dict[str, torch.Tensor]:
    """Weighted terms (the ones that enter the objective) plus logged-only values unweighted, plus ``loss_overall``."""
    logged = {k: v * weight_dict[k] if k in weight_dict else v for k, v in losses.items()}
    logged["loss_overall"] = sum(losses[k] * weight_dict[k] for k in weight_dict if k in losses)
    return logged


class LossMeter:
    """Per-sample averages of each loss, kept on the device until :meth:`averages` (one sync per epoch)."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def update(self, losses: dict[str, torch.Tensor | float], n: int) -> None:
        device = next((v.device for v in losses.values() if torch.is_tensor(v)), torch.device("cpu"))
        for k, v in losses.items():
            v = torch.as_tensor(v, device=device).detach().float() * n
            self.sums[k] = self.sums[k] + v if k in self.sums else v
        self.count += n

    def averages(self) -> dict[str, float]:
        if not self.sums:
            return {}
        keys = list(self.sums)
        values = (torch.stack([self.sums[k] for k in keys]) / max(self.count, 1)).tolist()
        return dict(zip(keys, values, strict=True))


def _non_finite_outputs(outputs: dict[str, Any]) -> list[str]:
    return [k for k, v in outputs.items() if torch.is_tensor(v) and v.is_floating_point() and not v.isfinite().all()]


def _criterion_or_non_finite(criterion, outputs, targets, epoch: int, step: int) -> dict[str, torch.Tensor]:
    """``criterion(outputs, targets)``; NaN outputs make the Hungarian matcher raise first, reported as non-finite."""
    try:
        return criterion(outputs, targets)
    except ValueError:
        bad = _non_finite_outputs(outputs)
        if bad:
            raise NonFiniteLossError(f"non-finite loss at epoch {epoch + 1}, step {step + 1}: "
                                     f"the model outputs {', '.join(bad)} contain NaN/inf") from None
        raise


def uses_denoising(model: torch.nn.Module) -> bool:
    """Whether the model (possibly DDP-wrapped or compiled) trains with denoising queries (``dn_groups`` > 0)."""
    base = getattr(model, "_orig_mod", model)
    base = getattr(base, "module", base)
    return getattr(base, "dn_groups", 0) > 0


def training_inputs(batch: dict[str, Any], denoising: bool) -> dict[str, Any]:
    """The model's keyword inputs for a training step: ``batch["inputs"]``, plus the ground-truth spans the
    denoising queries are made from when ``denoising`` (``uses_denoising(model)``)."""
    if not denoising:
        return batch["inputs"]
    return {**batch["inputs"], "dn_span_labels": batch["targets"]["span_labels"]}


def train_one_epoch(
    model: torch.nn.Module,
    criterion: torch.nn.Module,
    loader: Iterable[dict[str, Any]],
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    epoch: int,
    grad_clip: float = 0.1,
    amp: bool = False,
    progress: bool = True,
    lr_scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> dict[str, float]:
    """One pass over ``loader``: forward, weighted loss sum, backward, grad-norm clip, step (and ``lr_scheduler``
    after every step when given: the per-step schedules of engine/schedule.py).

    Returns per-sample averages of the weighted losses (``loss_overall`` included; logged-only values unweighted).
    Raises :class:`NonFiniteLossError` before the optimizer step of a step whose total loss is NaN/inf.
    """
    model.train()
    criterion.train()
    weight_dict = criterion.weight_dict
    meter = LossMeter()
    denoising = uses_denoising(model)
    for step, batch in enumerate(progress_bar(loader, f"train epoch {epoch + 1}", unit="batch", disable=not progress)):
        batch = move_to_device(batch, device)
        inputs = training_inputs(batch, denoising)
        with autocast_context(device, amp):
            outputs = model(**inputs)
        losses = _criterion_or_non_finite(criterion, to_float32(outputs), batch["targets"], epoch, step)
        logged = weighted_losses(losses, weight_dict)
        total = logged["loss_overall"]
        if not torch.isfinite(total):
            terms = ", ".join(f"{k}={float(v):.4g}" for k, v in losses.items())
            raise NonFiniteLossError(f"non-finite loss at epoch {epoch + 1}, step {step + 1}: {terms}")
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        if lr_scheduler is not None:
            lr_scheduler.step()
        meter.update(logged, n=len(batch["meta"]))
    return meter.averages()


@torch.no_grad()
def run_inference(
    model: torch.nn.Module,
    criterion: torch.nn.Module | None,
    loader: Iterable[dict[str, Any]],
    device: torch.device,
    post_cfg: PostprocessConfig,
    clip_len: float,
    amp: bool = False,
    progress: bool = True,
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Run the model over ``loader`` and build submission rows (``postprocess.py`` says how).

    Returns (rows in loader order, per-sample averaged weighted eval losses; empty when ``criterion`` is None or the
    split has no labels).
    """
    model.eval()
    if criterion is not None:
        criterion.eval()
    rows: list[dict[str, Any]] = []
    meter = LossMeter()
    for batch in progress_bar(loader, "inference", unit="batch", disable=not progress):
        batch = move_to_device(batch, device)
        with autocast_context(device, amp):
            outputs = model(**batch["inputs"])
        outputs = to_float32(outputs)
        rows.extend(outputs_to_submission(outputs, batch["meta"], post_cfg, clip_len))
        if criterion is not None and batch.get("targets") is not None:
            meter.update(weighted_losses(criterion(outputs, batch["targets"]), criterion.weight_dict),
                         n=len(batch["meta"]))
    return rows, meter.averages()
