"""SRF's modules (models/srf.py): all off = TR-DETR exactly; shapes, masks, gradients, the RFM arithmetic."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from model_fixtures import SMALL, random_inputs, random_targets, small_config

from trdetr_cap.models import build_model, count_parameters
from trdetr_cap.models.srf import SRF, QueryAware, RankFilter, WordHighlight, word_importance

FULL = {"srf_captions": True, "srf_word_highlight": True, "srf_scene": True, "srf_rfm": True,
        "srf_cc_loss_coef": 1.5}
PIECES = {
    "captions": {"srf_captions": True, "srf_cc_loss_coef": 1.5},
    "word_highlight": {"srf_word_highlight": True},
    "scene": {"srf_scene": True},
    "scene_captions": {"srf_scene": True, "srf_captions": True},
    "rfm": {"srf_rfm": True, "srf_top_n": 3},
    "rfm_captions": {"srf_rfm": True, "srf_captions": True},
    "full": FULL,
    "full_keep_text": {**FULL, "srf_replace_text": False, "srf_caption_to_video": False},
}


def _build(seed: int = 0, **overrides):
    torch.manual_seed(seed)
    return build_model(small_config(**overrides))


def test_srf_off_is_the_baseline_exactly():
    baseline, _ = _build()
    off, _ = _build(srf_top_n=7, srf_cap_proj_layers=1, srf_replace_text=False)  # knobs without a piece on
    assert off.srf is None and count_parameters(off) == count_parameters(baseline)
    assert all(torch.equal(a, b) for a, b in zip(baseline.state_dict().values(), off.state_dict().values(),
                                                 strict=True))
    inputs = random_inputs([10, 6], [4, 3], small_config())
    baseline.train(), off.train()
    torch.manual_seed(1)
    a = baseline(**inputs)
    torch.manual_seed(1)
    b = off(**inputs)
    assert set(a) == set(b)
    for key in ("pred_logits", "pred_spans", "saliency_scores", "src_vid_ed", "src_txt_ed"):
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("piece", sorted(PIECES))
def test_baseline_parameters_start_identical_and_every_new_parameter_learns(piece):
    baseline, _ = _build()
    model, criterion = _build(**PIECES[piece])
    state = model.state_dict()
    assert all(torch.equal(v, state[k]) for k, v in baseline.state_dict().items())
    new = {k for k in state if k not in baseline.state_dict()}
    assert all(k.startswith("srf.") for k in new)
    assert bool(new) == (piece != "rfm")  # the RFM without captions is parameter-free (eq. 14)

    inputs = random_inputs([10, 6, 8], [5, 3, 4], small_config(), seed=2)
    model.train()
    out = model(**inputs)
    assert out["pred_spans"].shape == (3, model.query_embed.num_embeddings, 2)
    assert out["saliency_scores"].shape == (3, 10) and out["src_vid_ed"].shape == (3, 10, SMALL["hidden_dim"])
    losses = criterion(out, random_targets(inputs))
    assert ("loss_srf_cc" in losses) == (PIECES[piece].get("srf_cc_loss_coef", 0) > 0)
    total = sum(losses[k] * w for k, w in criterion.weight_dict.items() if k in losses)
    assert torch.isfinite(total)
    total.backward()
    for name, p in model.named_parameters():
        if name.startswith("srf."):
            assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("piece", ["captions", "scene", "rfm_captions", "full"])
def test_padded_clips_and_words_change_nothing(piece):
    """A sample's outputs on its valid clips do not depend on what its padding holds, or on how much of it there is."""
    model, _ = _build(**PIECES[piece])
    model.eval()
    cfg = small_config()
    inputs = random_inputs([7], [4], cfg, seed=3)
    # the same sample with 5 padded clips and 5 padded words holding garbage
    padded = {k: F.pad(v, (0, 0, 0, 5) if v.dim() == 3 else (0, 5), value=0.0) for k, v in inputs.items()}
    padded["src_vid"][:, 7:] = 5.0
    padded["src_cap"][:, 7:] = -3.0
    padded["src_txt"][:, 4:] = 7.0
    with torch.no_grad():
        srf_a = model.srf(model.input_vid_proj(inputs["src_vid"]), model.input_txt_proj(inputs["src_txt"]),
                          inputs["src_vid_mask"], inputs["src_txt_mask"], inputs["src_cap"], inputs["src_cap_mask"])
        srf_b = model.srf(model.input_vid_proj(padded["src_vid"]), model.input_txt_proj(padded["src_txt"]),
                          padded["src_vid_mask"], padded["src_txt_mask"], padded["src_cap"], padded["src_cap_mask"])
    torch.testing.assert_close(srf_a.video, srf_b.video[:, :7], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(srf_a.text, srf_b.text[:, :4], rtol=1e-5, atol=1e-5)
    assert torch.isinf(srf_b.extras["srf_word_importance"][:, 4:]).all()


def test_word_importance_is_the_cosine_to_the_mean_of_valid_tokens_and_padding_is_never_ranked():
    tokens = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [9.0, -9.0]]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    v = word_importance(tokens, mask)
    gap = torch.tensor([2 / 3, 2 / 3])  # mean of the three valid tokens, by hand
    expected = torch.stack([F.cosine_similarity(tokens[0, i], gap, dim=0) for i in range(3)])
    torch.testing.assert_close(v[0, :3], expected)
    assert v[0, 3] == float("-inf")
    assert v[0, :3].argmax() == 2  # [1, 1] points along the mean


