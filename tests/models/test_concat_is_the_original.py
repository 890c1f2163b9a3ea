"""``cap_early_fusion concat`` with ``cap_dropout`` 0 computes exactly what the original TR-DETR computes when it is
given the caption features as one more ``v_feat_dir``: same input rows, same parameters, same outputs and losses."""

from __future__ import annotations

import random

import pytest
import torch
from torch.utils.data import DataLoader

from trdetr_cap.config import load_config
from trdetr_cap.data import build_dataset, collate
from trdetr_cap.data.synthetic import SyntheticParams, generate, synthetic_overrides
from trdetr_cap.engine.loop import weighted_losses
from trdetr_cap.engine.train import infer_feature_dims
from trdetr_cap.models import build_model, count_parameters

SMALL = {"hidden_dim": 32, "nheads": 4, "dim_feedforward": 64, "t2v_layers": 1, "enc_layers": 1, "dec_layers": 2,
         "num_queries": 5, "t_feat_dim": None, "v_feat_dim": None, "cap_feat_dim": None}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("concat") / "syn",
                    SyntheticParams(seed=3, n_train=8, n_val=2, min_clips=10, max_clips=16))


def _setup(data, **flags):
    root = synthetic_overrides(data)
    overrides = {**root, **SMALL, "v_feat_dirs": [str(data / "clip_features")], **flags}
    cfg = load_config(None, overrides)
    dataset = build_dataset(cfg, "train")
    infer_feature_dims(cfg, dataset)
    torch.manual_seed(0)
    model, criterion = build_model(cfg)
    random.seed(0)  # the saliency pairs are drawn with Python's random, as the original
    batch = next(iter(DataLoader(dataset, batch_size=4, shuffle=False, collate_fn=collate)))
    return model, criterion, batch


def test_concat_with_no_caption_dropout_is_the_original_with_captions_as_a_feature_directory(data):
    captions = str(data / "caption_features.h5")
    original, crit_o, batch_o = _setup(data, v_feat_dirs=[str(data / "clip_features"), captions])
    ours, crit_c, batch_c = _setup(data, cap_feat_path=captions, cap_early_fusion="concat", cap_dropout=0.0)
    assert "src_cap" not in batch_o["inputs"] and "src_cap" in batch_c["inputs"]
    assert count_parameters(ours) == count_parameters(original)
    # same seed, same shapes, same construction order: the same initial weights (a copy makes it explicit)
    assert all(torch.equal(a, b) for a, b in zip(original.state_dict().values(), ours.state_dict().values(),
                                                 strict=True))
    ours.load_state_dict(original.state_dict(), strict=False)
    # what the first projection sees: [clip, caption, TEF] in both
    fused = ours.caption_fusion.concat_early(batch_c["inputs"]["src_vid"],
                                             ours.caption_fusion.prepare(batch_c["inputs"]["src_cap"],
                                                                         batch_c["inputs"]["src_cap_mask"],
                                                                         batch_c["inputs"]["src_vid_mask"]))
    assert torch.equal(fused, batch_o["inputs"]["src_vid"])
    original.train(), ours.train()  # dropout on: the same random stream must give the same masks
    torch.manual_seed(5)
    out_o = original(**batch_o["inputs"])
    loss_o = weighted_losses(crit_o(out_o, batch_o["targets"]), crit_o.weight_dict)["loss_overall"]
    torch.manual_seed(5)
    out_c = ours(**batch_c["inputs"])
    loss_c = weighted_losses(crit_c(out_c, batch_c["targets"]), crit_c.weight_dict)["loss_overall"]
    for key in ("pred_logits", "pred_spans", "saliency_scores", "src_vid_ed"):
        assert torch.equal(out_o[key], out_c[key]), key
    assert torch.equal(loss_o, loss_c)
    loss_o.backward(), loss_c.backward()
    grads_o = dict(original.named_parameters())
    for name, p in ours.named_parameters():
        other = grads_o[name].grad
        if p.grad is None or other is None:  # parameters outside the graph (the unused text positions)
            assert p.grad is None and other is None, name
        else:
            assert torch.equal(p.grad, other), name


def test_caption_dropout_is_what_makes_concat_differ_in_training(data):
    captions = str(data / "caption_features.h5")
    original, _, batch_o = _setup(data, v_feat_dirs=[str(data / "clip_features"), captions])
    ours, _, batch_c = _setup(data, cap_feat_path=captions, cap_early_fusion="concat", cap_dropout=0.1)
    original.train(), ours.train()
    torch.manual_seed(5)
    out_o = original(**batch_o["inputs"])
    torch.manual_seed(5)
    out_c = ours(**batch_c["inputs"])
    assert not torch.equal(out_o["saliency_scores"], out_c["saliency_scores"])
    original.eval(), ours.eval()  # no dropout at test time: the same function again
    with torch.no_grad():
        assert torch.equal(original(**batch_o["inputs"])["saliency_scores"],
                           ours(**batch_c["inputs"])["saliency_scores"])
