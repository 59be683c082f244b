"""Builders for small, benign evidence (archives made on the fly) and readers of a walk.

Test modules import these by name (`from evidencekit import zip_bytes`); conftest.py keeps the
fixtures (several test folders have a module called conftest).
"""

from __future__ import annotations

import io
import tarfile
import zipfile

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
