"""`refer verify`: a package's signature and every file hash, from a folder, a tar or an age archive.

Archives are read in memory and never extracted, so a hostile archive cannot write anywhere.
Every problem is collected (not just the first), so the report says all that is wrong.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from haven.refer.errors import ReferError
from haven.refer.manifest import (CHECKPOINT_NAME, FORMAT, MANIFEST_NAME, SIGNATURE_NAME,
                                  UNLISTED)
from haven.refer.sealing import ARCHIVE_SUFFIX, read_identities, unseal
from haven.refer.signing import check_signature, load_public


@dataclass
class VerifyReport:
    package: str
    code: str | None = None
    key_id: str | None = None
    files_checked: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class _Files:
    """The files of a package: name → bytes reader, from a folder or a tar."""

    def __init__(self, files: dict[str, bytes] | None = None, folder: Path | None = None,
                 extra: list[str] | None = None) -> None:
        self._files = files
        self._folder = folder
        self.odd = extra or []        # entries that are not plain files of the package

    def names(self) -> list[str]:
        if self._folder is not None:
            return sorted(p.name for p in self._folder.iterdir())
        return sorted(self._files or {})

    def has(self, name: str) -> bool:
        if self._folder is not None:
            return (self._folder / name).is_file()
        return name in (self._files or {})

    def read(self, name: str) -> bytes:
        if self._folder is not None:
            return (self._folder / name).read_bytes()
        return (self._files or {})[name]

    def digest(self, name: str) -> tuple[str, int]:
        h = hashlib.sha256()
        size = 0
        for chunk in self._chunks(name):
            h.update(chunk)
            size += len(chunk)
        return h.hexdigest(), size

    def _chunks(self, name: str) -> Iterator[bytes]:
        if self._folder is not None:
            with (self._folder / name).open("rb") as fh:
                yield from iter(lambda: fh.read(1 << 20), b"")
        else:
            yield (self._files or {})[name]


def _from_tar(data: bytes) -> _Files:
    files: dict[str, bytes] = {}
    odd: list[str] = []
    tops = set()
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for m in tar.getmembers():
                parts = PurePosixPath(m.name).parts
                if m.isdir() and len(parts) == 1:
                    tops.add(parts[0])
                    continue
                if (not m.isfile() or len(parts) != 2 or ".." in parts
                        or m.name.startswith("/")):
                    odd.append(m.name)
                    continue
                tops.add(parts[0])
                fh = tar.extractfile(m)
                files[parts[1]] = fh.read() if fh else b""
    except tarfile.TarError as exc:
        raise ReferError(f"the package archive is not a readable tar ({exc})") from exc
    if len(tops) > 1:
        odd.append(f"several top folders: {', '.join(sorted(tops))}")
    return _Files(files=files, extra=odd)


def open_package(path: Path, identity: Path | None) -> _Files:
    """A package folder, `.tar`, or `.tar.age` (needs `identity`)."""
    if path.is_dir():
        return _Files(folder=path)
    if not path.is_file():
        raise ReferError(f"{path} does not exist (give a package folder, .tar or {ARCHIVE_SUFFIX})")
    head = path.open("rb").read(32)
    if head.startswith(b"age-encryption.org/") or path.name.endswith(".age"):
        if identity is None:
            raise ReferError(f"{path} is age-encrypted; give the recipient's identity with "
                             "--identity KEYFILE")
        return _from_tar(unseal(path, read_identities(identity)))
    return _from_tar(path.read_bytes())


def _checkpoint_note(raw: bytes) -> str:
    """What the coordination service's audit checkpoint says (its MAC needs the service's
    audit key: `haven audit verify --checkpoint FILE` checks it there)."""
    try:
        doc = json.loads(raw)
        return (f"carries the service's audit checkpoint: {int(doc['count'])} entries, head "
                f"{str(doc['head_hash'])[:16]}…, {doc['at']} (keep it; the coordinator checks "
                "it with haven audit verify --checkpoint)")
    except (ValueError, KeyError, TypeError):
        return f"{CHECKPOINT_NAME} is not a readable audit checkpoint"


def verify_package(path: Path, identity: Path | None = None,
                   public_key: Path | None = None) -> VerifyReport:
    """Check manifest.sig against manifest.json and every listed file against its SHA-256."""
    report = VerifyReport(package=str(path))
    files = open_package(path, identity)
    report.problems.extend(f"unexpected archive entry: {n}" for n in files.odd)
    if not files.has(MANIFEST_NAME):
        report.problems.append("manifest.json is missing")
        return report
    manifest_raw = files.read(MANIFEST_NAME)
    if files.has(CHECKPOINT_NAME):
        report.notes.append(_checkpoint_note(files.read(CHECKPOINT_NAME)))
    pinned = load_public(public_key) if public_key else None
    if files.has(SIGNATURE_NAME):
        problems, kid = check_signature(manifest_raw, files.read(SIGNATURE_NAME), pinned)
        report.problems.extend(problems)
        report.key_id = kid
        if pinned is None:
            report.notes.append("signature checked against the key the package carries; pin "
                                "the sender's key with --public-key")
    else:
        report.problems.append("manifest.sig is missing")
    try:
        manifest = json.loads(manifest_raw)
        listed = {f["path"]: f for f in manifest["files"]}
    except (ValueError, KeyError, TypeError) as exc:
        report.problems.append(f"manifest.json is unreadable ({exc})")
        return report
    if manifest.get("format") != FORMAT:
        report.problems.append(f"manifest format {manifest.get('format')!r} is not {FORMAT}")
    report.code = (manifest.get("package") or {}).get("code")
    signer = (manifest.get("signer") or {}).get("key_id")
    if signer and report.key_id and signer != report.key_id:
        report.problems.append(f"manifest names signer {signer} but was signed by "
                               f"{report.key_id}")
    for name, entry in sorted(listed.items()):
        if "/" in name or name in UNLISTED:
            report.problems.append(f"manifest lists an invalid path: {name}")
            continue
        if not files.has(name):
            report.problems.append(f"{name} is listed in the manifest but missing")
            continue
        digest, size = files.digest(name)
        report.files_checked += 1
        if digest != entry.get("sha256"):
            report.problems.append(f"{name}: SHA-256 {digest} does not match the manifest's "
                                   f"{entry.get('sha256')} (the file was changed)")
        elif size != entry.get("size"):
            report.problems.append(f"{name}: size {size} does not match the manifest's "
                                   f"{entry.get('size')}")
    for name in files.names():
        if name not in listed and name not in UNLISTED:
            report.problems.append(f"{name} is in the package but not in the manifest")
    return report
