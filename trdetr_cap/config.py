"""Typed configuration: the experiment (``Config``) apart from the run (``RunConfig``), YAML overlays, flags.

``Config`` is the experiment: data, fixes, model, caption fusion, captioner, loss, schedule and post-processing. A
run saves it as ``config.yaml`` and beside every checkpoint; reused as ``--config`` it starts a fresh run of the
same experiment. ``RunConfig`` is how one process runs it (output directory, resume, device, loader workers,
preloading): a run records it in ``run.yaml`` and it never enters an experiment.

Every field name is unique across sections, so the command line is flat and keeps TR-DETR's argument names
(``--bsz --lr --n_epoch --seed --v_feat_dirs ...``); a field's ``help`` metadata is its ``--help`` text. Resolution:
dataclass defaults (TR-DETR's QVHighlights values) < YAML overlays in order (``--config A --config B``: B wins; a
file may name a ``_base_`` file or list of files it extends, relative to itself) < command-line flags. Values are
checked as the config is built: an unknown key, a wrong type or a value outside a ``Literal``'s choices raises
``ConfigError``, one line naming the file or flag and the field. ``None`` (YAML ``null``, ``none`` or an empty value
on the command line) means "not set": a width inferred from the data, no NMS, no audio.

Config dicts written before this layout (run state in ``train``/``data``, the captioner in ``caption``, ``-1``/``0``/
``""`` for "not set") are recognised and upgraded by ``from_dict`` and the YAML reader (``upgrade_legacy``).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

Dataset = Literal["qvhighlights", "charades", "tvsum"]
TvsumDomain = Literal["BK", "BT", "DS", "FM", "GA", "MS", "PK", "PR", "VT", "VU"]
EarlyFusion = Literal["none", "concat", "gated"]
CaptionBackend = Literal["internvl2", "transformers", "vllm"]
SpanScale = Literal["duration", "feat_len"]
Preload = Literal["auto", "always", "never"]
AnchorInit = Literal["learned", "saliency"]
LrSchedule = Literal["step", "cosine"]

DEFAULT_CLIP_MODEL = "openai/clip-vit-base-patch32"  # the CLIP of the released features (video, query, captions)
DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


class ConfigError(ValueError):
    """A config value, key or file that cannot be used; the message is one line naming the file or flag and field."""


def setting(default: Any, help: str, *, above: float | None = None, at_most: float | None = None) -> Any:
    """A config field with its ``--help`` text; ``above``/``at_most`` bound a number (checked when it is set)."""
    meta = {"help": help, "above": above, "at_most": at_most}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class DataConfig:
    """What is read from disk and how samples are labelled (the original's tr_detr/start_end_dataset.py)."""

    dataset: Dataset = setting("qvhighlights", "annotation format, labels and metrics")
    train_path: str | None = setting(None, "training annotations (jsonl)")
    eval_path: str | None = setting(None, "validation annotations (jsonl): evaluation and model selection")
    v_feat_dirs: list[str] = setting([], "video features: npz directories or packed .h5 files, concatenated in order")
    t_feat_dir: str | None = setting(None, "query token features (npz directory or packed .h5)")
    a_feat_dir: str | None = setting(None, "audio features (PANN), joined to the video features; none = no audio")
    cap_feat_path: str | None = setting(None, "caption features (HDF5, one (n_clips, D) dataset per video); read "
                                              "only when a caption-fusion piece is on")
    tvsum_domain: TvsumDomain | None = setting(None, "TVSum: the one domain to train and evaluate")
    max_v_l: int = setting(75, "clips per video kept (longer videos are cut)", above=0)
    max_q_l: int = setting(32, "query tokens kept", above=0)
    clip_len: float = setting(2.0, "seconds per feature row", above=0)
    max_windows: int = setting(5, "ground-truth windows kept per query (more are subsampled)", above=0)
    use_tef: bool = setting(True, "append the temporal endpoint feature [i/L, (i+1)/L] to each clip")
    normalize_v: bool = setting(True, "L2-normalise each video feature row")
    normalize_t: bool = setting(True, "L2-normalise each query token feature")
    txt_drop_ratio: float = setting(0.0, "training: fraction of query tokens dropped")


@dataclass
class FixConfig:
    """Switches for the original code's bugs (docs/model.md). False = faithful to TR-DETR (the default)."""

    fix_pos_mask_overflow: bool = setting(False, "pos_mask / saliency labels never grow beyond L")
    fix_window_shuffle: bool = setting(False, "subsample >max_windows windows on a copy, not in the annotation")
    fix_hd2mr_mask: bool = setting(False, "mask padded clips out of the HD2MR softmax")
    fix_t2v_attn_mask: bool = setting(False, "T2V: drop the original's mis-tiled (padded video x text) attn_mask")
    fix_mr2hd_span: bool = setting(False, "MR2HD: own length, clamped indices, packed GRU (undamped it hurts HD)")
    fix_vtc_mask: bool = setting(False, "VTC global vectors are masked means")
    fix_ctc_mask: bool = setting(False, "CTC averages over valid clips only, text global renormalised")
    fix_rank_divisor: bool = setting(False, "rank contrastive divides by the thresholds used (11), not 12")


@dataclass
class ModelConfig:
    """TR-DETR architecture (the original's tr_detr/model.py, transformer.py); defaults: the QVHighlights model."""

    v_feat_dim: int | None = setting(None, "input width incl. TEF and audio; none = inferred from the data", above=0)
    t_feat_dim: int | None = setting(512, "query feature width; none = inferred from the data", above=0)
    hidden_dim: int = setting(256, "model width; must be 256: the anchor sine embedding is 128 + 128", above=0)
    nheads: int = setting(8, "attention heads", above=0)
    dim_feedforward: int = setting(1024, "feed-forward width", above=0)
    t2v_layers: int = setting(2, "text-to-video encoder layers", above=0)
    enc_layers: int = setting(2, "encoder layers (applied before and after HD2MR, shared weights)", above=0)
    dec_layers: int = setting(2, "decoder layers", above=0)
    num_queries: int = setting(10, "moment queries", above=0)
    dropout: float = setting(0.1, "transformer dropout")
    input_dropout: float = setting(0.5, "dropout in the input projections")
    n_input_proj: int = setting(2, "layers of each input projection", above=0)
    use_txt_pos: bool = setting(False, "add position embeddings to the query tokens")
    keep_txt_pos_embed: bool = setting(True, "create the never-used text position embedding (8,704 params) as "
                                             "the original")
    aux_loss: bool = setting(True, "losses on every decoder layer")
    mr2hd_scale: float = setting(1.0, "multiplies the MR2HD weights w_t = <g, v_t>; 1 = the original")
    # the fast-convergence recipe (configs/recipes/fast.yaml, docs/fast_recipe.md); the defaults are the original
    dn_groups: int = setting(0, "denoising: groups of noised ground-truth spans fed to the decoder as extra queries "
                                "in training; 0 = off (the original)")
    dn_span_noise: float = setting(0.4, "denoising: a span's centre moves by up to this x width / 2 and its width is "
                                        "scaled by 1 +- this", above=0)
    anchor_init: AnchorInit = setting("learned", "initial decoder anchors: learned (the original) or saliency (the "
                                                 "encoder's best above-mean saliency runs, the rest learned)")


@dataclass
class CaptionConfig:
    """Caption-guided fusion (this project's extension). All off = the TR-DETR baseline exactly."""

    cap_feat_dim: int | None = setting(512, "caption feature width; none = inferred from the data", above=0)
    cap_early_fusion: EarlyFusion = setting("none", "(a) caption features joined to the clip features")
    cap_cross_attn: bool = setting(False, "(b) captions as a second text stream in the refinement / T2V stage")
    cap_sim_prior: bool = setting(False, "(c) caption-query similarity prior on saliency and HD2MR weights")
    cap_prior_init: float = setting(0.0, "initial (learned) strength of the prior")
    cap_align_loss_coef: float = setting(0.0, "(d) caption-clip alignment loss weight; 0 = off")
    cap_dropout: float = setting(0.1, "training: drop whole caption rows so the model never relies on them blindly")

    # SRF (Lee & Kim, AAAI 2026; trdetr_cap/models/srf.py, docs/model.md): all off = TR-DETR
    srf_captions: bool = setting(False, "SRF: caption encoder E_c, video<->caption attention (eqs. 11-12), S_qc in "
                                        "the RFM")
    srf_word_highlight: bool = setting(False, "SRF FEM word highlighting: self-attention over the query, word "
                                              "importance V_wh (eqs. 1-3)")
    srf_scene: bool = setting(False, "SRF FEM scene understanding: query-aware video (and captions) (eqs. 4-10)")
    srf_rfm: bool = setting(False, "SRF ranking-based filtering of the clips by the top-N words (eqs. 13-14)")
    srf_top_n: int = setting(5, "SRF: N, the words the RFM filters with (paper: 5; 0 = no filtering)")
    srf_cc_loss_coef: float = setting(0.0, "SRF caption-clip alignment loss L_c-c weight (eq. 17; paper 1.5); 0 = off")
    srf_replace_text: bool = setting(True, "SRF: F_eq replaces the projected query tokens downstream")
    srf_caption_to_video: bool = setting(True, "SRF: add the video-aware captions F_c' to the clips passed on "
                                               "(eq. 12)")
    srf_cap_proj_layers: int = setting(3, "SRF: layers of the caption encoder E_c (the paper's three-layer "
                                          "feed-forward)", above=0)

    def fusion_enabled(self) -> bool:
        """True when a caption-fusion piece (a)-(d) is on (models/caption_fusion.py)."""
        return self.cap_early_fusion != "none" or self.cap_cross_attn or self.cap_sim_prior or \
            self.cap_align_loss_coef > 0

    def enabled(self) -> bool:
        """True when the model reads captions (a fusion piece or SRF's caption path): then the data carries them."""
        return self.fusion_enabled() or self.srf_captions


@dataclass
class CaptionerConfig:
    """How the caption features were made (``captions generate`` / ``embed``) and how inference captions a video."""

    cap_model: str = setting("OpenGVLab/InternVL2-8B", "the captioner: hub name or local directory")
    cap_backend: CaptionBackend = setting("internvl2", "internvl2 (its remote code), transformers (-hf "
                                                       "checkpoints) or vllm")
    cap_prompt: str = setting("Describe what happens in this short video clip in one sentence.",
                              "the captioner's prompt")
    cap_window: float = setting(2.0, "seconds of video each caption sees, centred on its clip", above=0)
    cap_stride: float = setting(2.0, "seconds between captions (2 = one caption per feature clip)", above=0)
    cap_frames: int = setting(2, "frames per window shown to the captioner, spread over it", above=0)
    cap_max_new_tokens: int = setting(48, "caption length limit in tokens", above=0)
    cap_text_encoder: str = setting(DEFAULT_CLIP_MODEL, "embeds captions (CLIP text tower, projected "
                                                                    "pooled output)")


@dataclass
class LossConfig:
    """Matcher costs and loss weights (the original's tr_detr/matcher.py and SetCriterion in tr_detr/model.py)."""

    set_cost_span: float = setting(10.0, "matcher: L1 span cost")
    set_cost_giou: float = setting(1.0, "matcher: gIoU cost")
    set_cost_class: float = setting(4.0, "matcher: foreground cost")
    span_loss_coef: float = setting(10.0, "L1 span loss weight")
    giou_loss_coef: float = setting(1.0, "gIoU loss weight")
    label_loss_coef: float = setting(4.0, "foreground (focal) loss weight")
    focal_alpha: float = setting(0.25, "focal loss alpha")
    focal_gamma: float = setting(2.0, "focal loss gamma")
    lw_saliency: float = setting(1.0, "saliency losses weight")
    saliency_margin: float = setting(0.2, "saliency hinge margin")
    rank_tau: float = setting(0.5, "rank contrastive temperature")
    vtc_loss_coef: float = setting(0.3, "video-text contrastive loss weight")
    ctc_loss_coef: float = setting(0.5, "clip-text contrastive loss weight")
    align_temperature: float = setting(0.07, "caption alignment temperature")
    use_matcher: bool = setting(True, "moment losses through the matcher; false for TVSum (saliency + alignment)")


@dataclass
class TrainConfig:
    """Optimisation and schedule (the original's tr_detr/train.py)."""

    bsz: int = setting(32, "training batch size", above=0)
    eval_bsz: int = setting(100, "evaluation batch size", above=0)
    lr: float = setting(1e-4, "AdamW learning rate", above=0)
    wd: float = setting(1e-4, "AdamW weight decay")
    lr_drop: int = setting(400, "StepLR period in epochs (x0.1)", above=0)
    grad_clip: float = setting(0.1, "gradient norm clip; 0 = none")
    n_epoch: int = setting(200, "epochs", above=0)
    eval_epoch_interval: int = setting(5, "evaluate every N epochs", above=0)
    max_es_cnt: int = setting(200, "early stopping: evaluations without improvement", above=0)
    seed: int = setting(2017, "seed of every RNG (rank r of a DDP run uses seed + r)")
    amp: bool = setting(False, "bf16 autocast on CUDA (ignored on CPU); off = fp32 as the original")
    deterministic: bool = setting(False, "deterministic cuDNN kernels (slower; repeatable CUDA numbers)")
    # the fast-convergence recipe (docs/fast_recipe.md); the defaults are the original StepLR schedule
    lr_schedule: LrSchedule = setting("step", "step: StepLR every lr_drop epochs (the original); cosine: per step, "
                                              "linear warmup then cosine decay to min_lr_ratio x lr")
    warmup_epochs: float = setting(0.0, "cosine schedule: linear warmup over this many epochs")
    min_lr_ratio: float = setting(0.0, "cosine schedule: the last step's lr as a fraction of the peak",
                                  at_most=1)
    head_lr_mult: float = setting(1.0, "lr multiplier of the prediction heads (class, span, saliency, anchor "
                                       "deltas); 1 = one group as the original", above=0)
    lr_ref_bsz: int | None = setting(None, "the batch size lr is given for: lr x sqrt(bsz / lr_ref_bsz); none = "
                                           "lr as given", above=0)


@dataclass
class PostprocessConfig:
    """Model outputs -> submission rows (the original's tr_detr/inference.py:175 ``compute_mr_results``)."""

    max_duration: float | None = setting(150.0, "clamp windows to [0, max_duration]; none = each video's duration",
                                         above=0)
    round_to_clip: bool = setting(True, "round endpoints to multiples of clip_len (half to even, as the original)")
    span_scale: SpanScale = setting("duration", "spans scale by the duration (original) or feat_len (L * clip_len, "
                                                "as training)")
    nms_thd: float | None = setting(None, "temporal NMS IoU threshold; none = no NMS", above=0, at_most=1)
    max_before_nms: int = setting(10, "windows kept before NMS", above=0)
    max_after_nms: int = setting(10, "windows kept after NMS", above=0)
    saliency_fp16: bool = setting(True, "write saliency in fp16 as the original's QVHighlights files; false keeps "
                                        "float32 (TVSum, whose original evaluation ranks the float32 outputs)")


@dataclass
class Config:
    """The experiment: everything a run's numbers depend on, saved as its ``config.yaml``."""

    data: DataConfig = field(default_factory=DataConfig)
    fixes: FixConfig = field(default_factory=FixConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    caption: CaptionConfig = field(default_factory=CaptionConfig)
    captioner: CaptionerConfig = field(default_factory=CaptionerConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    post: PostprocessConfig = field(default_factory=PostprocessConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class RunConfig:
    """How one process runs an experiment; recorded in ``run.yaml``, never part of ``config.yaml``."""

    out: str = setting("runs/default", "run directory (train's default: runs/<config file names>)")
    resume: str | None = setting(None, "a run directory to continue with its own config.yaml (flags override "
                                       "its fields, e.g. a larger --n_epoch)")
    overwrite: bool = setting(False, "empty an --out that holds an earlier run (else training into it is refused)")
    device: str = setting("auto", "auto, cpu, cuda, cuda:N or mps")
    num_workers: int = setting(0, "DataLoader workers; 0 on CPU (workers beside torch's threads thrash 2 cores)")
    preload: Preload = setting("auto", "hold the feature stores in RAM: auto (when they fit), always or never")
    compile: bool = setting(False, "torch.compile the training forward (bench/bench_compile.py); off = eager")


SECTIONS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Config))
SECTION_TYPES: dict[str, type] = {f.name: type(f.default_factory()) for f in dataclasses.fields(Config)}  # type: ignore[misc]
RUN_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RunConfig))


