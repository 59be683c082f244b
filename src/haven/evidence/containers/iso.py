"""ISO 9660 (and UDF-marked) optical disc images; read by `haven.evidence.iso` (pycdlib,
imported only when one is opened)."""

from __future__ import annotations

from typing import ClassVar, Iterator

from haven.evidence.base import Item, Limits, Problem
from haven.evidence.registry import register

DESCRIPTOR_AT = 0x8001  # the first volume descriptor's identifier, 32 KiB in
UDF_MARKS = (b"BEA01", b"NSR02", b"NSR03", b"TEA01")


@register
class Iso:
    name: ClassVar[str] = "iso"
    # Ahead of disk: hybrid ISO images carry an MBR too and are read as discs.
    priority: ClassVar[int] = 40
    expands: ClassVar[bool] = False

    @classmethod
    def sniff(cls, head: bytes, size: int | None) -> bool:
        mark = head[DESCRIPTOR_AT:DESCRIPTOR_AT + 5]
        return mark == b"CD001" or mark in UDF_MARKS

    def members(self, item: Item, limits: Limits) -> Iterator[Item | Problem]:
        from haven.evidence.iso import iso_members

        return iso_members(item, limits)
