"""ZIP archives and everything built on them (docx, xlsx, epub, apk, jar, cbz); read by
`haven.evidence.zip`."""

from __future__ import annotations

from typing import ClassVar, Iterator

from haven.evidence.base import Item, Limits, Problem
from haven.evidence.registry import register

# A local file header, an end record (empty archive) or a spanned archive's marker.
_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")


@register
class Zip:
    name: ClassVar[str] = "zip"
    priority: ClassVar[int] = 10
    expands: ClassVar[bool] = True

    @classmethod
    def sniff(cls, head: bytes, size: int | None) -> bool:
        return head[:4] in _SIGNATURES

    def members(self, item: Item, limits: Limits) -> Iterator[Item | Problem]:
        from haven.evidence.zip import zip_members

        return zip_members(item, limits)
