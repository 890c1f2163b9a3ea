"""A YAML or command-line value checked and converted to its field's type and bounds."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal

from trdetr_cap.config.schema import DEVICE_PATTERN, ConfigError


def coerce(value: Any, typ: Any, where: str) -> Any:
    """Check/convert a YAML or command-line value to the field's type; errors name ``where`` (file/flag, field)."""
    origin = typing.get_origin(typ)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(typ) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
            return None
        return coerce(value, inner, where)
    if origin is Literal:
        choices = typing.get_args(typ)
        if value not in choices:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(choices)}")
        return value
    if origin is list:
        (item_t,) = typing.get_args(typ)
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [coerce(v, item_t, where) for v in value]
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if typ is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if typ is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if typ is str and isinstance(value, str):
        return value
    if isinstance(value, str) and typ in (int, float):
        try:
            return typ(value)
        except ValueError:
            pass
    raise ConfigError(f"{where}: expected {getattr(typ, '__name__', typ)}, got {value!r}")


def check_value(value: Any, f: dataclasses.Field, typ: Any, where: str) -> Any:
    """``value`` coerced to the field's type and checked against its bounds (and the device pattern)."""
    value = coerce(value, typ, where)
    above, at_most = f.metadata.get("above"), f.metadata.get("at_most")
    if value is not None and above is not None and not value > above:
        raise ConfigError(f"{where}: must be > {above:g}{' (or none)' if type(None) in typing.get_args(typ) else ''}"
                          f", got {value!r}")
    if value is not None and at_most is not None and value > at_most:
        raise ConfigError(f"{where}: must be <= {at_most:g}, got {value!r}")
    if f.name == "device" and not DEVICE_PATTERN.fullmatch(value):
        raise ConfigError(f"{where}: {value!r} is not one of auto, cpu, cuda, cuda:N, mps")
    return value
