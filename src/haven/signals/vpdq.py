"""vPDQ-style video hashing: the PDQ hash of frames sampled at a fixed rate, with PyAV.

A video's signal is a list of `VideoFrameHash` (frame number, PDQ quality, PDQ hex, timestamp),
the same four fields as upstream vPDQ's text files.

Which frames (the upstream rule, so hashes line up frame for frame with the reference):
the stream's frame rate is `avg_frame_rate` (falling back to `r_frame_rate`); the sampling
interval is `int(seconds_per_hash * frame_rate)` frames, at least 1, with
`seconds_per_hash = 1 / fps` (`fps=None` hashes every frame, as the reference sample hashes do);
frame `k` (0-based, presentation order) is hashed when `k % interval == 0`, and its timestamp
is `k / frame_rate` — a nominal time, as upstream, not the frame's own pts.

Two paths:

- full (`fast=False`, `PREPROCESS_FULL`): decode every frame, convert the sampled ones to RGB at
  full size and hash them. What the reference does; it is the baseline `bench/video.py`
  measures.
- fast (default, `PREPROCESS`): a decode plan per GOP (key frame to key frame) from the packets'
  timestamps. GOPs without a sampled frame are never decoded; inside a GOP only the packets up
  to the last sampled frame are sent, and non-reference frames that are not sampled are
  dropped by the decoder (`skip_frame=NONREF`). A sampled frame is not converted to RGB: PDQ's
  own 64 x 64 reduction (Jarosz box filters + decimation, linear) is applied to the decoder's
  luma plane as two banded weighted sums, and pdqhash hashes that 64 x 64 image. Same hashes
  as the full path within a few bits (tests), ~1 ms instead of ~20 ms for a 720p frame.
  Streams whose packets carry no timestamps, or whose GOP is too long to buffer, are decoded
  frame by frame instead (same hashes, less speed).

Broken input: a file that cannot be opened, has no video stream or yields no frame at all
raises `VideoDecodeError` with a reason. A stream that breaks part-way (truncated file,
corrupt packets) returns the frames it could hash with `VideoSignal.complete = False` and the
reasons in `VideoSignal.problems` — a finding, not a crash.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator, Union

import av
import numpy as np
import pdqhash

from haven.errors import DecodeError
from haven.signals import MIN_TRUSTED_QUALITY  # noqa: F401 - also imported from here
from haven.signals.pdqluma import PDQ_SIDE, reduction as _reduction  # PDQ's own reduction

#: Default sampling rate (frames hashed per second of video), the upstream vPDQ default.
DEFAULT_FPS = 1.0

_AV_MAJOR_MINOR = ".".join(av.__version__.split(".")[:2])
#: Pre-processing of the fast path, recorded beside every video signal.
PREPROCESS = f"pyav{_AV_MAJOR_MINOR}:gop-plan:luma-jarosz64:pdqhash:v1"
#: Pre-processing of the full path (every frame decoded, full-size RGB, as the reference).
PREPROCESS_FULL = f"pyav{_AV_MAJOR_MINOR}:all-frames:rgb24-full:pdqhash:v1"

# A GOP longer than this is not buffered for planning: the stream is decoded frame by frame.
_MAX_GOP_PACKETS = 2000
_MAX_GOP_BYTES = 256 * 1024 * 1024
# After this many undecodable packets the stream is given up as broken (the frames so far stay).
_MAX_DECODE_ERRORS = 50
# Bytes read to explain why a container did not open.
_DIAGNOSE_HEAD = 64

# 8-bit planar/semi-planar YUV layouts whose first plane is the luma the fast path reads.
_YUV8 = frozenset(
    "yuv420p yuvj420p yuv422p yuvj422p yuv444p yuvj444p yuv440p yuvj440p yuv411p yuv410p "
    "nv12 nv21 nv16 yuva420p yuva422p yuva444p".split()
)
# PDQ's luma weights (BT.601), as pdqhash applies them to RGB.
_LUMA_FROM_RGB = np.array([0.299, 0.587, 0.114], dtype=np.float32)

VideoSource = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO]


class VideoDecodeError(DecodeError):
    """A video could not be hashed at all (not a video, no video stream, nothing decodable)."""


@dataclass(frozen=True)
class VideoFrameHash:
    """The PDQ hash of one sampled frame."""

    frame: int  # 0-based frame number in presentation order
    quality: int  # PDQ quality 0-100; below MIN_TRUSTED_QUALITY the frame is not matched
    hex: str  # 64 lower-case hex digits
    timestamp: float  # seconds, frame / frame_rate

    @property
    def trusted(self) -> bool:
        return self.quality >= MIN_TRUSTED_QUALITY


@dataclass
class VideoSignal:
    """The vPDQ hash of one video, how it was made, and whether the whole stream was read."""

    frames: list[VideoFrameHash]
    frame_rate: float  # the stream rate frame numbers and timestamps are counted in
    interval: int  # every `interval`-th frame is hashed
    width: int
    height: int
    codec: str
    duration: float | None  # seconds, from the container (None when it does not say)
    preprocess: str
    complete: bool = True  # False: the stream broke part-way; `frames` is what could be hashed
    problems: list[str] = field(default_factory=list)

    @property
    def hexes(self) -> list[str]:
        return [f.hex for f in self.frames]


def sample_interval(frame_rate: float, fps: float | None) -> int:
    """Frames between two hashed frames: upstream's `int(seconds_per_hash * frame_rate)`, >= 1."""
    if fps is None or fps <= 0:
        return 1
    return max(1, int((1.0 / fps) * frame_rate))


