"""EnCase E01 images (first segment only: it opens its siblings); read by
`haven.evidence.ewf` (libewf, imported only when one is opened)."""

from __future__ import annotations

from typing import ClassVar, Iterator

from haven.evidence.base import Item, Limits, Problem
from haven.evidence.registry import register

_EVF1 = b"EVF\x09\x0d\x0a\xff\x00"


@register
class Ewf:
    name: ClassVar[str] = "e01"
    priority: ClassVar[int] = 60
    expands: ClassVar[bool] = False

    @classmethod
    def sniff(cls, head: bytes, size: int | None) -> bool:
        # Bytes 9-10: the segment number; later segments are opened by the first.
        return head[:8] == _EVF1 and int.from_bytes(head[9:11], "little") == 1

    def members(self, item: Item, limits: Limits) -> Iterator[Item | Problem]:
        from haven.evidence.ewf import ewf_members

        return ewf_members(item, limits)
