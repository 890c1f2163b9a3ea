"""Plain-dict checkpoints (state dicts, resolved config, RNG states), loadable with ``torch.load(weights_only=True)``.

:func:`load_model` is the one way to get a model out of a checkpoint (prediction, ``MomentRetriever``); the weights
of any other source (an original TR-DETR checkpoint, an exported folder) go through :func:`model_from_state_dict`.

A checkpoint holds everything ``--resume`` needs to continue a run bit-for-bit on the same hardware: model, optimizer
and scheduler states, the 0-based epoch just finished, the model-selection state (best score, early-stopping count)
and the python / numpy / torch / CUDA RNG states at the moment it was written. Nothing is pickled beyond plain
containers, numbers, strings and tensors (the original pickled an argparse Namespace, tr_detr/train.py:190, which
torch >= 2.6 loads only with ``weights_only=False``).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trdetr_cap.config import Config, apply_overrides, from_dict
from trdetr_cap.device import resolve_device
from trdetr_cap.errors import UserError
from trdetr_cap.models import build_model
from trdetr_cap.utils.io import atomic_write_bytes

CHECKPOINT_FORMAT = 1


def capture_rng_state() -> dict[str, Any]:
    """All RNG states as plain data (numpy's key array becomes a uint32 tensor)."""
    np_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "bit_generator": np_state["bit_generator"],
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np_state = state["numpy"]
    np.random.set_state({
        "bit_generator": np_state["bit_generator"],
        "state": {"key": np_state["key"].numpy().astype(np.uint32), "pos": np_state["pos"]},
        "has_gauss": np_state["has_gauss"],
        "gauss": np_state["gauss"],
    })
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The bare model inside a DistributedDataParallel wrapper (or the model itself)."""
    return model.module if hasattr(model, "module") else model


def save_checkpoint(
    path: str | Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None,
    lr_scheduler: Any | None,
    epoch: int,
    config: dict[str, Any],
    train_state: dict[str, Any] | None = None,
) -> None:
    """Atomically write a checkpoint dict.

    Args:
        epoch: 0-based index of the last finished epoch.
        config: the resolved config as plain data (``Config.to_dict()``).
        train_state: model-selection bookkeeping, e.g. ``{"best_score", "best_epoch", "es_cnt"}`` (numbers only).
    """
    ckpt = {
        "format": CHECKPOINT_FORMAT,
        "model": unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "lr_scheduler": lr_scheduler.state_dict() if lr_scheduler is not None else None,
        "epoch": int(epoch),
        "config": config,
        "train_state": dict(train_state or {}),
        "rng": capture_rng_state(),
    }
    atomic_write_bytes(path, lambda f: torch.save(ckpt, f))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; a missing or foreign file raises naming the path."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a corrupt or foreign file
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise UserError(f"{path}: not a readable trdetr_cap checkpoint ({type(e).__name__}: {first})") from None
    if not isinstance(ckpt, dict):
        raise UserError(f"{path}: not a trdetr_cap checkpoint (a {type(ckpt).__name__}, not a dict)")
    missing = [k for k in ("model", "config", "epoch") if k not in ckpt]
    if missing:
        raise UserError(f"{path}: not a trdetr_cap checkpoint (missing keys: {', '.join(missing)})")
    return ckpt


def load_model_state(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str | Path) -> None:
    """``model.load_state_dict(state)`` where every weight fills exactly one parameter of the same shape; otherwise
    one line naming ``source`` and the first offending keys (a config override that changes the architecture, a
    checkpoint of another model) instead of torch's multi-line RuntimeError."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)} here" for k, v in state.items()
              if k in own and v.shape != own[k].shape]
    if missing or unexpected or shapes:
        problems = [f"{name}: {', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}"
                    for name, keys in (("missing", missing), ("unexpected", unexpected), ("shape", shapes)) if keys]
        raise UserError(f"{source}: the checkpoint does not fit the model its config builds ({'; '.join(problems)})")
    model.load_state_dict(state)


def model_from_state_dict(cfg: Config, state_dict: dict[str, torch.Tensor], source: str | Path) -> torch.nn.Module:
    """The model of ``cfg`` filled with ``state_dict`` (every weight must fill exactly one parameter of the same shape:
    :func:`load_model_state`). Returned in train mode on the CPU."""
    model, _ = build_model(cfg)
    load_model_state(model, state_dict, source)
    return model


def load_model(path: str | Path, overrides: dict[str, Any] | None = None,
               device: str | torch.device = "cpu") -> tuple[torch.nn.Module, Config]:
    """A checkpoint's model in eval mode on ``device`` and its config (with flat ``{field: value}`` ``overrides``
    applied first, e.g. feature paths on another machine or post-processing settings)."""
    ckpt = load_checkpoint(path)
    cfg = from_dict(ckpt["config"], f"{path} (config)")
    if overrides:
        cfg = apply_overrides(cfg, overrides)
    model = model_from_state_dict(cfg, ckpt["model"], path)
    return model.to(resolve_device(device)).eval(), cfg
