"""The CPU-fast ``Dropout`` in trdetr_cap.models.layers against the definition of dropout and ``nn.Dropout``."""

from __future__ import annotations

import math

import pytest
import torch

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
