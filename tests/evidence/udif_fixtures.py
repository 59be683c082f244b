"""A small UDIF (.dmg) writer for tests: no open tool on Linux makes Apple disk images.

Written from Apple's published layout (the data fork of chunks, a property list whose
`blkx` entry holds the `mish` chunk table, the 512-byte `koly` trailer). The tests check
every image it writes with qemu-img's own DMG reader before haven reads it, so a mistake
here fails loudly instead of agreeing with a mistake in haven.
"""

from __future__ import annotations

import base64
import bz2
import struct
import zlib
from pathlib import Path

_SECTOR = 512
_CHUNK_SECTORS = 2048  # 1 MiB of disk per chunk
_RAW, _ZERO, _ZLIB, _BZIP2, _END = 0x00000001, 0x00000002, 0x80000005, 0x80000006, 0xFFFFFFFF


def _checksum() -> bytes:
    return struct.pack(">II", 2, 32) + bytes(128)  # CRC-32 type; never checked by readers here


def udif(raw: Path, target: Path, compression: str = "zlib") -> Path:
    """The disk image `raw` as a UDIF image at `target` (`zlib`, `bzip2` or `raw` chunks)."""
    data = raw.read_bytes()
    assert len(data) % _SECTOR == 0
    sectors = len(data) // _SECTOR
    fork, chunks = bytearray(), []
    for first in range(0, sectors, _CHUNK_SECTORS):
        count = min(_CHUNK_SECTORS, sectors - first)
        piece = data[first * _SECTOR:(first + count) * _SECTOR]
        if not any(piece):
            chunks.append((_ZERO, first, count, len(fork), 0))
            continue
        kind, stored = {"zlib": (_ZLIB, lambda b: zlib.compress(b, 9)),
                        "bzip2": (_BZIP2, bz2.compress),
                        "raw": (_RAW, bytes)}[compression]
        packed = stored(piece)
        chunks.append((kind, first, count, len(fork), len(packed)))
        fork += packed
    chunks.append((_END, sectors, 0, len(fork), 0))
    mish = struct.pack(">4sIQQQII", b"mish", 1, 0, sectors, 0, 0x208, 0) + bytes(24)
    mish += _checksum() + struct.pack(">I", len(chunks))
    for kind, first, count, offset, length in chunks:
        mish += struct.pack(">IIQQQQ", kind, 0, first, count, offset, length)
    plist = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" '
        '"http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n'
        '<plist version="1.0">\n<dict>\n\t<key>resource-fork</key>\n\t<dict>\n'
        '\t\t<key>blkx</key>\n\t\t<array>\n\t\t\t<dict>\n'
        '\t\t\t\t<key>Attributes</key>\n\t\t\t\t<string>0x0050</string>\n'
        '\t\t\t\t<key>CFName</key>\n\t\t\t\t<string>whole disk (Apple_HFS : 0)</string>\n'
        f'\t\t\t\t<key>Data</key>\n\t\t\t\t<data>{base64.b64encode(mish).decode()}</data>\n'
        '\t\t\t\t<key>ID</key>\n\t\t\t\t<string>0</string>\n'
        '\t\t\t\t<key>Name</key>\n\t\t\t\t<string>whole disk (Apple_HFS : 0)</string>\n'
        '\t\t\t</dict>\n\t\t</array>\n\t</dict>\n</dict>\n</plist>\n'
    ).encode()
    xml_offset = len(fork)
    trailer = struct.pack(">4sIIIQQQQQII", b"koly", 4, 512, 1, 0, 0, len(fork), 0, 0, 1, 1)
    trailer += bytes(16) + _checksum() + struct.pack(">QQ", xml_offset, len(plist))
    trailer += bytes(120) + _checksum() + struct.pack(">IQ", 1, sectors) + bytes(12)
    assert len(trailer) == 512
    target.write_bytes(bytes(fork) + plist + trailer)
    return target
