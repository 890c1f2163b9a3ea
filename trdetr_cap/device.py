"""The one place a device name (``--device``, ``train.device``) becomes a ``torch.device``.

Training, prediction, feature extraction, captioning and ``MomentRetriever`` all call :func:`resolve_device`, so a
name means the same everywhere and a bad one fails before any model or data is loaded.
"""

from __future__ import annotations

import re

import torch

from trdetr_cap.errors import UserError

DEVICE_NAMES = "auto, cpu, cuda, cuda:N or mps"


def resolve_device(name: str | torch.device) -> torch.device:
    """``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` -> ``torch.device``.

    Raises :class:`~trdetr_cap.errors.UserError` (one line) for an unknown name, a CUDA / MPS device this machine
    does not have, or a CUDA index past the visible devices.
    """
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not torch.backends.mps.is_available():
            raise UserError("device 'mps': MPS is not available on this machine")
        return torch.device("mps")
    match = re.fullmatch(r"cuda(?::(\d+))?", name)
    if match is None:
        raise UserError(f"unknown device {name!r}: use {DEVICE_NAMES}")
    if not torch.cuda.is_available():
        raise UserError(f"device {name!r}: CUDA is not available on this machine")
    if match.group(1) is not None and int(match.group(1)) >= torch.cuda.device_count():
        raise UserError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return torch.device(name)
