"""Per-item analysis: type from content, the scanned digests (plus any `extra_digests` asked
for, such as SHA-512, in the same read), PDQ for images, vPDQ for videos.

`analyse` is pure with respect to the case (no store, no hash sets), so it runs in worker
processes; it takes either a path on disk or the item's bytes.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from haven.errors import HavenError
from haven.signals.digests import digest_bytes, digest_stream
from haven.sniff import HEAD_SIZE, sniff

# Images up to this size are read whole once (digests and decoder share the buffer).
IMAGE_IN_MEMORY = 512 * 1024 * 1024


@dataclass
class Analysis:
    """What `analyse` found in one item. Every scanned single-value signal type (md5, sha1,
    sha256, pdq: `haven.signals.item_types`) is a field of its name (a test checks it)."""

    path: str
    size: int | None = None
    mime: str | None = None
    media: str | None = None
    extension_mismatch: bool = False
    md5: str | None = None
    sha1: str | None = None
    sha256: str | None = None
    #: digests beyond the scanned ones, computed when asked (`analyse(extra_digests=...)`:
    #: SHA-512 when the case's hash sets list it); matched, and stored in the item's column
    extra_digests: dict[str, str] = field(default_factory=dict)
    pdq: str | None = None
    pdq_quality: int | None = None
    pdq_trusted: bool | None = None
    pdq_preprocess: str | None = None
    query_hexes: list[str] = field(default_factory=list)  # what near matching searches with
    #: what hash-only framing hypotheses search with (`haven.match.framing.Item.pack`: the
    #: luminance grid, PDQ samples, luma of PDQ-unstable images), for a trusted image; the
    #: scan searches it and keeps it for re-matching (`haven.store.hypotheses`)
    framing: bytes | None = None
    vpdq: list[list] | None = None  # video frame hashes: [frame, quality, hex, timestamp]
    vpdq_preprocess: str | None = None
    video: dict | None = None  # frame_rate, interval, width, height, codec, duration
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    flags: dict = field(default_factory=dict)
    elapsed: float = 0.0


def _image_signals(result: Analysis, data: bytes, fast: bool, framing: bool) -> None:
    from haven.signals import pdq  # imported lazily: workers without images never load PIL

    try:
        sig, query = pdq.pdq_and_query_from_bytes(data, fast=fast)  # one decode for both
    except HavenError as exc:
        result.error = f"image not decodable: {exc}"
        return
    result.pdq, result.pdq_quality = sig.hex, sig.quality
    result.pdq_trusted, result.pdq_preprocess = sig.trusted, sig.preprocess
    if sig.trusted:
        result.query_hexes = query
        if framing:
            from haven.match.framing import Item

            # the pixels just decoded (same bytes object): no second decode
            result.framing = Item.from_pixels(pdq._prepared(data, fast).pixels).pack()
    else:
        result.notes.append(
            f"PDQ quality {sig.quality} < 50: hashed but not trusted for near matching"
        )


def _video_signals(result: Analysis, fs_path: str | None, data: bytes | None, fast: bool,
                   fps: float) -> None:
    from haven.signals import vpdq  # lazily: PyAV only loads when a video turns up

    try:
        if fs_path is not None:
            sig = vpdq.vpdq_from_path(fs_path, fps=fps, fast=fast, threads=1)
        else:
            sig = vpdq.vpdq_from_bytes(data, fps=fps, fast=fast, threads=1)
    except HavenError as exc:
        if getattr(exc, "reason", "") == "no video stream":
            result.media = None  # an MP4/Matroska holding audio only
            result.notes.append("container has no video stream")
            return
        result.error = f"video not decodable: {exc}"
        return
    result.vpdq = vpdq.frames_to_rows(sig.frames)
    result.vpdq_preprocess = sig.preprocess
    result.video = {
        "frame_rate": sig.frame_rate, "interval": sig.interval, "width": sig.width,
        "height": sig.height, "codec": sig.codec, "duration": sig.duration,
    }
    if not sig.complete:
        result.flags["vpdq_incomplete"] = True
        result.notes.extend(f"video partly decodable: {p}" for p in sig.problems)
    if not result.vpdq:
        result.error = "video not decodable: no frame could be hashed"


def analyse(path: str, *, fs_path: str | None = None, data: bytes | None = None,
            fast: bool = True, flags: dict | None = None, video_fps: float = 1.0,
            framing: bool = True, extra_digests: tuple[str, ...] = ()) -> Analysis:
    """Analyse one item given its evidence path and either `fs_path` or `data`.

    `framing`: also compute what the hash-only framing hypotheses of a trusted image need
    (`Analysis.framing`; a scan always asks for it: searched against the case's PDQ hash sets
    and kept for re-matching against lists imported later). `extra_digests`: digest types a scan does not
    compute for every item (`scanned = False`, e.g. "sha512") to compute as well, in the same
    read, into `Analysis.extra_digests` (`ScanEngine.extra_digests`)."""
    kinds = None
    if extra_digests:
        from haven import signals

        kinds = [t.name for t in signals.scanned_digests()]
        kinds += [k for k in extra_digests if k not in kinds]
    started = time.perf_counter()
    result = Analysis(path=path, flags=dict(flags or {}))
    try:
        if data is None:
            assert fs_path is not None
            with open(fs_path, "rb") as fh:
                head = fh.read(HEAD_SIZE)
                info = sniff(head, path)
                size_hint = os.fstat(fh.fileno()).st_size
                if info.media == "image" and (size_hint or 0) <= IMAGE_IN_MEMORY:
                    fh.seek(0)  # read whole at once: no copy of the rest joined to the head
                    data = fh.read()
                else:
                    d = digest_stream(fh, size_hint, head=head, kinds=kinds)
        else:
            info = sniff(data[:HEAD_SIZE], path)
        if data is not None:
            d = digest_bytes(data, kinds)
        result.mime, result.media, result.extension_mismatch = info.mime, info.media, info.extension_mismatch
        result.size = d.size
        for name, value in d.values.items():
            if name in extra_digests:
                result.extra_digests[name] = value
            else:
                setattr(result, name, value)
        if info.extension_mismatch:
            result.notes.append(f"content is {info.mime} but the name says otherwise")
        if info.media == "image":
            if data is None:
                result.notes.append("image larger than the in-memory limit: not perceptually hashed")
            else:
                _image_signals(result, data, fast, framing)
        elif info.media == "video":
            _video_signals(result, fs_path, data, fast, video_fps)
    except OSError as exc:
        result.error = f"unreadable: {exc.strerror or exc}"
    result.elapsed = time.perf_counter() - started
    return result
