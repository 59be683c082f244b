"""File systems The Sleuth Kit does not read here (XFS, APFS), read with the libyal readers.

`haven.evidence.disk` hands every region whose superblock says XFS (`XFSB` at 0) or APFS
(`NXSB` at 32) here: a partition, or a whole image that is one file system. The files are
listed with libfsxfs / libfsapfs (libyal, wheels on PyPI: the readers dfvfs and plaso use)
and yielded under the region's path: `disk.raw/p2/home/x/a.jpg`; an APFS container holds
volumes, each a folder named after the volume: `mac.dmg/p2/Macintosh HD - Data/Users/x/a.jpg`.

What is read: live regular files, with their inode (APFS: file identifier), size and times
as the stamp. Symbolic links are a Problem "symlink" (never followed); devices, fifos and
sockets are skipped. Not read, and said so in the docs: deleted files and carving of
unallocated space (neither reader exposes allocation or deleted entries), APFS snapshots,
extended attributes and resource forks, Btrfs (no maintained offline reader).

APFS volumes encrypted with FileVault are unlocked with the scan's passwords (the user's
login password or the 24-character recovery key, `--passwords`); without a working one the
volume is an `error` finding naming FileVault and `--passwords`. Only this error path is
tested: no open tool writes an encrypted APFS volume.
"""

from __future__ import annotations

import stat
from typing import Callable, Iterator

from haven.evidence.base import Item, Limits, Problem, WindowStream
from haven.evidence.keys import Keyring
from haven.evidence.names import MemberNames
from haven.evidence.unlock import RegionFile

_MAX_DEPTH = 256  # directories inside directories; a corrupt file system may loop


class _EntryStream(WindowStream):
    """One file of a libyal file system, read by offset (independent of other readers)."""

    def __init__(self, entry, size: int):
        super().__init__(size)
        self._entry = entry

    def _fetch(self, pos: int, length: int) -> bytes:
        data = self._entry.read_buffer_at_offset(length, pos)
        if len(data) < length:
            raise EOFError(f"file content ends {pos + len(data)} bytes into a {self._size}-byte "
                           "file (truncated image or damaged file system)")
        return data


def _opener(entry, size: int) -> Callable[[], WindowStream]:
    return lambda: _EntryStream(entry, size)


def _short(exc: BaseException) -> str:
    """The first two clauses of a libyal error (it lists the whole call chain)."""
    text = str(exc).strip()
    return ". ".join(text.split(". ")[:2]).rstrip(".") or type(exc).__name__


def _time(entry, name: str) -> int | None:
    try:
        return int(getattr(entry, f"get_{name}_as_integer")())
    except Exception:  # not recorded, or a damaged entry
        return None


class _TreeWalk:
    """The files under one root directory of a libyal file system, placed under `names`."""

    def __init__(self, names: MemberNames, label: str, prefix: str, identify: str):
        self.names, self.label, self.prefix, self.identify = names, label, prefix, identify
        self.seen: set[int] = set()

    def directory(self, entry, path: str, depth: int) -> Iterator[Item | Problem]:
        if depth > _MAX_DEPTH:
            yield Problem(f"{self.label}/{self.prefix}{path}".rstrip("/"), "too-deep",
                          f"directories nested more than {_MAX_DEPTH} deep; not walked")
            return
        try:
            count = entry.get_number_of_sub_file_entries()
            children = [entry.get_sub_file_entry(i) for i in range(count)]
        except Exception as exc:  # untrusted data: a damaged directory loses its own entries
            yield Problem(f"{self.label}/{self.prefix}{path}".rstrip("/"), "corrupt",
                          f"cannot list directory: {_short(exc)}")
            return
        children.sort(key=lambda e: e.get_name() or "")
        subdirs = []
        for child in children:
            name = (child.get_name() or "").replace("/", "%2F")
            if name in ("", ".", ".."):
                continue
            try:
                mode = int(child.get_file_mode())
                identity = int(getattr(child, self.identify)())
            except Exception as exc:  # untrusted data
                yield Problem(f"{self.label}/{self.prefix}{path}{name}", "corrupt",
                              f"cannot read the file's metadata: {_short(exc)}")
                continue
            kind = stat.S_IFMT(mode)
            if kind == stat.S_IFDIR:
                if identity not in self.seen:
                    self.seen.add(identity)
                    subdirs.append((child, f"{path}{name}/"))
            elif kind == stat.S_IFREG:
                yield from self.file(child, f"{path}{name}", identity)
            elif kind == stat.S_IFLNK:
                where, _ = self.names.place(f"{self.prefix}{path}{name}")
                yield Problem(where, "symlink", "symbolic link in the file system; not followed")
        for child, child_path in subdirs:
            yield from self.directory(child, child_path, depth + 1)

    def file(self, entry, path: str, identity: int) -> Iterator[Item | Problem]:
        where, name_problems = self.names.place(f"{self.prefix}{path}")
        try:
            size = int(entry.get_size())
        except Exception as exc:  # untrusted data
            yield Problem(where, "corrupt", f"cannot read the file's size: {_short(exc)}")
            return
        stamp: dict = {"size": size, "inode": identity}
        # Times as [seconds, nanoseconds], as the TSK walk stamps them.
        for key, name in (("mtime", "modification_time"), ("ctime", "inode_change_time"),
                          ("crtime", "creation_time")):
            value = _time(entry, name)
            if value is not None:
                stamp[key] = list(divmod(value, 1_000_000_000))
        yield Item(where, size, opener=_opener(entry, size), stamp=stamp)
        yield from name_problems


