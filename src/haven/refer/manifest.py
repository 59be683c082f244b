"""manifest.json: the SHA-256 and size of every package file, the package and its provenance."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

FORMAT = "haven-referral-manifest/1"
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
#: the coordination service's signed audit checkpoint, added to a package when it is
#: downloaded (after the manifest was signed; its own MAC, under the service's audit key)
CHECKPOINT_NAME = "audit-checkpoint.json"
UNLISTED = frozenset({MANIFEST_NAME, SIGNATURE_NAME, CHECKPOINT_NAME})


def file_entry(path: Path) -> dict:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return {"path": path.name, "sha256": h.hexdigest(), "size": size}


def manifest_bytes(package: dict, provenance: dict, signer: dict, files: Iterable[dict],
                   notes: Iterable[str] = ()) -> bytes:
    """The manifest's exact bytes (sorted keys, fixed layout) — what the signature covers."""
    doc = {"format": FORMAT, "package": package, "provenance": provenance, "signer": signer,
           "files": sorted(files, key=lambda f: f["path"]), "notes": list(notes)}
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
