"""Tests on the real field data beside the checkout, in ../shared/data (never copied here)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder; missing fails under CI and skips elsewhere."""
    if not DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"no shared data at {DATA}", pytrace=False)
        pytest.skip(f"no shared data at {DATA}")
    return DATA
