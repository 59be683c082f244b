"""Raw (`dd`) disk images, read with The Sleuth Kit (pytsk3); never mounted, only read.

An image is either partitioned (MBR or GPT) or one bare file system (FAT12/16/32, exFAT,
NTFS, ext2/3/4, HFS+; XFS and APFS are listed by `haven.evidence.filesystems` with the
libyal readers, under the same paths, without deleted files or carving). Item paths say where a file came from: `disk.raw/p2/Users/x/a.jpg`,
with `pN` the N-th allocated partition as the volume system lists it (1-based); a bare file
system has no `pN`. The same walk serves E01 images (`haven.evidence.ewf`): only the way the
bytes are read differs.

Decisions worth knowing:

- Live files first, then deleted ones, so a live file always keeps its name and a deleted
  file of the same name gets `~2`. A deleted file is an item flagged `deleted` when it still
  has content: not empty, not all zeros at the start, and its blocks not wholly taken by a
  live file since (partly taken: flagged `overwritten` too). A deleted name whose metadata
  entry now belongs to a live file is not read (that content is the live file's), and a
  deleted file whose blocks all belong to live files now is not read either: each is a
  Problem "overwritten" naming it (an `other` finding with a note), never its name with another
  file's content. Files in a
  deleted directory and TSK's `$OrphanFiles` count as deleted. Orphans (a metadata entry no
  directory names any more) keep TSK's path, `$OrphanFiles/<name>`; TSK lists them by name
  only, so each is opened by its metadata address.
- NTFS alternate data streams are items of their own: `x.jpg:hidden`. File-system metadata
  (NTFS `$MFT`.., exFAT's bitmap and up-case table, TSK's virtual `$FAT1`, `$MBR`) is not
  an item. Symbolic links are a Problem "symlink" (never followed); devices, fifos and
  sockets have no content and are skipped.
- Carving: unallocated space of each file system is carved (`haven.evidence.carve`), as are
  the gaps between partitions and partitions without a readable file system. Unallocated
  means "no block of a live file or of a deleted file already yielded", so a recovered
  deleted picture is not carved a second time. Carved items are named by their byte offset
  in the image: `disk.raw/p1/$carved/0001234567.jpg`, flagged `carved`.
- Bad input is a Problem and the walk goes on: a partition running past the end of the
  image or a file system larger than what is left of it ("truncated"), a LUKS or BitLocker
  volume that none of the scan's keys unlocks ("encrypted"; unlocked ones are walked under
  the partition's path, `haven.evidence.unlock`), a partition without a known file system whose bytes look random
  ("encrypted": possibly VeraCrypt/TrueCrypt), a known file-system signature TSK cannot
  open ("corrupt"), a format haven recognises but does not read (Btrfs, LVM, ...:
  "unsupported" naming it and what would open it, `haven.evidence.unsupported`), anything
  else ("unsupported"). Microsoft reserved, BIOS boot and blank
  partitions are skipped silently; swap is carved without a Problem.
"""

from __future__ import annotations

import io
import math
from array import array
from bisect import bisect_right
from collections import Counter
from typing import BinaryIO, Callable, Iterator, Protocol

import pytsk3

from haven.evidence.base import Item, Limits, Problem, WindowStream
from haven.evidence.carve import carve
from haven.evidence.names import MemberNames
from haven.evidence.signatures import (BOOT_SIGNATURE, SECTOR, encryption_label, libyal_label,
                                       file_system_label, mbr_entries)
from haven.evidence.unsupported import HEAD_BYTES, reason, unopened_format

_MAX_DIR_DEPTH = 256  # directories inside directories; a corrupt file system may loop
_ZERO_CHECK = 64 * 1024  # bytes read to tell a recoverable deleted file from a wiped one

