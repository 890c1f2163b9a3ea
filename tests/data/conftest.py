"""Fixtures of the data tests: a tiny synthetic dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from trdetr_cap.data.synthetic import SyntheticParams, generate

TINY = SyntheticParams(seed=7, n_train=12, n_val=4, min_clips=12, max_clips=20)


@pytest.fixture(scope="session")
def tiny_synthetic(tmp_path_factory) -> Path:
    """A 12 + 4 query synthetic dataset (real feature widths, short videos)."""
    return generate(tmp_path_factory.mktemp("synthetic") / "tiny", TINY)
