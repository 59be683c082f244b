"""Package archives: a reproducible tar of the package directory, encrypted with age (pyrage).

Recipients for a package come from KEYS_DIR/<CC>.age.pub (the coordinator's is XX.age.pub):
one recipient a line — an age X25519 key (`age1…`) or an SSH public key (`ssh-ed25519 …`,
`ssh-rsa …`) — with `#` comments. Identities for decryption are age identity files as
`age-keygen` writes them (`AGE-SECRET-KEY-1…`) or an unencrypted OpenSSH private key.
"""

from __future__ import annotations

import io
import tarfile
from datetime import datetime
from pathlib import Path

import pyrage

from haven.refer.errors import KeyFileError

RECIPIENT_SUFFIX = ".age.pub"
ARCHIVE_SUFFIX = ".tar.age"


def recipients_file(keys_dir: Path | None, code: str) -> Path | None:
    """KEYS_DIR/<CC>.age.pub (upper or lower case) when it exists."""
    if keys_dir is None:
        return None
    for name in (code.upper() + RECIPIENT_SUFFIX, code.lower() + RECIPIENT_SUFFIX):
        if (keys_dir / name).is_file():
            return keys_dir / name
    return None


def read_recipients(path: Path) -> list:
    """The age recipients listed in `path`."""
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise KeyFileError(f"cannot read age recipients {path}: {exc}") from exc
    for n, line in enumerate(lines, start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            if line.startswith("age1"):
                out.append(pyrage.x25519.Recipient.from_str(line))
            elif line.startswith("ssh-"):
                out.append(pyrage.ssh.Recipient.from_str(line))
            else:
                raise ValueError("neither an age1… nor an ssh- key")
        except (ValueError, pyrage.RecipientError) as exc:
            raise KeyFileError(f"{path} line {n} is not an age recipient ({exc})") from exc
    if not out:
        raise KeyFileError(f"{path} lists no age recipient (expected a line 'age1…')")
    return out


def read_identities(path: Path) -> list:
    """Age identities from an identity file (age-keygen output or an OpenSSH private key)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read the age identity {path}: {exc}") from exc
    try:
        if b"OPENSSH PRIVATE KEY" in data:
            return [pyrage.ssh.Identity.from_buffer(data)]
        out = [pyrage.x25519.Identity.from_str(line.strip())
               for line in data.decode("utf-8").splitlines()
               if line.strip().startswith("AGE-SECRET-KEY-")]
    except (ValueError, UnicodeDecodeError, pyrage.IdentityError) as exc:
        raise KeyFileError(f"{path} is not an age identity file ({exc})") from exc
    if not out:
        raise KeyFileError(f"{path} holds no age identity (expected 'AGE-SECRET-KEY-1…')")
    return out


def tar_package(package_dir: Path, timestamp: datetime) -> bytes:
    """A tar of `package_dir` (top folder named like it) with fixed times, owners and order."""
    buf = io.BytesIO()
    mtime = int(timestamp.timestamp())
    top = package_dir.name
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(top)
        info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, mtime
        tar.addfile(info)
        for path in sorted(p for p in package_dir.iterdir() if p.is_file()):
            info = tarfile.TarInfo(f"{top}/{path.name}")
            info.size, info.mode, info.mtime = path.stat().st_size, 0o644, mtime
            with path.open("rb") as fh:
                tar.addfile(info, fh)
    return buf.getvalue()


def seal(package_dir: Path, timestamp: datetime, recipients: list, out: Path) -> Path:
    """Write the age-encrypted tar of `package_dir` to `out`."""
    data = pyrage.encrypt(tar_package(package_dir, timestamp), recipients)
    tmp = out.with_name(out.name + ".partial")
    tmp.write_bytes(data)
    tmp.replace(out)
    return out


def unseal(archive: Path, identities: list) -> bytes:
    """The tar inside an age archive."""
    try:
        return pyrage.decrypt(archive.read_bytes(), identities)
    except pyrage.DecryptError as exc:
        raise KeyFileError(f"cannot decrypt {archive} with the given identity ({exc}); is it "
                           "the identity matching this package's recipient key?") from exc
