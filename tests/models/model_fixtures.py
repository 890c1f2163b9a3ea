"""Small model configs and random batches for the model tests (tiny widths keep every test fast on 1 thread)."""

from __future__ import annotations

import torch

from trdetr_cap.config import Config

SMALL = {"v_feat_dim": 20, "t_feat_dim": 12, "hidden_dim": 32, "nheads": 4, "dim_feedforward": 64}
CAP_DIM = 10


def small_config(**overrides) -> Config:
    """A tiny TR-DETR config; ``overrides`` are flat field names of any section (e.g. cap_cross_attn=True)."""
    cfg = Config()
    for key, value in SMALL.items():
        setattr(cfg.model, key, value)
    cfg.caption.cap_feat_dim = CAP_DIM
    for key, value in overrides.items():
        section = next(s for s in ("model", "fixes", "caption", "loss", "data") if hasattr(getattr(cfg, s), key))
        setattr(getattr(cfg, section), key, value)
    return cfg


def random_inputs(lengths: list[int], text_lengths: list[int], cfg: Config, seed: int = 0,
                  padded_len: int | None = None, padded_text_len: int | None = None) -> dict:
    """Model inputs for samples of the given video / text lengths, zero-padded to the batch maximum."""
    gen = torch.Generator().manual_seed(seed)
    lv, lt = padded_len or max(lengths), padded_text_len or max(text_lengths)
    bsz = len(lengths)
    vid_mask = (torch.arange(lv)[None] < torch.tensor(lengths)[:, None]).float()
    txt_mask = (torch.arange(lt)[None] < torch.tensor(text_lengths)[:, None]).float()
    return {
        "src_txt": torch.randn(bsz, lt, cfg.model.t_feat_dim, generator=gen) * txt_mask[..., None],
        "src_txt_mask": txt_mask,
        "src_vid": torch.randn(bsz, lv, cfg.model.v_feat_dim, generator=gen) * vid_mask[..., None],
        "src_vid_mask": vid_mask,
        "src_cap": torch.randn(bsz, lv, cfg.caption.cap_feat_dim, generator=gen) * vid_mask[..., None],
        "src_cap_mask": vid_mask.clone(),
    }


def random_targets(inputs: dict, seed: int = 0) -> dict:
    """Labels in the data contract's format: one or two spans, 0..12 saliency inside the first span, 2 pairs."""
    gen = torch.Generator().manual_seed(seed)
    lengths = inputs["src_vid_mask"].sum(1).long().tolist()
    bsz, lv = inputs["src_vid_mask"].shape
    labels = torch.zeros(bsz, lv)
    span_labels, pos, neg = [], [], []
    for i, n in enumerate(lengths):
        st = int(torch.randint(0, n // 2, (1,), generator=gen))
        ed = st + max(2, n // 4)
        labels[i, st:ed] = torch.randint(1, 13, (ed - st,), generator=gen).float()
        spans = [[(st + ed) / 2 / n, (ed - st) / n]]
        if i % 2:
            spans.append([(ed + 1.5) / n, 1 / n])
        span_labels.append({"spans": torch.tensor(spans)})
        pos.append([st + int(labels[i, st:ed].argmax()), st])
        neg.append([st + int(labels[i, st:ed].argmin()), n - 1])
    return {"span_labels": span_labels, "saliency_pos_labels": torch.tensor(pos),
            "saliency_neg_labels": torch.tensor(neg), "saliency_all_labels": labels,
            "src_pos_mask": (labels > 0).float()}

