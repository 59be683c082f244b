"""QEMU QCOW/QCOW2 disks; read by `haven.evidence.virtual` (libqcow, imported only when one
is opened)."""

from __future__ import annotations

from typing import ClassVar, Iterator

from haven.evidence.base import Item, Limits, Problem
from haven.evidence.registry import register


@register
class Qcow:
    name: ClassVar[str] = "qcow"
    priority: ClassVar[int] = 72
    expands: ClassVar[bool] = False

    @classmethod
    def sniff(cls, head: bytes, size: int | None) -> bool:
        return head[:4] == b"QFI\xfb" and int.from_bytes(head[4:8], "big") in (1, 2, 3)

    def members(self, item: Item, limits: Limits) -> Iterator[Item | Problem]:
        from haven.evidence.virtual import QcowReader

        return QcowReader().members(item, limits)
