"""Builders for encrypted evidence: LUKS volumes, encrypted zip and 7z archives.

`cryptsetup luksFormat` writes a real LUKS header on a plain file as root, but opening the
volume needs device-mapper, which a sandbox or CI container rarely has. So the header is
made by cryptsetup with a volume key we choose (`--volume-key-file`), and the payload is
encrypted here with that key exactly as dm-crypt does for aes-xts-plain64 (512-byte
sectors, the sector number as the tweak). libluksde, which haven reads LUKS1 with, is
independent of both. LUKS2 volumes are encrypted by cryptsetup itself (`luks2_image`). No open tool writes BitLocker volumes: BitLocker is tested on its error path only.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from disk_fixtures import MiB, blank, run, tool

_SECTOR = 512


def luks_image(path: Path, plain: Path, passphrase: str, version: int = 1) -> Path:
    """A LUKS`version` volume at `path` whose decrypted content is the file system `plain`."""
    key = os.urandom(64)  # aes-xts-plain64 with two 256-bit keys
    key_file = path.parent / (path.name + ".vk")
    key_file.write_bytes(key)
    secret = path.parent / (path.name + ".pass")
    secret.write_text(passphrase)
    header = 16 * MiB if version == 2 else 2 * MiB
    blank(path, header + plain.stat().st_size)
    options = ["--type", f"luks{version}", "--cipher", "aes-xts-plain64", "--key-size", "512",
               "--volume-key-file", str(key_file), "--key-file", str(secret),
               "--pbkdf-force-iterations", "1000"]
    if version == 2:
        options += ["--pbkdf", "pbkdf2", "--sector-size", "512"]
    run("cryptsetup", "luksFormat", "--batch-mode", *options, path)
    key_file.unlink()
    secret.unlink()
    offset = _payload_offset(path)
    data = plain.read_bytes()
    out = bytearray()
    for sector in range(len(data) // _SECTOR):
        encryptor = Cipher(algorithms.AES(key), modes.XTS(sector.to_bytes(16, "little"))).encryptor()
        out += encryptor.update(data[sector * _SECTOR:(sector + 1) * _SECTOR]) + encryptor.finalize()
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(out)
        fh.truncate(offset + len(out))
    return path


def luks2_image(path: Path, plain: Path, passphrase: str, sector_size: int = 512,
                kdf: str = "pbkdf2") -> Path:
    """A LUKS2 volume encrypted by cryptsetup itself whose content starts with `plain`.

    `cryptsetup reencrypt --encrypt` works offline on a file, without device-mapper: the
    data is shifted behind a 16 MiB header and encrypted in place. Argon2 is made cheap
    (32 MiB, 4 passes) so the test stays fast; the reader runs the same code either way.
    """
    data = plain.read_bytes()
    path.write_bytes(data + bytes(32 * MiB))
    secret = path.parent / (path.name + ".pass")
    secret.write_text(passphrase)
    cost = (["--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"] if kdf == "pbkdf2" else
            ["--pbkdf", kdf, "--pbkdf-memory", "32768", "--pbkdf-force-iterations", "4"])
    run("cryptsetup", "reencrypt", "--encrypt", "--type", "luks2", "--batch-mode", *cost,
        "--sector-size", str(sector_size), "--reduce-device-size", "32M", "--key-file", secret,
        path)
    secret.unlink()
    return path


def _payload_offset(path: Path) -> int:
    dump = subprocess.run([tool("cryptsetup"), "luksDump", str(path)], capture_output=True,
                          text=True, check=True).stdout
    for line in dump.splitlines():
        words = line.split()
        if line.startswith("Payload offset:"):  # LUKS1: sectors
            return int(words[-1]) * _SECTOR
        if words[:1] == ["offset:"]:  # LUKS2: "offset: 16777216 [bytes]"
            return int(words[1])
    raise RuntimeError(f"no payload offset in luksDump of {path}")


def seven_zip(path: Path, files: dict[str, bytes], password: str, *options: str) -> Path:
    """A 7z (or zip, by the name's extension) made by 7-Zip with `password`."""
    stage = path.parent / (path.name + ".stage")
    stage.mkdir()
    for name, data in files.items():
        (stage / name).write_bytes(data)
    subprocess.run([tool("7z"), "a", "-bd", f"-p{password}", *options, str(path.resolve()),
                    *sorted(files)], cwd=stage, check=True, capture_output=True)
    for name in files:
        (stage / name).unlink()
    stage.rmdir()
    return path
