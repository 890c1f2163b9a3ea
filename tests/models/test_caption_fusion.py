"""Caption-guided fusion: all off = baseline exactly; each piece changes the outputs and learns."""

from __future__ import annotations

import math

import pytest
import torch
from model_fixtures import CAP_DIM, SMALL, random_inputs, random_targets, small_config

from trdetr_cap.models import build_model, count_parameters
from trdetr_cap.models.caption_fusion import GATE_INIT_BIAS, CaptionGate, CaptionSimilarityPrior

PIECES = {
    "concat": {"cap_early_fusion": "concat"},
    "gated": {"cap_early_fusion": "gated"},
    "cross_attn": {"cap_cross_attn": True},
    "sim_prior": {"cap_sim_prior": True, "cap_prior_init": 0.5},
    "align_loss": {"cap_align_loss_coef": 0.5},
}


def _build(seed: int = 0, **overrides):
    torch.manual_seed(seed)
    return build_model(small_config(**overrides))


def test_captions_off_is_the_baseline_exactly():
    baseline, _ = _build()
    off, _ = _build(cap_feat_dim=77, cap_dropout=0.5, cap_prior_init=3.0)  # caption knobs without a piece on
    assert count_parameters(off) == count_parameters(baseline)
    assert all(torch.equal(a, b) for a, b in zip(baseline.state_dict().values(), off.state_dict().values(),
                                                 strict=True))
    cfg = small_config()
    inputs = random_inputs([10, 6], [4, 3], cfg)
    without_captions = {k: v for k, v in inputs.items() if not k.startswith("src_cap")}
    for model in (baseline, off):
        model.train()
    torch.manual_seed(1)
    a = baseline(**without_captions)
    torch.manual_seed(1)
    b = off(**inputs)  # captions in the batch are ignored when every piece is off
    for key in ("pred_logits", "pred_spans", "saliency_scores", "src_vid_ed"):
        assert torch.equal(a[key], b[key]), key
    assert set(a) == set(b)


@pytest.mark.parametrize("piece", ["gated", "cross_attn", "sim_prior", "align_loss"])
def test_baseline_parameters_start_identical_with_a_caption_piece_on(piece):
    baseline, _ = _build()
    model, _ = _build(**PIECES[piece])
    state = model.state_dict()
    assert all(torch.equal(v, state[k]) for k, v in baseline.state_dict().items())
    assert any(k.startswith("caption_fusion.") for k in state)


def test_concat_widens_only_the_first_video_projection():
    baseline, _ = _build()
    concat, _ = _build(**PIECES["concat"])
    d = SMALL["hidden_dim"]
    assert count_parameters(concat) - count_parameters(baseline) == CAP_DIM * (2 + d)  # LayerNorm + Linear rows
    assert concat.input_vid_proj[0].linear.in_features == SMALL["v_feat_dim"] + CAP_DIM


@pytest.mark.parametrize("piece", sorted(PIECES))
def test_each_piece_changes_outputs_and_all_its_parameters_learn(piece):
    baseline, _ = _build()
    model, criterion = _build(**PIECES[piece])
    if piece != "concat":  # same shared weights: any output difference comes from the captions
        model.load_state_dict(baseline.state_dict(), strict=False)
    cfg = small_config()
    inputs = random_inputs([10, 6, 8], [4, 3, 5], cfg, seed=2)
    targets = random_targets(inputs)
    baseline.eval(), model.eval()
    with torch.no_grad():
        base_out, cap_out = baseline(**inputs), model(**inputs)
    changed = "src_vid_ed" if piece == "align_loss" else "saliency_scores"
    if piece == "align_loss":  # the loss alone leaves the forward untouched; it acts through training
        assert torch.equal(base_out[changed], cap_out[changed])
    else:
        assert not torch.allclose(base_out[changed], cap_out[changed], atol=1e-6)

    model.train()
    losses = criterion(model(**inputs), targets)
    assert ("loss_cap_align" in losses) == (piece == "align_loss")
    total = sum(losses[k] * w for k, w in criterion.weight_dict.items() if k in losses)
    total.backward()
    caption_params = {n: p for n, p in model.named_parameters()
                      if n.startswith("caption_fusion.") or (piece == "concat" and n.startswith("input_vid_proj.0"))}
    assert caption_params
    no_grad = [n for n, p in caption_params.items() if p.grad is None or not p.grad.abs().sum() > 0]
    assert no_grad == []