_NAME_UNALLOC = int(pytsk3.TSK_FS_NAME_FLAG_UNALLOC)
_META_UNALLOC = int(pytsk3.TSK_FS_META_FLAG_UNALLOC)
_META_ALLOC = int(pytsk3.TSK_FS_META_FLAG_ALLOC)
_RUN_SKIP = int(pytsk3.TSK_FS_ATTR_RUN_FLAG_SPARSE) | int(pytsk3.TSK_FS_ATTR_RUN_FLAG_FILLER)
_NTFS_DATA = int(pytsk3.TSK_FS_ATTR_TYPE_NTFS_DATA)
_T_REG, _T_DIR = pytsk3.TSK_FS_META_TYPE_REG, pytsk3.TSK_FS_META_TYPE_DIR
_T_LNK = pytsk3.TSK_FS_META_TYPE_LNK
_T_VIRT, _T_VIRT_DIR = pytsk3.TSK_FS_META_TYPE_VIRT, pytsk3.TSK_FS_META_TYPE_VIRT_DIR
# TSK's file-system type values are not all bit flags (exFAT is FAT12 | FAT32): compare them.
_NTFS = int(pytsk3.TSK_FS_TYPE_NTFS)
_EXFAT = int(pytsk3.TSK_FS_TYPE_EXFAT)
_FAT = frozenset(int(t) for t in (pytsk3.TSK_FS_TYPE_FAT12, pytsk3.TSK_FS_TYPE_FAT16,
                                  pytsk3.TSK_FS_TYPE_FAT32))
_EXT = frozenset(int(t) for t in (pytsk3.TSK_FS_TYPE_EXT2, pytsk3.TSK_FS_TYPE_EXT3,
                                  pytsk3.TSK_FS_TYPE_EXT4))
_EXFAT_METADATA = frozenset({b"$ALLOC_BITMAP", b"$UPCASE_TABLE"})
_NTFS_FIRST_USER_ENTRY = 27  # MFT entries below hold the file system's own files
_HFS = int(pytsk3.TSK_FS_TYPE_HFS)
_HFS_FIRST_USER_ID = 16  # catalog node IDs below are the volume's own (extents, catalog, ...)
_SILENT_PARTITIONS = (b"microsoft reserved", b"bios boot")


def _tsk_reason(exc: BaseException | None) -> str:
    """TSK's own words from one of its error messages, without the source location."""
    if exc is None:
        return ""
    text = str(exc)
    return text.split("with error: ", 1)[-1].strip() or type(exc).__name__


# -- reading the image ---------------------------------------------------------------------

class Medium(Protocol):
    """The bytes of an image, whatever stores them (a raw file, E01 segments).

    A medium that reads unreadable parts as zeros may also have `damage() -> str | None`,
    the reason for a Problem once the image is walked.
    """

    size: int

    def read(self, offset: int, length: int) -> bytes: ...


class StreamMedium:
    """A raw image read through a seekable binary stream."""

    def __init__(self, stream: BinaryIO, size: int):
        self.stream, self.size = stream, size

    def read(self, offset: int, length: int) -> bytes:
        if offset >= self.size or length <= 0:
            return b""
        self.stream.seek(offset)
        return self.stream.read(min(length, self.size - offset))


class _TskImage(pytsk3.Img_Info):
    """Lets TSK read any `Medium` (TSK calls `read` and `get_size` back)."""

    def __init__(self, medium: Medium):
        self._medium = medium
        super().__init__(url="", type=pytsk3.TSK_IMG_TYPE_EXTERNAL)

    def read(self, offset, length):  # noqa: D401 - TSK's callback
        return self._medium.read(offset, length)

    def get_size(self):
        return self._medium.size


class _RangeStream(WindowStream):
    """A read-only, seekable window [start, start + size) over a reader function."""

    def __init__(self, read: Callable[[int, int], bytes], start: int, size: int):
        super().__init__(size)
        self._read, self._start = read, start

    def _fetch(self, pos: int, length: int) -> bytes:
        parts = []
        while length > 0:
            piece = self._read(self._start + pos, min(length, 4 * 1024**2))
            if not piece:
                raise EOFError(f"content ends {pos} bytes into a {self._size}-byte file "
                               "(truncated image or damaged file system)")
            parts.append(piece)
            pos += len(piece)
            length -= len(piece)
        return b"".join(parts)


class _FileReader:
    """Reads one attribute of one TSK file; a read failure on a cut-off image says so."""

    def __init__(self, fs_file, attribute: tuple[int, int] | None, truncated: bool):
        self.fs_file, self.attribute, self.truncated = fs_file, attribute, truncated

    def __call__(self, offset: int, length: int) -> bytes:
        try:
            if self.attribute is None:
                return self.fs_file.read_random(offset, length)
            return self.fs_file.read_random(offset, length, *self.attribute)
        except OSError as exc:
            if self.truncated:
                raise EOFError(f"the image is truncated; file content beyond its end is "
                               f"missing ({exc})") from exc
            raise


