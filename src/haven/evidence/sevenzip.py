"""7z archives, read with py7zr.

7z archives are usually solid: members can only be decompressed in order, each from the
start of its block. py7zr extracts through a writer factory, so extraction runs in a
helper thread that hands over one finished member at a time (each spooled to memory or to
`Limits.spool_dir`); at most two members are held at once and the archive is decompressed
once, however many members it has.

py7zr refuses member names that climb out of its output directory, and checks them against
the real current directory. Since haven never writes members by name, each member is given a
neutral key before extraction and its real name goes through `MemberNames` instead.

Encrypted archives are opened with the first of the scan's passwords (`--passwords`) that
works: for encrypted headers, the one that decodes them; for encrypted content, the one that
decompresses the first member with a good CRC (a wrong AES key gives garbage that fails
either). Members of an unlocked archive are flagged `unlocked`. With no working password,
an archive with encrypted headers is one Problem "encrypted" (nothing can be listed) and
each member of one with encrypted content is a Problem "encrypted"; both name `--passwords`.
Bombs: a member
above `max_item_size`, or an archive whose members add up to more than `max_ratio` times
its size, is not extracted.
"""

from __future__ import annotations

import queue
import tempfile
import threading
from functools import partial
from typing import Iterator

import py7zr
from py7zr.io import Py7zIO, WriterFactory

from haven.evidence.base import Item, Limits, Problem, SpoolView, problem_from
from haven.evidence.names import MemberNames

_KEY = "haven-member-{}"
_DONE = object()


class _Cancelled(Exception):
    """The walk stopped listing this archive; extraction is abandoned."""


