"""Building a config: YAML overlays (with ``_base_``) < flat overrides, checked as they are read; saving one."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from trdetr_cap.config.legacy import upgrade_legacy
from trdetr_cap.config.schema import FIELDS, RUN_FIELDS, SECTIONS, Config, ConfigError, RunConfig
from trdetr_cap.config.values import check_value


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, dict[str, Any]]:
    """One YAML overlay as ``{section: {field: value}}``, its ``_base_`` files (relative to it) merged first."""
    path = path.resolve()
    if path in seen:
        raise ConfigError(f"{path}: _base_ cycle")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: not valid YAML ({getattr(e, 'problem', None) or e})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    bases = raw.pop("_base_", None) or []
    merged: dict[str, dict[str, Any]] = {}
    for base in [bases] if isinstance(bases, str) else bases:
        _merge(merged, _read_yaml(path.parent / base, (*seen, path)))
    _merge(merged, _checked(upgrade_legacy(raw), str(path)))  # checked here so that an error names this file
    return merged


def _checked(data: dict[str, Any], source: str) -> dict[str, dict[str, Any]]:
    """``{section: {field: value}}`` with every section, field and value checked (values coerced to their types);
    errors name ``source``."""
    out: dict[str, dict[str, Any]] = {}
    for section, values in data.items():
        if section not in SECTIONS:
            raise ConfigError(f"{source}: unknown section {section!r} (expected one of {', '.join(SECTIONS)})")
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: section {section!r} must be a mapping")
        out[section] = {}
        for key, value in values.items():
            if key not in FIELDS or FIELDS[key][0] != section:
                raise ConfigError(f"{source}: unknown field {section}.{key}")
            out[section][key] = check_value(value, FIELDS[key][1], FIELDS[key][2], f"{source}: {section}.{key}")
    return out


def _merge(into: dict[str, dict[str, Any]], other: dict[str, Any]) -> None:
    for section, values in other.items():
        into.setdefault(section, {}).update(values)


def from_dict(data: dict[str, Any], source: str = "<dict>") -> Config:
    """Build a Config from ``{section: {field: value}}`` (an old layout is upgraded first); unknown keys, wrong
    types and values out of range raise ``ConfigError`` naming ``source``."""
    cfg = Config()
    for section, values in _checked(upgrade_legacy(data), source).items():
        for key, value in values.items():
            setattr(getattr(cfg, section), key, value)
    return cfg


def apply_overrides(cfg: Config, overrides: dict[str, Any]) -> Config:
    """A copy of ``cfg`` with flat ``{field: value}`` overrides applied (values checked; errors name ``--field``)."""
    cfg = from_dict(cfg.to_dict(), "<config>")
    for key, value in overrides.items():
        if key not in FIELDS or FIELDS[key][0] == "run":
            raise ConfigError(f"--{key}: unknown config field")
        section, f, typ = FIELDS[key]
        setattr(getattr(cfg, section), key, check_value(value, f, typ, f"--{key}"))
    return cfg


ConfigPaths = str | Path | Sequence[str | Path] | None


def _as_paths(paths: ConfigPaths) -> list[Path]:
    if paths is None:
        return []
    return [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]


def load_config(paths: ConfigPaths = None, overrides: dict[str, Any] | None = None) -> Config:
    """YAML overlays in order (later files win; each with its ``_base_``) plus flat ``{field: value}`` overrides."""
    merged: dict[str, dict[str, Any]] = {}
    for path in _as_paths(paths):
        _merge(merged, _read_yaml(path))
    return apply_overrides(from_dict(merged, ", ".join(map(str, _as_paths(paths))) or "<defaults>"), overrides or {})


def run_config(values: dict[str, Any]) -> RunConfig:
    """A RunConfig from flat ``{field: value}`` (checked like config fields; errors name ``--field``)."""
    run = RunConfig()
    for key, value in values.items():
        if key not in RUN_FIELDS:
            raise ConfigError(f"--{key}: unknown run option")
        section, f, typ = FIELDS[key]
        setattr(run, key, check_value(value, f, typ, f"--{key}"))
    return run


def default_run_dir(paths: ConfigPaths) -> str:
    """``runs/<config file names joined by +>`` (``runs/default`` without one): train's default ``--out``."""
    names = [p.stem for p in _as_paths(paths)]
    return f"runs/{'+'.join(names)}" if names else RunConfig().out


def save_config(cfg: Config, path: str | Path) -> None:
    """Write the resolved experiment as plain YAML, atomically."""
    from trdetr_cap.utils.io import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def save_run_config(run: RunConfig, path: str | Path) -> None:
    """Record a run's options (``run.yaml``) beside its config.yaml, atomically; nothing reads it back."""
    from trdetr_cap.utils.io import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(dataclasses.asdict(run), sort_keys=False))