def pdq_of_rgb(pixels: np.ndarray) -> tuple[str, int]:
    """(hex, quality) of an H x W x 3 uint8 RGB array."""
    bits, quality = pdqhash.compute(pixels)
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex(), int(quality)


def _luma(frame: av.VideoFrame) -> tuple[np.ndarray, float, float]:
    """The frame's luma plane (a view when the decoder gives 8-bit YUV) and how to map it to
    PDQ's 0-255 luma: `pdq = (y - offset) * scale`."""
    name = frame.format.name
    if name in _YUV8 or name == "gray":
        plane = frame.planes[0]
        y = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)
        y = y[: frame.height, : frame.width]
        full_range = name.startswith("yuvj") or frame.color_range == 2 or (
            name == "gray" and frame.color_range != 1)
        return (y, 0.0, 1.0) if full_range else (y, 16.0, 255.0 / 219.0)
    # other layouts (10-bit, RGB, palette): through RGB, weighted without BLAS (see _reduction)
    rgb = frame.to_ndarray(format="rgb24")
    return np.einsum("hwc,c->hw", rgb, _LUMA_FROM_RGB, dtype=np.float32), 0.0, 1.0


def _reduced_pixels(frame: av.VideoFrame) -> np.ndarray:
    """The 64 x 64 image PDQ would filter the frame down to, as RGB (grey) uint8.

    PDQ's own down-sampling is linear (box filters, then one sample per output pixel), so it is
    two banded weighted sums on the luma plane: no RGB conversion, no full-size float copy of
    the colour planes. pdqhash then sees a 64 x 64 image, where its filter is the identity.
    """
    y, offset, scale = _luma(frame)
    h, w = y.shape
    row_idx, row_w = _reduction(h)
    col_idx, col_w = _reduction(w)
    rows = np.einsum("ikx,ik->ix", y[row_idx], row_w, dtype=np.float32)  # 64 x w
    reduced = np.einsum("ijk,jk->ij", rows[:, col_idx], col_w)  # 64 x 64
    if scale != 1.0 or offset:
        reduced = (reduced - offset) * scale
    grey = np.clip(np.rint(reduced), 0, 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def _frame_pixels(frame: av.VideoFrame, full: bool) -> np.ndarray:
    if full:
        return frame.to_ndarray(format="rgb24")
    return _reduced_pixels(frame)


# --- opening -------------------------------------------------------------------------------

class _Fallback(Exception):
    """The planned decode cannot be used for this stream; decode frame by frame instead."""


def _head_and_size(source) -> tuple[bytes, int] | None:
    """The first bytes and the size of a path or in-memory source (None for file objects)."""
    try:
        if isinstance(source, (bytes, bytearray, memoryview)):
            return bytes(source[:_DIAGNOSE_HEAD]), len(source)
        if isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as fh:
                return fh.read(_DIAGNOSE_HEAD), os.fstat(fh.fileno()).st_size
    except OSError:
        return None
    return None


def _mp4_boxes(source) -> list[tuple[str, int, int]] | None:
    """Top-level (type, offset, size) boxes of an ISO-BMFF file, None if it is not one."""
    found = _head_and_size(source)
    if found is None or found[0][4:8] != b"ftyp":
        return None
    _head, total = found
    boxes, offset = [], 0
    in_memory = isinstance(source, (bytes, bytearray, memoryview))
    read = (lambda o, n: bytes(source[o:o + n])) if in_memory else None
    with (open(source, "rb") if read is None else contextlib.nullcontext()) as fh:
        while offset + 8 <= total and len(boxes) < 64:
            if read is None:
                fh.seek(offset)
                header = fh.read(16)
            else:
                header = read(offset, 16)
            size, kind = int.from_bytes(header[:4], "big"), header[4:8].decode("latin-1")
            if size == 1 and len(header) >= 16:
                size = int.from_bytes(header[8:16], "big")
            elif size == 0:
                size = total - offset
            if size < 8:
                break
            boxes.append((kind, offset, size))
            offset += size
    return boxes


def _mp4_truncation(source) -> tuple[str, str] | None:
    """(reason, detail) when an MP4/MOV source is visibly cut short, else None."""
    found = _head_and_size(source)
    try:
        boxes = _mp4_boxes(source) if found is not None else None
    except OSError:
        boxes = None
    if not boxes:
        return None
    if "moov" not in [kind for kind, _, _ in boxes]:
        return ("truncated MP4/MOV: its index (moov box) is missing",
                "recording interrupted or file cut short; frames cannot be located without it")
    kind, offset, size = boxes[-1]
    if offset + size > found[1]:
        return ("truncated MP4/MOV",
                f"the {kind} box needs {offset + size} bytes, the file has {found[1]}")
    return None


def _open_failure(source, exc: Exception) -> VideoDecodeError:
    """The reason a container did not open, as precise as the bytes allow."""
    found = _head_and_size(source)
    if found is not None and found[1] == 0:
        return VideoDecodeError("empty file")
    truncated = _mp4_truncation(source)
    if truncated:
        return VideoDecodeError(*truncated)
    return VideoDecodeError("unreadable container (corrupt, truncated or not a video)", str(exc))


def _open(source: VideoSource) -> av.container.InputContainer:
    if isinstance(source, (bytes, bytearray, memoryview)):
        opened = io.BytesIO(bytes(source))
    elif isinstance(source, os.PathLike):
        opened = os.fspath(source)
    else:
        opened = source
    try:
        return av.open(opened, mode="r", metadata_errors="ignore")
    except FileNotFoundError as exc:
        raise VideoDecodeError("file not found", str(exc)) from exc
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise _open_failure(source, exc) from exc


def _video_stream(container) -> av.video.stream.VideoStream:
    if not container.streams.video:
        raise VideoDecodeError("no video stream")
    stream = container.streams.video[0]
    if stream.codec_context is None:
        raise VideoDecodeError("no decoder for this video codec", str(stream.codec_context))
    if not stream.codec_context.width or not stream.codec_context.height:
        raise VideoDecodeError("video stream has no frame size")
    return stream


def _frame_rate(stream) -> float:
    rate = stream.average_rate or stream.base_rate or stream.guessed_rate
    if not rate or float(rate) <= 0:
        raise VideoDecodeError("video stream has no frame rate")
    return float(rate)


def _duration(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _configure(stream, threads: int) -> None:
    ctx = stream.codec_context
    ctx.thread_count = max(0, int(threads))
    ctx.thread_type = "AUTO" if threads != 1 else "SLICE"


# --- decoding ------------------------------------------------------------------------------

class _Hasher:
    """Collects frame hashes and problems for one video."""

    def __init__(self, frame_rate: float, full: bool):
        self.frame_rate, self.full = frame_rate, full
        self.frames: dict[int, VideoFrameHash] = {}
        self.problems: list[str] = []
        self.decode_errors = 0

    def hash(self, number: int, frame: av.VideoFrame) -> None:
        hex_, quality = pdq_of_rgb(_frame_pixels(frame, self.full))
        self.frames[number] = VideoFrameHash(number, quality, hex_, number / self.frame_rate)

    def decode(self, ctx, packet) -> list[av.VideoFrame]:
        try:
            return ctx.decode(packet)
        except av.error.FFmpegError as exc:
            self.decode_errors += 1
            if self.decode_errors == 1:
                self.problems.append(f"undecodable packet(s): {exc}")
            if self.decode_errors >= _MAX_DECODE_ERRORS:
                raise
            return []


def _packets(container, stream, hasher: _Hasher) -> Iterator:
    """The stream's packets; a demuxing failure ends the stream with a problem recorded."""
    it = container.demux(stream)
    while True:
        try:
            packet = next(it)
        except StopIteration:
            return
        except av.error.FFmpegError as exc:
            hasher.problems.append(f"stream ends early: {exc}")
            return
        if packet.size:
            yield packet


def _decode_all(container, stream, hasher: _Hasher, interval: int) -> int:
    """Decode every frame, numbered in decoder output order (upstream's frame numbers).

    Returns how many video packets the stream held.
    """
    ctx = stream.codec_context
    count = packets = 0

    def take(frames):
        nonlocal count
        for frame in frames:
            if count % interval == 0:
                hasher.hash(count, frame)
            count += 1

    for packet in _packets(container, stream, hasher):
        packets += 1
        take(hasher.decode(ctx, packet))
    take(hasher.decode(ctx, None))
    return packets


def _decode_planned(container, stream, hasher: _Hasher, interval: int) -> int:
    """Decode only what the sampled frames need; frame numbers come from pts ranks per GOP.

    Returns how many video packets the stream held. Raises `_Fallback` for streams the plan
    cannot number the way a full decode would.
    """
    ctx = stream.codec_context
    targets: dict[int, int] = {}  # pts -> frame number still awaited from the decoder
    ranked = 0  # frames numbered so far (all GOPs before the pending ones)
    packets = 0

    def receive(frames) -> None:
        for frame in frames:
            number = targets.pop(frame.pts, None) if frame.pts is not None else None
            if number is not None:
                hasher.hash(number, frame)

    def send(gop: list, following: list | None) -> None:
        nonlocal ranked
        # Number this GOP's frames: every frame of a later GOP is shown after all of them
        # (the leading frames of an open GOP too, which are shown before their key frame).
        order = sorted(p.pts for p in gop if not p.is_discard)
        if len(set(order)) != len(order):
            raise _Fallback("duplicate timestamps")
        number_of = {pts: ranked + i for i, pts in enumerate(order)}
        ranked += len(order)
        wanted = {pts for pts, n in number_of.items() if n % interval == 0}
        # Open GOP: frames of the next GOP shown before its key frame may reference this GOP.
        next_leading = False
        if following:
            key_pts = following[0].pts
            lead = sorted(p.pts for p in following if not p.is_discard and p.pts < key_pts)
            next_leading = any((ranked + i) % interval == 0 for i in range(len(lead)))
        if not wanted and not next_leading:
            return
        last = len(gop) - 1 if next_leading else max(
            i for i, p in enumerate(gop) if p.pts in wanted)
        for pts in wanted:
            targets[pts] = number_of[pts]
        for packet in gop[: last + 1]:
            ctx.skip_frame = "DEFAULT" if packet.pts in wanted else "NONREF"
            receive(hasher.decode(ctx, packet))

    pending: list[list] = []
    gop: list = []
    gop_bytes = 0
    for packet in _packets(container, stream, hasher):
        if packet.pts is None:
            raise _Fallback("packets without timestamps")
        if not packets and not packet.is_keyframe:
            # decoders drop frames before the first key frame: only a full decode numbers them
            raise _Fallback("stream does not start with a key frame")
        packets += 1
        if packet.is_keyframe and gop:
            pending.append(gop)
            gop, gop_bytes = [], 0
            if len(pending) == 2:
                send(pending[0], pending[1])
                pending.pop(0)
        gop.append(packet)
        gop_bytes += packet.size
        if len(gop) > _MAX_GOP_PACKETS or gop_bytes > _MAX_GOP_BYTES:
            raise _Fallback("GOP too long to plan")
    if gop:
        pending.append(gop)
    for i, g in enumerate(pending):
        send(g, pending[i + 1] if i + 1 < len(pending) else None)
    ctx.skip_frame = "DEFAULT"
    receive(hasher.decode(ctx, None))
    if targets:
        hasher.problems.append(f"{len(targets)} sampled frame(s) could not be decoded")
    return packets


def vpdq_from_source(source: VideoSource, *, fps: float | None = DEFAULT_FPS, fast: bool = True,
                     threads: int = 1) -> VideoSignal:
    """vPDQ of a video given as a path, bytes or a seekable binary file object.

    `fps`: frames hashed per second of video (None: every frame). `threads`: decoder threads
    (1 suits the scan, which runs one item per core). Raises `VideoDecodeError` when nothing
    can be hashed; a stream broken part-way comes back with `complete=False`.
    """
    container = _open(source)
    try:
        stream = _video_stream(container)
        frame_rate = _frame_rate(stream)
        interval = sample_interval(frame_rate, fps)
        duration = _duration(container, stream)
        declared = int(stream.frames or 0)  # frames the container index announces (0: unknown)
        codec = stream.codec_context.name
        width, height = stream.codec_context.width, stream.codec_context.height
        _configure(stream, threads)
        hasher = _Hasher(frame_rate, full=not fast)
        preprocess = PREPROCESS if fast else PREPROCESS_FULL
        try:
            if fast:
                try:
                    packets = _decode_planned(container, stream, hasher, interval)
                except _Fallback:
                    # Start over frame by frame; only from a seekable source.
                    container.close()
                    if not isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview)):
                        source.seek(0)
                    container = _open(source)
                    stream = _video_stream(container)
                    _configure(stream, threads)
                    hasher = _Hasher(frame_rate, full=False)
                    packets = _decode_all(container, stream, hasher, interval)
                    preprocess = PREPROCESS.replace("gop-plan", "all-frames")
            else:
                packets = _decode_all(container, stream, hasher, interval)
        except av.error.FFmpegError as exc:
            hasher.problems.append(f"decoding stopped after {_MAX_DECODE_ERRORS} errors: {exc}")
            packets = None
    finally:
        container.close()

    frames = [hasher.frames[k] for k in sorted(hasher.frames)]
    problems = list(hasher.problems)
    if packets is not None and declared and packets < declared:
        problems.append(f"stream ends early: {packets} of {declared} frames present")
    # Only a stream with trouble is checked for a cut-off file (reads a few box headers).
    truncated = _mp4_truncation(source) if not frames or problems else None
    if not frames:
        if truncated:
            raise VideoDecodeError(*truncated)
        detail = "; ".join(problems) or "the stream holds no decodable frame"
        raise VideoDecodeError("no decodable video frame", detail)
    if truncated:
        problems.insert(0, ": ".join(truncated))
    return VideoSignal(
        frames=frames, frame_rate=frame_rate, interval=interval, width=width, height=height,
        codec=codec, duration=duration, preprocess=preprocess, complete=not problems,
        problems=problems,
    )


