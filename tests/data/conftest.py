"""Fixtures of the data tests: a tiny synthetic dataset."""

from __future__ import annotations

from pathlib import Path

import pytest
from data_helpers import TINY

from trdetr_cap.data.synthetic import generate


@pytest.fixture(scope="session")
def tiny_synthetic(tmp_path_factory) -> Path:
    """A 12 + 4 query synthetic dataset (real feature widths, short videos)."""
    return generate(tmp_path_factory.mktemp("synthetic") / "tiny", TINY)
