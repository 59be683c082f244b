"""Raw (`dd`) disk images: partitioned (MBR, GPT), one bare file system, or an encrypted
volume; read by `haven.evidence.disk` (The Sleuth Kit, imported only when one is opened)."""

from __future__ import annotations

from typing import ClassVar, Iterator

from haven.evidence.base import Item, Limits, Problem
from haven.evidence.registry import register
from haven.evidence.signatures import looks_like_disk


@register
class RawDisk:
    name: ClassVar[str] = "disk"
    priority: ClassVar[int] = 50
    expands: ClassVar[bool] = False

    @classmethod
    def sniff(cls, head: bytes, size: int | None) -> bool:
        return looks_like_disk(head, size)

    def members(self, item: Item, limits: Limits) -> Iterator[Item | Problem]:
        from haven.evidence.disk import raw_disk_members

        return raw_disk_members(item, limits)