# -- allocation ----------------------------------------------------------------------------

class _Runs:
    """Block runs in use in one file system; answers which blocks are free."""

    def __init__(self) -> None:
        self._starts, self._ends = array("q"), array("q")
        self._merged: list[tuple[int, int]] | None = None

    def add(self, start: int, length: int) -> None:
        if length > 0:
            self._starts.append(start)
            self._ends.append(start + length)
            self._merged = None

    def merged(self) -> list[tuple[int, int]]:
        if self._merged is None:
            spans = sorted(zip(self._starts, self._ends))
            out: list[tuple[int, int]] = []
            for start, end in spans:
                if out and start <= out[-1][1]:
                    if end > out[-1][1]:
                        out[-1] = (out[-1][0], end)
                else:
                    out.append((start, end))
            self._merged = out
        return self._merged

    def overlap(self, start: int, length: int) -> int:
        """How many of the blocks [start, start + length) are in use."""
        spans = self.merged()
        index = max(bisect_right(spans, (start, float("inf"))) - 1, 0)
        end, taken = start + length, 0
        for span_start, span_end in spans[index:]:
            if span_start >= end:
                break
            taken += max(min(end, span_end) - max(start, span_start), 0)
        return taken

    def free(self, first: int, last: int) -> Iterator[tuple[int, int]]:
        """Runs of free blocks between block `first` and `last` (inclusive), as (start, end)."""
        pos = first
        for start, end in self.merged():
            if end <= pos:
                continue
            if start > last:
                break
            if start > pos:
                yield pos, start
            pos = max(pos, end)
        if pos <= last:
            yield pos, last + 1


def _record_runs(fs_file, runs: _Runs) -> list[tuple[int, int]]:
    """Add the non-sparse block runs of every attribute of `fs_file` to `runs`; return them."""
    found: list[tuple[int, int]] = []
    try:
        for attribute in fs_file:
            for run in attribute:
                if int(run.flags) & _RUN_SKIP or run.len <= 0:
                    continue
                runs.add(run.addr, run.len)
                found.append((run.addr, run.len))
    except Exception:  # untrusted data: a damaged attribute list only loses carving precision
        pass
    return found


# -- the walk ------------------------------------------------------------------------------

def _component(raw: bytes) -> str:
    """One file-system name as one path part: separators inside it kept from splitting."""
    text = raw.decode("utf-8", "surrogateescape")
    return text.replace("%", "%25").replace("/", "%2F").replace("\\", "%5C")


def _entropy(data: bytes) -> float:
    counts = Counter(data)
    total = len(data)
    return -sum(c / total * math.log2(c / total) for c in counts.values())


def image_members(medium: Medium, item: Item, limits: Limits) -> Iterator[Item | Problem]:
    """Every file, deleted file and carved file of the image `item` whose bytes `medium` reads."""
    yield from _ImageWalk(medium, item, limits).run()


