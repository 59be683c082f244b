"""ZIP archives (and everything built on them: docx, xlsx, epub, apk, jar, cbz).

Members are listed from the central directory. Before a member is handed out its header is
checked: encrypted members (flag bit 0; ZipCrypto and AES alike) are decrypted with the
first of the scan's passwords (`--passwords`) that reads the member whole with a good
CRC (ZipCrypto) or authentication code (AES), the one that opened the previous member tried
first; they are flagged `unlocked`. With no working password an encrypted member is a
Problem "encrypted" naming its cipher and `--passwords`. AES members are read with pyzipper
(the standard library reads ZipCrypto only). A member that would expand beyond `max_item_size`, or (when at least `ratio_min_size` big)
beyond `max_ratio` times its compressed size, or whose data overlaps another member's (the
overlapping-entry bomb) is a Problem "bomb". None of these is decompressed.

A zip without a readable central directory (a download or a copy cut short) is salvaged:
local file headers are read front to back and every member whose data is complete is still
yielded, flagged `salvaged`; the archive gets a Problem "truncated" (no end record at all) or
"corrupt". CRC mismatches surface when a member is read (zipfile checks at the end of data).

A UFDR (Cellebrite report: a zip with a `report.xml`) is read the same way, but the members
its report names are placed under their path on the phone (`haven.evidence.ufdr`).
"""

from __future__ import annotations

import io
import posixpath
import stat
import struct
import zipfile
import zlib
from functools import partial
from typing import BinaryIO, Iterator

from haven.evidence.base import Extraction, Item, Limits, Problem, ReadStream
from haven.evidence.names import MemberNames

_LOCAL = b"PK\x03\x04"
_LOCAL_FIXED = struct.Struct("<4sHHHHHIIIHH")
_DESCRIPTOR = b"PK\x07\x08"
_STORED, _DEFLATED = 0, 8
_CHUNK = 1024 * 1024


def _bomb_reason(size: int, compressed: int, limits: Limits) -> str | None:
    if size > limits.max_item_size:
        return f"member declares {size} bytes, above the limit of {limits.max_item_size}"
    if size >= limits.ratio_min_size and size > limits.max_ratio * max(compressed, 1):
        return (f"member expands {size / max(compressed, 1):.0f} times "
                f"({compressed} -> {size} bytes), above the limit of {limits.max_ratio:g}")
    return None


def zip_members(item: Item, limits: Limits) -> Iterator[Item | Problem | Extraction]:
    """The members of the zip `item` (the `zip` container kind's reader)."""
    names = MemberNames(item.path, limits)
    with item.open() as stream:
        try:
            archive = zipfile.ZipFile(stream)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, struct.error) as exc:
            yield from _salvage(stream, item, names, limits, exc)
            return
        with archive:
            locked = _Locked(stream, limits) if any(i.flag_bits & 0x1 for i in archive.infolist()) else None
            # A UFDR (Cellebrite report) is a zip whose report.xml says where each member was
            # on the phone, a zipped iOS backup one whose Manifest.db does: those members are
            # placed there (haven.evidence.ufdr, haven.evidence.ios).
            from haven.evidence.ios import zip_layout
            from haven.evidence.ufdr import layout_of

            layout, reported = layout_of(archive, item.path)
            if layout is None:
                layout, more = zip_layout(archive, item.path, limits)
                reported = [*reported, *more]
            yield from reported
            try:
                yield from _listed(archive, names, limits, locked, layout)
            finally:
                if locked is not None:
                    locked.close()


def _listed(archive: zipfile.ZipFile, names: MemberNames, limits: Limits,
            locked: _Locked | None, layout=None) -> Iterator[Item | Problem]:
    infos = archive.infolist()
    overlapping = _overlapping(infos)
    for index, info in enumerate(infos):
        if info.is_dir():
            continue
        name, flags = info.filename, None
        if layout is not None:
            name, flags = layout.places.get(info.filename.replace("\\", "/").lstrip("/"), (name, None))
        path, name_problems = names.place(name)
        entry = _entry(archive, info, index, path, overlapping, limits, locked)
        if isinstance(entry, Item):
            entry.neighbour = partial(_neighbour, archive, info.filename, limits)
            if flags:
                entry.flags = {**entry.flags, **flags}
        yield entry
        yield from name_problems


def _entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, index: int, path: str,
           overlapping: set[int], limits: Limits, locked: _Locked | None) -> Item | Problem:
    """The member as an item, or the problem that keeps it from being extracted."""
    if stat.S_ISLNK(info.external_attr >> 16):
        return Problem(path, "symlink", "symbolic link stored in the archive; not followed",
                       info.file_size)
    reason = _bomb_reason(info.file_size, info.compress_size, limits)
    if reason is None and id(info) in overlapping:
        reason = "member data overlaps another member's (overlapping-entry bomb)"
    if reason is not None:
        return Problem(path, "bomb", f"{reason}; not extracted", info.file_size)
    stamp = {"size": info.file_size, "crc": info.CRC, "time": list(info.date_time)}
    if info.flag_bits & 0x1 and locked is not None:
        return locked.member(index, path, stamp)
    return Item(path, info.file_size, opener=partial(archive.open, info), stamp=stamp)


