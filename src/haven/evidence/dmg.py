"""Apple disk images (UDIF `.dmg`), read with libmodi and walked exactly like raw images.

A UDIF image is the disk's data in chunks (raw, zlib, bzip2, LZFSE or zero), a property list
mapping them, and a 512-byte trailer whose signature, `koly`, is the only fixed mark: it is
at the END of the file. So a DMG is recognised by its tail (`containers/dmg.py`,
`sniff_tail`), which the walker reads where that is cheap (files on disk, split sets, files
inside disk images) and, inside compressed archives, where the head could start a
compressed data fork (zlib, bzip2 or LZFSE: `tail_hint`). A tail match wins over the head: a
bzip2-compressed DMG starts like a `.bz2` file, an uncompressed one with its disk's
partition table. An uncompressed DMG inside a compressed archive is read as the raw disk
it starts with (same files, without the `DMG` label).

The guest disk's bytes are read through libmodi (libyal, wheel on PyPI) and walked by
`haven.evidence.disk`: `mac.dmg/p2/Users/x/a.jpg`. The file systems inside are usually
HFS+ (The Sleuth Kit) or APFS. Not read: encrypted DMGs (`encrcdsa`) and sparse images
(`sprs`), both reported by `haven.evidence.unsupported`.
"""

from __future__ import annotations

from typing import ClassVar

from haven.evidence.base import Item
from haven.evidence.virtual import _opened, _VirtualDisk


class DmgReader(_VirtualDisk):
    name: ClassVar[str] = "dmg"
    label: ClassVar[str] = "DMG (UDIF)"

    def open_handle(self, item: Item, stream):
        import pymodi

        handle = _opened(pymodi.handle(), item, stream)
        if not handle.get_media_size():
            handle.close()
            raise ValueError("no chunk table: its property list is missing or damaged")
        return handle
