"""Android backups (`adb backup`, `.ab`): a short text header, then a tar, deflated and
optionally AES-256 encrypted.

The header is four lines: `ANDROID BACKUP`, the format version, `1` when the rest is
zlib-compressed, and `none` or `AES-256`. An encrypted backup adds five more lines: the
user-password salt, the master-key checksum salt, the PBKDF2 round count, the IV of the
master-key blob and the blob itself (hex). The password gives, through PBKDF2-HMAC-SHA1, the
key that opens the blob; the blob holds the master key and IV the tar stream is encrypted
with (AES-256-CBC, PKCS#7 padding).

Tar members are named by the backup agent's tokens (`apps/<package>/f/…` for the app's
files, `db` databases, `sp` shared preferences, `r` the app's root, `a` the APK, `ef` its
external files, `d_*` device-protected storage, `shared/0/…` shared storage). Items are
placed under the path they had on the phone (`backup.ab/data/data/<package>/files/…`,
`backup.ab/storage/emulated/0/DCIM/…`); tokens without a place on the phone (key/value data
`k`, `_manifest`) keep their name in the backup. What the backup records about itself
(format version, compression, encryption, the packages it holds and the Android API level
their manifests name) becomes an `Extraction` for summary.json. An encrypted backup is opened
with the passwords given to the scan (`--passwords`, `Limits.keys`); without the right one it is a
Problem "encrypted" naming `--passwords`.
"""

from __future__ import annotations

import hashlib
import io
import zlib
from typing import BinaryIO, Iterator

from haven.evidence.base import Extraction, Item, Limits, Problem, ReadStream, problem_from
from haven.evidence.containers.android import MAGIC
from haven.evidence.names import MemberNames

_CHUNK = 1024 * 1024
_HEADER_MAX = 4096  # the header lines, the encrypted one's hex blob included

# Backup agent token -> where the files live on the phone ({pkg}: the package name).
_APP_PLACES = {
    "a": "data/app/{pkg}",
    "r": "data/data/{pkg}",
    "f": "data/data/{pkg}/files",
    "db": "data/data/{pkg}/databases",
    "sp": "data/data/{pkg}/shared_prefs",
    "c": "data/data/{pkg}/cache",
    "nb": "data/data/{pkg}/no_backup",
    "d_r": "data/user_de/0/{pkg}",
    "d_f": "data/user_de/0/{pkg}/files",
    "d_db": "data/user_de/0/{pkg}/databases",
    "d_sp": "data/user_de/0/{pkg}/shared_prefs",
    "d_c": "data/user_de/0/{pkg}/cache",
    "d_nb": "data/user_de/0/{pkg}/no_backup",
    "ef": "storage/emulated/0/Android/data/{pkg}/files",
    "obb": "storage/emulated/0/Android/obb/{pkg}",
}


class BackupHeaderError(ValueError):
    """The header of an Android backup cannot be read."""


class WrongPassword(ValueError):
    """None of the passwords opens the encrypted backup."""


def logical_path(name: str) -> str:
    """Where the tar member `name` of an Android backup lived on the phone (no leading `/`)."""
    parts = name.replace("\\", "/").lstrip("/").split("/")
    if len(parts) >= 4 and parts[0] == "apps" and parts[2] in _APP_PLACES:
        return "/".join([_APP_PLACES[parts[2]].format(pkg=parts[1]), *parts[3:]])
    if len(parts) >= 3 and parts[0] == "shared" and parts[1].isdigit():
        return "/".join(["storage/emulated", parts[1], *parts[2:]])
    return "/".join(parts)


class _LogicalNames(MemberNames):
    """Places tar members under their path on the phone."""

    def place(self, raw: str):
        return super().place(logical_path(raw))


def parse_header(stream: BinaryIO) -> tuple[dict, int]:
    """The header fields of the backup and the offset its data starts at."""
    blob = stream.read(_HEADER_MAX)
    if not blob.startswith(MAGIC):
        raise BackupHeaderError("not an Android backup (no 'ANDROID BACKUP' line)")
    lines = blob.split(b"\n")
    fields_needed = 5
    if len(lines) > 4 and lines[3] == b"AES-256":
        fields_needed = 10
    if len(lines) < fields_needed:
        raise BackupHeaderError("Android backup header is cut off")
    try:
        header = {"version": int(lines[1]), "compressed": lines[2] == b"1",
                  "encryption": lines[3].decode("ascii")}
        if header["encryption"] == "AES-256":
            header.update(user_salt=bytes.fromhex(lines[4].decode()),
                          checksum_salt=bytes.fromhex(lines[5].decode()),
                          rounds=int(lines[6]), user_iv=bytes.fromhex(lines[7].decode()),
                          master_blob=bytes.fromhex(lines[8].decode()))
        elif header["encryption"] != "none":
            raise BackupHeaderError(f"unknown Android backup encryption {header['encryption']!r}")
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, BackupHeaderError):
            raise
        raise BackupHeaderError(f"unreadable Android backup header: {exc}") from exc
    offset = sum(len(line) + 1 for line in lines[:fields_needed - 1])
    return header, offset


def master_key(header: dict, password: str) -> tuple[bytes, bytes]:
    """(key, iv) of the backup's data from its header and `password`; WrongPassword if not."""
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    user_key = hashlib.pbkdf2_hmac("sha1", password.encode("utf-8"), header["user_salt"],
                                   header["rounds"], 32)
    decryptor = Cipher(algorithms.AES(user_key), modes.CBC(header["user_iv"])).decryptor()
    try:
        padded = decryptor.update(header["master_blob"]) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        blob = unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise WrongPassword("wrong password") from exc
    fields, pos = [], 0
    for _ in range(3):
        if pos >= len(blob):
            raise WrongPassword("wrong password")
        length = blob[pos]
        fields.append(blob[pos + 1:pos + 1 + length])
        pos += 1 + length
    iv, key, _checksum = fields
    if len(iv) != 16 or len(key) != 32 or pos != len(blob):
        raise WrongPassword("wrong password")
    return key, iv


