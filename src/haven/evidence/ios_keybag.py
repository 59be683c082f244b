"""Decrypting encrypted iOS backups with the backup password (`--passwords`).

An encrypted backup's Manifest.plist holds a keybag (`BackupKeyBag`: tag-length-value
records) and `ManifestKey`. The password opens the keybag: PBKDF2-HMAC-SHA256 with the
keybag's `DPSL` salt and `DPIC` rounds (ten million on current iOS), then PBKDF2-HMAC-SHA1
with `SALT` and `ITER`; the result unwraps (RFC 3394 AES key wrap) every class key wrapped
with the passcode (`WRAP` bit 2), and a failed unwrap means a wrong password. `ManifestKey`
is a protection class (4 bytes, little-endian) and a key wrapped with that class's key; it
decrypts Manifest.db. Each file's row in Manifest.db carries an NSKeyedArchiver plist whose
`EncryptionKey` is again a class and a wrapped key; the file is AES-256-CBC with a zero IV and
PKCS#7 padding, its true size in the plist's `Size`.

Cryptography is the `cryptography` package (AES, key unwrap) and hashlib (PBKDF2); nothing
here writes to the evidence: the decrypted Manifest.db goes to a temporary file in the spool
directory, file contents are decrypted on the fly as they are read.
"""

from __future__ import annotations

import hashlib
import plistlib
import struct
from typing import Iterator

from haven.evidence.base import WindowStream

_WRAP_PASSCODE = 2
_BLOCK = 16


class WrongPassword(ValueError):
    """The password does not open the keybag."""


def _records(blob: bytes) -> Iterator[tuple[bytes, bytes]]:
    pos = 0
    while pos + 8 <= len(blob):
        tag, length = blob[pos:pos + 4], struct.unpack(">I", blob[pos + 4:pos + 8])[0]
        yield tag, blob[pos + 8:pos + 8 + length]
        pos += 8 + length


class Keybag:
    """A backup keybag: its attributes and class keys (unwrapped once `unlock` succeeds)."""

    def __init__(self, blob: bytes):
        self.attrs: dict[bytes, bytes | int] = {}
        self.classes: dict[int, dict[bytes, bytes | int]] = {}
        self.keys: dict[int, bytes] = {}
        current: dict[bytes, bytes | int] | None = None
        seen_uuid = False
        for tag, value in _records(blob):
            number: bytes | int = struct.unpack(">I", value)[0] if len(value) == 4 else value
            if tag == b"UUID":
                if seen_uuid:  # every UUID after the keybag's own starts a class key
                    if current is not None and b"CLAS" in current:
                        self.classes[int(current[b"CLAS"])] = current
                    current = {}
                seen_uuid = True
            elif current is not None and tag in (b"CLAS", b"WRAP", b"WPKY", b"KTYP", b"PBKY"):
                current[tag] = number
            else:
                self.attrs[tag] = number
        if current is not None and b"CLAS" in current:
            self.classes[int(current[b"CLAS"])] = current

    def unlock(self, password: str) -> None:
        """Unwrap the class keys with `password`; WrongPassword if it is not the one."""
        from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap

        secret = password.encode("utf-8")
        if b"DPSL" in self.attrs:  # iOS 10.2 and later add a SHA-256 round
            secret = hashlib.pbkdf2_hmac("sha256", secret, self.attrs[b"DPSL"],  # type: ignore[arg-type]
                                         int(self.attrs[b"DPIC"]), 32)
        kek = hashlib.pbkdf2_hmac("sha1", secret, self.attrs[b"SALT"],  # type: ignore[arg-type]
                                  int(self.attrs[b"ITER"]), 32)
        keys = {}
        for number, entry in self.classes.items():
            if b"WPKY" in entry and int(entry.get(b"WRAP", 0)) & _WRAP_PASSCODE:
                try:
                    keys[number] = aes_key_unwrap(kek, entry[b"WPKY"])  # type: ignore[arg-type]
                except (InvalidUnwrap, ValueError) as exc:
                    raise WrongPassword("wrong password") from exc
        if not keys:
            raise WrongPassword("the keybag holds no key the password unwraps")
        self.keys = keys

    def unwrap(self, wrapped_with_class: bytes) -> bytes:
        """The key in a `class (4 bytes LE) + wrapped key` blob (ManifestKey, EncryptionKey)."""
        from cryptography.hazmat.primitives.keywrap import aes_key_unwrap

        number = struct.unpack("<I", wrapped_with_class[:4])[0]
        if number not in self.keys:
            raise ValueError(f"no key for protection class {number}")
        return aes_key_unwrap(self.keys[number], wrapped_with_class[4:])


def decrypt_to(source, target, key: bytes) -> int:
    """Decrypt the AES-256-CBC stream `source` (zero IV, PKCS#7) into `target`; bytes written."""
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    decryptor = Cipher(algorithms.AES(key), modes.CBC(bytes(_BLOCK))).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    written = 0
    while chunk := source.read(1024 * 1024):
        data = unpadder.update(decryptor.update(chunk))
        target.write(data)
        written += len(data)
    data = unpadder.update(decryptor.finalize()) + unpadder.finalize()
    target.write(data)
    return written + len(data)


def file_key(blob: bytes) -> tuple[bytes | None, int | None]:
    """(wrapped EncryptionKey with its class, Size) from a Manifest.db `file` plist."""
    archive = plistlib.loads(blob)
    objects = archive["$objects"]
    root = objects[archive["$top"]["root"].data]
    size = int(root["Size"]) if "Size" in root else None
    reference = root.get("EncryptionKey")
    if reference is None:
        return None, size
    holder = objects[reference.data]
    data = holder["NS.data"] if isinstance(holder, dict) else holder
    return bytes(data), size


class DecryptedFile(WindowStream):
    """A backup file decrypted as it is read (CBC: any block decrypts with the one before it)."""

    def __init__(self, path: str, key: bytes, size: int):
        super().__init__(size)
        self._fh = open(path, "rb")
        self._key = key

    def _fetch(self, pos: int, length: int) -> bytes:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        first = pos - pos % _BLOCK
        last = pos + length
        end = last + (-last) % _BLOCK
        if first:
            self._fh.seek(first - _BLOCK)
            iv = self._fh.read(_BLOCK)
        else:
            self._fh.seek(0)
            iv = bytes(_BLOCK)
        cipher = self._fh.read(end - first)
        cipher = cipher[: len(cipher) - len(cipher) % _BLOCK]
        if len(cipher) < last - first:
            raise EOFError("encrypted backup file is shorter than its recorded size")
        decryptor = Cipher(algorithms.AES(self._key), modes.CBC(iv)).decryptor()
        plain = decryptor.update(cipher) + decryptor.finalize()
        return plain[pos - first: last - first]

    def close(self) -> None:
        if not self.closed:
            try:
                self._fh.close()
            finally:
                super().close()
