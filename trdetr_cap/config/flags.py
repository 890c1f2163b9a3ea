"""Command-line flags from the config fields (one ``--<field>`` each, help and default from the field)."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Iterable
from typing import Any, Literal

from trdetr_cap.config.loading import load_config, run_config
from trdetr_cap.config.schema import FIELDS, RUN_FIELDS, SECTION_TYPES, SECTIONS, Config, RunConfig


def _flag_help(f: dataclasses.Field, default: Any) -> str:
    shown = "none" if default in (None, []) else " ".join(default) if isinstance(default, list) else default
    return f"{f.metadata.get('help', '')} (default: {shown})".replace("%", "%%")


def _add_field_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup, name: str) -> None:
    section, f, typ = FIELDS[name]
    default = getattr(RunConfig() if section == "run" else getattr(Config(), section), name)
    flags = [f"--{name}"]
    if typing.get_origin(typ) in (typing.Union, types.UnionType):  # X | None: flagged as X ("none" unsets it)
        (typ,) = [a for a in typing.get_args(typ) if a is not type(None)]
    help_text = _flag_help(f, default)
    if typ is bool:
        parser.add_argument(*flags, dest=name, nargs="?", const="true", default=None, metavar="BOOL", help=help_text)
    elif typing.get_origin(typ) is list:
        parser.add_argument(*flags, dest=name, nargs="+", default=None, metavar="PATH", help=help_text)
    else:
        if typing.get_origin(typ) is Literal:
            metavar = "{" + ",".join(typing.get_args(typ)) + "}"
        elif typ is str:
            metavar = "PATH" if name.endswith(("_path", "_dir", "out", "resume")) else "TEXT"
        else:
            metavar = typ.__name__.upper()
        parser.add_argument(*flags, dest=name, type=str, default=None, metavar=metavar, help=help_text)


def add_config_arguments(parser: argparse.ArgumentParser, sections: Iterable[str] = SECTIONS,
                         config_files: bool = True, only: Iterable[str] | None = None) -> None:
    """``--config`` (repeatable; later files win) and one ``--<field>`` flag per field of ``sections`` (or just
    the fields named in ``only``), grouped by section; every default is None = not given."""
    if config_files:
        parser.add_argument("--config", action="append", default=None, metavar="YAML",
                            help="config overlay; repeat to compose (dataset, features, captions, recipe): "
                                 "later files win")
    wanted = set(only) if only is not None else None
    for section in sections:
        names = [n for n, (s, _, _) in FIELDS.items() if s == section and (wanted is None or n in wanted)]
        if names:
            doc = (SECTION_TYPES[section].__doc__ or "").split(" (")[0].rstrip(".")
            group = parser.add_argument_group(f"{section}: {doc[:1].lower()}{doc[1:]}")
            for name in names:
                _add_field_argument(group, name)


def add_run_arguments(parser: argparse.ArgumentParser, names: Iterable[str] = RUN_FIELDS) -> None:
    """One flag per named run option (``--out`` also answers to its older spelling ``--results_dir``, unlisted)."""
    group = parser.add_argument_group("run options (not part of the experiment)")
    for name in names:
        _add_field_argument(group, name)
        if name == "out":
            group.add_argument("--results_dir", dest="out", default=None, help=argparse.SUPPRESS)


def cli_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The experiment fields given explicitly on the command line, as flat ``{field: value}``."""
    return {k: v for k, v in vars(args).items() if k in FIELDS and FIELDS[k][0] != "run" and v is not None}


def run_from_args(args: argparse.Namespace) -> RunConfig:
    """The run options given on the command line over RunConfig's defaults."""
    return run_config({k: v for k, v in vars(args).items() if k in RUN_FIELDS and v is not None})


def config_from_args(args: argparse.Namespace) -> Config:
    """Resolve defaults < ``--config`` overlays < explicit flags."""
    return load_config(getattr(args, "config", None), cli_overrides(args))
