"""Evidence fixtures: a small seizure folder of loose files and nested archives."""

from __future__ import annotations

from pathlib import Path

import pytest
from evidencekit import tar_bytes, zip_bytes


@pytest.fixture
def seizure(tmp_path: Path) -> Path:
    """A small seizure folder: loose files, a zip, and a tar holding nested zips."""
    root = tmp_path / "seizure1"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "a.jpg").write_bytes(b"\xff\xd8\xff benign test picture a")
    (root / "docs" / "notes.txt").write_bytes(b"shopping list")
    (root / "backup.zip").write_bytes(zip_bytes({"old/x.dat": b"old data", "readme.txt": b"hi"}))
    pack = zip_bytes({"a.jpg": b"\xff\xd8\xff benign picture in pack"})
    outer = zip_bytes({"inner/pack.zip": pack, "inner/b.txt": b"bee"})
    (root / "archive.tar").write_bytes(tar_bytes({"outer.zip": outer, "c.txt": b"sea"}))
    return root
