"""Split images (`disk.001 disk.002 …`, `disk.aa disk.ab …`): the parts read as one stream.

Acquisition tools cut a raw image (and 7-Zip cuts archives: `x.7z.001`) into numbered parts.
The walker asks `split_set` about every file on disk; for the first part of a set of two or
more it opens the parts' concatenation as one container item with the first part's path
(`seizure/disk.001/p1/Users/x/a.jpg`), sniffed like any other file, so a split disk, ISO or
7z archive is read whole. Every part is still an item of its own (a file of the seizure,
hashed), but a later part is never opened on its own: its first bytes are the middle of
something. A later part given alone as the evidence path opens the whole set from it. A set
is joined only when no later part is a container by itself: `backup.01` and `backup.02`
that are two whole zips stay two zips (the walker decides, `_Walker.joinable`); a split raw
image cut exactly where a partition starts is then read part by part too.

Parts are numbered from `000` or `001` with a fixed number of digits, or lettered from `aa`
with a fixed number of letters; a set ends at the first missing number. A part found
beyond such a gap is a Problem "truncated" on the first part: the set is read only up to
the gap. Split parts inside archives are not joined (their siblings are not on disk).
"""

from __future__ import annotations

import os
import re
import string
from dataclasses import dataclass

from haven.evidence.base import WindowStream

_NUMBERED = re.compile(r"^(?P<base>.+)\.(?P<index>[0-9]{2,4})$")
_LETTERED = re.compile(r"^(?P<base>.+)\.(?P<index>[a-z]{2,3})$")
_STRAY_PROBE = 8  # parts looked for beyond a gap before the set is called complete


@dataclass(frozen=True)
class SplitSet:
    """The parts of one split image, in order, as paths on disk."""

    parts: tuple[str, ...]
    missing: str | None = None  # name of the absent part that ends the set early
    stray: tuple[str, ...] = ()  # parts beyond that gap, not read

    @property
    def first(self) -> str:
        return self.parts[0]


def _letters(index: int, width: int) -> str | None:
    if index >= 26 ** width:
        return None
    out = ""
    for _ in range(width):
        index, rest = divmod(index, 26)
        out = string.ascii_lowercase[rest] + out
    return out


def _naming(fs_path: str):
    """(name of part n, this file's n) for a split-part name, or None."""
    folder, name = os.path.split(fs_path)
    numbered = _NUMBERED.match(name)
    if numbered:
        base, index = numbered["base"], numbered["index"]
        width = len(index)
        start = 0 if os.path.exists(os.path.join(folder, f"{base}.{'0' * width}")) else 1

        def part(n: int) -> str | None:
            number = start + n
            return os.path.join(folder, f"{base}.{number:0{width}d}") if number < 10 ** width else None
        return part, int(index) - start
    lettered = _LETTERED.match(name)
    if lettered:
        base, index = lettered["base"], lettered["index"]
        width = len(index)

        def part(n: int) -> str | None:
            letters = _letters(n, width)
            return os.path.join(folder, f"{base}.{letters}") if letters else None
        value = 0
        for char in index:
            value = value * 26 + string.ascii_lowercase.index(char)
        return part, value
    return None


def split_set(fs_path: str) -> tuple[SplitSet, int] | None:
    """The split set `fs_path` belongs to and its place in it (0 = first), or None.

    None when the name is not a part's name or no second part sits next to the first: a
    lone `disk.001` is an ordinary file.
    """
    naming = _naming(fs_path)
    if naming is None:
        return None
    part, position = naming
    parts: list[str] = []
    while (name := part(len(parts))) is not None and os.path.isfile(name):
        parts.append(name)
    if not parts:
        return None  # no first part: an ordinary file with a number for an extension
    stray = tuple(name for n in range(len(parts) + 1, len(parts) + 1 + _STRAY_PROBE)
                  if (name := part(n)) is not None and os.path.isfile(name))
    if position < len(parts) and len(parts) < 2 and not stray:
        return None  # a lone `disk.001`
    missing = part(len(parts)) if stray or position >= len(parts) else None
    return (SplitSet(tuple(parts), os.path.basename(missing) if missing else None, stray),
            min(position, len(parts)))


def _open_part(fs_path: str):
    flags = os.O_RDONLY | getattr(os, "O_NOATIME", 0)
    try:
        fd = os.open(fs_path, flags)
    except PermissionError:
        fd = os.open(fs_path, os.O_RDONLY)  # O_NOATIME is refused on others' files
    return os.fdopen(fd, "rb")


class PartsStream(WindowStream):
    """The parts of a split set read as one seekable, read-only stream."""

    def __init__(self, parts: tuple[str, ...]):
        self._files = [_open_part(p) for p in parts]
        self._starts: list[int] = []
        total = 0
        for fh in self._files:
            self._starts.append(total)
            total += os.fstat(fh.fileno()).st_size
        self._ends = self._starts[1:] + [total]
        super().__init__(total)

    def _fetch(self, pos: int, length: int) -> bytes:
        out = []
        for fh, start, end in zip(self._files, self._starts, self._ends):
            if length <= 0:
                break
            if pos >= end or end == start:
                continue
            fh.seek(pos - start)
            piece = fh.read(min(length, end - pos))
            if not piece:
                break
            out.append(piece)
            pos += len(piece)
            length -= len(piece)
        return b"".join(out)

    def close(self) -> None:
        for fh in self._files:
            fh.close()
        super().close()
