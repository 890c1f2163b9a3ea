"""Typed configuration: one dataclass per concern, YAML files in ``configs/``, argparse generated from the fields.

Every field has a unique name across all sections, so the command line is flat and keeps TR-DETR's argument names
(``--bsz --lr --n_epoch --seed --v_feat_dirs ...``). Resolution order: dataclass defaults < YAML (a file may name a
``_base_`` YAML it extends, relative to itself) < command-line flags. The resolved config is plain data
(``to_dict``) and is stored beside every checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass
class DataConfig:
    """What is read from disk and how samples are labelled (the original's tr_detr/start_end_dataset.py)."""

    dataset: str = "qvhighlights"  # qvhighlights | charades | tvsum
    train_path: str = ""  # annotation jsonl
    eval_path: str = ""  # annotation jsonl used for validation / model selection
    v_feat_dirs: list[str] = field(default_factory=list)  # npz directories or packed .h5 files, concatenated in order
    t_feat_dir: str = ""  # query token features (npz directory or packed .h5)
    a_feat_dir: str = ""  # optional audio features (PANN); empty = no audio
    cap_feat_path: str = ""  # caption features HDF5 (one (n_clips, D) dataset per vid); empty = no captions
    tvsum_domain: str = ""  # TVSum: train/evaluate one domain (BK BT DS FM GA MS PK PR VT VU)
    preload: str = "auto"  # auto | always | never: hold feature stores in RAM
    max_v_l: int = 75
    max_q_l: int = 32
    clip_len: float = 2.0  # seconds per feature row
    max_windows: int = 5
    use_tef: bool = True  # append [i/L, (i+1)/L] to each clip (ctx_mode=video_tef)
    normalize_v: bool = True
    normalize_t: bool = True
    txt_drop_ratio: float = 0.0
    num_workers: int = 0  # 0 on CPU: loader workers beside torch's threads thrash a 2-core machine


@dataclass
class FixConfig:
    """Switches for the original code's bugs (docs/model.md). False = faithful to TR-DETR (the default)."""

    fix_pos_mask_overflow: bool = False  # pos_mask / saliency labels never grow beyond L
    fix_window_shuffle: bool = False  # subsample >max_windows windows on a copy, not in the annotation in place
    fix_hd2mr_mask: bool = False  # mask padded clips out of the HD2MR softmax
    fix_t2v_attn_mask: bool = False  # T2V: drop the original's mis-tiled (padded video x padded text) attn_mask
    fix_mr2hd_span: bool = False  # MR2HD: own length, clamped indices, packed GRU (undamped: hurts HD, docs/model.md)
    fix_vtc_mask: bool = False  # VTC global vectors are masked means
    fix_ctc_mask: bool = False  # CTC averages over valid clips only, text global renormalised
    fix_rank_divisor: bool = False  # rank contrastive divides by the number of thresholds used (11), not 12


@dataclass
class ModelConfig:
    """TR-DETR architecture (the original's tr_detr/model.py, transformer.py). Defaults are the QVHighlights model."""

    v_feat_dim: int = 0  # input width incl. TEF (and audio); 0 = inferred from the data
    t_feat_dim: int = 512
    hidden_dim: int = 256  # must be 256: the anchor sine embedding is 128 + 128
    nheads: int = 8
    dim_feedforward: int = 1024
    t2v_layers: int = 2
    enc_layers: int = 2
    dec_layers: int = 2
    num_queries: int = 10
    dropout: float = 0.1
    input_dropout: float = 0.5
    n_input_proj: int = 2
    use_txt_pos: bool = False
    keep_txt_pos_embed: bool = True  # create the never-used text position embedding (8,704 params) as the original
    aux_loss: bool = True
    mr2hd_scale: float = 1.0  # multiplies the MR2HD weights w_t = <g, v_t>; 1 = the original


@dataclass
class CaptionConfig:
    """Caption-guided fusion (this project's extension). All off = the TR-DETR baseline exactly."""

    cap_feat_dim: int = 512
    cap_early_fusion: str = "none"  # none | concat | gated: (a) captions joined to the clip features
    cap_cross_attn: bool = False  # (b) captions as a second text stream in the refinement / T2V stage
    cap_sim_prior: bool = False  # (c) caption-query similarity prior on saliency and HD2MR weights
    cap_prior_init: float = 0.0  # initial (learned) strength of the prior
    cap_align_loss_coef: float = 0.0  # (d) caption-clip alignment loss weight; 0 = off
    cap_dropout: float = 0.1  # drop whole caption rows in training so the model never relies on them blindly
    # generating and embedding captions (python -m trdetr_cap.captions)
    cap_model: str = "OpenGVLab/InternVL2-8B"  # the captioner: hub name or local directory
    cap_backend: str = "internvl2"  # internvl2 (its remote code) | transformers (-hf checkpoints) | vllm
    cap_prompt: str = "Describe what happens in this short video clip in one sentence."
    cap_window: float = 2.0  # seconds of video each caption sees, centred on its clip
    cap_stride: float = 2.0  # seconds between captions (2 = one caption per feature clip)
    cap_frames: int = 2  # frames per window shown to the captioner, spread evenly over it
    cap_max_new_tokens: int = 48
    cap_text_encoder: str = "openai/clip-vit-base-patch32"  # embeds captions (CLIP text, projected pooled output)


@dataclass
class LossConfig:
    """Matcher costs and loss weights (the original's tr_detr/matcher.py and SetCriterion in tr_detr/model.py)."""

    set_cost_span: float = 10.0
    set_cost_giou: float = 1.0
    set_cost_class: float = 4.0
    span_loss_coef: float = 10.0
    giou_loss_coef: float = 1.0
    label_loss_coef: float = 4.0
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    lw_saliency: float = 1.0
    saliency_margin: float = 0.2
    rank_tau: float = 0.5
    vtc_loss_coef: float = 0.3
    ctc_loss_coef: float = 0.5
    align_temperature: float = 0.07
    use_matcher: bool = True  # False for TVSum: saliency + alignment losses only


@dataclass
class TrainConfig:
    """Optimisation, schedule, logging and run directory (the original's tr_detr/train.py)."""

    results_dir: str = "runs/default"  # exactly where a run's outputs go
    resume: str = ""  # a run directory to continue
    bsz: int = 32
    eval_bsz: int = 100
    lr: float = 1e-4
    wd: float = 1e-4
    lr_drop: int = 400
    grad_clip: float = 0.1
    n_epoch: int = 200
    eval_epoch_interval: int = 5
    max_es_cnt: int = 200  # early stopping: evaluations without improvement
    seed: int = 2017
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = False  # bf16 autocast on CUDA (ignored on CPU); off = fp32 as the original
    deterministic: bool = False
    count_params: bool = False  # print "params: N" and exit


@dataclass
class PostprocessConfig:
    """Model outputs -> submission rows (the original's tr_detr/inference.py:175 ``compute_mr_results``)."""

    max_duration: float = 150.0  # clamp windows to [0, max_duration]; <=0 = use each video's duration
    round_to_clip: bool = True  # round endpoints to multiples of clip_len (half to even, as the original)
    span_scale: str = "duration"  # duration (original) | feat_len (L * clip_len, matches training)
    nms_thd: float = -1.0  # -1 = no NMS
    max_before_nms: int = 10
    max_after_nms: int = 10


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    fixes: FixConfig = field(default_factory=FixConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    caption: CaptionConfig = field(default_factory=CaptionConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    post: PostprocessConfig = field(default_factory=PostprocessConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


SECTIONS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Config))


def _field_index() -> dict[str, tuple[str, dataclasses.Field]]:
    """Flat field name -> (section, field). Names are unique across sections by construction (checked)."""
    index: dict[str, tuple[str, dataclasses.Field]] = {}
    for section in dataclasses.fields(Config):
        for f in dataclasses.fields(section.default_factory()):  # type: ignore[misc]
            if f.name in index:
                raise RuntimeError(f"config field {f.name!r} appears in two sections")
            index[f.name] = (section.name, f)
    return index


def _resolved_type(section: str, f: dataclasses.Field) -> Any:
    cls = type(getattr(Config(), section))
    return typing.get_type_hints(cls)[f.name]


def _coerce(value: Any, typ: Any, where: str) -> Any:
    """Check/convert a YAML or CLI value to the field's type; errors name the field."""
    origin = typing.get_origin(typ)
    if origin in (list, typing.List):  # noqa: UP006
        (item_t,) = typing.get_args(typ)
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where}: expected a list, got {value!r}")
        return [_coerce(v, item_t, where) for v in value]
    if origin in (typing.Union, types.UnionType):
        raise TypeError(f"{where}: union types are not supported in config")
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{where}: expected true/false, got {value!r}")
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
    raise ValueError(f"{where}: expected {getattr(typ, '__name__', typ)}, got {value!r}")


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a YAML config, following ``_base_`` (a path relative to the file) first."""
    path = path.resolve()
    if path in seen:
        raise ValueError(f"{path}: _base_ cycle")
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: top level must be a mapping of sections")
    base = raw.pop("_base_", None)
    merged = _read_yaml(path.parent / base, (*seen, path)) if base else {}
    for section, values in raw.items():
        if section not in SECTIONS:
            raise ValueError(f"{path}: unknown section {section!r} (expected one of {', '.join(SECTIONS)})")
        if not isinstance(values, dict):
            raise ValueError(f"{path}: section {section!r} must be a mapping")
        merged.setdefault(section, {}).update(values)
    return merged


def from_dict(data: dict[str, Any], source: str = "<dict>") -> Config:
    """Build a Config from ``{section: {field: value}}``; unknown keys and wrong types raise naming ``source``."""
    cfg = Config()
    for section, values in data.items():
        if section not in SECTIONS:
            raise ValueError(f"{source}: unknown section {section!r}")
        sub = getattr(cfg, section)
        names = {f.name: f for f in dataclasses.fields(sub)}
        for key, value in values.items():
            if key not in names:
                raise ValueError(f"{source}: unknown field {section}.{key}")
            typ = _resolved_type(section, names[key])
            setattr(sub, key, _coerce(value, typ, f"{source}: {section}.{key}"))
    return cfg


def apply_overrides(cfg: Config, overrides: dict[str, Any]) -> Config:
    """A copy of ``cfg`` with flat ``{field: value}`` overrides applied (values coerced; errors name ``--field``)."""
    cfg = from_dict(cfg.to_dict(), "<config>")
    index = _field_index()
    for key, value in overrides.items():
        if key not in index:
            raise ValueError(f"unknown config field {key!r}")
        section, f = index[key]
        setattr(getattr(cfg, section), key, _coerce(value, _resolved_type(section, f), f"--{key}"))
    return cfg


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """YAML file (with ``_base_``) plus flat ``{field: value}`` overrides -> Config."""
    data = _read_yaml(Path(path)) if path else {}
    return apply_overrides(from_dict(data, str(path or "<defaults>")), overrides or {})


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--config`` plus one ``--<field>`` flag per config field (default None = not given)."""
    parser.add_argument("--config", type=str, default=None, help="YAML config file (may name a _base_)")
    for name, (section, f) in _field_index().items():
        typ = _resolved_type(section, f)
        default = getattr(getattr(Config(), section), name)
        if typ is bool:
            parser.add_argument(f"--{name}", nargs="?", const="true", default=None, metavar="BOOL",
                                help=f"[{section}] default {default}")
        elif typing.get_origin(typ) is list:
            parser.add_argument(f"--{name}", nargs="+", default=None, help=f"[{section}] default {default}")
        else:
            parser.add_argument(f"--{name}", type=str, default=None, help=f"[{section}] default {default}")


def cli_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The config fields given explicitly on the command line, as flat ``{field: value}``."""
    index = _field_index()
    return {k: v for k, v in vars(args).items() if k in index and v is not None}


def config_from_args(args: argparse.Namespace) -> Config:
    """Resolve defaults < ``--config`` YAML < explicit flags."""
    return load_config(getattr(args, "config", None), cli_overrides(args))


def save_config(cfg: Config, path: str | Path) -> None:
    """Write the resolved config as plain YAML, atomically."""
    from trdetr_cap.utils.io import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
