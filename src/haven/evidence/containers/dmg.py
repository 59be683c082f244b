"""Apple disk images (UDIF `.dmg`), known by the `koly` trailer in their last 512 bytes;
read by `haven.evidence.dmg` (libmodi, imported only when one is opened)."""

from __future__ import annotations

from typing import ClassVar, Iterator

from haven.evidence.base import Item, Limits, Problem
from haven.evidence.registry import register

TRAILER = 512


def is_udif_trailer(tail: bytes) -> bool:
    """True when `tail` (a file's last 512 bytes) is a UDIF trailer: `koly`, version 4, size 512."""
    return (len(tail) >= TRAILER and tail[-TRAILER:-TRAILER + 4] == b"koly"
            and int.from_bytes(tail[-TRAILER + 4:-TRAILER + 8], "big") == 4
            and int.from_bytes(tail[-TRAILER + 8:-TRAILER + 12], "big") == TRAILER)


@register
class Dmg:
    name: ClassVar[str] = "dmg"
    priority: ClassVar[int] = 74
    expands: ClassVar[bool] = False

    @classmethod
    def sniff(cls, head: bytes, size: int | None) -> bool:
        return False  # the signature is at the end of the file: see sniff_tail

    @classmethod
    def sniff_tail(cls, tail: bytes, size: int | None) -> bool:
        return is_udif_trailer(tail)

    @classmethod
    def tail_hint(cls, head: bytes) -> bool:
        """True when `head` could start a compressed UDIF data fork (zlib, bzip2, LZFSE):
        worth reading the tail of even a stream that must be decompressed to get there."""
        # zlib as every writer makes it (32 KiB window, the four compression levels' flags).
        return head[:2] in (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda") \
            or head[:3] in (b"BZh", b"bvx")

    def members(self, item: Item, limits: Limits) -> Iterator[Item | Problem]:
        from haven.evidence.dmg import DmgReader

        return DmgReader().members(item, limits)
