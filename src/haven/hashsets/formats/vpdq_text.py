"""vPDQ text files: the hashes of one known video, one sampled frame per line.

    frame_number,quality,pdq_hex,timestamp_seconds
    0,100,e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c,0.000

This is what upstream vPDQ writes (`vpdq-hash-video`, the `sample-hashes/` files). One file is
one video, its id the file stem; a directory of such files is a hash set of many videos
(`read(directory)`; every `*.txt` inside, sorted by name). Each video becomes one `HashEntry`
with `extra["video_id"]` and `extra["vpdq"]` = [[frame, quality, hex, timestamp], ...]; the
entry has no md5/sha1/sha256/pdq of its own. Frames of every quality are kept: matching
leaves out the untrusted ones (quality < 50) itself.

Detection is strict (every complete line of the head must be a frame line) so that CSV
and plain-list files are never taken for vPDQ. `write_vpdq_text` writes the same format.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable

from haven.hashsets.formats import fields
from haven.hashsets.formats.registry import register
from haven.hashsets.model import HashEntry, ImportResult, Malformed
from haven.signals.vpdq import VideoFrameHash, frames_from_rows

_LINE = re.compile(r"(\d+),(\d{1,3}),([0-9a-fA-F]{64}),(\d+(?:\.\d+)?)")
# Lines the sniffer checks at most; each must be a frame line.
_SNIFF_LINES = 8


def _frame_row(text: str) -> list:
    match = _LINE.fullmatch(text)
    if match is None:
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise ValueError(f"{shown!r} is not 'frame,quality,pdq_hex,timestamp'")
    frame, quality, hex_, timestamp = match.groups()
    if int(quality) > 100:
        raise ValueError(f"quality {quality} is over 100")
    return [int(frame), int(quality), hex_.lower(), float(timestamp)]


@register
class VpdqTextReader:
    name = "vpdq"
    priority = 15  # a fixed, unmistakable line shape: ahead of the generic CSV/list readers

    def sniff(self, path: Path, head: bytes) -> bool:
        if not head or fields.looks_binary(head):
            return False
        text = fields.head_text(head)
        lines = text.splitlines()
        if len(head) >= 64 * 1024 and not text.endswith(("\n", "\r")):
            lines = lines[:-1]  # the last line may be cut by the head limit
        lines = [line.strip() for line in lines if line.strip()][:_SNIFF_LINES]
        return bool(lines) and all(_LINE.fullmatch(line) for line in lines)

    def read(self, path: Path, *, scheme: str | None = None) -> ImportResult:
        path = Path(path)
        result = ImportResult(format=self.name, scheme=scheme)
        files = sorted(p for p in path.glob("*.txt") if p.is_file()) if path.is_dir() else [path]
        line_offset = 0
        for file in files:
            rows: list[list] = []
            count = 0
            with fields.open_text(file) as fh:
                for count, line in enumerate(fh, start=1):
                    text = line.strip()
                    if not text or text.startswith("#"):
                        continue
                    try:
                        rows.append(_frame_row(text))
                    except ValueError as exc:
                        where = f"{file.name}: " if path.is_dir() else ""
                        result.malformed.append(Malformed(line_offset + count, f"{where}{exc}"))
            if rows:
                rows.sort(key=lambda r: r[0])
                result.entries.append(HashEntry(
                    scheme=scheme, line=line_offset + 1,
                    extra={"video_id": file.stem, "vpdq": rows, "frames": len(rows)},
                ))
            elif count:
                result.malformed.append(Malformed(line_offset + 1, f"{file.name}: no frame lines"))
            line_offset += count
        return result


def write_vpdq_text(frames: Iterable[VideoFrameHash | list], path: str | os.PathLike) -> int:
    """Write frames as a vPDQ text file (frame,quality,hex,timestamp with 3 decimals).

    Accepts `VideoFrameHash` objects or [frame, quality, hex, timestamp] rows; returns the
    number of lines written.
    """
    lines = []
    for f in frames:
        if not isinstance(f, VideoFrameHash):
            f = frames_from_rows([f])[0]
        lines.append(f"{f.frame},{f.quality},{f.hex},{f.timestamp:.3f}\n")
    with open(path, "w", encoding="ascii", newline="\n") as fh:
        fh.writelines(lines)
    return len(lines)
