"""VirtualBox VDI disks; read by `haven.evidence.virtual` (haven's own VDI reader)."""

from __future__ import annotations

from typing import ClassVar, Iterator

from haven.evidence.base import Item, Limits, Problem
from haven.evidence.registry import register

VDI_SIGNATURE = 0xBEDA107F  # at byte 64 of the header


@register
class Vdi:
    name: ClassVar[str] = "vdi"
    priority: ClassVar[int] = 73
    expands: ClassVar[bool] = False

    @classmethod
    def sniff(cls, head: bytes, size: int | None) -> bool:
        return int.from_bytes(head[0x40:0x44], "little") == VDI_SIGNATURE

    def members(self, item: Item, limits: Limits) -> Iterator[Item | Problem]:
        from haven.evidence.virtual import VdiReader

        return VdiReader().members(item, limits)
