"""Tar archives, plain or compressed (gzip, bzip2, xz), and single compressed files; read by
`haven.evidence.tar`. The signature checks live here, so sniffing imports no decompressor."""

from __future__ import annotations

from typing import ClassVar, Iterator

from haven.evidence.base import Item, Limits, Problem
from haven.evidence.registry import register

BLOCK = 512  # one tar header
_MAGICS = (("gzip", b"\x1f\x8b"), ("bzip2", b"BZh"), ("xz", b"\xfd7zXZ\x00"))


def compression_of(head: bytes) -> str | None:
    """The compression ("gzip", "bzip2", "xz") whose stream `head` starts, or None."""
    for name, magic in _MAGICS:
        if head.startswith(magic) and _plausible(name, head):
            return name
    return None


def _plausible(name: str, head: bytes) -> bool:
    """Look past the short magics, so text that starts with "BZh" is not taken for bzip2."""
    if name == "gzip":
        return head[2:3] == b"\x08"  # deflate, the only method gzip defines
    if name == "bzip2":
        return head[3:4] in b"123456789" and head[4:10] in (b"1AY&SY", b"\x17rE8P\x90")
    return True


def is_tar_header(block: bytes) -> bool:
    """True for a tar header block: ustar magic, or (old v7 tars) a valid header checksum."""
    if len(block) < BLOCK:
        return False
    if block[257:262] == b"ustar":
        return True
    try:
        stored = int(block[148:156].replace(b"\x00", b" ").strip() or b"-1", 8)
    except ValueError:
        return False
    computed = sum(block[:148]) + 8 * 32 + sum(block[156:BLOCK])
    return block[0] != 0 and stored == computed


@register
class Tar:
    name: ClassVar[str] = "tar"
    priority: ClassVar[int] = 30
    expands: ClassVar[bool] = True

    @classmethod
    def sniff(cls, head: bytes, size: int | None) -> bool:
        return compression_of(head) is not None or is_tar_header(head[:BLOCK])

    def members(self, item: Item, limits: Limits) -> Iterator[Item | Problem]:
        from haven.evidence.tar import tar_members

        return tar_members(item, limits)