def _section_fields(cls: type) -> list[tuple[dataclasses.Field, Any]]:
    hints = typing.get_type_hints(cls)
    return [(f, hints[f.name]) for f in dataclasses.fields(cls)]


def _build_index() -> dict[str, tuple[str, dataclasses.Field, Any]]:
    """Flat field name -> (section, field, type); ``run`` is RunConfig. Names are unique by construction."""
    index: dict[str, tuple[str, dataclasses.Field, Any]] = {}
    for section, cls in (*SECTION_TYPES.items(), ("run", RunConfig)):
        for f, typ in _section_fields(cls):
            if f.name in index:
                raise RuntimeError(f"config field {f.name!r} appears in two sections")
            index[f.name] = (section, f, typ)
    return index


FIELDS = _build_index()


def _coerce(value: Any, typ: Any, where: str) -> Any:
    """Check/convert a YAML or command-line value to the field's type; errors name ``where`` (file/flag, field)."""
    origin = typing.get_origin(typ)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(typ) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
            return None
        return _coerce(value, inner, where)
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
        return [_coerce(v, item_t, where) for v in value]
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


def _check_value(value: Any, f: dataclasses.Field, typ: Any, where: str) -> Any:
    """``value`` coerced to the field's type and checked against its bounds (and the device pattern)."""
    value = _coerce(value, typ, where)
    above, at_most = f.metadata.get("above"), f.metadata.get("at_most")
    if value is not None and above is not None and not value > above:
        raise ConfigError(f"{where}: must be > {above:g}{' (or none)' if type(None) in typing.get_args(typ) else ''}"
                          f", got {value!r}")
    if value is not None and at_most is not None and value > at_most:
        raise ConfigError(f"{where}: must be <= {at_most:g}, got {value!r}")
    if f.name == "device" and not DEVICE_PATTERN.fullmatch(value):
        raise ConfigError(f"{where}: {value!r} is not one of auto, cpu, cuda, cuda:N, mps")
    return value


