"""The known hashes a case's scan matches against (`CaseHashSets`), loaded once per scan.

One index per signal type (`haven.match.index`): `ExactIndex` per digest type (a dict, or a
sorted `DigestTable` from `EXACT_TABLE_MIN` digests: ~10x less RAM, same answers), `NearIndex`
for PDQ (flat scan when small, exact multi-index segments when large; issue 7) and
`VideoLibrary` for known videos' frames; attached national libraries
(`haven.library.national.NationalLibrary`) answer through the same per-type call. `decide()` turns an
item's matches into its one finding.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from haven import signals
from haven.match.index import EXACT_TABLE_MIN, ExactIndex
from haven.store.case import CaseStore

if TYPE_CHECKING:
    from haven.store.models import MatchRow

__all__ = ["CaseHashSets", "EXACT_TABLE_MIN", "EntryRef", "Match", "MatchLibrary", "decide"]


@dataclass(frozen=True)
class EntryRef:
    entry_id: int
    hashset_id: int
    hashset: str
    known_good: bool
    category: str | None
    scheme: str | None
    series: str | None
    version: int | None = None  # of the hash set the entry came from


@dataclass(frozen=True)
class Match:
    entry: EntryRef
    signal_type: str  # a registered signal type (haven.signals)
    distance: int = 0
    matched_signal: str | None = None  # which enrolled hash matched, or where in a video
    query_share: float | None = None  # vPDQ: share of the item's frames matched
    known_share: float | None = None  # vPDQ: share of the known video's frames matched

    def row_values(self) -> dict:
        """The stored form (a `matches` row but its item): the entry's labels and its set's
        version are copied, so a finding keeps its evidence when the set changes later."""
        e = self.entry
        return dict(
            hashset_id=e.hashset_id, entry_id=e.entry_id, signal_type=self.signal_type,
            distance=self.distance, hashset=e.hashset, hashset_version=e.version,
            known_good=e.known_good, category=e.category, scheme=e.scheme, series=e.series,
            matched_signal=self.matched_signal, query_share=self.query_share,
            known_share=self.known_share,
        )

    def to_row(self) -> MatchRow:
        """`row_values` as a model row."""
        from haven.store.models import MatchRow

        return MatchRow(**self.row_values())

    @classmethod
    def from_row(cls, row: MatchRow) -> Match:
        entry = EntryRef(row.entry_id, row.hashset_id, row.hashset, row.known_good, row.category,
                         row.scheme, row.series, row.hashset_version)
        return cls(entry, row.signal_type, row.distance, row.matched_signal, row.query_share,
                   row.known_share)


class CaseHashSets:
    """All entries of the chosen hash sets of a case (plus attached national libraries), one
    index per signal type; `match` answers one item."""

    def __init__(self, store: CaseStore, names: list[str] | None = None, threshold: int = 31,
                 libraries: list | None = None, *, entries=None,
                 library_floors: list[int] | None = None, hypotheses: bool = True):
        """`entries` (an SQL condition on `HashEntryRow`) and `library_floors` (per library,
        only entry ids above it) narrow the library to part of its entries: re-matching
        (`haven.match.rematch`) matches items against what changed only. `hypotheses`: False
        leaves the hash-only framing hypotheses out (re-matching, when the whole case's PDQ
        hashes exceed `framing.MAX_ROWS`: a scan would not run them)."""
        self.threshold = threshold
        #: national libraries (`haven.library.national.NationalLibrary`) consulted after the case's sets
        self.libraries = list(libraries or ())
        self._store = store
        self._lib_sets: list[dict[int, int]] = [lib.attach(store) for lib in self.libraries]
        self.library_floors = list(library_floors or [0] * len(self.libraries))
        digest_names = [t.name for t in signals.digest_types()]
        #: one exact index per digest type, answering entry ids (EntryRefs through `refs`)
        self.exact: dict[str, ExactIndex] = {d: ExactIndex(d) for d in digest_names}
        self.refs: dict[int, EntryRef] = {}
        # FAISS (the near index) and PyAV (video frames) are imported only for sets that
        # hold such hashes: a scan against digests alone never loads them
        self.near = _NO_HASHES
        self.video = _NO_HASHES
        self.framing = _NO_HASHES  # haven.match.framing.FramingIndex over the known PDQs
        #: the known PDQ hashes when more than `framing.MAX_ROWS` kept the hypotheses out
        #: (0 otherwise): said to the user, since edited copies are then found less often
        self.framing_capped = 0
        #: PDQ rows of the attached national libraries: matched as they are (rotations and
        #: mirrors included), never with the hash-only hypotheses, which search case sets only
        self.library_pdqs = sum(s.n for lib in self.libraries for s in getattr(lib, "segments", ()))
        self.framing_ids: list[int] = []
        self.hashset_names: list[str] = []
        if not names and entries is None and not store.has_hash_sets():
            self._tabulate()
            return  # nothing to load (and SQLAlchemy stays unimported)
        from sqlalchemy import select

        from haven.store.models import HashEntryRow, HashSet

        with store.session() as s:
            q = select(HashSet)
            if names:
                q = q.where(HashSet.name.in_(names))
            sets = {hs.id: hs for hs in s.scalars(q)}
            missing = set(names or ()) - {hs.name for hs in sets.values()}
            if missing:
                from haven.errors import CaseStoreError

                known = ", ".join(sorted(h.name for h in store.hashsets())) or "none"
                raise CaseStoreError(
                    f"no hash set named {', '.join(sorted(missing))} in this case (have: {known})"
                )
            self.hashset_names = sorted(hs.name for hs in sets.values())
            near_hexes: list[str] = []
            near_ids: list[int] = []
            near_tags: list[str] = []
            videos: list[tuple[int, list]] = []
            rows = s.execute(
                select(
                    HashEntryRow.id, HashEntryRow.hashset_id, HashEntryRow.pdq,
                    HashEntryRow.category, HashEntryRow.scheme, HashEntryRow.series,
                    HashEntryRow.extra, *(getattr(HashEntryRow, d) for d in digest_names),
                ).where(HashEntryRow.hashset_id.in_(list(sets)),
                        *([entries] if entries is not None else []))
            )
            for eid, hsid, pdq, category, scheme, series, extra, *digests in rows:
                hs = sets[hsid]
                ref = EntryRef(eid, hsid, hs.name, hs.known_good, category, scheme or hs.scheme,
                               series, hs.version)
                self.refs[eid] = ref
                for name, value in zip(digest_names, digests):
                    if value:
                        self.exact[name].add_one(value, eid)
                if hs.known_good:
                    continue  # known-good sets exclude exact copies only
                if pdq:
                    near_hexes.append(pdq)
                    near_ids.append(eid)
                    near_tags.append("pdq")
                    for tag, extra_hex in (extra or {}).get("pdq_enrolment", {}).items():
                        near_hexes.append(extra_hex)
                        near_ids.append(eid)
                        near_tags.append(tag)
                if extra and extra.get("vpdq"):
                    videos.append((eid, extra["vpdq"]))
            if videos:
                from haven.match.video import VideoLibrary

                self.video = VideoLibrary()
                for eid, frames in videos:
                    self.video.add_video(eid, frames)
            if near_hexes:
                from haven.match.framing import MAX_ROWS, FramingIndex
                from haven.match.near import NearIndex, hexes_to_codes

                # hash-only hypotheses rebuild a known picture's whole frame: its own PDQ
                own = [k for k, tag in enumerate(near_tags) if tag == "pdq"]
                if hypotheses and len(own) <= MAX_ROWS:  # flat: larger sets get plain PDQ
                    self.framing = FramingIndex(hexes_to_codes([near_hexes[k] for k in own]))
                    self.framing_ids = [near_ids[k] for k in own]
                elif hypotheses:
                    self.framing_capped = len(own)

                self.near = NearIndex()
                self.near.add(near_hexes, near_ids, near_tags)
                self.near.compact()  # one segment for the whole library before scanning
        self._tabulate()

    def _tabulate(self) -> None:
        """Swap large digest dicts for sorted tables (`ExactIndex.freeze`)."""
        for index in self.exact.values():
            index.freeze()

    def __len__(self) -> int:
        return len(self.refs) + sum(lib.stats()["entries"] for lib in self.libraries)

    @property
    def searches_framing(self) -> bool:
        """Whether `match` uses an image's luminance grid (`framing`): only with hash-only
        framing hypotheses over the case's PDQ hashes (`haven.match.framing`)."""
        return len(self.framing) > 0

    @property
    def extra_digests(self) -> tuple[str, ...]:
        """The digest types a scan does not compute for every item (`scanned = False`: SHA-512)
        that these hash sets or an attached national library hold at least one value of: a
        scan computes them too (`haven.scan.analyse.analyse`, `extra_digests`), in the same
        read, so an item listed by them alone is found; sets without them cost nothing more."""
        return tuple(
            t.name for t in signals.digest_types()
            if not t.scanned and (len(self.exact[t.name]) > 0
                                  or any(lib.digests.holds(t.name) for lib in self.libraries))
        )

    def _lib_ref(self, k: int, lab) -> EntryRef:
        return EntryRef(lab.entry_id, self._lib_sets[k][lab.set_id], lab.hashset, lab.known_good,
                        lab.category, lab.scheme, lab.series, lab.hashset_version)

    def refresh(self) -> bool:
        """Take in what other processes changed in the national libraries (new sets, retractions,
        compactions: `NationalLibrary.refresh`), registering new sets in the case; True if any did.
        Call it outside an open case-store transaction."""
        changed = False
        for k, lib in enumerate(self.libraries):
            if lib.refresh():
                self._lib_sets[k] = lib.attach(self._store)
                changed = True
        return changed

    def match(self, digests: dict[str, str | None], query_hexes: list[str],
              video_frames: list[list] | None = None, *, framing: bytes | None = None
              ) -> list[Match]:
        """Exact matches on any digest, then perceptual ones (skipping entries already matched).

        `query_hexes` are an image's query hashes (PDQ, dihedral); `video_frames` a video's
        vPDQ rows. Images are also looked up among known video frames, and videos among known
        images (a known image seen as a frame). `framing` (`Analysis.framing`, `Item.pack`) adds the
        hash-only hypotheses of `haven.match.framing` against the case's hash sets.
        """
        out: list[Match] = []
        seen: set[tuple[int, int]] = set()  # (hash set, entry): library ids restart at 1

        def add(m: Match) -> None:
            key = (m.entry.hashset_id, m.entry.entry_id)
            if key not in seen:
                seen.add(key)
                out.append(m)

        for name, index in self.exact.items():
            value = digests.get(name)
            if not value:
                continue
            for eid in index.get(value):
                add(Match(self.refs[eid], name))
            for k, lib in enumerate(self.libraries):
                for lab, _ in lib.matches(name, [value]):
                    if lab.entry_id > self.library_floors[k]:
                        add(Match(self._lib_ref(k, lab), name))

        if query_hexes and len(self.near):
            from haven.match.how import matched_signal, query_tag

            # search_hits is sorted by distance: the first row of an entry is its best one
            for eid, dist, tag, k in self.near.search_hits(query_hexes, self.threshold):
                add(Match(self.refs[eid], "pdq", dist, matched_signal(tag, query_tag(k))))
        if framing is not None and len(self.framing):
            from haven.match.framing import Item
            from haven.match.how import matched_signal

            for hit in self.framing.search(Item.unpack(framing)):
                add(Match(self.refs[self.framing_ids[hit.row]], "pdq", hit.distance,
                          matched_signal("pdq", hit.tag)))
        if query_hexes:
            for k, lib in enumerate(self.libraries):
                for lab, dist in lib.matches("pdq", query_hexes, self.threshold):
                    if lab.entry_id > self.library_floors[k]:
                        # the national library's search does not say which query hash matched
                        add(Match(self._lib_ref(k, lab), "pdq", dist, "pdq@unrecorded"))
        if query_hexes and len(self.video):
            for k in self.video.match_image(query_hexes, self.threshold):
                add(Match(self.refs[k.video_id], "vpdq", k.distance,
                          f"image is frame {k.frame} ({k.timestamp:.1f}s) of the known video"))
        if video_frames:
            if len(self.video):
                for v in self.video.match(video_frames, self.threshold):
                    add(Match(
                        self.refs[v.video_id], "vpdq", v.distance,
                        f"item {v.query_span[0]:.0f}-{v.query_span[1]:.0f}s ~ known "
                        f"{v.known_span[0]:.0f}-{v.known_span[1]:.0f}s",
                        round(v.query_share, 4), round(v.known_share, 4),
                    ))
            if len(self.near):
                from haven.match.video import frame_links

                trusted = sum(1 for row in video_frames if row[1] >= 50) or 1
                for link in frame_links(self.near, video_frames, self.threshold):
                    add(Match(
                        self.refs[link.entry_id], "vpdq", link.distance,
                        f"known image at frame {link.frame} ({link.timestamp:.1f}s)",
                        round(link.frames / trusted, 4), 1.0,
                    ))
        return out


    @contextmanager
    def searching_on_one_thread(self) -> Iterator[None]:
        """Run the near index's FAISS searches on one thread meanwhile (restored after).

        A scan matches one item at a time while its workers keep every core busy: FAISS's
        OpenMP threads then cost far more than the search (an item's 17 query hashes against
        500 known hashes: 14 ms with two threads, 0.1 ms with one, at load 12), as they do in
        re-matching (`haven.match.rematch`)."""
        if not len(self.near) and not len(self.video):
            yield  # no FAISS index: nothing to set (and FAISS stays unimported)
            return
        import faiss

        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            yield
        finally:
            faiss.omp_set_num_threads(threads)


class _NoHashes:
    """The near index or video library of sets that hold no such hashes: empty, imports nothing."""

    def __len__(self) -> int:
        return 0


_NO_HASHES = _NoHashes()


#: The name this class had before issue 20 (kept while other branches move over).
MatchLibrary = CaseHashSets


def decide(media: str | None, error: str | None, decodable: bool, matches: list[Match]) -> str:
    """The one finding of an item.

    known > near-known > known-good > error > fresh > other: an exact known-abuse match wins
    even when a known-good list carries the same digest (the conflict stays visible in
    `matches`); a corrupt file that still matches a known digest is reported as known.
    """
    near = signals.near_names()
    if any(not m.entry.known_good and m.signal_type not in near for m in matches):
        return "known"
    if any(not m.entry.known_good for m in matches):
        return "near-known"
    if any(m.entry.known_good for m in matches):
        return "known-good"
    if error:
        return "error"
    if decodable and media in ("image", "video"):
        return "fresh"
    return "other"
