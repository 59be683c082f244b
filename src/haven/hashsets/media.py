"""Known hash sets made from media at hand (a victim-ID library, a series already identified).

Unlike hash-only lists, the images themselves are here, so each is enrolled with PDQ plus the
crop-window hashes of `haven.signals.pdq.enrolment_hexes` (catches copies cropped by a few
percent or carrying a banner, see docs/benchmarks.md), and each video with its vPDQ frames.
"""

from __future__ import annotations

from typing import Callable, Iterable

from haven.evidence.base import Item, Limits, Problem
from haven.evidence.walk import walk
from haven.errors import HavenError
from haven.hashsets.model import HashEntry, ImportResult, Malformed
from haven.signals.digests import digest_bytes
from haven.sniff import HEAD_SIZE, sniff

FORMAT = "media"
MAX_MEDIA_BYTES = 2 * 1024**3  # a known video larger than this is enrolled by digest only


def _entry(item: Item, data: bytes, media: str | None, labels: dict) -> tuple[HashEntry | None, str | None]:
    d = digest_bytes(data)
    entry = HashEntry(**d.values, **labels)
    entry.extra = {"path": item.path, "size": d.size}
    if media == "image":
        from haven.signals import pdq

        try:
            hexes = pdq.enrolment_hexes(data)
            sig = pdq.pdq_from_bytes(data)
        except HavenError as exc:
            return entry, f"{item.path}: image not decodable ({exc}); enrolled by digest only"
        entry.pdq = hexes.pop("pdq")
        entry.extra.update(pdq_quality=sig.quality, pdq_preprocess=sig.preprocess,
                           pdq_enrolment=hexes if sig.trusted else {})
    elif media == "video":
        from haven.signals import vpdq

        try:
            sig = vpdq.vpdq_from_bytes(data)
        except HavenError as exc:
            return entry, f"{item.path}: video not decodable ({exc}); enrolled by digest only"
        entry.extra.update(video_id=item.path, vpdq=vpdq.frames_to_rows(sig.frames),
                           vpdq_preprocess=sig.preprocess)
    return entry, None


def enrol_media(paths: Iterable[str], *, category: str | None = None, scheme: str | None = None,
                series: str | None = None, limits: Limits | None = None,
                on_item: Callable[[str], None] | None = None) -> ImportResult:
    """Every image and video under `paths` (containers included) as a known entry.

    Files that are not media are skipped; unreadable ones and walker problems are reported as
    malformed "lines" numbered by their order in the walk.
    """
    labels = {"category": category, "scheme": scheme, "series": series}
    result = ImportResult(FORMAT, scheme=scheme)
    for n, entry in enumerate(walk(list(paths), limits or Limits()), start=1):
        if isinstance(entry, Problem):
            result.malformed.append(Malformed(n, f"{entry.path}: {entry.kind}: {entry.reason}"))
            continue
        if on_item:
            on_item(entry.path)
        if entry.size is not None and entry.size > MAX_MEDIA_BYTES:
            result.malformed.append(Malformed(n, f"{entry.path}: larger than {MAX_MEDIA_BYTES} bytes; skipped"))
            continue
        try:
            data = entry.read_all()
        except Exception as exc:  # untrusted containers: any read error is reported, not raised
            result.malformed.append(Malformed(n, f"{entry.path}: unreadable ({type(exc).__name__})"))
            continue
        media = sniff(data[:HEAD_SIZE], entry.path).media
        if media is None:
            continue
        hash_entry, problem = _entry(entry, data, media, labels)
        hash_entry.line = n
        result.entries.append(hash_entry)
        if problem:
            result.malformed.append(Malformed(n, problem))
    return result
