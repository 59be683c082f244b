"""7z archives; read by `haven.evidence.sevenzip` (py7zr, imported only when one is opened)."""

from __future__ import annotations

from typing import ClassVar, Iterator

from haven.evidence.base import Item, Limits, Problem
from haven.evidence.registry import register

_MAGIC = b"7z\xbc\xaf\x27\x1c"


@register
class SevenZip:
    name: ClassVar[str] = "7z"
    priority: ClassVar[int] = 20
    expands: ClassVar[bool] = True

    @classmethod
    def sniff(cls, head: bytes, size: int | None) -> bool:
        return head.startswith(_MAGIC)

    def members(self, item: Item, limits: Limits) -> Iterator[Item | Problem]:
        from haven.evidence.sevenzip import sevenzip_members

        return sevenzip_members(item, limits)
