"""The hash sets a scan matches against, loaded once: exact digests and a PDQ near index.

Exact matching is a dict per digest type; near matching goes through `NearIndex` (FAISS
binary). Issue 7 replaces these internals for national-scale libraries; the interface
(`MatchLibrary.match(analysis)`) stays.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select

from haven.store.case import CaseStore
from haven.store.models import HashEntryRow, HashSet

DIGESTS = ("md5", "sha1", "sha256")


@dataclass(frozen=True)
class EntryRef:
    entry_id: int
    hashset_id: int
    hashset: str
    known_good: bool
    category: str | None
    scheme: str | None
    series: str | None


@dataclass(frozen=True)
class Match:
    entry: EntryRef
    signal_type: str  # md5 | sha1 | sha256 | pdq
    distance: int = 0
    matched_signal: str | None = None  # which enrolled hash matched (e.g. a crop hash)


class MatchLibrary:
    """All entries of the chosen hash sets of a case."""

    def __init__(self, store: CaseStore, names: list[str] | None = None, threshold: int = 31):
        from haven.match.near import NearIndex

        self.threshold = threshold
        self.exact: dict[str, dict[str, list[EntryRef]]] = {d: defaultdict(list) for d in DIGESTS}
        self.refs: dict[int, EntryRef] = {}
        self.near = NearIndex()
        self.hashset_names: list[str] = []
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
            rows = s.execute(
                select(
                    HashEntryRow.id, HashEntryRow.hashset_id, HashEntryRow.md5, HashEntryRow.sha1,
                    HashEntryRow.sha256, HashEntryRow.pdq, HashEntryRow.category,
                    HashEntryRow.scheme, HashEntryRow.series, HashEntryRow.extra,
                ).where(HashEntryRow.hashset_id.in_(list(sets)))
            )
            for eid, hsid, md5, sha1, sha256, pdq, category, scheme, series, extra in rows:
                hs = sets[hsid]
                ref = EntryRef(eid, hsid, hs.name, hs.known_good, category, scheme or hs.scheme, series)
                self.refs[eid] = ref
                for name, value in (("md5", md5), ("sha1", sha1), ("sha256", sha256)):
                    if value:
                        self.exact[name][value].append(ref)
                if pdq and not hs.known_good:
                    near_hexes.append(pdq)
                    near_ids.append(eid)
                    for extra_hex in (extra or {}).get("pdq_enrolment", {}).values():
                        near_hexes.append(extra_hex)
                        near_ids.append(eid)
            if near_hexes:
                self.near.add(near_hexes, near_ids)

    def __len__(self) -> int:
        return len(self.refs)

    def match(self, digests: dict[str, str | None], query_hexes: list[str]) -> list[Match]:
        """Exact matches on any digest, then PDQ near matches (skipping entries already exact)."""
        out: list[Match] = []
        seen: set[int] = set()
        for name in DIGESTS:
            value = digests.get(name)
            if not value:
                continue
            for ref in self.exact[name].get(value, ()):
                if ref.entry_id not in seen:
                    seen.add(ref.entry_id)
                    out.append(Match(ref, name))
        if query_hexes and len(self.near):
            for eid, dist in self.near.search(query_hexes, self.threshold):
                if eid not in seen:
                    seen.add(eid)
                    out.append(Match(self.refs[eid], "pdq", dist))
        return out


def decide(media: str | None, error: str | None, decodable: bool, matches: list[Match]) -> str:
    """The one finding of an item.

    known > near-known > known-good > error > fresh > other: an exact known-abuse match wins
    even when a known-good list carries the same digest (the conflict stays visible in
    `matches`); a corrupt file that still matches a known digest is reported as known.
    """
    if any(not m.entry.known_good and m.signal_type != "pdq" for m in matches):
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