def vpdq_from_path(path: str | os.PathLike, *, fps: float | None = DEFAULT_FPS, fast: bool = True,
                   threads: int = 1) -> VideoSignal:
    """vPDQ of a video file; see `vpdq_from_source`."""
    return vpdq_from_source(os.fspath(path), fps=fps, fast=fast, threads=threads)


def vpdq_from_bytes(data: bytes, *, fps: float | None = DEFAULT_FPS, fast: bool = True,
                    threads: int = 1) -> VideoSignal:
    """vPDQ of an encoded video held in memory; see `vpdq_from_source`."""
    return vpdq_from_source(data, fps=fps, fast=fast, threads=threads)


def frames_to_rows(frames: list[VideoFrameHash]) -> list[list]:
    """Frames as JSON-friendly [frame, quality, hex, timestamp] rows (what hash sets store)."""
    return [[f.frame, f.quality, f.hex, round(f.timestamp, 3)] for f in frames]


def frames_from_rows(rows) -> list[VideoFrameHash]:
    """The inverse of `frames_to_rows`."""
    return [VideoFrameHash(int(r[0]), int(r[1]), str(r[2]).lower(), float(r[3])) for r in rows]


__all__ = [
    "DEFAULT_FPS", "PDQ_SIDE", "MIN_TRUSTED_QUALITY", "PREPROCESS", "PREPROCESS_FULL",
    "VideoDecodeError", "VideoFrameHash", "VideoSignal", "frames_from_rows", "frames_to_rows",
    "pdq_of_rgb", "sample_interval", "vpdq_from_bytes", "vpdq_from_path", "vpdq_from_source",
]