# ----------------------------------------------------------------------------------------------------------- legacy
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


# ------------------------------------------------------------------------------------------------------------ build
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
    raw = upgrade_legacy(raw)
    for section, values in raw.items():
        if section not in SECTIONS:
            raise ConfigError(f"{path}: unknown section {section!r} (expected one of {', '.join(SECTIONS)})")
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: section {section!r} must be a mapping")
        for key, value in values.items():  # checked here so that the error names this file
            if key not in FIELDS or FIELDS[key][0] != section:
                raise ConfigError(f"{path}: unknown field {section}.{key}")
            _check_value(value, FIELDS[key][1], FIELDS[key][2], f"{path}: {section}.{key}")
    _merge(merged, raw)
    return merged


def _merge(into: dict[str, dict[str, Any]], other: dict[str, Any]) -> None:
    for section, values in other.items():
        into.setdefault(section, {}).update(values)


def from_dict(data: dict[str, Any], source: str = "<dict>") -> Config:
    """Build a Config from ``{section: {field: value}}`` (an old layout is upgraded first); unknown keys, wrong
    types and values out of range raise ``ConfigError`` naming ``source``."""
    cfg = Config()
    for section, values in upgrade_legacy(data).items():
        if section not in SECTIONS:
            raise ConfigError(f"{source}: unknown section {section!r} (expected one of {', '.join(SECTIONS)})")
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: section {section!r} must be a mapping")
        sub = getattr(cfg, section)
        for key, value in values.items():
            if key not in FIELDS or FIELDS[key][0] != section:
                raise ConfigError(f"{source}: unknown field {section}.{key}")
            setattr(sub, key, _check_value(value, FIELDS[key][1], FIELDS[key][2], f"{source}: {section}.{key}"))
    return cfg


def apply_overrides(cfg: Config, overrides: dict[str, Any]) -> Config:
    """A copy of ``cfg`` with flat ``{field: value}`` overrides applied (values checked; errors name ``--field``)."""
    cfg = from_dict(cfg.to_dict(), "<config>")
    for key, value in overrides.items():
        if key not in FIELDS or FIELDS[key][0] == "run":
            raise ConfigError(f"--{key}: unknown config field")
        section, f, typ = FIELDS[key]
        setattr(getattr(cfg, section), key, _check_value(value, f, typ, f"--{key}"))
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
        setattr(run, key, _check_value(value, f, typ, f"--{key}"))
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


# -------------------------------------------------------------------------------------------------------- arguments
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