class _Handoff(WriterFactory):
    """Receives members from py7zr and passes each, once complete, to the listing generator."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.ready: queue.Queue = queue.Queue(maxsize=1)
        self.cancelled = threading.Event()
        self.unclaimed: set[_MemberSpool] = set()  # spools not yet handed over

    def release(self) -> None:
        """Close spools the listing never received (extraction stopped or failed)."""
        for member in list(self.unclaimed):
            member.spool.close()
        self.unclaimed.clear()

    def create(self, filename: str) -> Py7zIO:
        return _MemberSpool(filename, self)

    def put(self, message) -> None:
        while not self.cancelled.is_set():
            try:
                self.ready.put(message, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Cancelled()


class _MemberSpool(Py7zIO):
    def __init__(self, key: str, handoff: _Handoff):
        self.key, self.handoff = key, handoff
        self.spool = tempfile.SpooledTemporaryFile(
            max_size=handoff.limits.spool_limit, dir=handoff.limits.spool_dir, prefix="haven-7z-"
        )
        self.length = 0
        handoff.unclaimed.add(self)

    def write(self, s: bytes | bytearray) -> int:
        if self.handoff.cancelled.is_set():
            raise _Cancelled()
        self.length += len(s)
        if self.length > self.handoff.limits.max_item_size:
            raise py7zr.exceptions.DecompressionBombError(
                f"member expands beyond {self.handoff.limits.max_item_size} bytes"
            )
        return self.spool.write(s)

    def read(self, size: int | None = None) -> bytes:
        return self.spool.read(-1 if size is None else size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.spool.seek(offset, whence)

    def flush(self) -> None:
        self.spool.flush()

    def size(self) -> int:
        return self.length

    def close(self) -> None:
        # py7zr calls this when the member is complete; from here the listing owns the spool.
        self.handoff.put((self.key, self.spool, self.length))
        self.handoff.unclaimed.discard(self)


def sevenzip_members(item: Item, limits: Limits) -> Iterator[Item | Problem]:
    """The members of the 7z archive `item` (the `7z` container kind's reader)."""
    return _SevenZipReader().members(item, limits)


class _SevenZipReader:
    def members(self, item: Item, limits: Limits) -> Iterator[Item | Problem]:
        with item.open() as stream:
            try:
                archive = py7zr.SevenZipFile(stream)
                password = None
            except py7zr.exceptions.PasswordRequired:
                password = _header_password(stream, limits)
                if password is None:
                    yield Problem(item.path, "encrypted",
                                  "7z archive with encrypted names; give its password "
                                  f"in `--passwords` ({limits.keys.tried()})", item.size)
                    return
                stream.seek(0)
                archive = py7zr.SevenZipFile(stream, password=password)
            if password is None and archive.needs_password() and limits.keys.passwords:
                archive.close()
                password = _content_password(stream, limits)
                stream.seek(0)
                archive = py7zr.SevenZipFile(stream, password=password)
            with archive:
                yield from self._listed(archive, item, limits, password)

    def _listed(self, archive: py7zr.SevenZipFile, item: Item, limits: Limits,
                password: str | None) -> Iterator[Item | Problem]:
        names = MemberNames(item.path, limits)
        encrypted = archive.needs_password() and password is None
        flags = {"unlocked": True} if password is not None else {}
        wanted: dict[str, tuple[str, list[Problem], dict]] = {}
        total = 0
        for index, member in enumerate(archive.files):
            if member.is_directory:
                continue
            path, name_problems = names.place(member.filename)
            size = member.uncompressed or 0
            if member.is_symlink:
                yield Problem(path, "symlink", "symbolic link stored in the archive; not followed")
                yield from name_problems
            elif encrypted:
                yield Problem(path, "encrypted", "7z member; give its password in "
                              f"`--passwords` ({limits.keys.tried()})", size)
                yield from name_problems
            elif size > limits.max_item_size:
                yield Problem(path, "bomb", f"member declares {size} bytes, above the limit of "
                              f"{limits.max_item_size}; not extracted", size)
                yield from name_problems
            else:
                key = _KEY.format(index)
                # py7zr has no other way to extract under a name of our choosing (see module doc).
                member._file_info["filename"] = key
                written = member.lastwritetime
                wanted[key] = (path, name_problems,
                               {"size": size, "crc": member.crc32,
                                "time": int(written) if written is not None else None})
                total += size
        if not wanted:
            return
        if total >= limits.ratio_min_size and total > limits.max_ratio * max(item.size or 1, 1):
            yield Problem(item.path, "bomb",
                          f"members add up to {total} bytes, above {limits.max_ratio:g} times the "
                          f"archive's {item.size}; not extracted", item.size)
            return
        yield from self._extracted(archive, item, wanted, limits, flags)

    def _extracted(self, archive: py7zr.SevenZipFile, item: Item,
                   wanted: dict[str, tuple[str, list[Problem], dict]],
                   limits: Limits, flags: dict) -> Iterator[Item | Problem]:
        handoff = _Handoff(limits)
        failure: list[BaseException] = []

        def extract() -> None:
            try:
                archive.extract(targets=list(wanted), factory=handoff)
                handoff.put(_DONE)
            except _Cancelled:
                pass
            except Exception as exc:  # untrusted data: reported by the listing generator
                failure.append(exc)
                try:
                    handoff.put(_DONE)
                except _Cancelled:
                    pass
            finally:
                handoff.release()

        worker = threading.Thread(target=extract, name="haven-7z", daemon=True)
        worker.start()
        spool = None
        try:
            while True:
                try:
                    message = handoff.ready.get(timeout=0.5)
                except queue.Empty:
                    if worker.is_alive():
                        continue
                    break  # the worker died without a word; failure says why, if anything
                if message is _DONE:
                    break
                key, spool, length = message
                path, name_problems, stamp = wanted.pop(key)
                yield Item(path, length, opener=partial(SpoolView, spool, length), stamp=stamp,
                           flags=dict(flags))
                yield from name_problems
                spool.close()
                spool = None
            if failure:
                problem = problem_from(item.path, failure[0], item.size)
                if wanted:
                    problem.reason += f" (while extracting {next(iter(wanted.values()))[0]!r})"
                yield problem
        finally:
            handoff.cancelled.set()
            if spool is not None:
                spool.close()
            while worker.is_alive():
                try:
                    message = handoff.ready.get(timeout=0.1)
                except queue.Empty:
                    continue
                if message is not _DONE:
                    message[1].close()
            worker.join()


class _Discard(WriterFactory):
    """Decompresses members into nothing: a password check."""

    def create(self, filename: str) -> Py7zIO:
        return _Sink()


class _Sink(Py7zIO):
    def write(self, s: bytes | bytearray) -> int:
        return len(s)

    def read(self, size: int | None = None) -> bytes:
        return b""

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def flush(self) -> None:
        pass

    def size(self) -> int:
        return 0


def _header_password(stream, limits: Limits) -> str | None:
    """The first password that decodes the archive's encrypted headers."""
    for password in limits.keys.passwords:
        stream.seek(0)
        try:
            py7zr.SevenZipFile(stream, password=password).close()
        except Exception:  # a wrong password: the headers decode to garbage
            continue
        return password
    return None


def _content_password(stream, limits: Limits) -> str | None:
    """The first password that decompresses the first member with a good CRC."""
    for password in limits.keys.passwords:
        stream.seek(0)
        try:
            with py7zr.SevenZipFile(stream, password=password) as archive:
                first = next((m for m in archive.files
                              if not m.is_directory and not m.is_symlink), None)
                if first is None:
                    return password
                first._file_info["filename"] = _KEY.format("check")  # see the module doc
                archive.extract(targets=[first.filename], factory=_Discard())
        except Exception:  # a wrong password: garbage that fails to decompress or its CRC
            continue
        return password
    return None
