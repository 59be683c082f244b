"""Shared reference data for the signal tests (ThreatExchange PDQ vectors, read in place)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest


def shared_dir() -> Path:
    env = os.environ.get("HAVEN_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared"


PDQ_DIR = shared_dir() / "testdata" / "pdq"
PDQ_DATA = PDQ_DIR / "data"
REFERENCE_CSV = PDQ_DIR / "computed" / "pdqhash-0.2.8_pillow-13.0.0.csv"


@pytest.fixture(scope="session")
def pdq_data() -> Path:
    if not REFERENCE_CSV.exists():
        pytest.skip(f"shared PDQ test data not found at {PDQ_DIR} (set HAVEN_SHARED)")
    return PDQ_DATA


@pytest.fixture(scope="session")
def pdq_reference(pdq_data) -> list[dict]:
    """Rows of the full-resolution pdqhash 0.2.8 / Pillow 13 reference hashes."""
    with open(REFERENCE_CSV, newline="") as fh:
        return list(csv.DictReader(fh))
