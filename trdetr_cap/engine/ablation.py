"""Ablations: train every variant x seed (resumable, several at a time) and tabulate their best val metrics.

    python -m trdetr_cap.engine.ablation run configs/ablations/captions.yaml --out runs/ablate_captions \\
        [--seeds 2017 2018 2019] [--jobs 2] [-- extra train flags, e.g. --n_epoch 6 --device cuda]
    python -m trdetr_cap.engine.ablation table runs/ablate_captions [--out FILE] [--title TEXT]

A variants file (YAML) names the base config, flags shared by every run, and each variant's flags and note::

    config: configs/synthetic.yaml          # a --config among the extra flags replaces it
    common: {cap_early_fusion: none}        # flags for every variant (the variant's own win)
    variants:
      baseline: {note: video only (TR-DETR), flags: {cap_feat_path: ""}}
      a_early: {note: "(a) ...", flags: {cap_feat_path: $CAP_FEAT_PATH, cap_early_fusion: gated}}
    env: {CAP_FEAT_PATH: data/synthetic/caption_features.h5}   # defaults for $NAME values (the environment wins)

Runs go to ``OUT/<variant>/seed<k>`` (``python -m trdetr_cap.train`` in a subprocess, its stderr in
``OUT/<variant>.seed<k>.log``); a finished run (``best_val_metrics.json`` and "done" in its train.log) is skipped, an
unfinished one is started over. The table (``OUT/ablation.md``) has one row per variant: mean ± sample standard
deviation over seeds of each run's best val epoch (chosen on MR-full-mAP).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from trdetr_cap.errors import yaml_error
from trdetr_cap.utils.io import atomic_write_text

METRICS = ("MR-full-mAP", "MR-full-R1@0.5", "MR-full-R1@0.7", "HL-min-VeryGood-mAP", "HL-min-VeryGood-Hit1",
           "MR-mIoU", "mAP")
DEFAULT_SEEDS = (2017, 2018, 2019)


@dataclass(frozen=True)
class Variants:
    """A parsed variants file: base config, shared flags, {name: (note, flags)} in file order."""

    config: str
    common: dict[str, Any]
    variants: dict[str, tuple[str, dict[str, Any]]]


def load_variants(path: str | Path, environ: dict[str, str] | None = None) -> Variants:
    """Read a variants file; ``$NAME`` values are replaced from ``environ`` (default os.environ), then ``env:``."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise yaml_error(path, e) from None
    if not isinstance(data, dict) or not isinstance(data.get("variants"), dict) or not data["variants"]:
        raise ValueError(f"{path}: needs a non-empty 'variants:' mapping")
    env = {**{k: str(v) for k, v in (data.get("env") or {}).items()}, **(os.environ if environ is None else environ)}

    def resolve(flags: Any, where: str) -> dict[str, Any]:
        if not isinstance(flags, dict):
            raise ValueError(f"{path}: {where}: expected a mapping of flags, got {flags!r}")
        def one(value: Any, key: str) -> Any:
            if isinstance(value, str) and value.startswith("$"):
                if value[1:] not in env:
                    raise ValueError(f"{path}: {where}.{key}: {value} is not set (environment or env:)")
                return env[value[1:]]
            return value

        # a list (e.g. v_feat_dirs) may hold $NAME items too
        return {key: [one(v, key) for v in value] if isinstance(value, list) else one(value, key)
                for key, value in flags.items()}

    variants = {}
    for name, spec in data["variants"].items():
        spec = spec or {}
        variants[str(name)] = (str(spec.get("note", "")), resolve(spec.get("flags") or {}, f"variants.{name}.flags"))
    return Variants(str(data.get("config", "")), resolve(data.get("common") or {}, "common"), variants)


def to_argv(flags: dict[str, Any]) -> list[str]:
    """{field: value} -> ["--field", "value", ...] (lists as several values, booleans as true/false, "" as --field=)."""
    argv = []
    for key, value in flags.items():
        if isinstance(value, bool):
            argv += [f"--{key}", str(value).lower()]
        elif isinstance(value, list):
            argv += [f"--{key}", *map(str, value)]
        elif value == "" or value is None:
            argv.append(f"--{key}=")
        else:
            argv += [f"--{key}", str(value)]
    return argv


