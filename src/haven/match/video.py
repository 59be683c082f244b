"""Video matching, vPDQ convention: which known videos share frames with a queried video.

A match between a query video and a known video is reported with two shares, as upstream vPDQ
does (`matchTwoHashBrute`):

- `query_share`: the fraction of the query's frames that match some frame of the known video;
- `known_share`: the fraction of the known video's frames that match some frame of the query.

A 10-second clip cut from a known 2-hour video has a high query share and a low known share; a
long compilation that contains a known clip has the reverse; a re-encoded or down-scaled copy
has both high. A match is reported when either share reaches its minimum.

Frames below PDQ quality `MIN_TRUSTED_QUALITY` (black frames, fades, flat title cards) take no
part on either side, neither as matches nor in the denominators (upstream rule). Two frames
match within `threshold` bits inclusive (haven's PDQ convention, as `NearIndex`; upstream's
tool tests `< 31`, one bit stricter).

The frames of all known videos live in one `NearIndex` (exact: a flat tail plus multi-index segments, see docs/library.md), row -> (video,
frame): one batched search per query video finds every candidate video and its matched frames.

Image <-> frame links: `frame_links` finds known IMAGES (any `NearIndex` of image hashes, e.g.
the scan's) that appear as frames of a queried video, with the frame and time where they
appear; `VideoLibrary.match_image` finds known VIDEO frames that match a queried image.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Hashable, Iterable, Sequence

from haven.match.near import DEFAULT_THRESHOLD, NearIndex
from haven.signals.vpdq import MIN_TRUSTED_QUALITY, VideoFrameHash, frames_from_rows

#: Default minimum shares: a known video is reported when at least half of the query's frames,
#: or at least half of its own frames, are matched.
DEFAULT_MIN_QUERY_SHARE = 0.5
DEFAULT_MIN_KNOWN_SHARE = 0.5

FrameLike = VideoFrameHash | Sequence  # a VideoFrameHash or a [frame, quality, hex, timestamp] row


@dataclass(frozen=True)
class VideoMatch:
    """A known video sharing frames with the query."""

    video_id: Hashable
    query_share: float  # matched query frames / trusted query frames
    known_share: float  # matched known frames / trusted known frames
    frames_matched: int  # query frames with a match in the known video
    known_frames_matched: int  # known frames with a match in the query
    distance: int  # smallest Hamming distance between any matched frame pair
    query_span: tuple[float, float]  # first and last matched query timestamps (s)
    known_span: tuple[float, float]  # first and last matched known timestamps (s)


@dataclass(frozen=True)
class FrameLink:
    """A known image (or any single hash entry) seen as a frame of a video."""

    entry_id: int  # the id the entry has in the searched NearIndex
    frame: int  # first matching frame of the video
    timestamp: float
    distance: int  # best distance over all matching frames
    frames: int  # how many sampled frames of the video match the entry


@dataclass(frozen=True)
class KnownFrame:
    """A frame of a known video that matches a queried image."""

    video_id: Hashable
    frame: int
    timestamp: float
    distance: int


def _as_frames(frames: Iterable[FrameLike]) -> list[VideoFrameHash]:
    out = []
    for f in frames:
        out.append(f if isinstance(f, VideoFrameHash) else frames_from_rows([f])[0])
    return out


def _trusted(frames: Iterable[FrameLike], min_quality: int) -> list[VideoFrameHash]:
    return [f for f in _as_frames(frames) if f.quality >= min_quality]


class VideoLibrary:
    """The frame hashes of known videos, searchable as one index."""

    def __init__(self, *, min_quality: int = MIN_TRUSTED_QUALITY) -> None:
        self.min_quality = min_quality
        self._index = NearIndex()
        self._rows: list[tuple[int, VideoFrameHash]] = []  # index row -> (video slot, frame)
        self._videos: list[Hashable] = []  # slot -> video id
        self._slot: dict[Hashable, int] = {}
        self._trusted_frames: list[int] = []  # slot -> trusted frames enrolled

    def __len__(self) -> int:
        return len(self._videos)

    @property
    def frame_count(self) -> int:
        return len(self._rows)

    def add_video(self, video_id: Hashable, frames: Iterable[FrameLike]) -> int:
        """Enrol a known video's frames (VideoFrameHash or [frame, quality, hex, ts] rows).

        Frames below `min_quality` are skipped; returns how many were enrolled. Adding the same
        id again extends that video.
        """
        kept = _trusted(frames, self.min_quality)
        if video_id not in self._slot:
            self._slot[video_id] = len(self._videos)
            self._videos.append(video_id)
            self._trusted_frames.append(0)
        slot = self._slot[video_id]
        first = len(self._rows)
        self._index.add([f.hex for f in kept], list(range(first, first + len(kept))))
        self._rows.extend((slot, f) for f in kept)
        self._trusted_frames[slot] += len(kept)
        return len(kept)

    def match(self, frames: Iterable[FrameLike], threshold: int = DEFAULT_THRESHOLD, *,
              min_query_share: float = DEFAULT_MIN_QUERY_SHARE,
              min_known_share: float = DEFAULT_MIN_KNOWN_SHARE,
              min_frames: int = 1) -> list[VideoMatch]:
        """Known videos sharing frames with the query, best first.

        Reported when `query_share >= min_query_share` or `known_share >= min_known_share`,
        with at least `min_frames` query frames matched. Pass 0 for both shares to see every
        video with any matching frame.
        """
        query = _trusted(frames, self.min_quality)
        if not query or not self._rows:
            return []
        # 1. one batched search: every known frame within reach of any query frame
        hits = self._index.search(list(dict.fromkeys(f.hex for f in query)), threshold)
        by_video: dict[int, list[tuple[int, int]]] = defaultdict(list)  # slot -> [(row, dist)]
        for row, dist in hits:
            by_video[self._rows[row][0]].append((row, dist))
        if not by_video:
            return []
        # 2. which query frames those known frames reach (the relation is symmetric)
        query_index = NearIndex()
        query_index.add([f.hex for f in query], list(range(len(query))))
        out = []
        for slot, known_hits in by_video.items():
            known_frames = [self._rows[row][1] for row, _ in known_hits]
            matched_q = query_index.search([f.hex for f in known_frames], threshold)
            q_frames = [query[i] for i, _ in matched_q]
            if len(q_frames) < max(1, min_frames):
                continue
            q_share = len(q_frames) / len(query)
            k_share = len(known_hits) / self._trusted_frames[slot]
            if q_share < min_query_share and k_share < min_known_share:
                continue
            q_times = [f.timestamp for f in q_frames]
            k_times = [f.timestamp for f in known_frames]
            out.append(VideoMatch(
                video_id=self._videos[slot], query_share=q_share, known_share=k_share,
                frames_matched=len(q_frames), known_frames_matched=len(known_hits),
                distance=min(d for _, d in known_hits),
                query_span=(min(q_times), max(q_times)), known_span=(min(k_times), max(k_times)),
            ))
        out.sort(key=lambda m: (-max(m.query_share, m.known_share), m.distance, str(m.video_id)))
        return out

    def match_image(self, hexes: list[str], threshold: int = DEFAULT_THRESHOLD) -> list[KnownFrame]:
        """Known video frames matching a queried image (give its dihedral/query hashes).

        One per known video, at its best frame, best first.
        """
        best: dict[int, tuple[int, VideoFrameHash]] = {}
        for row, dist in self._index.search(hexes, threshold):
            slot, frame = self._rows[row]
            if slot not in best or dist < best[slot][0]:
                best[slot] = (dist, frame)
        out = [KnownFrame(self._videos[s], f.frame, f.timestamp, d) for s, (d, f) in best.items()]
        out.sort(key=lambda k: (k.distance, str(k.video_id)))
        return out


def frame_links(index: NearIndex, frames: Iterable[FrameLike], threshold: int = DEFAULT_THRESHOLD,
                *, min_quality: int = MIN_TRUSTED_QUALITY) -> list[FrameLink]:
    """Entries of an image `index` (e.g. known images) that appear as frames of a video.

    One batched search decides whether anything matches at all (the usual answer is no); only
    then is each frame searched alone to say where the image appears. Best distance first.
    """
    query = _trusted(frames, min_quality)
    if not query or len(index) == 0:
        return []
    unique = list(dict.fromkeys(f.hex for f in query))
    hits = {entry for entry, _ in index.search(unique, threshold)}
    if not hits:
        return []
    found: dict[int, list[tuple[int, VideoFrameHash]]] = defaultdict(list)
    for f in query:
        for entry, dist in index.search([f.hex], threshold):
            if entry in hits:
                found[entry].append((dist, f))
    out = []
    for entry, pairs in found.items():
        first = min(pairs, key=lambda p: p[1].frame)[1]
        best = min(d for d, _ in pairs)
        out.append(FrameLink(entry, first.frame, first.timestamp, best, len(pairs)))
    out.sort(key=lambda link: (link.distance, link.entry_id))
    return out
