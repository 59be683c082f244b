"""Writes that must survive a crash: directory fsync, checksummed manifests."""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path

from haven.errors import LibraryCorruptError, LibraryError

#: The manifest file of a library directory (digest store, PDQ segments, a case's query index).
MANIFEST = "manifest.json"
#: Format of those directories' manifests.
FORMAT_VERSION = 1


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries (a rename into it is durable only after this)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_manifest(root: Path, body: dict) -> None:
    """`root/manifest.json` = body + its CRC-32, written under a temporary name, fsynced,
    renamed into place and the directory fsynced (shared by every library manifest)."""
    doc = {"body": body, "crc32": zlib.crc32(json.dumps(body, sort_keys=True).encode())}
    tmp = root / (MANIFEST + ".tmp")
    with open(tmp, "w") as f:
        json.dump(doc, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, root / MANIFEST)
    fsync_dir(root)


def read_manifest(root: Path) -> dict:
    """The body `write_manifest` wrote in `root`; a missing, altered or truncated manifest
    raises LibraryError / LibraryCorruptError naming it."""
    path = root / MANIFEST
    try:
        text = path.read_text()
    except OSError as exc:
        raise LibraryError(f"no hash library in {root} ({exc.strerror})") from exc
    try:
        doc = json.loads(text)
        body = doc["body"]
        if zlib.crc32(json.dumps(body, sort_keys=True).encode()) != doc["crc32"]:
            raise ValueError("checksum mismatch")
        if body["format"] != FORMAT_VERSION:
            raise LibraryError(f"library {root} has format {body['format']}, "
                               f"this haven reads {FORMAT_VERSION}")
        return body
    except (ValueError, KeyError, TypeError) as exc:
        raise LibraryCorruptError(f"library manifest {path} is corrupt ({exc}); restore it "
                                  f"from a copy") from exc
