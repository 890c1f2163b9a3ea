"""Device names (``--device``) -> the device to use: the one place a device string is checked."""

from __future__ import annotations

import torch

from trdetr_cap.errors import UserError


def select_device(name: str) -> torch.device:
    """``auto`` -> ``cuda`` when available, else ``cpu``; any other name is checked: an unknown name, or a CUDA device
    this machine does not have, raises a one-line :class:`UserError`."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"--device {name}: unknown device (expected auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {name}: CUDA is not available on this machine")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UserError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


def resolve_device(name: str) -> str:
    """:func:`select_device` as a string (what ``from_pretrained(...).to`` and the extractors take)."""
    return str(select_device(name))
