"""Virtual machine disks (VMDK, VHD, VHDX, QCOW/QCOW2, VDI), walked exactly like raw images.

The guest disk's bytes are read through the libyal readers (libvmdk, libvhdi, libqcow: the
maintained Python bindings the forensic tools plaso/dfvfs use, wheels on PyPI) and walked by
`haven.evidence.disk`, so item paths keep the chain: `vm.vmdk/p2/Users/x/a.jpg`, and a VMDK
inside a zip inside a tar is `seizure.tar/vms.zip/vm.vmdk/p2/...`. libyal has no VDI reader:
VDI (VirtualBox) is read here (`_VdiReader`: a header, a block map, blocks; the format is
small and documented), checked against `qemu-img` in the tests.

Decisions worth knowing:

- A VMDK whose data lives in separate extent files (a text descriptor naming
  `vm-s001.vmdk`, `vm-flat.vmdk`, ...) is opened from its descriptor, which libvmdk resolves
  next to it on disk; inside a zip or tar the extents are looked up beside the descriptor
  (`Item.neighbour`) and copied out to temporary files; an extent that is not there (or a
  descriptor inside a container that cannot look members up, such as 7z) is a Problem
  "unsupported". A sparse extent without an embedded descriptor is not opened on its own (it
  is part of such a set); a flat extent looks like a raw disk and is also read as one, so a
  split-flat VMDK on disk yields its files twice (under the descriptor and the extent).
- Differencing images (a QCOW backing file, a VHD/VHDX or VMDK parent) hold only what
  changed: they are a Problem "unsupported" naming the parent; the parent, if present in
  the evidence, is read on its own. AES-encrypted QCOW images are opened with the scan's
  passwords (`--passwords`); without a working one, and QCOW2 with LUKS encryption
  always, they are a Problem "encrypted" saying what to give.
- Fixed VHDs are a raw disk followed by a footer: `haven.evidence.disk` reads them as is.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from typing import ClassVar, Iterator

from haven.evidence.base import Item, Limits, Problem, read_zero_filled
from haven.evidence.containers.vdi import VDI_SIGNATURE
from haven.evidence.disk import image_members

_VDI_FREE, _VDI_ZERO = 0xFFFFFFFF, 0xFFFFFFFE
# A descriptor's extent line: access, size in sectors, type, "file name" (ZERO extents have none).
_EXTENT_LINE = re.compile(r'^\s*(?:RW|RDONLY|NOACCESS)\s+\d+\s+(?!ZERO)\w+\s+"([^"]+)"', re.MULTILINE)


class _HandleMedium:
    """The guest disk a libyal handle (or `_VdiReader`) reads, as a `disk.Medium`.

    What cannot be read (a truncated or damaged image) reads as zeros, piece by piece, and
    is reported once the image is walked, as TSK does with bad sectors: the rest is kept.
    """

    _PIECE = 64 * 1024

    def __init__(self, handle, label: str):
        self.handle, self.label = handle, label
        self.size = int(handle.get_media_size())
        self.bad = 0
        self.first_error = ""

    def read(self, offset: int, length: int) -> bytes:
        if offset >= self.size or length <= 0:
            return b""
        length = min(length, self.size - offset)
        return read_zero_filled(self.handle.read_buffer_at_offset, offset, length,
                                self._PIECE, self._failed)

    def _failed(self, _pos: int, size: int, exc: Exception) -> None:
        self.bad += size
        self.first_error = self.first_error or _short(exc)

    def damage(self) -> str | None:
        if not self.bad:
            return None
        return (f"{self.label} image incomplete: {self.bad} bytes of the guest disk could not be "
                f"read ({self.first_error}); they were read as zeros, so files there are "
                "incomplete")


def _qcow_crypt_method(item: Item, stream) -> int:
    """The QCOW header's encryption method: 0 none, 1 AES-CBC, 2 LUKS."""
    if stream is None:
        with open(item.fs_path, "rb") as fh:
            header = fh.read(40)
    else:
        stream.seek(0)
        header = stream.read(40)
        stream.seek(0)
    at = 36 if int.from_bytes(header[4:8], "big") == 1 else 32
    return int.from_bytes(header[at:at + 4], "big")


def _short(exc: BaseException) -> str:
    """The first two clauses of a libyal error (it lists the whole call chain)."""
    text = str(exc).strip()
    return ". ".join(text.split(". ")[:2]).rstrip(".") or type(exc).__name__


def _opened(handle, item: Item, stream):
    """A libyal file handle opened on the item: by path when it is a file on disk, else the stream."""
    if item.fs_path is not None:
        handle.open(item.fs_path)
    else:
        handle.open_file_object(stream)
    return handle