class _ImageWalk:
    def __init__(self, medium: Medium, item: Item, limits: Limits):
        self.medium, self.item, self.limits = medium, item, limits
        self.names = MemberNames(item.path, limits)
        self.image = _TskImage(medium)

    def run(self) -> Iterator[Item | Problem]:
        yield from self.layout()
        damage = getattr(self.medium, "damage", None)
        reason = damage() if damage else None
        if reason:
            yield Problem(self.item.path, "truncated", reason, self.item.size)

    def layout(self) -> Iterator[Item | Problem]:
        fs_error = None
        try:
            fs = pytsk3.FS_Info(self.image, offset=0)
        except OSError as exc:
            fs, fs_error = None, exc
        if fs is not None:
            yield from _FileSystemWalk(self, fs, 0, "", self.item.path).run()
            return
        try:
            volumes = pytsk3.Volume_Info(self.image)
        except OSError:
            volumes = None
        if volumes is not None:
            yield from self.partitions(volumes)
            return
        yield from self.damaged_table(fs_error)

    def damaged_table(self, fs_error: BaseException | None) -> Iterator[Item | Problem]:
        """No file system at 0 and no volume system TSK accepts: read what the MBR still says."""
        size, path = self.medium.size, self.item.path
        entries = mbr_entries(self.medium.read(0, 512))
        if not entries:
            yield from self.unknown(0, size, "", path, fs_error, whole_image=True)
            return
        table_end = max(start + count for start, count in entries) * SECTOR
        if table_end > size:
            yield Problem(path, "truncated",
                          f"the partition table lists partitions up to byte {table_end} but the "
                          f"image holds only {size} bytes (truncated image); each partition is "
                          "read as far as it goes", size)
        else:
            yield Problem(path, "corrupt",
                          "the partition table cannot be read as a whole; each partition it "
                          "lists is tried where it says it starts", size)
        for index, (start, count) in enumerate(entries, 1):
            yield from self.partition(None, start * SECTOR, count * SECTOR, f"p{index}/",
                                      f"{path}/p{index}")
        if all(start * SECTOR >= size for start, _ in entries):
            yield from self.carve(0, size, "")  # nothing the table says is there: carve it all

    def partitions(self, volumes) -> Iterator[Item | Problem]:
        sector = volumes.info.block_size or SECTOR
        gaps: list[tuple[int, int]] = []
        index = 0
        for part in volumes:
            start, length = part.start * sector, part.len * sector
            flags = int(part.flags)
            if flags & int(pytsk3.TSK_VS_PART_FLAG_UNALLOC):
                gaps.append((start, start + length))
                continue
            if not flags & int(pytsk3.TSK_VS_PART_FLAG_ALLOC):
                continue  # the tables themselves, extended-partition containers
            index += 1
            label = f"{self.item.path}/p{index}"
            yield from self.partition(part, start, length, f"p{index}/", label)
        for start, end in gaps:
            yield from self.carve(start, end, "")

    def partition(self, part, start: int, length: int, prefix: str,
                  label: str) -> Iterator[Item | Problem]:
        size = self.medium.size
        if start >= size:
            yield Problem(label, "truncated",
                          f"partition starts at byte {start}, beyond the end of the image "
                          f"({size} bytes); the image is truncated or the partition table "
                          "is corrupt", length)
            return
        if start + length > size:
            yield Problem(label, "truncated",
                          f"partition runs to byte {start + length} but the image ends at "
                          f"{size}; what lies beyond is missing (truncated image or corrupt "
                          "partition table)", length)
        description = b"" if part is None else (
            part.desc if isinstance(part.desc, bytes) else str(part.desc).encode()).lower()
        try:
            fs = pytsk3.FS_Info(self.image, offset=start)
        except OSError as exc:
            if any(word in description for word in _SILENT_PARTITIONS):
                return
            yield from self.unknown(start, min(length, size - start), prefix, label, exc)
            return
        yield from _FileSystemWalk(self, fs, start, prefix, label).run()

    def unknown(self, start: int, length: int, prefix: str, label: str,
                error: BaseException | None, whole_image: bool = False) -> Iterator[Item | Problem]:
        """A region without a file system TSK opens: name what it is, carve it unless encrypted."""
        head = self.medium.read(start, 8192)
        encrypted = encryption_label(head)
        if encrypted:
            from haven.evidence.unlock import encrypted_members

            yield from encrypted_members(encrypted, self.medium.read, start, length, label,
                                         self.limits)
            return
        readable = libyal_label(head)
        if readable:
            from haven.evidence.filesystems import libyal_members

            yield from libyal_members(readable, self.medium.read, start, length, label,
                                      self.limits)
            return
        if head[4086:4096] in (b"SWAPSPACE2", b"SWAP-SPACE"):
            yield from self.carve(start, start + length, prefix)
            return
        unopened = unopened_format(self.medium.read(start, min(length, HEAD_BYTES)))
        if unopened is not None:
            yield Problem(label, "unsupported", f"{reason(unopened)}; its space is carved", length)
            yield from self.carve(start, start + length, prefix)
            return
        known = file_system_label(head)
        detail = f" ({_tsk_reason(error)})" if error else ""
        if known:
            yield Problem(label, "corrupt",
                          f"looks like {known} but the file system cannot be read{detail}; "
                          "its space is carved", length)
            yield from self.carve(start, start + length, prefix)
            return
        samples = [self.medium.read(start + i * length // 16, 4096) for i in range(16)]
        samples = [s for s in samples if s]
        if samples and all(not any(s) for s in samples):
            if not whole_image:
                return  # a blank partition: nothing to find, nothing to report
        elif samples and all(len(s) >= 1024 and _entropy(s) > 7.5 for s in samples):
            yield Problem(label, "encrypted",
                          "possibly encrypted (VeraCrypt/TrueCrypt or similar): no file system "
                          "or volume signature and the data looks random", length)
            return
        if whole_image and head[510:512] == BOOT_SIGNATURE:
            yield Problem(label, "corrupt",
                          "the partition table (MBR) is damaged: no valid partition entries and "
                          f"no file system at the start{detail}; the whole image is carved", length)
        else:
            what = "image" if whole_image else "partition"
            yield Problem(label, "unsupported",
                          f"{what} holds no file system haven can read{detail}; its space is "
                          "carved", length)
        yield from self.carve(start, start + length, prefix)

    def carve(self, start: int, end: int, prefix: str) -> Iterator[Item | Problem]:
        end = min(end, self.medium.size)
        found = carve(self.medium.read, start, end)
        while True:
            try:
                hit = next(found)
            except StopIteration:
                return
            except Exception as exc:  # untrusted data: a read error ends this region only
                yield Problem(f"{self.item.path}/{prefix}$carved", "unreadable",
                              f"carving stopped at a read error: {type(exc).__name__}: {exc}")
                return
            path, _ = self.names.place(f"{prefix}$carved/{hit.offset:010d}.{hit.extension}")
            yield Item(path, hit.length, flags={"carved": True},
                       opener=_opener(self.medium.read, hit.offset, hit.length),
                       stamp={"size": hit.length, "offset": hit.offset, "within": self.item.stamp})


def _file_stamp(fs_file, size: int, attribute: tuple[int, int] | None) -> dict:
    """Metadata address, size and times of a file (times as far as TSK knows them)."""
    stamp: dict = {"size": size, "attribute": list(attribute) if attribute else None}
    try:
        meta = fs_file.info.meta
        stamp["meta"] = int(meta.addr)
        for name in ("mtime", "ctime", "crtime"):
            seconds = getattr(meta, name, None)
            nanos = getattr(meta, f"{name}_nano", None)
            if seconds is not None:
                stamp[name] = [int(seconds), int(nanos or 0)]
    except Exception:  # untrusted data: a damaged metadata entry leaves size alone
        pass
    return stamp


def _opener(read: Callable[[int, int], bytes], start: int, size: int):
    return lambda: _RangeStream(read, start, size)


class _FileSystemWalk:
    """The files, deleted files and carved files of one file system."""

    def __init__(self, image: _ImageWalk, fs, offset: int, prefix: str, label: str):
        self.image, self.fs, self.offset, self.prefix, self.label = image, fs, offset, prefix, label
        info = fs.info
        self.ftype = int(info.ftype)
        self.block_size = int(info.block_size)
        self.first, self.last = int(info.first_block), int(info.last_block)
        self.span = (self.last + 1) * self.block_size
        self.truncated = offset + self.span > image.medium.size
        self.used = _Runs()
        self.deleted_later: list[tuple[str, object]] = []  # (path, file) of deleted files
        self.dirs_later: list[tuple[str, object]] = []  # (path, directory) deleted directories
        self.reused_later: list[tuple[str, int]] = []  # (path, address) names whose entry was reused
        self.seen_dirs: set[int] = set()
        self.yielded_deleted: set[int] = set()

    def run(self) -> Iterator[Item | Problem]:
        if self.truncated:
            yield Problem(self.label, "truncated",
                          f"the file system declares {self.span} bytes but the image holds "
                          f"only {self.image.medium.size - self.offset} from its start; files "
                          "stored beyond the end cannot be read", self.span)
        try:
            root = self.fs.open_dir(inode=self.fs.info.root_inum)
        except OSError as exc:
            yield Problem(self.label, "corrupt", f"cannot read the root directory: {exc}")
            root = None
        if root is not None:
            self.seen_dirs.add(int(self.fs.info.root_inum))
            yield from self.directory(root, "", deleted=False, depth=0)
        if self.ftype in _EXT:
            self.system_inodes()
        # Deleted files only now, so every live file has placed its name and its blocks.
        while self.dirs_later:
            path, directory = self.dirs_later.pop(0)
            yield from self.directory(directory, path, deleted=True, depth=path.count("/"))
        for path, fs_file in self.deleted_later:
            yield from self.deleted_file(path, fs_file)
        for path, address in self.reused_later:
            where, _ = self.image.names.place(f"{self.prefix}{path}")
            yield Problem(where, "overwritten",
                          f"deleted name whose metadata entry ({address}) now belongs to a live "
                          "file (reused, or the file was renamed): this name's own content is "
                          "not recoverable")
        yield from self.unallocated()

    def system_inodes(self) -> None:
        # ext keeps its journal and resize data in inodes no directory names.
        for inode in range(1, 12):
            try:
                _record_runs(self.fs.open_meta(inode=inode), self.used)
            except Exception:  # untrusted data: absent or damaged, only carving precision lost
                continue

    def directory(self, directory, path: str, deleted: bool,
                  depth: int) -> Iterator[Item | Problem]:
        if depth > _MAX_DIR_DEPTH:
            yield Problem(f"{self.image.item.path}/{self.prefix}{path}", "too-deep",
                          f"directories nested more than {_MAX_DIR_DEPTH} deep; not walked")
            return
        subdirs: list[tuple[str, object, bool]] = []
        try:
            entries = sorted(directory, key=lambda e: bytes(e.info.name.name or b""))
        except Exception as exc:  # untrusted data: a damaged directory loses its own entries
            if not deleted:
                yield Problem(f"{self.image.item.path}/{self.prefix}{path}".rstrip("/"),
                              "corrupt", f"cannot list directory: {exc}")
            return
        for entry in entries:
            name_info, meta = entry.info.name, entry.info.meta
            raw = bytes(name_info.name or b"")
            if raw in (b"", b".", b".."):
                continue
            if meta is None:
                # TSK lists the entries of `$OrphanFiles` by name only: the file is opened by
                # its metadata address, the one way to its content.
                entry = self.by_address(name_info)
                if entry is None:
                    continue
                meta = entry.info.meta
            name_gone = bool(int(name_info.flags) & _NAME_UNALLOC)
            meta_flags = int(meta.flags)
            if name_gone and meta_flags & _META_ALLOC:
                # the metadata entry was reused: its content is a live file's, not this name's
                if meta.type == _T_REG:
                    self.reused_later.append((f"{path}{_component(raw)}", int(meta.addr)))
                continue
            gone = deleted or name_gone or bool(meta_flags & _META_UNALLOC)
            child = f"{path}{_component(raw)}"
            kind = meta.type
            if self.metadata_file(raw, int(meta.addr), depth):
                _record_runs(entry, self.used)
                continue
            if kind == _T_VIRT:
                _record_runs(entry, self.used)
            elif kind in (_T_DIR, _T_VIRT_DIR):
                if not gone and kind == _T_DIR:
                    _record_runs(entry, self.used)
                subdirs.append((child, entry, gone or kind == _T_VIRT_DIR))
            elif kind == _T_REG:
                if gone:
                    self.deleted_later.append((child, entry))
                else:
                    _record_runs(entry, self.used)
                    yield from self.live_file(child, entry)
            elif kind == _T_LNK and not gone:
                where, _ = self.image.names.place(f"{self.prefix}{child}")
                yield Problem(where, "symlink", "symbolic link in the file system; not followed")
        for child, entry, gone in subdirs:
            address = int(entry.info.meta.addr)
            if address in self.seen_dirs:
                continue
            self.seen_dirs.add(address)
            try:
                sub = entry.as_directory()
            except Exception as exc:  # untrusted data
                if not gone:
                    yield Problem(f"{self.image.item.path}/{self.prefix}{child}", "corrupt",
                                  f"cannot open directory: {exc}")
                continue
            if gone and not deleted:
                self.dirs_later.append((f"{child}/", sub))
            else:
                yield from self.directory(sub, f"{child}/", deleted or gone, depth + 1)

    def by_address(self, name_info):
        """The file a name without loaded metadata points at, or None if it cannot be opened."""
        address = int(getattr(name_info, "meta_addr", 0) or 0)
        if not address:
            return None
        try:
            fs_file = self.fs.open_meta(inode=address)
        except Exception:  # untrusted data: a dangling address loses only that name
            return None
        return fs_file if fs_file.info.meta is not None else None

    def metadata_file(self, raw: bytes, address: int, depth: int) -> bool:
        """True for the file system's own files, which are not evidence items."""
        if depth:
            return False
        if self.ftype == _NTFS:
            return raw.startswith(b"$") and address < _NTFS_FIRST_USER_ENTRY
        if self.ftype == _EXFAT:
            return raw in _EXFAT_METADATA
        if self.ftype in _FAT:
            return raw.endswith(b"(Volume Label Entry)")
        if self.ftype == _HFS:
            return raw.startswith(b"$") and address < _HFS_FIRST_USER_ID
        return False

    def streams(self, fs_file) -> list[tuple[str, int, tuple[int, int] | None]]:
        """(name suffix, size, attribute) of each content stream: the file, then NTFS ADSs."""
        size = int(fs_file.info.meta.size)
        out: list[tuple[str, int, tuple[int, int] | None]] = [("", size, None)]
        if self.ftype != _NTFS:
            return out
        try:
            for attribute in fs_file:
                info = attribute.info
                if int(info.type) == _NTFS_DATA and info.name:
                    name = bytes(info.name) if not isinstance(info.name, str) else info.name.encode()
                    out.append((":" + _component(name), int(info.size),
                                (int(info.type), int(info.id))))
        except Exception:  # untrusted data: the main stream is still read
            pass
        return out

    def live_file(self, path: str, fs_file) -> Iterator[Item | Problem]:
        for suffix, size, attribute in self.streams(fs_file):
            yield from self.file_item(path + suffix, fs_file, size, attribute, {})

    def file_item(self, path: str, fs_file, size: int, attribute, flags: dict,
                  ) -> Iterator[Item | Problem]:
        where, name_problems = self.image.names.place(f"{self.prefix}{path}")
        if size > self.image.medium.size and size > self.span:
            yield Problem(where, "corrupt",
                          f"file declares {size} bytes, more than the whole image (corrupt, or "
                          "a sparse file); not read", size)
            return
        reader = _FileReader(fs_file, attribute, self.truncated)
        yield Item(where, size, flags=flags, opener=_opener(reader, 0, size),
                   stamp=_file_stamp(fs_file, size, attribute))
        yield from name_problems

    def deleted_file(self, path: str, fs_file) -> Iterator[Item | Problem]:
        meta = fs_file.info.meta
        address, size = int(meta.addr), int(meta.size)
        if address in self.yielded_deleted or size <= 0:
            return
        self.yielded_deleted.add(address)
        scratch = _Runs()
        runs = _record_runs(fs_file, scratch)
        blocks = sum(length for _, length in runs)
        taken = sum(self.used.overlap(start, length) for start, length in runs)
        if blocks and taken >= blocks:
            # every block now belongs to a live file: reading it would give their content
            where, _ = self.image.names.place(f"{self.prefix}{path}")
            yield Problem(where, "overwritten",
                          f"deleted file ({size} bytes, metadata entry {address}) whose blocks "
                          "all belong to live files now: its content is gone, only its name and "
                          "metadata remain", size)
            return
        try:
            start = fs_file.read_random(0, min(size, _ZERO_CHECK))
        except Exception:  # untrusted data: content not recoverable
            return
        if not start or not any(start):
            return
        flags = {"deleted": True}
        if taken:
            flags["overwritten"] = True
        for start_block, length in runs:
            self.used.add(start_block, length)
        for suffix, stream_size, attribute in self.streams(fs_file):
            yield from self.file_item(path + suffix, fs_file, stream_size, attribute, dict(flags))

    def unallocated(self) -> Iterator[Item | Problem]:
        limit = self.image.medium.size
        for start, end in self.used.free(self.first, self.last):
            byte_start = self.offset + start * self.block_size
            byte_end = min(self.offset + end * self.block_size, limit)
            if byte_start >= byte_end:
                continue
            yield from self.image.carve(byte_start, byte_end, self.prefix)


def raw_disk_members(item: Item, limits: Limits) -> Iterator[Item | Problem]:
    """What the raw disk image `item` holds (the `disk` container kind's reader)."""
    with item.open() as stream:
        size = item.size
        if size is None:
            size = stream.seek(0, io.SEEK_END)
        yield from image_members(StreamMedium(stream, size), item, limits)
