"""TR-DETR model: parameter counts (the original's, counted on its code), output dict (the keys TR-DETR's
tr_detr/model.py:164-201 returns), gradients, input errors, masking fixes."""

from __future__ import annotations

import pytest
import torch
from model_fixtures import random_inputs, random_targets, small_config

from trdetr_cap.config import Config
from trdetr_cap.models import build_model, count_parameters


@pytest.mark.parametrize(("v_feat_dim", "keep_txt_pos_embed", "expected"), [
    (2818, True, 8_308_773),  # QVHighlights: SlowFast + CLIP + TEF
    (2818, False, 8_300_069),  # without the never-used text position embedding
    (4868, True, 8_837_673),  # + PANN audio + TEF, concatenated by the data layer
    (2050, True, 8_110_629),  # TVSum I3D + TEF
])
def test_parameter_count_matches_original(v_feat_dim, keep_txt_pos_embed, expected):
    cfg = Config()
    cfg.model.v_feat_dim = v_feat_dim
    cfg.model.keep_txt_pos_embed = keep_txt_pos_embed
    model, _ = build_model(cfg)
    assert count_parameters(model) == expected
    assert count_parameters(model, trainable_only=True) == expected


def _qvh_model_and_inputs():
    cfg = Config()
    cfg.model.v_feat_dim = 2818
    cfg.model.t_feat_dim = 512
    torch.manual_seed(0)
    model, criterion = build_model(cfg)
    return model, criterion, random_inputs([75, 60], [20, 11], cfg)


def test_output_dict_matches_reference_shapes():
    model, _, inputs = _qvh_model_and_inputs()
    model.eval()
    with torch.no_grad():
        out = model(**inputs)
    expected = {"pred_logits": (2, 10, 2), "pred_spans": (2, 10, 2), "saliency_scores": (2, 75),
                "video_mask": (2, 75), "src_txt_ed": (2, 20, 256), "src_vid_ed": (2, 75, 256),
                "src_vid_cls_ed": (2, 256), "src_txt_cls_ed": (2, 256), "txt_mask": (2, 20)}
    assert set(out) == set(expected) | {"aux_outputs"}
    for key, shape in expected.items():
        assert tuple(out[key].shape) == shape, key
    assert len(out["aux_outputs"]) == 1
    assert {k: tuple(v.shape) for k, v in out["aux_outputs"][0].items()} == {"pred_logits": (2, 10, 2),
                                                                             "pred_spans": (2, 10, 2)}
    assert ((out["pred_spans"] > 0) & (out["pred_spans"] < 1)).all()
    # the VTC globals are plain means over the padded sequence, padding included (TR-DETR's
    # tr_detr/model.py:142)
    assert torch.allclose(out["src_vid_cls_ed"], out["src_vid_ed"].mean(1))
    assert not torch.allclose(out["src_vid_cls_ed"][1], out["src_vid_ed"][1, :60].mean(0))


def test_every_parameter_gets_a_gradient_except_the_documented_ones():
    model, criterion, inputs = _qvh_model_and_inputs()
    model.train()
    losses = criterion(model(**inputs), random_targets(inputs))
    total = sum(losses[k] * w for k, w in criterion.weight_dict.items() if k in losses)
    total.backward()
    no_grad = {n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0}
    # as in a backward pass of the original code: the unused text position embedding, and decoder layer 0's
    # self-attention content projections whose input (the content query) is all zeros
    assert no_grad == {"txt_pos.position_embeddings.weight", "txt_pos.norm.weight", "txt_pos.norm.bias",
                       "decoder.layers.0.sa_qcontent_proj.weight", "decoder.layers.0.sa_kcontent_proj.weight",
                       "decoder.layers.0.sa_v_proj.weight"}


def test_empty_text_raises_value_error():
    cfg = small_config()
    model, _ = build_model(cfg)
    inputs = random_inputs([8, 8], [3, 2], cfg)
    with pytest.raises(ValueError, match="empty text"):
        model(**{**inputs, "src_txt": inputs["src_txt"][:, :0], "src_txt_mask": inputs["src_txt_mask"][:, :0]})
    inputs["src_txt_mask"][1] = 0
    with pytest.raises(ValueError, match=r"rows \[1\]"):
        model(**inputs)


def test_missing_input_width_raises():
    cfg = small_config(v_feat_dim=None)
    with pytest.raises(ValueError, match="v_feat_dim"):
        build_model(cfg)