class _VirtualDisk:
    """Opens one virtual-disk format; subclasses say how to open the handle
    (the container kinds in `haven.evidence.containers` say how to sniff each)."""

    label: ClassVar[str]

    def open_handle(self, item: Item, stream):
        """A handle reading the guest disk: from the file on disk when there is one."""
        raise NotImplementedError

    def parent(self, handle) -> str | None:
        """The parent/backing image a differencing image needs, or None."""
        return None

    def members(self, item: Item, limits: Limits) -> Iterator[Item | Problem]:
        stream = None if item.fs_path is not None else item.open()
        handle = None
        self._limits, self._copies = limits, []  # extents copied out of an archive (VMDK)
        try:
            try:
                handle = self.open_handle(item, stream)
            except NotImplementedError as exc:
                yield Problem(item.path, "unsupported", str(exc), item.size)
                return
            except Locked as exc:
                yield Problem(item.path, "encrypted", str(exc), item.size)
                return
            except Exception as exc:  # untrusted data
                yield Problem(item.path, "corrupt", f"cannot open the {self.label} image: {_short(exc)}",
                              item.size)
                return
            parent = self.parent(handle)
            if parent:
                yield Problem(item.path, "unsupported",
                              f"{self.label} differencing image: it holds only the changes to "
                              f"its parent {parent!r}, which haven does not join; the parent is "
                              "read on its own where it is in the evidence", item.size)
                return
            locked = getattr(handle, "is_locked", None)
            if locked is not None and locked():
                yield Problem(item.path, "encrypted",
                              f"encrypted {self.label} image; its files cannot be read without "
                              "the key", item.size)
                return
            yield from image_members(_HandleMedium(handle, self.label), item, limits)
        finally:
            if handle is not None:
                try:
                    handle.close()
                except Exception:  # closing a half-opened handle: nothing left to lose
                    pass
            if stream is not None:
                stream.close()
            for copy in self._copies:
                copy.close()


class VmdkReader(_VirtualDisk):
    label: ClassVar[str] = "VMDK"

    def open_handle(self, item: Item, stream):
        import pyvmdk  # each libyal binding loads with the first image of its kind

        handle = pyvmdk.handle()
        if item.fs_path is not None:
            handle.open(item.fs_path)
            handle.open_extent_data_files()
            return handle
        embedded = stream.read(4) == b"KDMV"
        stream.seek(0)
        if embedded:
            handle.open_file_object(stream)
            handle.open_extent_data_files_as_file_objects([stream])
            return handle
        extents = self._extents_beside(item, stream)
        handle.open_file_object(stream)
        handle.open_extent_data_files_as_file_objects(extents)
        return handle

    def _extents_beside(self, item: Item, stream) -> list:
        """The extent files a descriptor inside an archive names, copied out of the archive.

        The container looks them up beside the descriptor (`Item.neighbour`); each is copied
        to a temporary file (in the spool directory) because libvmdk seeks all over them and
        a compressed member seeks backwards only by decompressing again from its start.
        """
        stream.seek(0)
        text = stream.read(64 * 1024).decode("utf-8", "replace")
        stream.seek(0)
        names = _EXTENT_LINE.findall(text)
        if item.neighbour is None or not names:
            raise NotImplementedError(
                "a VMDK descriptor inside a container that cannot look up its extent files "
                "by name; extract the descriptor with its extents and scan the folder")
        limits = self._limits
        for name in names:
            extent = item.neighbour(name)
            if extent is None:
                raise NotImplementedError(
                    f"a VMDK descriptor inside an archive: its extent {name!r} is not beside it "
                    "in the archive; extract the descriptor with its extents and scan the folder")
            if extent.size is not None and extent.size > limits.max_item_size:
                raise NotImplementedError(
                    f"VMDK extent {name!r} declares {extent.size} bytes, above the limit of "
                    f"{limits.max_item_size}")
            copy = tempfile.TemporaryFile(dir=limits.spool_dir, prefix="haven-extent-")
            self._copies.append(copy)
            with extent.open() as source:
                shutil.copyfileobj(source, copy, 1024 * 1024)
            copy.seek(0)
        return list(self._copies)

    def parent(self, handle) -> str | None:
        try:
            if int(handle.get_parent_content_identifier()) not in (0, 0xFFFFFFFF):
                return handle.get_parent_filename() or "(unnamed)"
        except Exception:  # no parent recorded
            return None
        return None


class VhdReader(_VirtualDisk):
    label: ClassVar[str] = "VHD/VHDX"

    def open_handle(self, item: Item, stream):
        import pyvhdi

        return _opened(pyvhdi.file(), item, stream)

    def parent(self, handle) -> str | None:
        try:
            return handle.get_parent_filename() or None
        except Exception:  # no parent recorded
            return None


class Locked(Exception):
    """An encrypted image none of the scan's keys opens; the message says what to give."""


