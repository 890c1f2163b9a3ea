"""The CPU-fast ``Dropout`` in trdetr_cap.models.layers against the definition of dropout and ``nn.Dropout``."""

from __future__ import annotations

import math

import pytest
import torch
from model_fixtures import random_inputs, small_config
from torch import nn

from trdetr_cap.models import build_model
from trdetr_cap.models.layers import Dropout


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_keep_rate_and_scale(p: float) -> None:
    torch.manual_seed(0)
    n = 400_000
    x = torch.full((4, n // 4), 3.0)
    y = Dropout(p).train()(x)
    kept = y != 0
    # survivors are exactly x / (1 - p) computed as nn.Dropout does it (float32 1 / (1 - p), then times x)
    expected = torch.tensor(3.0) * (torch.tensor(1.0) / torch.tensor(1.0 - p))
    assert torch.equal(y[kept], expected.expand(int(kept.sum())))
    # keep rate within 5 binomial standard deviations of 1 - p
    sd = math.sqrt(p * (1 - p) / n)
    assert abs(kept.float().mean().item() - (1 - p)) < 5 * sd
    # mean preserved (unbiased) to the same tolerance, scaled
    assert abs(y.mean().item() - 3.0) < 5 * sd * 3.0 / (1 - p)


def test_identity_in_eval_and_at_zero() -> None:
    x = torch.randn(8, 5, 7)
    assert Dropout(0.5).eval()(x) is x
    assert Dropout(0.0).train()(x) is x


def test_gradient_is_mask_times_scale() -> None:
    torch.manual_seed(1)
    x = torch.randn(64, 33, requires_grad=True)
    y = Dropout(0.5).train()(x)
    y.sum().backward()
    expected = torch.where(y != 0, 2.0, 0.0)
    assert torch.equal(x.grad, expected)


def test_p_one_zeroes_everything_and_bad_p_rejected() -> None:
    assert torch.equal(Dropout(1.0).train()(torch.ones(3, 4)), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="dropout probability"):
        Dropout(1.5)


def test_model_uses_only_fast_dropout_and_eval_output_matches_stock() -> None:
    """Every dropout of the full model (caption pieces on) is ``Dropout``; with ``nn.Dropout`` put back in each
    place, the eval-mode outputs are bit-for-bit the same."""
    torch.manual_seed(0)
    cfg = small_config(cap_early_fusion="gated", cap_cross_attn=True, cap_sim_prior=True)
    model, _ = build_model(cfg)
    model.eval()
    modules = list(model.modules())
    assert not any(type(m) is nn.Dropout for m in modules)
    fast = [m for m in modules if isinstance(m, Dropout)]
    assert len(fast) > 10
    inputs = random_inputs([7, 5], [4, 3], cfg)
    with torch.no_grad():
        out_fast = model(**inputs)
        for parent in modules:
            for name, child in list(parent.named_children()):
                if isinstance(child, Dropout):
                    setattr(parent, name, nn.Dropout(child.p).eval())
        out_stock = model(**inputs)
    for key, value in out_fast.items():
        if torch.is_tensor(value):
            assert torch.equal(value, out_stock[key]), key