def xfs_members(read: Callable[[int, int], bytes], start: int, length: int, label: str,
                limits: Limits) -> Iterator[Item | Problem]:
    """The files of the XFS file system at [start, start + length), under `label`."""
    import pyfsxfs

    volume = pyfsxfs.volume()
    try:
        volume.open_file_object(RegionFile(read, start, length))
        root = volume.get_root_directory()
    except Exception as exc:  # untrusted data, or an XFS feature the reader lacks
        yield Problem(label, "corrupt", f"XFS file system that libfsxfs cannot open "
                      f"({_short(exc)}); mounting it read-only on Linux would show its files",
                      length)
        return
    try:
        walk = _TreeWalk(MemberNames(label, limits), label, "", "get_inode_number")
        yield from walk.directory(root, "", 0)
    finally:
        volume.close()


def apfs_members(read: Callable[[int, int], bytes], start: int, length: int, label: str,
                 limits: Limits) -> Iterator[Item | Problem]:
    """The files of every volume of the APFS container at [start, start + length), under
    `label`/<volume name>."""
    import pyfsapfs

    container = pyfsapfs.container()
    try:
        container.open_file_object(RegionFile(read, start, length))
        count = container.get_number_of_volumes()
    except Exception as exc:  # untrusted data
        yield Problem(label, "corrupt", f"APFS container that libfsapfs cannot open "
                      f"({_short(exc)})", length)
        return
    names = MemberNames(label, limits)
    spares: list = []  # containers opened afresh to unlock a volume
    try:
        used: set[str] = set()
        for index in range(count):
            try:
                volume = container.get_volume(index)
                name = (volume.get_name() or f"volume{index + 1}").replace("/", "%2F")
            except Exception as exc:  # untrusted data: one damaged volume, the others still read
                yield Problem(label, "corrupt", f"APFS volume {index + 1} cannot be opened: "
                              f"{_short(exc)}", length)
                continue
            if name in used:
                name = f"{name}~{index + 1}"
            used.add(name)
            if volume.is_locked():
                opened = _unlocked(read, start, length, index, limits.keys)
                if opened is not None:
                    spare, volume = opened
                    spares.append(spare)
            if volume.is_locked():
                yield Problem(f"{label}/{name}", "encrypted",
                              "APFS volume encrypted with FileVault; give the user's password or "
                              f"its recovery key in `--passwords` ({limits.keys.tried()})", None)
                continue
            try:
                root = volume.get_root_directory()
            except Exception as exc:  # untrusted data
                yield Problem(f"{label}/{name}", "corrupt",
                              f"cannot read the volume's root directory: {_short(exc)}")
                continue
            walk = _TreeWalk(names, label, f"{name}/", "get_identifier")
            yield from walk.directory(root, "", 0)
    finally:
        for spare in spares:
            spare.close()
        container.close()


def _unlocked(read: Callable[[int, int], bytes], start: int, length: int, index: int,
              keys: Keyring):
    """(container, volume) with volume `index` unlocked by one of the passwords, or None.

    Each attempt opens the container afresh: libyal readers keep a failed attempt's state
    (libluksde does), so a right password after a wrong one must not meet a used handle.
    """
    import pyfsapfs

    for password in keys.passwords:
        for setter in ("set_password", "set_recovery_password"):
            container = pyfsapfs.container()
            try:
                container.open_file_object(RegionFile(read, start, length))
                volume = container.get_volume(index)
                getattr(volume, setter)(password)
                if volume.unlock():
                    return container, volume
            except Exception:  # a wrong password or recovery key: try the next
                pass
            try:
                container.close()
            except Exception:  # never fully opened
                pass
    return None


def libyal_members(kind: str, read: Callable[[int, int], bytes], start: int, length: int,
                   label: str, limits: Limits) -> Iterator[Item | Problem]:
    """The files of the XFS or APFS file system (`kind`) at [start, start + length)."""
    reader = xfs_members if kind == "XFS" else apfs_members
    yield from reader(read, start, length, label, limits)
