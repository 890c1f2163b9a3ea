"""Import a checkpoint written by the original TR-DETR code (e.g. its released QVHighlights ``model_best.ckpt``).

The original saves ``{"model": state_dict, "optimizer", "lr_scheduler", "epoch", "opt": argparse.Namespace}``
(tr_detr/train.py:190). Its parameters are the ones of this project's model under other names (``rename_original_key``);
the two 1x1 ``Conv1d`` kernels of the refinement stage are ``Linear`` weights here. The hyper-parameters in ``opt``
become this project's config (``config_overrides_from_opt``), with the input widths taken from the weights.

    python -m trdetr_cap.import_checkpoint ORIGINAL.ckpt --out runs/trdetr_released \\
        --v_feat_dirs data/qvhighlights/features/slowfast_features data/qvhighlights/features/clip_features \\
        --t_feat_dir data/qvhighlights/features/clip_text_features
    bash scripts/eval.sh runs/trdetr_released/model_best.ckpt data/qvhighlights/highlight_val_release.jsonl

writes ``model_best.ckpt`` (this project's format: plain data, ``weights_only`` loadable) and ``config.yaml``.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import torch

from trdetr_cap.config import Config, load_config, save_config
from trdetr_cap.engine.checkpoint import model_from_state_dict, save_checkpoint

# (pattern, replacement) applied in order to every original key
KEY_RULES: list[tuple[str, str]] = [
    (r"^transformer\.(t2v_encoder|encoder|decoder)\.", r"\1."),
    (r"^t2v_encoder\.layers\.(\d+)\.self_attn\.", r"t2v_encoder.layers.\1.cross_attn."),
    (r"^(t2v_encoder|encoder|decoder)\.layers\.(\d+)\.(linear1|linear2|activation)\.", r"\1.layers.\2.ffn.\3."),
    (r"^(input_\w+_proj\.\d+)\.LayerNorm\.", r"\1.norm."),
    (r"^(input_\w+_proj\.\d+)\.net\.1\.", r"\1.linear."),
    (r"^txt_position_embed\.LayerNorm\.", "txt_pos.norm."),
    (r"^txt_position_embed\.", "txt_pos."),
    (r"^gru_extractor\.gru\.", "mr2hd_gru."),
    (r"^fuser\.cq_attention\.cqa_linear\.conv1d\.", "refinement.cq_attention.fuse."),
    (r"^fuser\.cq_attention\.w4C$", "refinement.cq_attention.w_context"),
    (r"^fuser\.cq_attention\.w4Q$", "refinement.cq_attention.w_query"),
    (r"^fuser\.cq_attention\.w4mlu$", "refinement.cq_attention.w_product"),
    (r"^fuser\.cq_concat\.conv1d\.conv1d\.", "refinement.fuse."),
    (r"^fuser\.cq_concat\.weighted_pool\.", "refinement.query_pool."),
    (r"^saliency_proj1\.", "saliency_proj."),
]
CONV1D_KERNELS = ("refinement.cq_attention.fuse.weight", "refinement.fuse.weight")  # (out, in, 1) -> (out, in)

# original opt field -> this project's config field (only where the names differ; same-named fields are copied)
OPT_RENAMES = {"clip_length": "clip_len", "VTC_loss_coef": "vtc_loss_coef", "CTC_loss_coef": "ctc_loss_coef"}
OPT_FIELDS = [
    "hidden_dim", "nheads", "dim_feedforward", "enc_layers", "dec_layers", "num_queries", "dropout", "input_dropout",
    "n_input_proj", "use_txt_pos", "aux_loss", "max_v_l", "max_q_l", "max_windows", "txt_drop_ratio",
    "set_cost_span", "set_cost_giou", "set_cost_class", "span_loss_coef", "giou_loss_coef", "label_loss_coef",
    "lw_saliency", "saliency_margin", "lr", "wd", "lr_drop", "grad_clip", "n_epoch", "bsz", "eval_bsz", "seed",
    "nms_thd", "max_before_nms", "max_after_nms", *OPT_RENAMES,
]  # fmt: skip


def rename_original_key(key: str) -> str:
    """The name of an original TR-DETR parameter in this project's model (``module.`` prefixes dropped)."""
    key = key.removeprefix("module.")
    for pattern, replacement in KEY_RULES:
        key = re.sub(pattern, replacement, key)
    return key