def test_rank_filter_follows_eq_14_by_hand():
    """N = 2 words; without captions S = cos(word, x_{j-1}); x_j = x_{j-1} (1 + S) on valid clips."""
    rf = RankFilter(top_n=2, with_captions=False)
    video = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]]])
    video_mask = torch.tensor([[1.0, 1.0, 0.0]])
    words = torch.tensor([[[0.0, 1.0], [1.0, 0.0], [5.0, 5.0]]])
    importance = torch.tensor([[0.2, 0.9, float("-inf")]])  # word 1 first, then word 0; word 2 is padding
    out = rf(video, video_mask, words, importance, None, None)
    x = video.clone()
    for w in (torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])):
        s = torch.stack([F.cosine_similarity(x[0, i], w, dim=0) for i in range(3)]) * video_mask[0]
        x = x * (1 + s[None, :, None])
    torch.testing.assert_close(out, x)
    assert torch.equal(out[0, 2], video[0, 2])  # a padded clip is never filtered


def test_rank_filter_with_more_picks_than_valid_words_uses_only_valid_ones():
    rf = RankFilter(top_n=5, with_captions=False)
    video = torch.randn(1, 4, 3)
    words = torch.randn(1, 6, 3)
    importance = torch.tensor([[0.5, 0.1, float("-inf"), float("-inf"), float("-inf"), float("-inf")]])
    one_word = RankFilter(top_n=2, with_captions=False)
    torch.testing.assert_close(rf(video, torch.ones(1, 4), words, importance, None, None),
                               one_word(video, torch.ones(1, 4), words, importance, None, None))


def test_rank_filter_mixes_video_and_caption_similarity_eq_13():
    rf = RankFilter(top_n=1, with_captions=True)
    with torch.no_grad():
        rf.mix.fill_(torch.logit(torch.tensor(0.25)))  # W = 0.25
    video = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    captions = torch.tensor([[[0.0, 1.0], [0.0, 0.0]]])
    cap_mask = torch.tensor([[1.0, 0.0]])  # clip 1 has no caption: S_qc = 0 there
    words = torch.tensor([[[1.0, 0.0]]])
    out = rf(video, torch.ones(1, 2), words, torch.tensor([[1.0]]), captions, cap_mask)
    s = torch.tensor([0.25 * 1.0 + 0.75 * 0.0, 0.25 * 0.0 + 0.75 * 0.0])
    torch.testing.assert_close(out, video * (1 + s[None, :, None]))


def test_rfm_with_n_zero_is_the_identity():
    rf = RankFilter(top_n=0, with_captions=False)
    video = torch.randn(2, 5, 4)
    assert torch.equal(rf(video, torch.ones(2, 5), torch.randn(2, 3, 4), torch.zeros(2, 3), None, None), video)


def test_word_highlight_and_query_aware_shapes():
    torch.manual_seed(0)
    text, text_mask = torch.randn(2, 6, 8), torch.tensor([[1.0] * 6, [1.0] * 3 + [0.0] * 3])
    f_eq, v_wh = WordHighlight(8, 2, 0.0)(text, text_mask)
    assert f_eq.shape == (2, 6, 8) and v_wh.shape == (2, 6) and torch.isinf(v_wh[1, 3:]).all()
    video, video_mask = torch.randn(2, 9, 8), torch.tensor([[1.0] * 9, [1.0] * 5 + [0.0] * 4])
    out = QueryAware(8, 0.0)(video, video_mask, f_eq, text_mask, f_eq.mean(1))
    assert out.shape == (2, 9, 8) and torch.equal(out[1, 5:], torch.zeros(4, 8))


def test_sample_without_any_caption_keeps_its_video_in_the_caption_attention():
    cfg = small_config(**PIECES["captions"])
    srf = SRF(cfg.caption, SMALL["hidden_dim"], 4, 0.0, 0.0).eval()
    video = torch.randn(2, 5, SMALL["hidden_dim"])
    cap_mask = torch.tensor([[1.0] * 5, [0.0] * 5])
    with torch.no_grad():
        out = srf(video, torch.randn(2, 3, SMALL["hidden_dim"]), torch.ones(2, 5), torch.ones(2, 3),
                  torch.randn(2, 5, cfg.caption.cap_feat_dim), cap_mask)
    assert torch.isfinite(out.video).all()
    torch.testing.assert_close(out.video[1], video[1])  # nothing to attend to, nothing added


def test_captions_are_required_when_srf_uses_them():
    model, _ = _build(**PIECES["captions"])
    inputs = random_inputs([6], [3], small_config())
    del inputs["src_cap"], inputs["src_cap_mask"]
    with pytest.raises(ValueError, match="srf_captions"):
        model(**inputs)


def test_caption_loss_needs_the_caption_path():
    with pytest.raises(ValueError, match="srf_cc_loss_coef"):
        _build(srf_cc_loss_coef=1.5)
