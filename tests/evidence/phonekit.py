"""Builders of small, synthetic phone extractions (benign generated pictures, made-up device
metadata): Android backups (`.ab`), iOS backup folders and UFDR reports."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zlib


def android_backup(members: dict[str, bytes], *, password: str | None = None,
                   compressed: bool = True, rounds: int = 1000, version: int = 5) -> bytes:
    """An `adb backup` file holding `members` (tar names such as `apps/pkg/f/a.jpg`)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            archive.addfile(info, io.BytesIO(data))
    data = buffer.getvalue()
    if compressed:
        data = zlib.compress(data)
    header = [b"ANDROID BACKUP", str(version).encode(), b"1" if compressed else b"0"]
    if password is None:
        return b"\n".join(header + [b"none"]) + b"\n" + data
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    def encrypt(key: bytes, iv: bytes, plain: bytes) -> bytes:
        padder = padding.PKCS7(128).padder()
        padded = padder.update(plain) + padder.finalize()
        encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        return encryptor.update(padded) + encryptor.finalize()

    user_salt, checksum_salt, user_iv = os.urandom(64), os.urandom(64), os.urandom(16)
    master_iv, master = os.urandom(16), os.urandom(32)
    checksum = hashlib.pbkdf2_hmac("sha1", master, checksum_salt, rounds, 32)
    blob = bytes([16]) + master_iv + bytes([32]) + master + bytes([32]) + checksum
    user_key = hashlib.pbkdf2_hmac("sha1", password.encode(), user_salt, rounds, 32)
    header += [b"AES-256", user_salt.hex().upper().encode(), checksum_salt.hex().upper().encode(),
               str(rounds).encode(), user_iv.hex().upper().encode(),
               encrypt(user_key, user_iv, blob).hex().upper().encode()]
    return b"\n".join(header) + b"\n" + encrypt(master, master_iv, data)


def app_manifest(package: str, api_level: int) -> bytes:
    """The `_manifest` an Android backup keeps for each app (format 1)."""
    return f"1\n{package}\n42\n{api_level}\ncom.android.vending\n0\n1\nsig\n".encode()
