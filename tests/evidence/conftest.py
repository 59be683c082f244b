"""Builders for small, benign evidence: directories, archives and disc images made on the fly."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from haven.evidence.base import Item, Problem


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buffer.getvalue()


def tar_bytes(members: dict[str, bytes], mode: str = "w") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def read_walk(entries) -> list[tuple[str, bytes | Problem]]:
    """Consume a walk the way the scan does: each item is read before the next is asked for."""
    seen: list[tuple[str, bytes | Problem]] = []
    for entry in entries:
        if isinstance(entry, Item):
            try:
                seen.append((entry.path, entry.read_all()))
            except Exception as exc:  # the walker reports it as a Problem on resume
                seen.append((entry.path, Problem(entry.path, "read-error", str(exc))))
        else:
            seen.append((entry.path, entry))
    return seen


def items(seen) -> dict[str, bytes]:
    return {path: value for path, value in seen if isinstance(value, bytes)}


def problems(seen) -> list[Problem]:
    return [value for _, value in seen if isinstance(value, Problem)]


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