def convert_state_dict(original: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Original state dict -> this project's (renamed; 1x1 Conv1d kernels squeezed to Linear weights)."""
    converted = {}
    for key, tensor in original.items():
        new = rename_original_key(key)
        if new in converted:
            raise ValueError(f"two original parameters map to {new!r} (second: {key!r})")
        converted[new] = tensor.squeeze(-1) if new in CONV1D_KERNELS and tensor.dim() == 3 else tensor
    return converted


def load_original_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read an original checkpoint without unpickling arbitrary objects: only ``argparse.Namespace`` (its ``opt``)
    is allowed beyond what ``weights_only`` accepts. Returns ``{"model": state_dict, "opt": dict, "epoch": int}``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a corrupt or foreign file
        raise ValueError(f"{path}: not a readable original TR-DETR checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise ValueError(f"{path}: not an original TR-DETR checkpoint (no 'model' state dict)")
    opt = ckpt.get("opt")
    opt = vars(opt) if isinstance(opt, argparse.Namespace) else dict(opt or {})
    return {"model": ckpt["model"], "opt": opt, "epoch": int(ckpt.get("epoch", -1))}


def config_overrides_from_opt(opt: dict[str, Any], state_dict: dict[str, torch.Tensor]) -> dict[str, Any]:
    """This project's config fields from the original ``opt`` and the converted weights (input widths and the T2V
    depth, which the weights decide)."""
    out = {OPT_RENAMES.get(k, k): opt[k] for k in OPT_FIELDS if opt.get(k) is not None}
    if "ctx_mode" in opt:
        out["use_tef"] = "tef" in opt["ctx_mode"]
    for flag, field in (("no_norm_vfeat", "normalize_v"), ("no_norm_tfeat", "normalize_t")):
        if flag in opt:
            out[field] = not opt[flag]
    out["v_feat_dim"] = int(state_dict["input_vid_proj.0.linear.weight"].shape[1])
    out["t_feat_dim"] = int(state_dict["input_txt_proj.0.linear.weight"].shape[1])
    out["t2v_layers"] = len({k.split(".")[2] for k in state_dict if k.startswith("t2v_encoder.layers.")})
    out["keep_txt_pos_embed"] = "txt_pos.position_embeddings.weight" in state_dict
    out["amp"] = False  # the original runs in fp32; bf16 autocast would move its released numbers (--amp overrides)
    if out.get("nms_thd") is not None and out["nms_thd"] < 0:
        out["nms_thd"] = None  # the original's -1: no NMS
    return out


def default_config_for(opt: dict[str, Any]) -> Path | None:
    """The repository's configs/<dataset>.yaml for the original's ``dset_name`` (None when it is not there; the
    original names its Charades-STA runs ``hl`` too, so pass ``--config configs/charades_sta.yaml`` for those)."""
    name = {"tvsum": "tvsum.yaml", "charadesSTA": "charades_sta.yaml"}.get(opt.get("dset_name"), "qvhighlights.yaml")
    path = Path(__file__).resolve().parents[2] / "configs" / name
    return path if path.is_file() else None


def import_checkpoint(src: str | Path, out_dir: str | Path, config: str | Path | None = None,
                      overrides: dict[str, Any] | None = None) -> tuple[Path, Config, torch.nn.Module]:
    """Convert the original checkpoint ``src`` into ``out_dir/model_best.ckpt`` + ``config.yaml``; returns the
    checkpoint path, the config and the model with the imported weights.

    Config: ``config`` (default: configs/<dataset>.yaml) < the original's ``opt`` and weights < ``overrides``.
    Every converted weight must fill exactly one parameter of the model built from that config.
    """
    original = load_original_checkpoint(src)
    state_dict = convert_state_dict(original["model"])
    out_dir = Path(out_dir)
    fields = {**config_overrides_from_opt(original["opt"], state_dict), **(overrides or {})}
    cfg = load_config(config or default_config_for(original["opt"]), fields)
    model = model_from_state_dict(cfg, state_dict, src)
    save_checkpoint(out_dir / "model_best.ckpt", model=model, optimizer=None, lr_scheduler=None,
                    epoch=original["epoch"], config=cfg.to_dict())
    save_config(cfg, out_dir / "config.yaml")
    return out_dir / "model_best.ckpt", cfg, model


if __name__ == "__main__":
    from trdetr_cap.commands.import_checkpoint import main

    raise SystemExit(main())
