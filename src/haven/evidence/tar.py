"""Tar archives, plain or compressed (gzip, bzip2, xz), and single compressed files.

Compression is recognised by its magic; whether a tar is inside is decided by decompressing
its first block, since the head of a bzip2 stream often holds no complete block. A compressed
stream that is not a tar (`photo.jpg.gz`) is a container of one member: the decompressed
content, named after the file without its compression suffix (`photo.jpg.gz/photo.jpg`), so
the picture inside is hashed like any other. The gzip header's own file-name field is
ignored: it is whatever the maker wrote and may disagree with the name the examiner sees.

Compressed tars are decompressed once, front to back; each member is copied out to a spool
(memory, or `Limits.spool_dir` when large) while it is being walked, because a decompressor
can only seek backwards by starting over. Bomb checks:
a member ending beyond `max_ratio` times the compressed file size (solid compression has no
per-member sizes) is a Problem "bomb", as is a single compressed file expanding that far
(its size is only known once it has been decompressed, so it is spooled before listing). Symbolic links in a tar
are a Problem "symlink"; hard links yield the content of the member they name; fifos and
device entries, which have no content, are a Problem "unsupported".
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import posixpath
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from functools import partial
from typing import BinaryIO, Callable, Iterator

from haven.evidence.base import Item, Limits, Problem, SpoolView, problem_from
from haven.evidence.containers.tar import BLOCK, compression_of, is_tar_header
from haven.evidence.names import MemberNames

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class _Compression:
    name: str  # as `compression_of` names it
    suffixes: tuple[str, ...]
    open: Callable[[BinaryIO], BinaryIO]


_COMPRESSIONS = (
    _Compression("gzip", (".tgz", ".gz", ".z"),
                 lambda raw: gzip.GzipFile(fileobj=raw, mode="rb")),  # type: ignore[arg-type,return-value]
    _Compression("bzip2", (".tbz2", ".tbz", ".bz2"),
                 lambda raw: bz2.BZ2File(raw, "rb")),  # type: ignore[arg-type,return-value]
    _Compression("xz", (".txz", ".xz"),
                 lambda raw: lzma.LZMAFile(raw, "rb")),  # type: ignore[arg-type,return-value]
)
_TAR_SUFFIXES = {".tgz", ".tbz2", ".tbz", ".txz"}


def _compression(head: bytes) -> _Compression | None:
    name = compression_of(head)
    return next((c for c in _COMPRESSIONS if c.name == name), None)


class _Decompressed(io.RawIOBase):
    """A decompressing stream that also closes the source it reads from."""

    def __init__(self, compression: _Compression, raw: BinaryIO):
        super().__init__()
        self._raw = raw
        self._inner = compression.open(raw)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._inner.seek(offset, whence)

    def tell(self) -> int:
        return self._inner.tell()

    def read(self, size: int | None = -1) -> bytes:
        return self._inner.read(-1 if size is None else size)

    def readall(self) -> bytes:
        return self._inner.read()

    def readinto(self, buffer) -> int:
        data = self._inner.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            try:
                self._inner.close()
                self._raw.close()
            finally:
                super().close()


def tar_members(item: Item, limits: Limits) -> Iterator[Item | Problem]:
    """The members of the (compressed) tar or lone compressed file `item` (the `tar` kind's reader)."""
    names = MemberNames(item.path, limits)
    with item.open() as raw:
        compression = _compression(raw.read(16))
        raw.seek(0)
        if compression is None:
            yield from tar_stream_members(raw, item, names, limits, compressed_size=None)
            return
        with _Decompressed(compression, item.open()) as stream:
            is_tar = is_tar_header(stream.read(BLOCK))
            stream.seek(0)
            if is_tar:
                yield from tar_stream_members(stream, item, names, limits, compressed_size=item.size)
                return
        yield from _single(item, compression, names, limits)


def tar_stream_members(stream: BinaryIO, item: Item, names: MemberNames, limits: Limits,
                       compressed_size: int | None,
                       on_member: Callable[[str], None] | None = None) -> Iterator[Item | Problem]:
    """The members of the tar read from `stream` (`compressed_size`: of the file it was
    inflated from, None when `stream` is the file itself); `on_member` hears each member's
    name in the tar before its item is yielded (containers built on tar, such as Android
    backups, place members by another name)."""
    archive = tarfile.open(fileobj=stream, mode="r:")
    regular: dict[str, tarfile.TarInfo] = {}
    spool = None
    try:
        for info in archive:
            if spool is not None:
                spool.close()
                spool = None
            if info.isdir():
                continue
            path, name_problems = names.place(info.name)
            if on_member is not None:
                on_member(info.name)
            entry = _entry(archive, info, path, item, regular, limits, compressed_size)
            if isinstance(entry, Item) and compressed_size is not None and not info.islnk():
                # A decompressor seeks backwards only by starting over, and every member is
                # read more than once (sniffed, then hashed): copy it out once, in order.
                spooled = _spool(archive, info, path, limits)
                if isinstance(spooled, Problem):
                    yield spooled
                    return
                spool = spooled
                entry.opener = partial(SpoolView, spool, info.size)
            if isinstance(entry, Item):
                entry.neighbour = partial(_neighbour, archive, info.name)
            yield entry
            yield from name_problems
            if isinstance(entry, Problem) and entry.kind in ("truncated", "bomb"):
                return  # everything after this point is cut off or beyond the limit too
            if info.isreg():
                regular[info.name] = info
        # tarfile ends quietly at a header it cannot read; a cut inside a header looks like that.
        stream.seek(archive.offset)
        tail = stream.read(BLOCK)
        if tail.strip(b"\0"):
            kind = "truncated" if len(tail) < BLOCK else "corrupt"
            yield Problem(item.path, kind, f"unreadable tar header at byte {archive.offset} "
                          "(of the uncompressed archive); members after it are not listed",
                          item.size)
    finally:
        if spool is not None:
            spool.close()
        archive.close()


def _neighbour(archive: tarfile.TarFile, member: str, name: str) -> Item | None:
    """The regular member `name`, relative to `member`'s folder (the whole tar's headers are
    read the first time: a compressed tar is decompressed again from its start)."""
    wanted = posixpath.normpath(posixpath.join(posixpath.dirname(member), name))
    try:
        info = archive.getmember(wanted)
    except KeyError:
        return None
    if not info.isreg():
        return None
    return Item(wanted, info.size, opener=partial(archive.extractfile, info))  # type: ignore[arg-type]


def _spool(archive: tarfile.TarFile, info: tarfile.TarInfo, path: str, limits: Limits):
    """The member's data copied to a spool, or the problem that stopped the copy."""
    if info.size > limits.max_item_size:
        return Problem(path, "bomb", f"member declares {info.size} bytes, above the limit of "
                       f"{limits.max_item_size}; not extracted", info.size)
    spool = tempfile.SpooledTemporaryFile(max_size=limits.spool_limit, dir=limits.spool_dir,
                                          prefix="haven-tar-")
    try:
        with archive.extractfile(info) as source:  # type: ignore[union-attr]
            shutil.copyfileobj(source, spool, _CHUNK)
    except Exception as exc:  # untrusted data: a broken stream is a finding
        spool.close()
        return problem_from(path, exc, info.size)
    return spool


def _entry(archive: tarfile.TarFile, info: tarfile.TarInfo, path: str, item: Item,
           regular: dict[str, tarfile.TarInfo], limits: Limits,
           compressed_size: int | None) -> Item | Problem:
    """The member as an item, or the problem that keeps it from being extracted."""
    if info.issym():
        return Problem(path, "symlink", f"symbolic link to {info.linkname!r}; not followed")
    if info.islnk():
        target = regular.get(info.linkname)
        if target is None:
            return Problem(path, "corrupt",
                           f"hard link to {info.linkname!r}, which is not an earlier file")
        return Item(path, target.size, opener=partial(archive.extractfile, target),  # type: ignore[arg-type]
                    flags={"hardlink": info.linkname}, stamp=_stamp(target))
    if not info.isreg():
        return Problem(path, "unsupported", "fifo or device entry; it has no content")
    end = info.offset_data + info.size
    if compressed_size is None and item.size is not None and end > item.size:
        return Problem(path, "truncated",
                       f"member data ends at byte {end} but the archive has {item.size}", info.size)
    if compressed_size is not None and end >= limits.ratio_min_size \
            and end > limits.max_ratio * max(compressed_size, 1):
        return Problem(path, "bomb",
                       f"the archive expands beyond {limits.max_ratio:g} times its "
                       f"{compressed_size} compressed bytes here; this member and the rest "
                       "are not extracted", info.size)
    return Item(path, info.size, opener=partial(archive.extractfile, info),  # type: ignore[arg-type]
                stamp=_stamp(info))


def _stamp(info: tarfile.TarInfo) -> dict:
    """A tar records no checksum of a member's data: its size and mtime stand for its version."""
    return {"size": info.size, "mtime": info.mtime}


def _decompressed_name(item_path: str, compression: _Compression) -> str:
    base = posixpath.basename(item_path)
    lowered = base.lower()
    for suffix in compression.suffixes:
        if lowered.endswith(suffix) and len(base) > len(suffix):
            stem = base[: -len(suffix)]
            return stem + ".tar" if suffix in _TAR_SUFFIXES else stem
    return base


def _single(item: Item, compression: _Compression, names: MemberNames,
            limits: Limits) -> Iterator[Item | Problem]:
    path, name_problems = names.place(_decompressed_name(item.path, compression))
    cap = min(limits.max_item_size, max(limits.ratio_min_size,
                                        int(limits.max_ratio * max(item.size or 1, 1))))
    spool = tempfile.SpooledTemporaryFile(max_size=limits.spool_limit, dir=limits.spool_dir,
                                          prefix="haven-unpacked-")
    try:
        size = 0
        with _Decompressed(compression, item.open()) as stream:
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                if size > cap:
                    yield Problem(path, "bomb",
                                  f"{compression.name} data expands beyond {cap} bytes "
                                  f"({item.size} compressed); not extracted", None)
                    return
                spool.write(chunk)
        # gzip/bzip2/xz record no usable version of the content: the compressed file's stands for it
        yield Item(path, size, opener=partial(SpoolView, spool, size),
                   stamp={"size": size, "within": item.stamp})
        yield from name_problems
    finally:
        spool.close()
