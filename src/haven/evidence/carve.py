"""Signature carving: pictures and videos found in raw bytes (unallocated space) by structure.

A hit on a header signature is only carved when the file's own structure can be followed to
its end: JPEG segments to the EOI marker (entropy-coded data skipped marker by marker, so an
embedded EXIF thumbnail does not end the picture early), PNG chunks to IEND, GIF blocks to
the trailer, MP4/MOV boxes from `ftyp` while they carry known top-level box types (with
`moov` and `mdat` both present). A file is assumed to lie in one piece, inside the region
given (one run of unallocated space); one that runs past the region or past its size cap is
not carved. That keeps the carver bounded and its false hits rare; the false hits left fail
to decode later and end as `error` findings.

Searching goes on after the end of each carved file, so the pictures embedded in a carved
file (thumbnails) are not carved twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterator

IMAGE_CAP = 64 * 1024**2  # bytes one carved picture may have
VIDEO_CAP = 2 * 1024**3  # bytes one carved video may have
_CHUNK = 4 * 1024**2
_BLOCK = 256 * 1024
_OVERLAP = 16  # longest signature, so a header split by two chunks is still found

ReadFn = Callable[[int, int], bytes]

_SIGNATURES = re.compile(rb"\xff\xd8\xff[\xc0-\xfe]|\x89PNG\r\n\x1a\n|GIF8[79]a|ftyp")
# Markers that start a frame (SOF0..SOF15 without DHT, JPG and DAC).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_MP4_BOXES = frozenset({
    b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"uuid", b"meta", b"moof",
    b"mfra", b"pdin", b"styp", b"sidx", b"ssix", b"prft", b"emsg", b"pnot", b"junk",
})


@dataclass(frozen=True)
class Carve:
    """One file found in raw bytes: where it starts, how long it is, what it is."""

    offset: int
    length: int
    extension: str


def carve(read: ReadFn, start: int, end: int) -> Iterator[Carve]:
    """Every picture or video whose whole structure lies in bytes [start, end) of `read`.

    `read(offset, length)` returns the bytes there (fewer at the end of the data).
    """
    pos = start
    while pos < end:
        buffer = read(pos, min(_CHUNK, end - pos))
        if not buffer:
            return
        resume = pos + max(len(buffer) - _OVERLAP, 1) if pos + len(buffer) < end else end
        for hit in _SIGNATURES.finditer(buffer):
            at = pos + hit.start()
            if at >= resume:
                break
            found = _follow(read, at, end, hit.group())
            if found is not None:
                yield found
                resume = found.offset + found.length
                break
        pos = resume


def _follow(read: ReadFn, at: int, end: int, signature: bytes) -> Carve | None:
    if signature == b"ftyp":
        box = at - 4
        if box < 0:
            return None
        length = _mp4_length(_Source(read, box, min(end, box + VIDEO_CAP)))
        return Carve(box, length, "mp4") if length else None
    source = _Source(read, at, min(end, at + IMAGE_CAP))
    if signature.startswith(b"\xff\xd8"):
        length, extension = _jpeg_length(source), "jpg"
    elif signature.startswith(b"\x89PNG"):
        length, extension = _png_length(source), "png"
    else:
        length, extension = _gif_length(source), "gif"
    return Carve(at, length, extension) if length else None


class _Source:
    """Bytes from `base` up to `limit`, read in cached blocks (parsers hop around a lot)."""

    def __init__(self, read: ReadFn, base: int, limit: int):
        self.read, self.base, self.size = read, base, max(limit - base, 0)
        self._blocks: dict[int, bytes] = {}

    def _block(self, index: int) -> bytes:
        block = self._blocks.get(index)
        if block is None:
            if len(self._blocks) > 8:
                self._blocks.clear()
            start = index * _BLOCK
            block = self.read(self.base + start, min(_BLOCK, self.size - start)) \
                if start < self.size else b""
            self._blocks[index] = block
        return block

    def get(self, pos: int, n: int) -> bytes:
        """Up to `n` bytes at `pos` (relative to the start of the file)."""
        if pos < 0 or pos >= self.size:
            return b""
        n = min(n, self.size - pos)
        out = b""
        while len(out) < n:
            index, inner = divmod(pos + len(out), _BLOCK)
            block = self._block(index)
            piece = block[inner:inner + n - len(out)]
            if not piece:
                break
            out += piece
        return out

    def find_ff(self, pos: int) -> int:
        """Position of the next 0xFF byte at or after `pos`, or -1."""
        while pos < self.size:
            index, inner = divmod(pos, _BLOCK)
            block = self._block(index)
            if inner >= len(block):
                return -1
            found = block.find(b"\xff", inner)
            if found >= 0:
                return index * _BLOCK + found
            pos = (index + 1) * _BLOCK
        return -1


def _jpeg_length(src: _Source) -> int | None:
    pos, frame, scan = 2, False, False
    while True:
        head = src.get(pos, 4)
        if len(head) < 2 or head[0] != 0xFF:
            return None
        marker = head[1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == 0xD9:
            return pos + 2 if frame and scan else None
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            pos += 2
            continue
        if len(head) < 4 or marker == 0x00 or marker == 0xD8:
            return None
        length = int.from_bytes(head[2:4], "big")
        if length < 2:
            return None
        frame = frame or marker in _SOF
        pos += 2 + length
        if marker == 0xDA:
            scan = True
            pos = _entropy_end(src, pos)
            if pos < 0:
                return None


def _entropy_end(src: _Source, pos: int) -> int:
    """Position of the marker that ends entropy-coded data starting at `pos`, or -1."""
    while True:
        pos = src.find_ff(pos)
        if pos < 0:
            return -1
        following = src.get(pos + 1, 1)
        if not following:
            return -1
        if following[0] == 0x00 or 0xD0 <= following[0] <= 0xD7:  # stuffed byte, restart
            pos += 2
        elif following[0] == 0xFF:
            pos += 1
        else:
            return pos


def _png_length(src: _Source) -> int | None:
    pos, first = 8, True
    while True:
        head = src.get(pos, 8)
        if len(head) < 8:
            return None
        length, kind = int.from_bytes(head[:4], "big"), head[4:]
        if length > 0x7FFFFFFF or not kind.isalpha():
            return None
        if first and (kind != b"IHDR" or length != 13):
            return None
        first = False
        pos += 12 + length
        if pos > src.size:
            return None
        if kind == b"IEND":
            return pos


def _gif_length(src: _Source) -> int | None:
    screen = src.get(6, 7)
    if len(screen) < 7:
        return None
    pos = 13 + (3 << ((screen[4] & 7) + 1) if screen[4] & 0x80 else 0)
    images = 0
    while True:
        tag = src.get(pos, 1)
        if not tag:
            return None
        if tag == b";":
            return pos + 1 if images else None
        if tag == b"!":
            pos = _sub_blocks(src, pos + 2)
        elif tag == b",":
            descriptor = src.get(pos, 10)
            if len(descriptor) < 10:
                return None
            pos += 10 + (3 << ((descriptor[9] & 7) + 1) if descriptor[9] & 0x80 else 0)
            code_size = src.get(pos, 1)
            if not code_size or not 1 <= code_size[0] <= 12:
                return None
            pos = _sub_blocks(src, pos + 1)
            images += 1
        else:
            return None
        if pos < 0:
            return None


def _sub_blocks(src: _Source, pos: int) -> int:
    """Position after a chain of GIF data sub-blocks, or -1 when it runs out."""
    while True:
        size = src.get(pos, 1)
        if not size:
            return -1
        pos += 1 + size[0]
        if size[0] == 0:
            return pos


def _mp4_length(src: _Source) -> int | None:
    pos, seen = 0, set()
    while True:
        head = src.get(pos, 16)
        if len(head) < 8:
            break
        size, kind = int.from_bytes(head[:4], "big"), head[4:8]
        if kind not in _MP4_BOXES:
            break
        header = 8
        if size == 1:
            if len(head) < 16:
                break
            size, header = int.from_bytes(head[8:16], "big"), 16
        if size < header:  # 0 means "to the end of the file": unknowable when carving
            break
        if pos == 0:
            brand = src.get(8, 4)
            if kind != b"ftyp" or not 16 <= size <= 4096 or len(brand) < 4 \
                    or not all(0x20 <= c < 0x7F for c in brand):
                return None
        if pos + size > src.size:
            return None
        seen.add(kind)
        pos += size
    return pos if {b"moov", b"mdat"} <= seen else None