def _neighbour(archive: zipfile.ZipFile, member: str, limits: Limits, name: str) -> Item | None:
    """The plain (unencrypted, not oversized) member `name`, relative to `member`'s folder."""
    wanted = posixpath.normpath(posixpath.join(posixpath.dirname(member), name))
    try:
        info = archive.getinfo(wanted)
    except KeyError:
        return None
    if info.flag_bits & 0x1 or info.is_dir() or _bomb_reason(info.file_size, info.compress_size, limits):
        return None
    return Item(wanted, info.file_size, opener=partial(archive.open, info))


class _Locked:
    """The encrypted members of one zip, opened with pyzipper and the scan's passwords."""

    def __init__(self, stream: BinaryIO, limits: Limits):
        import pyzipper

        self.keys = limits.keys
        self.candidates = [p.encode("utf-8") for p in self.keys.passwords]
        # Old ZipCrypto tools encoded passwords in the DOS code page.
        self.candidates += [c for p in self.keys.passwords
                            if (c := p.encode("cp437", "ignore")) not in self.candidates]
        self.last: bytes | None = None
        self.archive = pyzipper.AESZipFile(stream)
        self.infos = self.archive.infolist()

    def close(self) -> None:
        self.archive.close()

    def member(self, index: int, path: str, stamp: dict) -> Item | Problem:
        info = self.infos[index]
        cipher = "AES" if _has_extra(info.extra, 0x9901) else "ZipCrypto"
        password = self.password(info)
        if password is None:
            return Problem(path, "encrypted",
                           f"zip member ({cipher}); give its password in "
                           f"`--passwords` ({self.keys.tried()})", info.file_size)
        return Item(path, info.file_size, flags={"unlocked": True}, stamp=stamp,
                    opener=partial(self.archive.open, info, pwd=password))

    def password(self, info) -> bytes | None:
        """The first password that reads the member whole, the last good one tried first."""
        order = ([self.last] if self.last else []) + [c for c in self.candidates if c != self.last]
        for candidate in order:
            try:
                with self.archive.open(info, pwd=candidate) as fh:
                    while fh.read(_CHUNK):
                        pass
            except Exception:  # a wrong password: bad check byte, CRC or MAC; try the next
                continue
            self.last = candidate
            return candidate
        return None


def _has_extra(extra: bytes, wanted: int) -> bool:
    """True when the extra field holds a block with tag `wanted` (0x9901: WinZip AES)."""
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, pos)
        if tag == wanted:
            return True
        pos += 4 + length
    return False


def _overlapping(infos: list[zipfile.ZipInfo]) -> set[int]:
    """ids of members whose data starts inside the previous member's data."""
    result: set[int] = set()
    end = 0
    for info in sorted(infos, key=lambda i: i.header_offset):
        if info.header_offset < end:
            result.add(id(info))
        # The local header is at least 30 bytes plus the name; its extra field may add more.
        end = max(end, info.header_offset + 30 + len(info.orig_filename.encode("utf-8", "replace"))
                  + info.compress_size)
    return result


# -- salvage: reading local headers when the central directory is gone -------------------------

def _salvage(stream: BinaryIO, item: Item, names: MemberNames, limits: Limits,
             cause: BaseException) -> Iterator[Item | Problem]:
    stream.seek(0, io.SEEK_END)
    end = stream.tell()
    stream.seek(max(end - 65536 - 22, 0))
    has_end_record = b"PK\x05\x06" in stream.read()
    recovered = 0
    offset = 0
    while offset + _LOCAL_FIXED.size <= end:
        stream.seek(offset)
        fixed = stream.read(_LOCAL_FIXED.size)
        if fixed[:4] != _LOCAL:
            break  # the central directory, or garbage: nothing more to salvage
        _, _, flags, method, _, _, crc, csize, usize, name_len, extra_len = _LOCAL_FIXED.unpack(fixed)
        raw_name = stream.read(name_len)
        extra = stream.read(extra_len)
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", "surrogateescape")
        if 0xFFFFFFFF in (csize, usize):
            usize, csize = _zip64_sizes(extra, usize, csize)
        data_start = offset + _LOCAL_FIXED.size + name_len + extra_len
        after = 0
        if flags & 0x8:
            if method != _DEFLATED or flags & 0x1:
                yield Problem(item.path, "unsupported",
                              f"cannot find where member {name!r} ends without the central directory")
                break
            csize, usize_seen = _deflate_extent(stream, data_start, end, limits)
            if csize is None:
                path, _ = names.place(name)
                yield Problem(path, "truncated", "member data is cut off", None)
                break
            crc, usize, after = _descriptor(stream, data_start + csize, usize_seen)
        next_offset = data_start + csize + after
        if name.endswith("/"):
            offset = next_offset
            continue
        path, name_problems = names.place(name)
        if data_start + csize > end:
            yield Problem(path, "truncated", "member data is cut off", usize)
            break
        if flags & 0x1:
            yield Problem(path, "encrypted", "zip member in a damaged archive (no "
                          "central directory); it is not decrypted", usize)
        elif method not in (_STORED, _DEFLATED):
            yield Problem(path, "unsupported",
                          f"compression method {method} cannot be salvaged without the central directory",
                          usize)
        elif reason := _bomb_reason(usize, csize, limits):
            yield Problem(path, "bomb", f"{reason}; not extracted", usize)
        else:
            recovered += 1
            yield Item(path, usize, flags={"salvaged": True}, stamp={"size": usize, "crc": crc},
                       opener=partial(_SalvagedMember, stream, data_start, csize, method, crc, usize))
        yield from name_problems
        offset = next_offset
    kind = "corrupt" if has_end_record else "truncated"
    yield Problem(item.path, kind,
                  f"central directory unreadable ({cause}); {recovered} member(s) recovered from "
                  "local headers", item.size)


