"""VMware VMDK disks (a descriptor file, or a sparse extent embedding one); read by
`haven.evidence.virtual` (libvmdk, imported only when one is opened)."""

from __future__ import annotations

from typing import ClassVar, Iterator

from haven.evidence.base import Item, Limits, Problem
from haven.evidence.registry import register

_DESCRIPTOR = b"# Disk DescriptorFile"


@register
class Vmdk:
    name: ClassVar[str] = "vmdk"
    priority: ClassVar[int] = 70
    expands: ClassVar[bool] = False

    @classmethod
    def sniff(cls, head: bytes, size: int | None) -> bool:
        if head[:4] == b"KDMV":
            # A sparse extent without an embedded descriptor belongs to a descriptor file
            # (qemu-img reserves the space in every extent but fills it only in whole disks).
            at = int.from_bytes(head[28:36], "little") * 512
            if not at:
                return False
            return at + len(_DESCRIPTOR) > len(head) or head[at:at + len(_DESCRIPTOR)] == _DESCRIPTOR
        return head[:len(_DESCRIPTOR)] == _DESCRIPTOR and (size is None or size < 64 * 1024)

    def members(self, item: Item, limits: Limits) -> Iterator[Item | Problem]:
        from haven.evidence.virtual import VmdkReader

        return VmdkReader().members(item, limits)