class _Source(ReadStream):
    """The backup's tar stream: decrypted and inflated on the way, readable front to back.

    Seeking forward reads and drops; seeking backward starts again from the header (the tar
    reader seeks back only to look at its first block).
    """

    def __init__(self, item: Item, header: dict, offset: int, key: tuple[bytes, bytes] | None):
        super().__init__()
        self._item, self._header, self._offset, self._key = item, header, offset, key
        self._raw: BinaryIO | None = None
        self._start()

    def _start(self) -> None:
        if self._raw is not None:
            self._raw.close()
        self._raw = self._item.open()
        self._raw.seek(self._offset)
        self._pos = 0
        self._buffer = b""
        self._done = False
        self._inflater = zlib.decompressobj() if self._header["compressed"] else None
        self._decryptor = self._unpadder = None
        if self._key is not None:
            from cryptography.hazmat.primitives import padding
            from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

            key, iv = self._key
            self._decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
            self._unpadder = padding.PKCS7(128).unpadder()

    def _more(self) -> bytes:
        """The next piece of plain tar data; b"" at the end."""
        while not self._done:
            chunk = self._raw.read(_CHUNK)  # type: ignore[union-attr]
            last = not chunk
            if self._decryptor is not None:
                if last:
                    chunk = self._unpadder.update(self._decryptor.finalize()) + self._unpadder.finalize()
                else:
                    chunk = self._unpadder.update(self._decryptor.update(chunk))
            if self._inflater is not None:
                data = self._inflater.decompress(chunk) if chunk else b""
                if last or self._inflater.eof:
                    if not self._inflater.eof and last:
                        raise EOFError("Android backup data ended before the end of its deflate stream")
                    data += self._inflater.flush()
                    self._done = True
            else:
                data = chunk
                self._done = last
            if data:
                return data
        return b""

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._pos
        elif whence != io.SEEK_SET:
            raise io.UnsupportedOperation("an Android backup's stream has no known end")
        if offset < self._pos:
            self._start()
        while self._pos < offset:
            if not self.read(min(offset - self._pos, _CHUNK)):
                break
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            parts = [self._buffer]
            while data := self._more():
                parts.append(data)
            out, self._buffer = b"".join(parts), b""
        else:
            while len(self._buffer) < size:
                data = self._more()
                if not data:
                    break
                self._buffer += data
            out, self._buffer = self._buffer[:size], self._buffer[size:]
        self._pos += len(out)
        return out

    def close(self) -> None:
        if not self.closed:
            try:
                if self._raw is not None:
                    self._raw.close()
            finally:
                super().close()


def _manifest_api_level(data: bytes) -> int | None:
    """The platform version (API level) an app manifest in the backup names."""
    lines = data.split(b"\n")
    try:
        return int(lines[3]) if len(lines) > 3 else None
    except ValueError:
        return None


def backup_members(item: Item, limits: Limits) -> Iterator[Item | Problem | Extraction]:
    """The members of the Android backup `item` (the `android-backup` kind's reader)."""
    from haven.evidence.tar import tar_stream_members

    with item.open() as raw:
        try:
            header, offset = parse_header(raw)
        except BackupHeaderError as exc:
            yield Problem(item.path, "corrupt", str(exc), item.size)
            return
    record = {"format": "Android backup (adb backup)", "format_version": header["version"],
              "compressed": header["compressed"], "encrypted": header["encryption"] != "none"}
    key = None
    if header["encryption"] != "none":
        key = _unlock(header, limits)
        if key is None:
            yield Extraction(item.path, "android-backup", record)
            yield Problem(item.path, "encrypted",
                          "encrypted Android backup (AES-256); give --passwords with its "
                          "backup password", item.size)
            return
    packages: list[str] = []
    api_levels: set[int] = set()
    names_seen: list[str] = []
    source = _Source(item, header, offset, key)
    try:
        names = _LogicalNames(item.path, limits)
        for entry in tar_stream_members(source, item, names, limits, compressed_size=item.size,
                                        on_member=names_seen.append):
            yield entry
            if not isinstance(entry, Item) or not names_seen:
                continue
            parts = names_seen[-1].split("/")
            if len(parts) >= 3 and parts[0] == "apps" and parts[1] not in packages:
                packages.append(parts[1])
            if parts[-1] == "_manifest" and entry.size is not None and entry.size < 65536:
                with entry.open() as fh:
                    level = _manifest_api_level(fh.read())
                if level is not None:
                    api_levels.add(level)
    except Exception as exc:  # untrusted data: a broken stream is a finding
        problem = problem_from(item.path, exc, item.size)
        problem.reason = f"Android backup data unreadable: {problem.reason}"
        yield problem
    finally:
        source.close()
    record["packages"] = packages
    if api_levels:
        record["android_api_levels"] = sorted(api_levels)
    yield Extraction(item.path, "android-backup", record)


def _unlock(header: dict, limits: Limits) -> tuple[bytes, bytes] | None:
    """The data key from the first given password that opens the backup, or None."""
    for password in limits.keys.passwords:
        try:
            return master_key(header, password)
        except WrongPassword:
            continue
    return None