def _zip64_sizes(extra: bytes, usize: int, csize: int) -> tuple[int, int]:
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, pos)
        if tag == 0x0001:
            values = list(struct.unpack_from(f"<{length // 8}Q", extra, pos + 4))
            if usize == 0xFFFFFFFF and values:
                usize = values.pop(0)
            if csize == 0xFFFFFFFF and values:
                csize = values.pop(0)
            break
        pos += 4 + length
    return usize, csize


def _deflate_extent(stream: BinaryIO, start: int, end: int,
                    limits: Limits) -> tuple[int | None, int]:
    """(compressed length, expanded length) of the deflate stream at `start`; None if cut off."""
    inflater = zlib.decompressobj(-15)
    stream.seek(start)
    consumed = produced = 0
    while not inflater.eof:
        chunk = stream.read(min(_CHUNK, end - start - consumed))
        if not chunk:
            return None, produced
        consumed += len(chunk)
        data = inflater.decompress(chunk, _CHUNK)
        produced += len(data)
        while inflater.unconsumed_tail and not inflater.eof:
            data = inflater.decompress(inflater.unconsumed_tail, _CHUNK)
            produced += len(data)
            if produced > limits.max_item_size:
                return None, produced
    return consumed - len(inflater.unused_data) - len(inflater.unconsumed_tail), produced


def _descriptor(stream: BinaryIO, at: int, usize_seen: int) -> tuple[int, int, int]:
    """(crc, size, length) of the data descriptor after a member's data."""
    stream.seek(at)
    raw = stream.read(16)
    start = 4 if raw[:4] == _DESCRIPTOR else 0
    if len(raw) < start + 12:
        return 0, usize_seen, len(raw)
    crc, _, usize = struct.unpack_from("<III", raw, start)
    return crc, usize if usize == usize_seen else usize_seen, start + 12


class _SalvagedMember(ReadStream):
    """A member read straight from its local header's data, CRC checked at the end."""

    def __init__(self, stream: BinaryIO, start: int, csize: int, method: int, crc: int,
                 size: int):
        super().__init__()
        self._stream, self._pos, self._left = stream, start, csize
        self._inflater = zlib.decompressobj(-15) if method == _DEFLATED else None
        self._crc_expected, self._crc, self._out_left = crc, 0, size
        self._pending = b""

    def _more(self) -> bytes:
        if self._left > 0:
            self._stream.seek(self._pos)
            chunk = self._stream.read(min(_CHUNK, self._left))
            if not chunk:
                raise EOFError("salvaged member data ended early")
            self._pos += len(chunk)
            self._left -= len(chunk)
        else:
            chunk = b""
        if self._inflater is None:
            return chunk
        data = self._inflater.decompress(self._inflater.unconsumed_tail + chunk, _CHUNK)
        if not data and not chunk and not self._inflater.unconsumed_tail:
            data = self._inflater.flush()
        return data

    def read(self, size: int | None = -1) -> bytes:
        want = self._out_left if size is None or size < 0 else min(size, self._out_left)
        parts, have = [self._pending], len(self._pending)
        while have < want:
            data = self._more()
            if not data:
                break
            parts.append(data)
            have += len(data)
        buffer = b"".join(parts)
        out, self._pending = buffer[:want], buffer[want:]
        self._out_left -= len(out)
        self._crc = zlib.crc32(out, self._crc)
        if self._out_left == 0 and want and self._crc != self._crc_expected:
            raise zipfile.BadZipFile("Bad CRC-32 for salvaged member")
        if len(out) < want:
            raise EOFError("salvaged member data ended early")
        return out

