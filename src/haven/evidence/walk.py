"""Walk evidence paths into items and problems, opening containers inside containers.

Every file is yielded as an `Item` (container files too, so the archive itself is hashed);
after a container item the walker asks the registry what it is and walks its members, to
`Limits.max_depth` containers deep. Item paths start with the base name of the evidence path
given: scanning `/x/seizure1` yields `seizure1/docs/a.jpg` and
`seizure1/outer.zip/inner/pack.zip/a.jpg`.

Decisions worth knowing:

- Evidence is only read: files are opened read-only (without touching access times where the
  system lets us), nothing is written next to it. Nested containers are spooled to memory or
  to `tmpdir`.
- Symbolic links inside the evidence are never followed: each is a Problem "symlink" naming
  its target (the target, if inside the evidence, is scanned where it lives), or
  "symlink-loop" when it points at itself or an enclosing directory. A directory reached
  twice (bind mounts) is a "symlink-loop" too, so no walk runs forever. A top-level evidence
  path that is a link is followed: the user named it.
- Fifos, sockets and devices are never opened (reading a fifo blocks): Problem "unsupported".
- Unreadable files and directories are a Problem "unreadable" and no item.
- Member names are sanitised as `haven.evidence.names` describes: the item is yielded under
  the safe path and a Problem with the same path records the bad name.
- Bombs: a member above `max_item_size` or beyond its container's `max_ratio`, a container
  with more than `max_items` members, or an outermost archive expanding (nested containers
  included) beyond `max_total_extracted` gives a Problem "bomb" and is not extracted.
- Split images (`disk.001 disk.002 …`, `disk.aa disk.ab …`, `x.7z.001 …`) are joined by
  `haven.evidence.split`: every part is an item, the first opens the concatenation (a later
  part only when it alone is the evidence path), read in place, never spooled. A set whose
  later parts are containers by themselves (two whole zips named `.01`, `.02`) is not joined.
- A corrupt or truncated container keeps the members yielded before the damage and gets a
  Problem. A read error met while the walker sniffs or spools a member, or while the caller
  reads it before asking for the next entry, is reported as a Problem on that member.

An archive member's opener is valid until the walk moves past that member (and what is
nested in it): read each item before asking for the next, as the scan pipeline does.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import io
import os
import stat
import tempfile
from typing import BinaryIO, Callable, Iterator

from haven.errors import EvidenceError
from haven.evidence.base import (Extraction, Item, Limits, Problem, ReadStream, SpoolView,
                                 WindowStream, problem_from)
from haven.evidence.names import escape_name
from haven.evidence.registry import HEAD_SIZE, TAIL_SIZE, find_container, find_folder, tail_hinted
from haven.evidence.split import PartsStream, SplitSet, split_set

_CHUNK = 1024 * 1024


def walk(evidence_paths: list[str], limits: Limits = Limits(),
         tmpdir: str | None = None,
         extractions: list[Extraction] | None = None) -> Iterator[Item | Problem]:
    """Every item and problem in the evidence paths, in a deterministic order.

    `extractions`, when given, receives what phone extractions record about themselves
    (`Extraction`: device, extraction time) as the walk meets them; they are never yielded.
    Raises `EvidenceError` at once (before anything is yielded) when a path does not exist:
    that is a mistake of the user, not a finding. `tmpdir` receives spooled nested
    containers larger than `limits.spool_limit`; by default the system temp directory.
    """
    for path in evidence_paths:
        if not os.path.exists(path):
            raise EvidenceError(
                f"evidence path {path!r} does not exist (or is a broken link); "
                "check the path and that the drive is mounted"
            )
    if tmpdir is not None:
        limits = dataclasses.replace(limits, spool_dir=tmpdir)
    return _Walker(limits, extractions).evidence(evidence_paths)


def evidence_root_name(path: str) -> str:
    """First part of every item path under `path`: its base name (`/x/seizure1` -> `seizure1`)."""
    absolute = os.path.abspath(path)
    return escape_name(os.path.basename(absolute) or absolute)[0]


def top_level_sha256(path: str) -> str | None:
    """SHA-256 of a top-level evidence file, read in chunks; None for a directory."""
    if os.path.isdir(path):
        return None
    digest = hashlib.sha256()
    with _open_evidence(path) as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_stamp(st: os.stat_result) -> dict:
    """What identifies one version of a file on disk: size, mtime, ctime and inode.

    ctime moves whenever the content or the inode changes, even when a tool puts the mtime
    back; the inode changes when a file is replaced by another of the same name.
    """
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns,
            "inode": st.st_ino}


def _open_evidence(fs_path: str) -> BinaryIO:
    """Open an evidence file read-only, leaving its access time alone where allowed."""
    flags = os.O_RDONLY | getattr(os, "O_NOATIME", 0)
    try:
        fd = os.open(fs_path, flags)
    except PermissionError:
        if flags == os.O_RDONLY:
            raise
        # O_NOATIME is refused for files we do not own; plain read-only is still safe.
        fd = os.open(fs_path, os.O_RDONLY)
    return os.fdopen(fd, "rb")


def _tail(fh, size: int | None) -> bytes | None:
    """The last `TAIL_SIZE` bytes of an open file whose size is known, else None."""
    if size is None or size < TAIL_SIZE:
        return None
    try:
        fh.seek(size - TAIL_SIZE)
        return fh.read(TAIL_SIZE)
    except Exception:  # untrusted data: a member that fails to its end is reported when read
        return None


def _cheap_to_seek(fh) -> bool:
    """True for streams that read any offset directly (files inside disk images, spools,
    split parts); a compressed archive member would be decompressed to its end to read its
    tail, so there the tail is read only when a kind hints at it (`registry.tail_hinted`)."""
    inner = getattr(fh, "_inner", fh)
    return isinstance(inner, WindowStream)


class _Budget:
    """Bytes one outermost archive may still expand to, nested containers included."""

    def __init__(self, total: int):
        self.left = total
        self.spent = False

    def spend(self, size: int) -> bool:
        if self.spent or size > self.left:
            self.spent = True
            return False
        self.left -= size
        return True


class _ReadWatch:
    """The first error met reading one member, whoever was reading it."""

    def __init__(self) -> None:
        self.error: BaseException | None = None


class _WatchedStream(ReadStream):
    """Forwards reads to a member stream and notes the first decoder error (then re-raises)."""

    def __init__(self, inner: BinaryIO, watch: _ReadWatch):
        super().__init__()
        self._inner, self._watch = inner, watch

    def _guard(self, call: Callable, *args):
        try:
            return call(*args)
        except Exception as exc:
            if self._watch.error is None:
                self._watch.error = exc
            raise

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self._guard(self._inner.read)
        return self._guard(self._inner.read, size)

    def seekable(self) -> bool:
        return self._inner.seekable()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._guard(self._inner.seek, offset, whence)

    def tell(self) -> int:
        return self._inner.tell()

    def close(self) -> None:
        if not self.closed:
            try:
                self._inner.close()
            finally:
                super().close()


def _watched(opener: Callable[[], BinaryIO], watch: _ReadWatch) -> Callable[[], BinaryIO]:
    def open_watched() -> BinaryIO:
        try:
            inner = opener()
        except Exception as exc:
            watch.error = watch.error or exc
            raise
        return _WatchedStream(inner, watch)  # type: ignore[return-value]
    return open_watched


class _Walker:
    def __init__(self, limits: Limits, extractions: list[Extraction] | None = None):
        self.limits = limits
        self.extractions = extractions
        self.joins: dict[str, bool] = {}  # first part of a split set -> read as one?

    def evidence(self, paths: list[str]) -> Iterator[Item | Problem]:
        given = {os.path.abspath(p) for p in paths}
        for path in paths:
            root = evidence_root_name(path)
            if os.path.isdir(path):
                yield from self.directory(path, root, ancestors=frozenset())
            else:
                yield from self.fs_file(path, root, os.stat(path), given=given)

    # -- the file system -------------------------------------------------------------------

    def directory(self, fs_dir: str, path: str,
                  ancestors: frozenset[tuple[int, int]]) -> Iterator[Item | Problem]:
        try:
            st = os.stat(fs_dir)
            with os.scandir(fs_dir) as listing:
                entries = sorted(listing, key=lambda e: os.fsencode(e.name))
        except OSError as exc:
            yield Problem(path, "unreadable", f"cannot list directory: {exc.strerror or exc}")
            return
        ancestors = ancestors | {(st.st_dev, st.st_ino)}
        kind = find_folder(frozenset(e.name for e in entries))
        if kind is not None:
            yield from self.folder(kind(), fs_dir, path)
            return
        for entry in entries:
            name, had_controls = escape_name(entry.name)
            child = f"{path}/{name}"
            if had_controls:
                yield Problem(child, "bad-name", f"file name holds control characters: {name!r}")
            try:
                st_child = entry.stat(follow_symlinks=False)
            except OSError as exc:
                yield Problem(child, "unreadable", f"cannot stat: {exc.strerror or exc}")
                continue
            if stat.S_ISLNK(st_child.st_mode):
                yield self.symlink(entry.path, child, ancestors)
            elif stat.S_ISDIR(st_child.st_mode):
                if (st_child.st_dev, st_child.st_ino) in ancestors:
                    yield Problem(child, "symlink-loop",
                                  "directory is one of its own ancestors (bind mount); not walked again")
                    continue
                yield from self.directory(entry.path, child, ancestors)
            else:
                yield from self.fs_file(entry.path, child, st_child)

    def folder(self, kind, fs_dir: str, path: str) -> Iterator[Item | Problem]:
        """A folder read by its own index (`Folder`): its files under the paths it gives them."""
        listing = kind.members(fs_dir, path, self.limits)
        try:
            while True:
                try:
                    entry = next(listing)
                except StopIteration:
                    return
                except Exception as exc:  # untrusted data: a broken index is a finding
                    yield problem_from(path, exc)
                    return
                if isinstance(entry, Extraction):
                    self.extracted(entry)
                elif isinstance(entry, Problem):
                    yield entry
                elif entry.fs_path is None:  # content the folder kind decodes (decrypted)
                    yield from self.member(entry, 0, _Budget(self.limits.max_total_extracted))
                else:
                    try:
                        st = os.stat(entry.fs_path, follow_symlinks=False)
                    except OSError as exc:
                        yield Problem(entry.path, "unreadable", f"cannot stat: {exc.strerror or exc}")
                        continue
                    if stat.S_ISLNK(st.st_mode):
                        yield Problem(entry.path, "symlink", "symbolic link in the folder; not followed")
                        continue
                    yield from self.fs_file(entry.fs_path, entry.path, st, flags=entry.flags)
        finally:
            listing.close()

    def symlink(self, fs_link: str, path: str,
                ancestors: frozenset[tuple[int, int]]) -> Problem:
        try:
            target = os.readlink(fs_link)
        except OSError as exc:
            return Problem(path, "unreadable", f"cannot read symbolic link: {exc.strerror or exc}")
        shown = escape_name(target)[0]
        try:
            st = os.stat(fs_link)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return Problem(path, "symlink-loop", f"symbolic link to {shown!r} loops back on itself")
            return Problem(path, "symlink", f"symbolic link to {shown!r} (target missing); not followed")
        if stat.S_ISDIR(st.st_mode) and (st.st_dev, st.st_ino) in ancestors:
            return Problem(path, "symlink-loop",
                           f"symbolic link to {shown!r} points at an enclosing directory; not followed")
        return Problem(path, "symlink", f"symbolic link to {shown!r}; not followed")

    def fs_file(self, fs_path: str, path: str, st: os.stat_result,
                given: set[str] | None = None, flags: dict | None = None) -> Iterator[Item | Problem]:
        """One file on disk and what it holds; `given`: the evidence paths, for a top-level file."""
        if not stat.S_ISREG(st.st_mode):
            yield Problem(path, "unsupported", "special file (fifo, socket or device); not read")
            return
        try:
            with _open_evidence(fs_path) as fh:
                head = fh.read(HEAD_SIZE)
                tail = _tail(fh, st.st_size)
        except OSError as exc:
            yield Problem(path, "unreadable", f"cannot read: {exc.strerror or exc}", st.st_size)
            return
        item = Item(path, st.st_size, fs_path=fs_path, stamp=file_stamp(st), flags=dict(flags or {}))
        yield item
        self.notice(path, head)
        found = split_set(fs_path)
        if found is None or not self.joinable(found[0]):
            yield from self.contents(item, head, depth=0, budget=None, tail=tail)
            return
        parts, position = found
        # A later part opens the set only when named alone: otherwise the first part does.
        if position == 0 or (given is not None
                             and os.path.abspath(parts.first) not in given):
            yield from self.split_whole(item, parts)

    def joinable(self, parts: SplitSet) -> bool:
        """True when no later part is a container by itself.

        A later part of a real split image starts in the middle of something; one that
        sniffs as a container on its own (`backup.01`, `backup.02`: two whole zips) is a
        file of its own, and joining would hide it. Decided once per set.
        """
        known = self.joins.get(parts.first)
        if known is None:
            known = True
            for later in (*parts.parts[1:], *parts.stray):
                try:
                    with _open_evidence(later) as fh:
                        head = fh.read(HEAD_SIZE)
                        size = os.fstat(fh.fileno()).st_size
                except OSError:
                    continue  # unreadable: reported when the walk reaches that file
                if find_container(head, size) is not None:
                    known = False
                    break
            self.joins[parts.first] = known
        return known

    def split_whole(self, item: Item, parts: SplitSet) -> Iterator[Item | Problem]:
        """The members of a split set's parts read as one, under `item`'s path."""
        try:
            stamps = [file_stamp(os.stat(p)) for p in parts.parts]
            whole = Item(item.path, sum(s["size"] for s in stamps), flags=item.flags,
                         stamp={"parts": stamps},
                         opener=lambda: PartsStream(parts.parts))  # type: ignore[arg-type,return-value]
            with whole.open() as fh:
                head = fh.read(HEAD_SIZE)
                tail = _tail(fh, whole.size)
        except OSError as exc:
            yield Problem(item.path, "unreadable",
                          f"cannot read the parts of the split image: {exc.strerror or exc}")
            return
        if find_container(head, whole.size, tail) is None:
            return  # numbered files that are not a split container (IMG.01, IMG.02, ...)
        if parts.missing:
            yield Problem(item.path, "truncated",
                          f"split image incomplete: part {parts.missing} is missing, so "
                          f"{', '.join(os.path.basename(p) for p in parts.stray)} after it "
                          f"cannot be joined; only the {len(parts.parts)} parts up to the gap are "
                          "read", item.size)
        yield from self.contents(whole, head, depth=0, budget=None, seekable=True, tail=tail)

    # -- containers ------------------------------------------------------------------------

    def contents(self, item: Item, head: bytes, depth: int, budget: _Budget | None,
                 seekable: bool = False, tail: bytes | None = None) -> Iterator[Item | Problem]:
        """The members of `item` if it is a container; `depth` containers enclose `item`.

        `seekable`: the item's opener gives a seekable stream read straight from the
        evidence (split parts, a virtual disk's media), so it is not copied to a spool.
        `tail`: the item's last bytes, where they were cheap to read (see the registry).
        """
        kind = find_container(head, item.size, tail)
        if kind is None:
            return
        if depth + 1 > self.limits.max_depth:
            yield Problem(item.path, "too-deep",
                          f"{kind.name} nested more than {self.limits.max_depth} containers deep; "
                          "not opened", item.size)
            return
        budget = budget or _Budget(self.limits.max_total_extracted)
        spool = None
        source = item
        if item.fs_path is None and not seekable:
            # Archive members are streams; most containers need to seek in their source.
            spooled = self.spool(item)
            if spooled is None:
                return  # the read error is on the item's watch; the caller reports it
            if isinstance(spooled, Problem):
                yield spooled
                return
            source, spool = spooled
        try:
            yield from self.members(kind(), source, depth + 1, budget)
        finally:
            if spool is not None:
                spool.close()

    def spool(self, item: Item):
        cap = min(item.size if item.size is not None else self.limits.max_item_size,
                  self.limits.max_item_size)
        spool = tempfile.SpooledTemporaryFile(max_size=self.limits.spool_limit,
                                              dir=self.limits.spool_dir, prefix="haven-spool-")
        total = 0
        try:
            with item.open() as src:
                while chunk := src.read(_CHUNK):
                    total += len(chunk)
                    if total > cap:
                        spool.close()
                        return Problem(item.path, "bomb",
                                       f"member expands beyond {cap} bytes; not opened", item.size)
                    spool.write(chunk)
        except Exception:  # untrusted data: the watch holds the error for the caller
            spool.close()
            return None
        view = Item(item.path, total, flags=item.flags, stamp=item.stamp, neighbour=item.neighbour,
                    opener=lambda: SpoolView(spool, total))  # type: ignore[arg-type,return-value]
        return view, spool

    def members(self, container, source: Item, depth: int,
                budget: _Budget) -> Iterator[Item | Problem]:
        listing = container.members(source, self.limits)
        count = 0
        try:
            while True:
                try:
                    entry = next(listing)
                except StopIteration:
                    return
                except Exception as exc:  # untrusted data: any decoder error is a finding
                    yield problem_from(source.path, exc, source.size)
                    return
                if isinstance(entry, Problem):
                    yield entry
                    continue
                if isinstance(entry, Extraction):
                    self.extracted(entry)
                    continue
                count += 1
                if count > self.limits.max_items:
                    yield Problem(source.path, "bomb",
                                  f"holds more than {self.limits.max_items} items; the rest is not listed",
                                  source.size)
                    return
                if entry.size is not None and entry.size > self.limits.max_item_size:
                    yield Problem(entry.path, "bomb",
                                  f"member declares {entry.size} bytes, above the limit of "
                                  f"{self.limits.max_item_size}; not extracted", entry.size)
                    continue
                if entry.stamp is None:
                    # the container records nothing about its members: the container's own
                    # version stands for theirs
                    entry.stamp = {"size": entry.size, "within": source.stamp}
                if budget.spent:
                    return
                if container.expands and not budget.spend(entry.size or 0):
                    yield Problem(entry.path, "bomb",
                                  "the archive expands beyond "
                                  f"{self.limits.max_total_extracted} bytes in total; this member "
                                  "and the rest are not extracted", entry.size)
                    return
                yield from self.member(entry, depth, budget)
        finally:
            listing.close()

    def notice(self, path: str, head: bytes) -> None:
        """Hand on what a file marking a phone extraction says (an Android build.prop)."""
        if self.extractions is not None and path.endswith("build.prop"):
            from haven.evidence.android_fs import extraction_of

            record = extraction_of(path, head)
            if record is not None:
                self.extracted(record)

    def extracted(self, record: Extraction) -> None:
        if self.extractions is not None:
            self.extractions.append(record)

    def member(self, entry: Item, depth: int, budget: _Budget) -> Iterator[Item | Problem]:
        watch = _ReadWatch()
        if entry.opener is not None:
            entry.opener = _watched(entry.opener, watch)
        try:
            with entry.open() as fh:
                head = fh.read(HEAD_SIZE)
                tail = (_tail(fh, entry.size)
                        if _cheap_to_seek(fh) or tail_hinted(head) else None)
        except Exception as exc:  # untrusted data: the member cannot be read at all
            yield problem_from(entry.path, watch.error or exc, entry.size)
            return
        yield entry
        self.notice(entry.path, head)
        yield from self.contents(entry, head, depth, budget, tail=tail)
        if watch.error is not None:
            yield problem_from(entry.path, watch.error, entry.size)
