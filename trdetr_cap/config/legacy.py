"""Config dicts in the layout before the experiment/run split, recognised and upgraded."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from trdetr_cap.config.schema import CaptionerConfig

# run state and captioner settings as the layout before the experiment/run split kept them
_LEGACY_RUN_KEYS = {"train": ("results_dir", "resume", "device", "count_params"), "data": ("preload", "num_workers")}
_CAPTIONER_KEYS = tuple(f.name for f in dataclasses.fields(CaptionerConfig))
# the old "not set" values of fields that are None now (an empty string reads as None anyway)
_LEGACY_UNSET: dict[tuple[str, str], typing.Callable[[float], bool]] = {
    ("model", "v_feat_dim"): lambda v: v == 0, ("model", "t_feat_dim"): lambda v: v == 0,
    ("caption", "cap_feat_dim"): lambda v: v == 0, ("post", "max_duration"): lambda v: v <= 0,
    ("post", "nms_thd"): lambda v: v < 0,
}


def is_legacy(data: dict[str, Any]) -> bool:
    """True for a config dict in the layout before the run/captioner split (run state or captioner settings)."""
    sections = {s: v for s, v in data.items() if isinstance(v, dict)}
    return any(k in sections.get(s, {}) for s, keys in _LEGACY_RUN_KEYS.items() for k in keys) or \
        any(k in sections.get("caption", {}) for k in _CAPTIONER_KEYS)


def upgrade_legacy(data: dict[str, Any]) -> dict[str, Any]:
    """An old-layout config dict in the current layout (others are returned as they are): run state dropped (it is
    not part of the experiment: an old run's config.yaml starts a fresh run), captioner settings moved to
    ``captioner``, and the old sentinels (a width of 0, ``max_duration <= 0``, ``nms_thd < 0``) mapped to None."""
    if not is_legacy(data):
        return data
    out = {s: dict(v) if isinstance(v, dict) else v for s, v in data.items()}
    for section, keys in _LEGACY_RUN_KEYS.items():
        for key in keys:
            out.get(section, {}).pop(key, None)
    moved = {k: out["caption"].pop(k) for k in _CAPTIONER_KEYS if k in out.get("caption", {})}
    if moved:
        out["captioner"] = {**moved, **out.get("captioner", {})}
    for (section, key), unset in _LEGACY_UNSET.items():
        value = out.get(section, {}).get(key)
        if isinstance(value, (int, float)) and unset(value):
            out[section][key] = None
    return out
