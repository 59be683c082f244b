"""Android backups (`adb backup`, `.ab`); read by `haven.evidence.android`."""

from __future__ import annotations

from typing import ClassVar, Iterator

from haven.evidence.base import Extraction, Item, Limits, Problem
from haven.evidence.registry import register

MAGIC = b"ANDROID BACKUP\n"


@register
class AndroidBackup:
    name: ClassVar[str] = "android-backup"
    priority: ClassVar[int] = 35
    expands: ClassVar[bool] = True

    @classmethod
    def sniff(cls, head: bytes, size: int | None) -> bool:
        return head.startswith(MAGIC)

    def members(self, item: Item, limits: Limits) -> Iterator[Item | Problem | Extraction]:
        from haven.evidence.android import backup_members

        return backup_members(item, limits)