def is_finished(run_dir: Path) -> bool:
    """A run that wrote its best metrics and logged its end."""
    log = run_dir / "train.log"
    return (run_dir / "best_val_metrics.json").is_file() and log.is_file() and " INFO done" in log.read_text()


def run_ablation(spec: Variants, out: Path, seeds: list[int], jobs: int = 1, extra: list[str] | None = None,
                 python: str = sys.executable) -> list[str]:
    """Train every unfinished (variant, seed) run, ``jobs`` at a time; returns the failed runs' log paths."""
    extra = list(extra or [])
    base = [] if "--config" in extra else ["--config", spec.config] if spec.config else []
    todo = []
    for name, (_, flags) in spec.variants.items():
        for seed in seeds:
            run_dir = out / name / f"seed{seed}"
            if is_finished(run_dir):
                print(f"[ablate] {run_dir} done, skipping", flush=True)
                continue
            argv = [*base, *to_argv(spec.common), *extra, *to_argv(flags), "--seed", str(seed),
                    "--out", str(run_dir)]
            todo.append((run_dir, out / f"{name}.seed{seed}.log", argv))
    env = dict(os.environ)
    if jobs > 1:
        env.setdefault("OMP_NUM_THREADS", "1")  # parallel runs on CPU: one thread each, no oversubscription

    def one(item: tuple[Path, Path, list[str]]) -> str | None:
        run_dir, log, argv = item
        shutil.rmtree(run_dir, ignore_errors=True)  # an unfinished run starts over
        log.parent.mkdir(parents=True, exist_ok=True)
        print(f"[ablate] start {run_dir}", flush=True)
        with open(log, "w") as f:
            code = subprocess.run([python, "-m", "trdetr_cap.train", *argv], stdout=subprocess.DEVNULL, stderr=f,
                                  env=env).returncode
        print(f"[ablate] {'done' if code == 0 else f'FAILED (exit {code}), see {log}'}: {run_dir}", flush=True)
        return None if code == 0 else str(log)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return [log for log in pool.map(one, todo) if log is not None]


# ---------------------------------------------------------------------------------------------------------- table
def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def collect(runs_dir: Path) -> dict[str, list[dict[str, float]]]:
    """variant -> list of brief metric dicts, one per finished seed run (runs without metrics are skipped)."""
    table: dict[str, list[dict[str, float]]] = {}
    for variant_dir in sorted(p for p in runs_dir.iterdir() if p.is_dir()):
        briefs = [json.loads(f.read_text())["brief"] for f in sorted(variant_dir.glob("seed*/best_val_metrics.json"))]
        if briefs:
            table[variant_dir.name] = briefs
    return table


def markdown_table(table: dict[str, list[dict[str, float]]], notes: dict[str, str] | None = None) -> str:
    """Rows in the order of ``notes`` (then any other variant by name), labelled ``name: note``."""
    notes = notes or {}
    metrics = [m for m in METRICS if all(b.get(m) is not None for briefs in table.values() for b in briefs)]
    names = [v for v in notes if v in table] + sorted(set(table) - set(notes))
    lines = ["| variant | seeds | " + " | ".join(metrics) + " |", "|---|---|" + "---|" * len(metrics)]
    for name in names:
        cells = [f"{m:.2f} ± {s:.2f}" for m, s in (mean_std([float(b[k]) for b in table[name]]) for k in metrics)]
        label = f"{name}: {notes[name]}" if notes.get(name) else name
        lines.append(f"| {label} | {len(table[name])} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_table(runs_dir: Path, out: Path | None = None, title: str = "") -> str:
    """Tabulate ``runs_dir`` (notes and order from its ``variants.yaml`` copy when present) into ``out``."""
    table = collect(runs_dir)
    if not table:
        raise ValueError(f"no <variant>/seed*/best_val_metrics.json under {runs_dir}")
    copy = runs_dir / "variants.yaml"
    variants = (yaml.safe_load(copy.read_text()) or {}).get("variants") or {} if copy.is_file() else {}
    notes = {str(name): str((spec or {}).get("note", "")) for name, spec in variants.items()}
    text = (title + "\n\n" if title else "") + markdown_table(table, notes)
    atomic_write_text(out or runs_dir / "ablation.md", text)
    return text


if __name__ == "__main__":
    from trdetr_cap.commands.ablate import main

    raise SystemExit(main())
