"""EnCase E01 images (split segments .E01, .E02, ... too), read with libewf (pyewf).

The media inside is walked exactly as a raw image (`haven.evidence.disk`). Only the first
segment is a container: it opens its siblings itself (libewf finds them by name next to
it), so a directory holding `disk.E01` and `disk.E02` yields both as items (they are files
of the seizure and are hashed) but only `disk.E01` is opened; `disk.E02` and later segments
are never opened on their own (their header says which segment they are). A missing or
damaged segment is a Problem on the E01 and nothing inside is lost that can still be read.
An E01 inside an archive has no siblings on disk: only a single-segment one can be opened.
Ex01 (EWF2) and L01 (logical evidence) images are not opened.
"""

from __future__ import annotations

import os
from typing import Iterator

import pyewf

from haven.evidence.base import Item, Limits, Problem, read_zero_filled
from haven.evidence.disk import image_members

class _EwfMedium:
    """The media bytes stored in E01 segments; unreadable chunks read as zeros and are noted.

    A missing segment or damaged chunk would otherwise stop TSK from even finding the
    partition table; forensic practice (and TSK itself for bad sectors) is to go on with
    zeros and say so.
    """

    def __init__(self, handle):
        self.handle = handle
        self.size = int(handle.get_media_size())
        self.piece = int(handle.get_chunk_size() or 32768)
        self.bad: set[int] = set()  # chunk numbers that could not be read
        self.first_error = ""

    def read(self, offset: int, length: int) -> bytes:
        if offset >= self.size or length <= 0:
            return b""
        length = min(length, self.size - offset)
        return read_zero_filled(self.handle.read_buffer_at_offset, offset, length,
                                self.piece, self._failed)

    def _failed(self, pos: int, _size: int, exc: Exception) -> None:
        self.bad.add(pos // self.piece)
        if not self.first_error:
            text = str(exc)
            self.first_error = ("a segment file is missing" if "missing segment" in text
                                else text.split(". ", 1)[0].split(": ", 1)[-1])

    def damage(self) -> str | None:
        """What could not be read, for a Problem once the image is walked; None if all was."""
        if not self.bad:
            return None
        return (f"E01 image incomplete: {len(self.bad)} chunks ({len(self.bad) * self.piece} bytes) from offset "
                f"{min(self.bad) * self.piece} could not be read ({self.first_error}); they "
                "were read as zeros, so files and carving there are incomplete")


def _segments(fs_path: str) -> list[str]:
    try:
        found = pyewf.glob(fs_path)
    except Exception:  # a name libewf cannot expand (no .E01 extension): this file alone
        return [fs_path]
    return list(found) or [fs_path]


def ewf_members(item: Item, limits: Limits) -> Iterator[Item | Problem]:
    """What the E01 image `item` holds (the `e01` container kind's reader)."""
    handle = pyewf.handle()
    stream = None
    try:
        if item.fs_path is not None:
            segments = _segments(item.fs_path)
            handle.open(segments)
        else:
            stream = item.open()
            segments = [item.path]
            handle.open_file_objects([stream])
    except Exception as exc:  # untrusted data
        if stream is not None:
            stream.close()
        names = ", ".join(os.path.basename(s) for s in segments) if item.fs_path else ""
        nested = "" if item.fs_path else " (an E01 inside an archive: only single-segment " \
            "images can be opened; extract every segment next to the .E01)"
        kind = "truncated" if "segment" in str(exc).lower() else "corrupt"
        yield Problem(item.path, kind,
                      f"cannot open the E01 image{nested}: {exc}"
                      + (f" [segments found: {names}]" if names else ""), item.size)
        return
    try:
        yield from image_members(_EwfMedium(handle), item, limits)
    finally:
        handle.close()
        if stream is not None:
            stream.close()