def test_all_pieces_together_run_and_report_caption_outputs():
    overrides = {k: v for piece in ("gated", "cross_attn", "sim_prior", "align_loss") for k, v in PIECES[piece].items()}
    model, criterion = _build(**overrides)
    cfg = small_config()
    inputs = random_inputs([10, 6], [4, 3], cfg)
    out = model(**inputs)
    assert {"cap_mask", "src_cap_ed", "src_vid_nocap_ed", "cap_prior"} <= set(out)
    assert out["src_cap_ed"].shape == (2, 10, SMALL["hidden_dim"])
    losses = criterion(out, random_targets(inputs))
    assert torch.isfinite(losses["loss_cap_align"])


def test_missing_captions_raise_a_clear_error():
    model, _ = _build(**PIECES["cross_attn"])
    inputs = random_inputs([8, 8], [3, 3], small_config())
    with pytest.raises(ValueError, match="src_cap"):
        model(**{k: v for k, v in inputs.items() if not k.startswith("src_cap")})


def test_caption_dropout_drops_whole_rows_only_in_training():
    model, _ = _build(cap_cross_attn=True, cap_dropout=0.5)
    inputs = random_inputs([40, 30], [3, 3], small_config())
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(**inputs)["cap_mask"], inputs["src_cap_mask"])
        model.train()
        mask = model(**inputs)["cap_mask"]
    kept = mask[inputs["src_cap_mask"].bool()]
    assert set(kept.unique().tolist()) == {0.0, 1.0}
    assert 0.3 < kept.mean().item() < 0.7
    assert (mask <= inputs["src_cap_mask"]).all()


def test_cross_attention_leaves_a_sample_without_captions_unchanged():
    baseline, _ = _build()
    model, _ = _build(**PIECES["cross_attn"])
    model.load_state_dict(baseline.state_dict(), strict=False)
    inputs = random_inputs([10, 7], [4, 3], small_config(), seed=4)
    inputs["src_cap_mask"][1] = 0
    baseline.eval(), model.eval()
    with torch.no_grad():
        base_out, cap_out = baseline(**inputs), model(**inputs)
    torch.testing.assert_close(cap_out["pred_spans"][1], base_out["pred_spans"][1], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(cap_out["pred_spans"][0], base_out["pred_spans"][0], atol=1e-6)


def test_gate_starts_nearly_closed():
    gate = CaptionGate(4)
    video, captions = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    expected = video + captions / (1 + math.exp(-GATE_INIT_BIAS))
    torch.testing.assert_close(gate(video, captions), expected)
    assert 1 / (1 + math.exp(-GATE_INIT_BIAS)) < 0.05


def test_similarity_prior_by_hand():
    prior = CaptionSimilarityPrior(init=0.0)
    captions = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]]])
    caption_mask = torch.tensor([[1.0, 1.0, 0.0]])
    text = torch.tensor([[[2.0, 0.0], [0.0, 2.0], [5.0, -5.0]]])
    text_mask = torch.tensor([[1.0, 1.0, 0.0]])  # query mean (1, 1)
    c = 1 / math.sqrt(2)
    torch.testing.assert_close(prior(captions, caption_mask, text, text_mask), torch.tensor([[c, c, 0.0]]))


def test_prior_with_zero_strength_starts_at_the_baseline():
    baseline, _ = _build()
    model, _ = _build(cap_sim_prior=True, cap_prior_init=0.0)
    inputs = random_inputs([10, 7], [4, 3], small_config())
    baseline.eval(), model.eval()
    with torch.no_grad():
        a, b = baseline(**inputs), model(**inputs)
    torch.testing.assert_close(a["saliency_scores"], b["saliency_scores"], rtol=0, atol=0)


def test_unknown_early_fusion_mode_and_missing_caption_width_raise():
    from trdetr_cap.config import Config, ConfigError, apply_overrides

    with pytest.raises(ConfigError, match="--cap_early_fusion: 'sum' is not one of none, concat, gated"):
        apply_overrides(Config(), {"cap_early_fusion": "sum"})  # a typo fails where the config is built
    with pytest.raises(ValueError, match="cap_feat_dim"):
        _build(cap_cross_attn=True, cap_feat_dim=None)
