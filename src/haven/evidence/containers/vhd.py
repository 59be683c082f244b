"""Dynamic VHD and VHDX disks; read by `haven.evidence.virtual` (libvhdi, imported only
when one is opened). Fixed VHDs are a raw disk followed by a footer: `disk` reads them."""

from __future__ import annotations

from typing import ClassVar, Iterator

from haven.evidence.base import Item, Limits, Problem
from haven.evidence.registry import register


@register
class Vhd:
    name: ClassVar[str] = "vhd"
    priority: ClassVar[int] = 71
    expands: ClassVar[bool] = False

    @classmethod
    def sniff(cls, head: bytes, size: int | None) -> bool:
        # Dynamic VHDs copy their footer to the start; VHDX starts with its file identifier.
        return head[:8] in (b"conectix", b"vhdxfile")

    def members(self, item: Item, limits: Limits) -> Iterator[Item | Problem]:
        from haven.evidence.virtual import VhdReader

        return VhdReader().members(item, limits)
