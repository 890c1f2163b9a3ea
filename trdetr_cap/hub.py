"""Shareable model folders (Hugging Face style): save a trained model as safetensors + JSON, load it back.

A folder written by :func:`save_pretrained` (``trdetr-cap export CKPT --out DIR``) holds

* ``model.safetensors`` -- the model's state dict (nothing pickled anywhere in the folder);
* ``config.json`` -- the experiment config as plain data (``Config.to_dict()``: data, model, caption, ...);
* ``inputs.json`` -- what the model reads, for whoever extracts features for it: the video feature sets in input
  order with their widths and extractors, TEF, ``clip_len``, ``max_v_l``, the query encoder, and for caption models
  the captioner and the caption text encoder;
* ``README.md`` -- a model card: data, features, the run's validation metrics, the commands that made it;
* ``val_metrics.json`` -- the run's ``best_val_metrics.json`` as it is (only when the run has one).

:func:`load_pretrained` reads such a folder, or a hub repository id through ``huggingface_hub.snapshot_download``
(which honours ``HF_HUB_OFFLINE`` and the local cache), and returns the model in eval mode.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from trdetr_cap.config import Config, from_dict
from trdetr_cap.utils.io import atomic_write_bytes, atomic_write_json, atomic_write_text

FOLDER_FORMAT = 1
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
INPUTS_NAME = "inputs.json"
CARD_NAME = "README.md"
VAL_METRICS_NAME = "val_metrics.json"  # the run's best_val_metrics.json, when it has one
FOLDER_FILES = (WEIGHTS_NAME, CONFIG_NAME, INPUTS_NAME, CARD_NAME, VAL_METRICS_NAME)
CARD_METRICS = ("MR-full-R1@0.5", "MR-full-R1@0.7", "MR-full-mAP", "HL-min-VeryGood-mAP", "HL-min-VeryGood-Hit1",
                "R1@0.5", "R1@0.7", "mIoU", "mAP")
EXTRACTORS = {
    "clip": "CLIP image embedding of one frame per clip (the frame ffmpeg's fps=1/clip_len keeps), centre crop",
    "slowfast": "SlowFast R50 8x8 (Kinetics-400) pooled slow+fast features, 32 frames at 30 fps per clip",
}


def input_spec(cfg: Config, clip_model: str) -> dict[str, Any]:
    """What a model with config ``cfg`` reads, as plain data (``inputs.json``).

    ``clip_model`` names the CLIP that made the video and query features (checkpoints do not record it).
    ``video`` is None when the inputs are not the CLIP / SlowFast sets raw-video inference can rebuild (e.g. audio).
    """
    from trdetr_cap.retriever import FEATURE_WIDTHS, video_feature_kinds

    d, c = cfg.data, cfg.captioner
    try:
        kinds = video_feature_kinds(cfg)
        video = [{"kind": k, "width": FEATURE_WIDTHS[k], "extractor": EXTRACTORS[k],
                  **({"model": clip_model} if k == "clip" else {})} for k in kinds]
    except ValueError:
        video = None
    captions = None
    if cfg.caption.enabled():
        captions = {"captioner": c.cap_model, "backend": c.cap_backend, "prompt": c.cap_prompt,
                    "window_s": c.cap_window, "stride_s": c.cap_stride, "frames": c.cap_frames,
                    "text_encoder": c.cap_text_encoder, "width": cfg.caption.cap_feat_dim, "normalized": d.normalize_t}
    return {
        "format": FOLDER_FORMAT,
        "v_feat_dim": cfg.model.v_feat_dim,
        "video": video,
        "v_feat_dirs": [Path(p).name for p in d.v_feat_dirs],
        "audio": bool(d.a_feat_dir),
        "tef": d.use_tef,
        "video_normalized": d.normalize_v,
        "clip_len": d.clip_len,
        "max_v_l": d.max_v_l,
        "query": {"encoder": clip_model, "features": "CLIP text token states (last_hidden_state)",
                  "width": cfg.model.t_feat_dim, "max_q_l": d.max_q_l, "normalized": d.normalize_t},
        "captions": captions,
    }


def save_pretrained(state_dict: dict[str, torch.Tensor], cfg: Config, out_dir: str | Path, *, clip_model: str,
                    metrics: dict[str, Any] | None = None, provenance: dict[str, Any] | None = None) -> Path:
    """Write a model folder (module docstring) to ``out_dir``; each file atomically, the card last.

    Args:
        state_dict: the model's weights (e.g. a checkpoint's ``"model"``); checked against ``cfg`` by a strict load.
        metrics: the run's ``best_val_metrics.json`` (its ``brief`` goes into the card), or None.
        provenance: card facts, all optional: ``checkpoint``, ``epoch`` (0-based), ``best_epoch``, ``command``.
    """
    from safetensors.torch import save as safetensors_bytes

    from trdetr_cap.models import build_model, count_parameters

    if not cfg.model.v_feat_dim or not cfg.model.t_feat_dim:
        raise ValueError("the config has no feature widths (v_feat_dim / t_feat_dim unset): not a trained model's "
                         "config")
    model, _ = build_model(cfg)
    model.load_state_dict(state_dict)  # strict: the weights are this config's model, nothing more or less
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    blob = safetensors_bytes(tensors, metadata={"format": "pt", "trdetr_cap_format": str(FOLDER_FORMAT)})
    atomic_write_bytes(out / WEIGHTS_NAME, lambda f: f.write(blob))
    atomic_write_json(out / CONFIG_NAME, cfg.to_dict())
    spec = input_spec(cfg, clip_model)
    atomic_write_json(out / INPUTS_NAME, spec)
    if metrics is not None:
        atomic_write_json(out / VAL_METRICS_NAME, metrics)
    else:
        (out / VAL_METRICS_NAME).unlink(missing_ok=True)  # a re-export must not keep an earlier model's numbers
    card = model_card(cfg, spec, metrics, provenance or {}, count_parameters(model))
    atomic_write_text(out / CARD_NAME, card)
    return out


def resolve_folder(name_or_path: str | Path, revision: str | None = None, cache_dir: str | Path | None = None) -> Path:
    """A local model folder as is; otherwise a hub repository id, downloaded (or found in the cache when offline)."""
    path = Path(name_or_path)
    if path.is_dir():
        return path
    if path.exists() or str(name_or_path).count("/") != 1 or str(name_or_path).startswith((".", "/")):
        raise FileNotFoundError(f"{name_or_path}: not a model folder (expected a directory with {WEIGHTS_NAME}, or "
                                "a hub repository id 'owner/name')")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(str(name_or_path), revision=revision, cache_dir=cache_dir,
                                      allow_patterns=list(FOLDER_FILES)))
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as e:
        raise FileNotFoundError(f"{name_or_path}: no local folder of that name and the hub repository could not be "
                                f"fetched ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None


def load_pretrained(name_or_path: str | Path, revision: str | None = None,
                    cache_dir: str | Path | None = None) -> tuple[torch.nn.Module, Config, dict[str, Any]]:
    """(model in eval mode on CPU, config, input spec) from a folder or hub id written by :func:`save_pretrained`."""
    from safetensors.torch import load_file

    from trdetr_cap.models import build_model

    folder = resolve_folder(name_or_path, revision, cache_dir)
    missing = [name for name in (WEIGHTS_NAME, CONFIG_NAME) if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: not a trdetr_cap model folder (missing {', '.join(missing)})")
    config_path = folder / CONFIG_NAME
    try:
        data = json.loads(config_path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{config_path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    cfg = from_dict(data, str(config_path))
    inputs_path = folder / INPUTS_NAME
    spec = json.loads(inputs_path.read_text()) if inputs_path.is_file() else input_spec(cfg, "")
    model, _ = build_model(cfg)
    try:
        model.load_state_dict(load_file(folder / WEIGHTS_NAME))
    except RuntimeError as e:
        raise ValueError(f"{folder / WEIGHTS_NAME}: weights do not fit {config_path} "
                         f"({str(e).splitlines()[0]})") from None
    return model.eval(), cfg, spec


def push_to_hub(folder: str | Path, repo_id: str, private: bool = False, token: str | None = None) -> str:
    """Upload a model folder to the hub repository ``repo_id`` (created if missing); returns the commit URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model",
                             allow_patterns=list(FOLDER_FILES), commit_message="Upload trdetr_cap model")
    return str(getattr(info, "commit_url", info))


