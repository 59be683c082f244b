"""Fixtures for hash-set tests: the shared example files, read in place (never copied in)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def formats_dir(shared_dir: Path) -> Path:
    return shared_dir / "ref" / "formats"


@pytest.fixture
def nsrl_db(formats_dir: Path, tmp_path: Path) -> Path:
    """An RDS v3 SQLite file built from the shared minimal schema and sample rows."""
    db = tmp_path / "RDS_sample.db"
    sql = (formats_dir / "nsrl" / "rdsv3_minimal_schema_and_sample.sql").read_text()
    conn = sqlite3.connect(db)
    try:
        conn.executescript(sql)
        conn.commit()
    finally:
        conn.close()
    return db
