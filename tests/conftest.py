"""Fixtures used across the suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The project's shared/ directory: $HAVEN_SHARED, else ../shared beside the repo."""
    env = os.environ.get("HAVEN_SHARED")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "shared"
    if not (path / "ref" / "formats").is_dir():
        pytest.skip(f"shared reference data not found under {path}; set HAVEN_SHARED")
    return path