def test_use_txt_pos_adds_learned_text_positions_to_the_t2v_keys():
    cfg = small_config()
    torch.manual_seed(0)
    plain, _ = build_model(cfg)
    torch.manual_seed(0)
    with_pos, _ = build_model(small_config(use_txt_pos=True))
    assert plain.state_dict().keys() == with_pos.state_dict().keys()
    with_pos.load_state_dict(plain.state_dict())
    plain.eval(), with_pos.eval()
    inputs = random_inputs([8, 6], [4, 3], cfg)
    with torch.no_grad():
        assert not torch.allclose(plain(**inputs)["pred_spans"], with_pos(**inputs)["pred_spans"])


ALL_MASK_FIXES = {"fix_t2v_attn_mask": True, "fix_hd2mr_mask": True, "fix_mr2hd_span": True}


def _faithful_and_fixed(seed: int = 0):
    torch.manual_seed(seed)
    faithful, _ = build_model(small_config())
    fixed, _ = build_model(small_config(**ALL_MASK_FIXES))
    fixed.load_state_dict(faithful.state_dict())
    return faithful.eval(), fixed.eval()


def test_padding_mask_fixes_change_nothing_without_padding():
    """The T2V and HD2MR fixes only touch padded positions. (The MR2HD fix also drops the GRU's own trailing
    zeros, so it changes results without batch padding too; see test_mr2hd.py.)"""
    torch.manual_seed(0)
    faithful, _ = build_model(small_config())
    fixed, _ = build_model(small_config(fix_t2v_attn_mask=True, fix_hd2mr_mask=True))
    fixed.load_state_dict(faithful.state_dict())
    faithful.eval(), fixed.eval()
    inputs = random_inputs([12, 12, 12], [5, 5, 5], small_config())
    with torch.no_grad():
        a, b = faithful(**inputs), fixed(**inputs)
    for key in ("pred_logits", "pred_spans", "saliency_scores"):
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-5)


def test_with_all_masking_fixes_a_sample_does_not_depend_on_batch_padding():
    """Fixed mode: a sample's predictions are the same alone and inside a padded batch; faithful mode differs."""
    faithful, fixed = _faithful_and_fixed()
    cfg = small_config()
    batch = random_inputs([9, 16, 12], [3, 6, 4], cfg, seed=1)
    alone = {k: v[:1, :9] if k.startswith("src_vid") or k.startswith("src_cap") else v[:1, :3]
             for k, v in batch.items()}
    with torch.no_grad():
        fixed_batch, fixed_alone = fixed(**batch), fixed(**alone)
        faithful_batch, faithful_alone = faithful(**batch), faithful(**alone)
    torch.testing.assert_close(fixed_batch["pred_spans"][:1], fixed_alone["pred_spans"], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(fixed_batch["pred_logits"][:1], fixed_alone["pred_logits"], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(fixed_batch["saliency_scores"][:1, :9], fixed_alone["saliency_scores"],
                               rtol=1e-4, atol=1e-5)
    assert not torch.allclose(faithful_batch["saliency_scores"][:1, :9], faithful_alone["saliency_scores"],
                              atol=1e-4)


@pytest.mark.parametrize("fix", sorted(ALL_MASK_FIXES))
def test_each_model_masking_fix_changes_padded_batches(fix):
    torch.manual_seed(0)
    faithful, _ = build_model(small_config())
    fixed, _ = build_model(small_config(**{fix: True}))
    fixed.load_state_dict(faithful.state_dict())
    faithful.eval(), fixed.eval()
    inputs = random_inputs([6, 16, 10], [2, 6, 4], small_config(), seed=3)
    with torch.no_grad():
        a, b = faithful(**inputs), fixed(**inputs)
    valid = inputs["src_vid_mask"].bool()
    assert not torch.allclose(a["saliency_scores"][valid], b["saliency_scores"][valid], atol=1e-5)


def test_eval_is_deterministic_and_train_mode_uses_dropout():
    cfg = small_config()
    model, _ = build_model(cfg)
    inputs = random_inputs([8, 5], [4, 2], cfg)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(**inputs)["pred_spans"], model(**inputs)["pred_spans"], rtol=0, atol=0)
        model.train()
        assert not torch.allclose(model(**inputs)["pred_spans"], model(**inputs)["pred_spans"])


def test_hidden_size_must_suit_heads_and_anchor_embedding():
    with pytest.raises(ValueError, match="hidden_dim"):
        build_model(small_config(hidden_dim=30, nheads=3))