class QcowReader(_VirtualDisk):
    """QCOW/QCOW2; AES-encrypted ones (qemu's legacy `encrypt.format=aes`) opened with the
    scan's passwords. libqcow cannot tell a wrong password (AES-CBC has no check), so a
    password counts only when the guest disk it gives starts like a disk (a partition table,
    a file system or an encrypted volume, `signatures.looks_like_disk`)."""

    label: ClassVar[str] = "QCOW"

    def open_handle(self, item: Item, stream):
        import pyqcow

        method = _qcow_crypt_method(item, stream)
        if method not in (1, 2):  # 0: not encrypted; anything else: libqcow says what is wrong
            return _opened(pyqcow.file(), item, stream)
        if method == 2:
            raise Locked("QCOW2 image encrypted with LUKS, which libqcow does not read; "
                         "`qemu-img convert` it to raw with its secret, then scan the raw image")
        from haven.evidence.signatures import looks_like_disk

        keys = self._limits.keys
        for password in keys.passwords:
            # qemu keys AES with the password's first 16 bytes (libqcow refuses longer ones).
            key = password.encode("utf-8")[:16].decode("utf-8", "ignore")
            handle = pyqcow.file()
            try:
                handle.set_password(key)
                _opened(handle, item, stream)
                size = int(handle.get_media_size())
                if looks_like_disk(handle.read_buffer_at_offset(min(size, 128 * 1024), 0), size):
                    return handle
            except Exception:  # a password libqcow refuses, or garbage decrypted: the next
                pass
            try:
                handle.close()
            except Exception:  # never fully opened
                pass
        raise Locked("QCOW image encrypted (AES); give its password in `--passwords` "
                     f"({keys.tried()})")

    def parent(self, handle) -> str | None:
        try:
            return handle.get_backing_filename() or None
        except Exception:  # no backing file recorded
            return None


class _VdiReader:
    """VirtualBox VDI: a header, a map of block numbers, then the allocated blocks.

    Unallocated and zeroed blocks read as zeros. Only dynamic and fixed images are read;
    a differencing image (type 4) is reported by its caller.
    """

    def __init__(self, stream):
        self.stream = stream
        header = self._at(0, 512)
        if len(header) < 0x190 or int.from_bytes(header[0x40:0x44], "little") != VDI_SIGNATURE:
            raise ValueError("not a VDI image (no signature at byte 64)")
        major = int.from_bytes(header[0x44:0x48], "little") >> 16
        if major != 1:
            raise NotImplementedError(f"VDI version {major} is not read")
        self.kind = int.from_bytes(header[0x4C:0x50], "little")
        self.map_at = int.from_bytes(header[0x154:0x158], "little")
        self.data_at = int.from_bytes(header[0x158:0x15C], "little")
        self.size = int.from_bytes(header[0x170:0x178], "little")
        self.block = int.from_bytes(header[0x178:0x17C], "little")
        self.extra = int.from_bytes(header[0x17C:0x180], "little")
        count = int.from_bytes(header[0x180:0x184], "little")
        if not self.block or self.block & (self.block - 1) or count * self.block < self.size:
            raise ValueError(f"VDI header is corrupt (block size {self.block}, {count} blocks "
                             f"for {self.size} bytes)")
        raw = self._at(self.map_at, 4 * count)
        if len(raw) < 4 * count:
            raise EOFError("VDI block map is truncated")
        self.blocks = [int.from_bytes(raw[i:i + 4], "little") for i in range(0, len(raw), 4)]

    def _at(self, offset: int, length: int) -> bytes:
        self.stream.seek(offset)
        return self.stream.read(length)

    def get_media_size(self) -> int:
        return self.size

    def read_buffer_at_offset(self, length: int, offset: int) -> bytes:
        out = []
        while length > 0:
            index, inside = divmod(offset, self.block)
            step = min(length, self.block - inside)
            number = self.blocks[index]
            if number in (_VDI_FREE, _VDI_ZERO):
                piece = bytes(step)
            else:
                piece = self._at(self.data_at + number * (self.block + self.extra) + self.extra
                                 + inside, step)
                if len(piece) < step:
                    raise EOFError(f"VDI block {index} is cut off: the image is truncated")
            out.append(piece)
            offset += step
            length -= step
        return b"".join(out)

    def close(self) -> None:
        self.stream.close()


class VdiReader(_VirtualDisk):
    label: ClassVar[str] = "VDI"

    def open_handle(self, item: Item, stream):
        return _VdiReader(_noatime_open(item.fs_path) if item.fs_path is not None else _Borrowed(stream))

    def parent(self, handle) -> str | None:
        return "(named by UUID in its header)" if handle.kind == 4 else None


class _Borrowed:
    """A stream lent to a reader that closes what it reads; the lender closes it."""

    def __init__(self, stream):
        self.stream = stream

    def seek(self, offset: int) -> int:
        return self.stream.seek(offset)

    def read(self, length: int) -> bytes:
        return self.stream.read(length)

    def close(self) -> None:
        pass


def _noatime_open(fs_path: str):
    flags = os.O_RDONLY | getattr(os, "O_NOATIME", 0)
    try:
        return os.fdopen(os.open(fs_path, flags), "rb")
    except PermissionError:
        return open(fs_path, "rb")
