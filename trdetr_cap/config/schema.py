"""The config's fields: the experiment's sections (``Config``), the run's options (``RunConfig``), their types and
``--help`` texts, and the flat field index (every field name is unique across sections)."""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

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