def export_checkpoint(checkpoint: str | Path, out_dir: str | Path, clip_model: str,
                      command: str = "") -> Path:
    """A trdetr_cap checkpoint (and its run directory's ``best_val_metrics.json``) -> a model folder."""
    from trdetr_cap.engine.checkpoint import load_checkpoint

    checkpoint = Path(checkpoint)
    ckpt = load_checkpoint(checkpoint)
    cfg = from_dict(ckpt["config"], str(checkpoint))
    metrics_path = checkpoint.parent / "best_val_metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else None
    state = ckpt.get("train_state") or {}
    provenance = {"checkpoint": checkpoint.name, "epoch": ckpt["epoch"], "best_epoch": state.get("best_epoch"),
                  "command": command}
    return save_pretrained(ckpt["model"], cfg, out_dir, clip_model=clip_model, metrics=metrics, provenance=provenance)


# ------------------------------------------------------------------------------------------------------ model card
def is_synthetic(cfg: Config) -> bool:
    """Trained on the built-in synthetic dataset (``python -m trdetr_cap.data.synthetic``)."""
    return "synthetic" in (cfg.data.train_path or "")


def model_card(cfg: Config, spec: dict[str, Any], metrics: dict[str, Any] | None, provenance: dict[str, Any],
               n_params: int) -> str:
    """The README.md of a model folder: YAML front matter for the hub, then what a user needs to run and judge it."""
    d, m = cfg.data, cfg.model
    uses_captions = spec["captions"] is not None
    dataset = "the built-in synthetic dataset" if is_synthetic(cfg) else d.dataset
    tags = ["video-moment-retrieval", "highlight-detection", "tr-detr", *(["captions"] if uses_captions else [])]
    lines = ["---", "library_name: trdetr_cap", "tags:", *(f"- {t}" for t in tags)]
    if not is_synthetic(cfg):
        lines += ["datasets:", f"- {d.dataset}"]
    lines += ["---", "", f"# TR-DETR{' with caption-guided fusion' if uses_captions else ''} ({dataset})", ""]
    lines += [f"Joint video moment retrieval and highlight detection from a text query, trained with trdetr_cap on "
              f"{dataset}; {n_params:,} parameters.", ""]
    if is_synthetic(cfg):
        lines += ["**Trained on synthetic features only**: it shows that the pipeline works; its predictions on a real "
                  "video mean nothing.", ""]
    if metrics is None:
        lines += ["**No validation metrics were found beside the checkpoint**: the model may be untrained.", ""]
    lines += ["## Use", "", "```python", "from trdetr_cap import MomentRetriever",
              "retriever = MomentRetriever.from_pretrained(\"THIS_FOLDER_OR_HUB_ID\")",
              "result = retriever.predict(\"a man opens the fridge\", video=\"V.mp4\")  # moments + per-clip saliency",
              "```", "", "or the web demo: `trdetr-cap demo THIS_FOLDER_OR_HUB_ID`.", ""]
    lines += ["## Inputs", "", "| input | what | width |", "|---|---|---|"]
    for v in spec["video"] or []:
        what = v["extractor"] + (f" (`{v['model']}`)" if "model" in v else "")
        lines.append(f"| video: {v['kind']} | {what} | {v['width']} |")
    if spec["video"] is None:
        lines.append(f"| video | feature sets {', '.join(spec['v_feat_dirs']) or '?'}"
                     f"{' + audio' if spec['audio'] else ''} (raw-video inference cannot rebuild these) | "
                     f"{m.v_feat_dim} |")
    if spec["tef"]:
        lines.append("| video: TEF | [i/L, (i+1)/L] per clip | 2 |")
    q = spec["query"]
    lines.append(f"| query | {q['features']} of `{q['encoder']}`, at most {q['max_q_l']} tokens | {q['width']} |")
    if uses_captions:
        c = spec["captions"]
        lines.append(f"| captions | one caption per {c['stride_s']:g} s by `{c['captioner']}` ({c['backend']}, "
                     f"{c['frames']} frames of {c['window_s']:g} s), embedded by `{c['text_encoder']}` | "
                     f"{c['width']} |")
    lines += ["", f"Video features are one row per {d.clip_len:g} s clip, L2-normalised per feature set"
              f"{'' if d.normalize_v else ' (no: normalize_v is off)'}; videos longer than {d.max_v_l} clips run in "
              "half-overlapping windows merged by NMS. `inputs.json` holds the same as data.", ""]
    lines += ["## Training data", ""]
    lines += [f"- dataset: {dataset}; train `{Path(d.train_path or '?').name}`, val `{Path(d.eval_path or '-').name}`",
              f"- features: {', '.join(f'`{n}`' for n in spec['v_feat_dirs']) or '?'}"
              f"{', captions `' + Path(d.cap_feat_path).name + '`' if d.cap_feat_path else ''}",
              f"- schedule: {cfg.train.n_epoch} epochs, batch {cfg.train.bsz}, lr {cfg.train.lr:g}, seed "
              f"{cfg.train.seed}"]
    epoch, best = provenance.get("epoch"), provenance.get("best_epoch")
    if epoch is not None:
        lines.append(f"- these weights: `{provenance.get('checkpoint', '?')}`, after epoch {epoch + 1}")
    lines.append("")
    lines += ["## Validation metrics", ""]
    if metrics is None:
        lines += ["None recorded.", ""]
    else:
        brief = metrics.get("brief", metrics)
        keys = [k for k in CARD_METRICS if brief.get(k) is not None]
        if best is not None and epoch is not None and best != epoch:
            lines += [f"The run's best epoch was {best + 1}; these weights are from epoch {epoch + 1}, so the numbers "
                      "below (the best epoch's) are not theirs.", ""]
        lines += ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys),
                  "| " + " | ".join(f"{brief[k]:.2f}" for k in keys) + " |", "",
                  f"On `{Path(d.eval_path or '?').name}` ({d.dataset} protocol), from the run's "
                  "`best_val_metrics.json`.", ""]
    lines += ["## How it was made", "", "```bash",
              "python -m trdetr_cap.train --config config.json   # this folder's config (JSON is YAML)"]
    if provenance.get("command"):
        lines.append(provenance["command"])
    lines += ["```", "", "`config.json` is the run's resolved config (its feature paths are the training machine's).",
              ""]
    return "\n".join(lines)
