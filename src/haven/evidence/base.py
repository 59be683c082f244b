"""Items, problems and the container interface of the evidence layer.

Evidence is read-only: a container yields `Item`s (one per file, addressed by its path
inside the evidence) and `Problem`s (bad input worth a finding: corrupt or encrypted
archives, archive bombs, path traversal, unreadable files). A new container type is one new
module of `haven.evidence.containers` that registers a `Container` class; the walker never
tests for kinds itself.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, ClassVar, Iterator, Protocol

from haven.evidence.keys import Keyring


@dataclass(frozen=True)
class Limits:
    """Guards against archive bombs and absurd input, and the keys the walk may unlock with.

    All configurable from the CLI. `keys` (`--passwords`, `--key-file`) is left out of the
    repr and of comparisons, so printing the limits never shows a secret.
    """

    max_item_size: int = 64 * 1024**3  # bytes one extracted item may have
    max_total_extracted: int = 1024**4  # bytes one archive may expand to, nested included
    max_ratio: float = 200.0  # expanded / compressed size of one archive member
    max_depth: int = 16  # containers inside containers
    max_items: int = 10_000_000  # items one container may hold
    max_name_length: int = 4096  # characters of one member name
    spool_limit: int = 256 * 1024**2  # nested containers above this spill to a temp file
    # Small, repetitive files (logs, blank bitmaps) compress far beyond any sane ratio; only
    # members at least this large are called bombs by ratio alone.
    ratio_min_size: int = 1024**2
    spool_dir: str | None = None  # where spilled data goes (never next to the evidence); None: system temp
    keys: Keyring = field(default_factory=Keyring, repr=False, compare=False)


@dataclass
class Item:
    """One file found in the evidence.

    `path` is the full evidence path (`seizure.zip/inner/pack.zip/a.jpg`). Exactly one of
    `fs_path` (a real, readable file on disk: read it directly) or `opener` (returns a fresh
    binary stream positioned at 0) is set.

    `stamp` says which version of the item this is without reading its content: what the
    file system or the container records about it (size, mtime, ctime and inode of a file;
    CRC, size and time of a zip member; ...). A rescan re-analyses an item whose stamp
    differs from the stored one and skips the others. A container that records nothing of
    the kind leaves it None and the walker stamps the member with its size and its
    container's stamp.
    """

    path: str
    size: int | None
    fs_path: str | None = None
    opener: Callable[[], BinaryIO] | None = None
    flags: dict = field(default_factory=dict)  # e.g. {"deleted": True}, {"carved": True}
    stamp: dict | None = None
    # Another member of the same container, by a name relative to this member's folder
    # (a VMDK descriptor's extents beside it in a zip or tar); None where the container
    # cannot look members up by name.
    neighbour: Callable[[str], "Item | None"] | None = field(default=None, repr=False, compare=False)

    def open(self) -> BinaryIO:
        if self.fs_path is not None:
            return open(self.fs_path, "rb")
        if self.opener is None:
            raise ValueError(f"item {self.path!r} has no content")
        return self.opener()

    def read_all(self) -> bytes:
        with self.open() as fh:
            return fh.read()


@dataclass
class Problem:
    """Bad input found while walking evidence; becomes an `error` finding, never a crash.

    `kind` is one of: corrupt, truncated, encrypted, bomb, traversal, bad-name, symlink,
    symlink-loop, unreadable, too-deep, unsupported, overwritten (a deleted file whose blocks or
    metadata entry now belong to a live file: its name is reported, its content is gone).
    """

    path: str
    kind: str
    reason: str
    size: int | None = None


@dataclass
class Extraction:
    """What a phone extraction records about itself (device, extraction time, tool).

    Yielded by a container beside its items (a UFDR's report, an iOS backup's Info.plist, an
    Android backup's header); the walker hands it to whoever asked for extractions and the
    scan keeps it with the seizure for summary.json. `path` is the extraction's item path,
    `kind` names the format (`ufdr`, `ios-backup`, `android-backup`, `android-fs`).
    """

    path: str
    kind: str
    metadata: dict = field(default_factory=dict)


class Container(Protocol):
    """Opens one kind of container; `walk` yields what it holds, recursively or not.

    One class per kind, in its own module of `haven.evidence.containers`, registered with
    `haven.evidence.registry.register`. `sniff` reads bytes only; `members` imports whatever
    decoder the kind needs (see the registry's docstring).
    """

    name: ClassVar[str]
    # Lower is tried first: specific signatures ahead of the looser ones that would also
    # match (an ISO's hybrid MBR makes it look like a disk; unopened formats come last).
    priority: ClassVar[int]
    # False for containers whose members cannot add up to more than the container itself
    # (disk images, ISO): they are exempt from the archive-bomb expansion budget.
    expands: ClassVar[bool]

    @classmethod
    def sniff(cls, head: bytes, size: int | None) -> bool:
        """True when `head` (the first bytes of a file) looks like this container."""
        ...

    def members(self, item: Item, limits: Limits) -> Iterator[Item | Problem]:
        """The direct members of the container `item` (paths prefixed with item.path)."""
        ...


class Folder(Protocol):
    """Reads one kind of folder whose files are named by its own index, not by where they
    were (an iOS backup: files stored under hashes, their phone paths in Manifest.db).

    Registered with `haven.evidence.registry.register_folder` from a module of
    `haven.evidence.containers`; the walker asks every kind about each directory it enters.
    """

    name: ClassVar[str]

    @classmethod
    def recognise(cls, names: frozenset[str]) -> bool:
        """True when a directory holding the files `names` is this kind (names only, no reads)."""
        ...

    def members(self, fs_dir: str, path: str, limits: Limits) -> Iterator[Item | Problem | Extraction]:
        """Every file of the folder as an `Item` with `fs_path` set and its path under `path`."""
        ...


def read_zero_filled(read_at: Callable[[int, int], bytes], offset: int, length: int,
                     piece: int, failed: Callable[[int, int, Exception], None]) -> bytes:
    """`length` bytes from `offset` through `read_at(length, offset)`, zeros where it fails.

    Tried whole first; when that fails (damaged image data, a missing segment), again in
    `piece`-aligned pieces, each piece that still fails read as zeros and reported to
    `failed(position, size, error)`. Forensic practice (and TSK's for bad sectors): go on and
    say so, rather than lose the partition table over one bad chunk.
    """
    try:
        return read_at(length, offset)
    except Exception:  # untrusted data: piece by piece
        pass
    out, pos, end = bytearray(), offset, offset + length
    while pos < end:
        step = min(piece - pos % piece, end - pos)
        try:
            out += read_at(step, pos)
        except Exception as exc:  # untrusted data
            out += bytes(step)
            failed(pos, step, exc)
        pos += step
    return bytes(out)


def stamp_modified(stamp: dict | None) -> str | None:
    """When the item was last modified, as its container recorded it; None if it did not.

    ISO 8601, "Z" when the time is UTC (file systems, tar, ISO 9660 with its offset); without
    a zone for zip members, whose DOS times are the writer's local time. A member that only
    carries its container's stamp (`within`) has no time of its own.
    """
    from datetime import datetime, timedelta, timezone

    if not stamp:
        return None
    try:
        if "mtime_ns" in stamp:
            seconds = stamp["mtime_ns"] / 1e9
        elif "mtime" in stamp:  # tar: seconds; disk images: [seconds, nanoseconds]
            m = stamp["mtime"]
            seconds = m[0] if isinstance(m, (list, tuple)) else m
        elif "time" in stamp:  # zip: (Y, M, D, h, m, s) local time
            return datetime(*[int(x) for x in stamp["time"][:6]]).isoformat(timespec="seconds")
        elif "date" in stamp:  # ISO 9660: years since 1900 ... and a 15-minute UTC offset
            y, mo, d, h, mi, sec, off = (int(x) for x in stamp["date"][:7])
            local = datetime(1900 + y, mo, d, h, mi, sec)
            seconds = (local - timedelta(minutes=15 * off)).replace(tzinfo=timezone.utc).timestamp()
        else:
            return None
        if not seconds or seconds <= 0:  # 0 is "never set" in most formats
            return None
        when = datetime.fromtimestamp(float(seconds), tz=timezone.utc)
        return when.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
    except (TypeError, ValueError, OverflowError, OSError, IndexError):  # untrusted metadata
        return None


def stamp_text(stamp: dict | None) -> str | None:
    """The stamp as the canonical text it is stored and compared as."""
    if stamp is None:
        return None
    return json.dumps(stamp, sort_keys=True, separators=(",", ":"), default=str)


def problem_from(path: str, exc: BaseException, size: int | None = None) -> Problem:
    """The problem a decoder error on untrusted data stands for (truncated, unsupported or corrupt).

    Decoders disagree on how they say "the data ran out" (EOFError, ReadError "unexpected end
    of data", BadZipFile "truncated"), so the kind is read from the type and the message.
    """
    text = str(exc)
    lowered = text.lower()
    if isinstance(exc, EOFError) or "truncat" in lowered or "end of data" in lowered \
            or "end-of-stream" in lowered or "ended before" in lowered:
        kind = "truncated"
    elif isinstance(exc, NotImplementedError):
        kind = "unsupported"
    else:
        kind = "corrupt"
    return Problem(path, kind, f"{type(exc).__name__}: {text}" if text else type(exc).__name__, size)


class ReadStream(io.RawIOBase):
    """Base of the evidence layer's read-only streams: a subclass defines `read(size)`."""

    def readable(self) -> bool:
        return True

    def readall(self) -> bytes:
        return self.read()

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class WindowStream(ReadStream):
    """A read-only, seekable stream of `size` bytes; a subclass fetches them with `_fetch`."""

    def __init__(self, size: int):
        super().__init__()
        self._size, self._pos = size, 0

    def _fetch(self, pos: int, length: int) -> bytes:
        """`length` bytes from position `pos` (both within the window)."""
        raise NotImplementedError

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(base + offset, 0)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        left = max(self._size - self._pos, 0)
        size = left if size is None or size < 0 else min(size, left)
        data = self._fetch(self._pos, size) if size else b""
        self._pos += len(data)
        return data


class SpoolView(WindowStream):
    """An independent read position over a shared spool; closing it leaves the spool open.

    Containers that copy a member out once (nested archives, solid 7z blocks) hand out
    any number of these instead of the spool itself, so one reader cannot move another.
    """

    def __init__(self, spool, size: int):
        super().__init__(size)
        self._spool = spool

    def _fetch(self, pos: int, length: int) -> bytes:
        self._spool.seek(pos)
        return self._spool.read(length)


def bytes_opener(data: bytes) -> Callable[[], BinaryIO]:
    """An opener over bytes already in memory."""
    return lambda: io.BytesIO(data)
