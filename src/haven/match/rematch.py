"""Re-matching: the findings of a case follow its known material, without reading evidence.

When a hash set is imported, re-imported (a new version), enrolled from media, or a national
library attached to the case changes (new sets, retractions, a new version of a set), the
findings that change are re-decided from what the scan stored: each item's digests, and the
PDQ hashes it was searched with (`item_queries`, its video frames for a video).

What is looked at is what changed since the case was last matched (`matched_sets` records, per
set, the version and import time matched against, and for a library the highest entry id):

- matches whose entry is gone (no longer listed by the new version, retracted, or its library
  set replaced) are dropped, and their items re-decided;
- entries added since (a new set, the new entries of a re-import, a feed) are looked up:
  items with the same digest (SQL on the items' digest indexes, SHA-512 where the scan kept
  it; the library's digest store), items whose stored query hashes are near a new PDQ or
  video frame (`QueryIndex`), and items whose stored hypothesis data
  (`haven.store.hypotheses`) the hash-only framing hypotheses find near a new PDQ of a case
  set (`FramingIndex` over the added rows, only while the case's own PDQ hashes stay within
  `framing.MAX_ROWS`, as in a scan); those items are matched against the added entries only,
  with the scan's own `MatchLibrary.match` (hypotheses included);
- labels of kept entries (category, series, known-good) are copied onto their matches.

Matching is a union over entries, so old matches that survive plus matches to the added
entries are what a fresh scan would find, and the finding comes from the same `decide()` the
scan uses. A finding that changes is written to `finding_changes` with the reason (which set,
which versions), and every match names its set's version.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

import numpy as np
from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.orm import selectinload

from haven import signals
from haven.match.library import Match, MatchLibrary, decide
from haven.match.queries import HASH_BYTES, QueryIndex, codes_to_hexes
from haven.store.case import CaseStore, utcnow
from haven.store.models import (
    FindingChange,
    HashEntryRow,
    HashSet,
    ItemQueries,
    ItemRow,
    MatchedSet,
    MatchRow,
)

#: items re-decided per transaction
BATCH = 2000
_EPOCH = datetime(1970, 1, 1)


@dataclass
class SetChange:
    """One hash set as re-matching saw it."""

    name: str
    from_version: int | None  # None: never matched before (new set, or an older case store)
    to_version: int
    library: str | None = None  # national library directory, for library sets


@dataclass
class RematchResult:
    sets: list[SetChange] = field(default_factory=list)  # the sets that had changed
    items_checked: int = 0
    matches_removed: int = 0
    matches_added: int = 0
    relabelled: int = 0
    changes: Counter = field(default_factory=Counter)  # "known -> fresh": items
    skipped_libraries: list[str] = field(default_factory=list)  # recorded but not at hand
    #: digest -> items stored without it although entries added now list it (SHA-512: a
    #: scan computes it only when the case's lists hold it); re-matching does not read
    #: evidence, so those items need `haven scan --rehash` to be found by it
    unhashed: dict[str, int] = field(default_factory=dict)
    #: trusted images without stored hypothesis data (scanned before it was kept) while new
    #: PDQ hashes were searched with the hash-only hypotheses: matched with their plain query
    #: hashes only; `haven scan --rehash` searches them with the hypotheses
    without_hypotheses: int = 0
    #: the case's known PDQ hashes when more than `framing.MAX_ROWS` kept the hypotheses out
    #: of this re-match (as out of a scan); 0 otherwise
    framing_capped: int = 0
    seconds: float = 0.0

    @property
    def changed(self) -> int:
        return sum(self.changes.values())


ProgressFn = Callable[[int, int], None]


@dataclass
class _SetState:
    hs: HashSet
    state: MatchedSet | None
    library: int | None  # index into the libraries, for library sets

    @property
    def since(self) -> datetime:
        return self.state.imported_at if self.state is not None else _EPOCH


def _library_max_id(lib) -> int:
    return int(lib.db.execute("SELECT COALESCE(MAX(id), 0) FROM entries").fetchone()[0])


def _live_library_ids(lib, ids: list[int]) -> set[int]:
    live: set[int] = set()
    for start in range(0, len(ids), 900):
        part = ids[start:start + 900]
        rows = lib.db.execute(
            "SELECT e.id FROM entries e JOIN sets s ON s.id = e.set_id WHERE s.state = 'ready' "
            f"AND e.retracted = 0 AND e.id IN ({','.join('?' * len(part))})", part).fetchall()
        live.update(r[0] for r in rows)
    return live


def rematch(store: CaseStore, *, libraries: list | None = None, names: list[str] | None = None,
            threshold: int = 31, full: bool = False,
            on_progress: ProgressFn | None = None) -> RematchResult:
    """Re-decide the findings that the case's changed known material affects (module doc).

    `libraries` are open `HashLibrary` objects (attached to the case as by `scan --library`);
    library sets recorded in the case whose library is not given are left as they are and
    listed in `skipped_libraries`. `names` limits re-matching to those case sets (as the
    scan's `--hashset`; a library's sets are always all matched); `full` treats
    every set as never matched (every entry is looked up again).
    """
    started = time.perf_counter()
    libraries = list(libraries or [])
    result = RematchResult()
    now = utcnow()
    for lib in libraries:
        lib.attach(store)
    roots = {str(lib.root.resolve()): k for k, lib in enumerate(libraries)}

    # -- which sets changed ---------------------------------------------------------------
    with store.session() as s:
        states = {m.hashset_id: m for m in s.scalars(select(MatchedSet))}
        sets: list[_SetState] = []
        for hs in s.scalars(select(HashSet).order_by(HashSet.name)):
            if names and hs.format != "library" and hs.name not in names:
                continue  # a library's sets are always all matched, as in a scan
            k = roots.get(hs.source_path) if hs.format == "library" else None
            if hs.format == "library" and k is None:
                result.skipped_libraries.append(hs.name)
                continue
            sets.append(_SetState(hs, None if full else states.get(hs.id), k))
        any_items = s.scalar(select(ItemRow.id).limit(1)) is not None
    lib_max = [_library_max_id(lib) for lib in libraries]
    changed = [st for st in sets if _changed(st, lib_max)]
    # retractions do not bump a version: a library's matches are always checked for life
    lib_sets = [st for st in sets if st.library is not None]
    if not any_items:
        _record(store, sets, lib_max, now)
        result.sets = [_describe(st, libraries) for st in changed]
        result.seconds = time.perf_counter() - started
        return result

    # -- matches whose entry is gone, and labels of the entries kept ----------------------
    dead: dict[int, list[MatchRow]] = defaultdict(list)  # item id -> its dropped matches
    affected: set[int] = set()
    with store.session() as s, s.begin():
        for st in changed:
            if st.library is not None:
                continue
            gone = select(MatchRow).where(
                MatchRow.hashset_id == st.hs.id,
                ~exists().where(HashEntryRow.id == MatchRow.entry_id,
                                HashEntryRow.hashset_id == st.hs.id,
                                HashEntryRow.added_at <= st.since))
            for m in s.scalars(gone):
                dead[m.item_id].append(m)
            if st.state is not None:
                result.relabelled += _relabel(s, st.hs, affected)
        for st in lib_sets:
            lib = libraries[st.library]
            rows = list(s.scalars(select(MatchRow).where(MatchRow.hashset_id == st.hs.id)))
            live = _live_library_ids(lib, [m.entry_id for m in rows]) if st.state else set()
            for m in rows:
                if m.entry_id not in live:
                    dead[m.item_id].append(m)
    affected.update(dead)

    # -- what was added, and the items it may match ---------------------------------------
    added = [and_(HashEntryRow.hashset_id == st.hs.id, HashEntryRow.added_at > st.since)
             for st in changed if st.library is None]
    floors = []
    for k, lib in enumerate(libraries):
        mine = [st for st in lib_sets if st.library == k]
        floors.append(min((st.state.max_entry_id if st.state else 0) for st in mine)
                      if mine else lib_max[k])
    lib_new = [k for k in range(len(libraries)) if lib_max[k] > floors[k]]
    if added or lib_new:
        affected |= _candidates(store, added, libraries, lib_new, floors, threshold)
        result.unhashed = _unhashed(store, added, libraries, lib_new)

    delta = None
    if added or lib_new:
        from haven.match.framing import MAX_ROWS

        own_pdqs = _own_pdq_count(store, names) if added else 0
        delta = MatchLibrary(store, None, threshold, libraries=libraries,
                             entries=or_(*added) if added else HashEntryRow.id < 0,
                             library_floors=[floors[k] if k in lib_new else lib_max[k]
                                             for k in range(len(libraries))],
                             hypotheses=bool(added) and own_pdqs <= MAX_ROWS)
        if own_pdqs > MAX_ROWS and len(delta.near):
            result.framing_capped = own_pdqs
        if delta.searches_framing:
            found, result.without_hypotheses = _hypothesis_candidates(store, delta)
            affected |= found

    # -- re-decide ------------------------------------------------------------------------
    versions = {st.hs.id: st.hs.version for st in sets}
    todo = sorted(affected)
    # Items are matched one by one against a small delta: FAISS's OpenMP threads cost ~25x
    # more than the search itself there (7.3 vs 0.28 ms for 32 hashes x 500 rows, busy
    # machine), so re-matching runs them on one thread (and FAISS is not even imported when
    # the delta holds no PDQ hashes).
    with delta.searching_on_one_thread() if delta is not None else nullcontext():
        for start in range(0, len(todo), BATCH):
            _redecide(store, todo[start:start + BATCH], dead, delta, versions, result, now)
            if on_progress:
                on_progress(min(start + BATCH, len(todo)), len(todo))
    result.items_checked = len(todo)
    _record(store, sets, lib_max, now, {m.hashset_id for ms in dead.values() for m in ms})
    result.sets = [_describe(st, libraries) for st in changed]
    result.seconds = time.perf_counter() - started
    return result


def _changed(st: _SetState, lib_max: list[int]) -> bool:
    hs, state = st.hs, st.state
    if state is None or state.version != hs.version:
        return True
    if st.library is not None:
        return lib_max[st.library] > state.max_entry_id
    return state.imported_at != hs.imported_at


def _describe(st: _SetState, libraries: list) -> SetChange:
    return SetChange(st.hs.name, st.state.version if st.state else None, st.hs.version,
                     str(libraries[st.library].root) if st.library is not None else None)


def _relabel(s, hs: HashSet, affected: set[int]) -> int:
    """Copy the labels of kept entries onto their matches; items whose known-good flag moves
    are re-decided. Returns the matches whose labels changed."""
    e = HashEntryRow.__table__
    m = MatchRow.__table__
    differs = or_(m.c.category.is_distinct_from(e.c.category),
                  m.c.scheme.is_distinct_from(e.c.scheme),
                  m.c.series.is_distinct_from(e.c.series))
    affected.update(s.scalars(select(MatchRow.item_id).where(
        MatchRow.hashset_id == hs.id, MatchRow.known_good != hs.known_good)))
    n = s.execute(
        update(m).where(m.c.hashset_id == hs.id, m.c.entry_id == e.c.id,
                        e.c.hashset_id == hs.id, differs)
        .values(category=e.c.category, scheme=e.c.scheme, series=e.c.series)
        .execution_options(synchronize_session=False)).rowcount
    s.execute(update(m).where(m.c.hashset_id == hs.id, m.c.entry_id == e.c.id,
                              e.c.hashset_id == hs.id)
              .values(hashset=hs.name, known_good=hs.known_good, hashset_version=hs.version)
              .execution_options(synchronize_session=False))
    return n or 0


def _entry_codes(store: CaseStore, added: list) -> np.ndarray:
    """Every PDQ hash of the added entries: PDQ, enrolment windows, trusted video frames."""
    from haven.signals.vpdq import MIN_TRUSTED_QUALITY

    hexes: list[str] = []
    with store.session() as s:
        rows = s.execute(select(HashEntryRow.pdq, HashEntryRow.extra)
                         .where(or_(*added)).execution_options(yield_per=50_000))
        for pdq, extra in rows:
            if pdq:
                hexes.append(pdq)
            if extra:
                hexes.extend((extra.get("pdq_enrolment") or {}).values())
                hexes.extend(r[2] for r in extra.get("vpdq") or () if r[1] >= MIN_TRUSTED_QUALITY)
    if not hexes:
        return np.empty((0, HASH_BYTES), np.uint8)
    return np.frombuffer(bytes.fromhex("".join(hexes)), np.uint8).reshape(-1, HASH_BYTES)


def _library_codes(lib, floor: int) -> np.ndarray:
    parts = []
    for seg in lib.segments:
        ids = np.asarray(seg.ids)
        keep = ids > floor
        if keep.any():
            parts.append(np.asarray(seg.codes)[keep].view(np.uint8).reshape(-1, HASH_BYTES))
    return np.concatenate(parts) if parts else np.empty((0, HASH_BYTES), np.uint8)


def _item_digests() -> list[str]:
    """The digests items are stored with (every scanned digest type, and SHA-512 where the
    scan computed it), in order."""
    return [t.name for t in signals.item_digests()]


def _unhashed(store: CaseStore, added: list, libraries: list, lib_new: list[int]
              ) -> dict[str, int]:
    """Per digest a scan computes only when asked (SHA-512): when entries added now hold a
    value of it, the items stored without it (scanned while no list held one, or before it
    was kept), which those entries cannot find without reading the evidence again."""
    out: dict[str, int] = {}
    asked = [t.name for t in signals.item_digests() if not t.scanned]
    if not asked:
        return out
    with store.session() as s:
        for name in asked:
            held = any(libraries[k].digests.holds(name) for k in lib_new)
            if not held and added:
                held = s.scalar(select(HashEntryRow.id).where(
                    or_(*added), getattr(HashEntryRow, name).is_not(None)).limit(1)) is not None
            if held:
                n = s.scalar(select(func.count()).select_from(ItemRow).where(
                    ItemRow.sha256.is_not(None), getattr(ItemRow, name).is_(None)))
                if n:
                    out[name] = n
    return out


def _candidates(store: CaseStore, added: list, libraries: list, lib_new: list[int],
                floors: list[int], threshold: int) -> set[int]:
    """Items that may match an added entry: same digest, or a query hash near a new PDQ."""
    found: set[int] = set()
    with store.session() as s:
        if added:
            for name in _item_digests():
                col_e, col_i = getattr(HashEntryRow, name), getattr(ItemRow, name)
                found.update(s.scalars(
                    select(ItemRow.id).join(HashEntryRow, col_i == col_e)
                    .where(or_(*added), col_e.is_not(None))))
        if lib_new:
            names = _item_digests()
            items = s.execute(select(ItemRow.id, *(getattr(ItemRow, d) for d in names))
                              .where(ItemRow.sha256.is_not(None))).all()
            for col, name in enumerate(names, start=1):
                pairs = [(r[0], r[col]) for r in items if r[col]]
                if not pairs:
                    continue
                for k in lib_new:
                    qn, ids = libraries[k].digests.lookup_many(name, [p[1] for p in pairs])
                    hit = qn[ids.astype(np.int64) > floors[k]]
                    found.update(pairs[int(q)][0] for q in np.unique(hit))
    parts = [_entry_codes(store, added)] if added else []
    parts += [_library_codes(libraries[k], floors[k]) for k in lib_new]
    codes = np.concatenate(parts) if parts else np.empty((0, HASH_BYTES), np.uint8)
    if len(codes):
        index = QueryIndex(store.dir)
        index.update(store)
        found |= index.search(codes, threshold)
    return found


def _own_pdq_count(store: CaseStore, names: list[str] | None) -> int:
    """The case sets' own PDQ hashes (not known-good; of `names` when given): a scan searches
    with the hash-only hypotheses while they are at most `framing.MAX_ROWS`."""
    with store.session() as s:
        q = (select(func.count()).select_from(HashEntryRow)
             .join(HashSet, HashSet.id == HashEntryRow.hashset_id)
             .where(HashSet.known_good.is_(False), HashEntryRow.pdq.is_not(None)))
        if names:
            q = q.where(HashSet.name.in_(names))
        return s.scalar(q)


def _hypothesis_candidates(store: CaseStore, delta: MatchLibrary) -> tuple[set[int], int]:
    """Items whose stored hypothesis data the framing hypotheses find near an added PDQ, and
    the trusted images that have none (scanned before it was kept, or damaged)."""
    from haven.errors import HavenError
    from haven.match.framing import Item
    from haven.store.hypotheses import HypothesisStore

    found: set[int] = set()
    searched = 0
    with HypothesisStore(store.dir, create=False) as kept:
        for rows in kept.scan():
            for item_id, data in rows:
                try:
                    item = Item.unpack(data)
                except HavenError:
                    continue  # counted below as an item without it
                searched += 1
                if delta.framing.search(item):
                    found.add(item_id)
    with store.session() as s:
        trusted = s.scalar(select(func.count()).select_from(ItemRow).where(
            ItemRow.pdq_quality >= signals.MIN_TRUSTED_QUALITY, ItemRow.pdq.is_not(None)))
    return found, max(0, trusted - searched)


def _redecide(store: CaseStore, item_ids: list[int], dead: dict[int, list[MatchRow]],
              delta: MatchLibrary | None, versions: dict[int, int], result: RematchResult,
              now: datetime) -> None:
    framing: dict[int, bytes] = {}
    if delta is not None and delta.searches_framing:
        from haven.store.hypotheses import HypothesisStore

        with HypothesisStore(store.dir, create=False) as kept:
            framing = kept.get(item_ids)
    with store.session() as s, s.begin():
        items = s.scalars(select(ItemRow).where(ItemRow.id.in_(item_ids))
                          .options(selectinload(ItemRow.matches)))
        queries: dict[int, tuple[bytes, str]] = {
            q.item_id: (q.codes, q.source)
            for q in s.scalars(select(ItemQueries).where(ItemQueries.item_id.in_(item_ids))
                               .order_by(ItemQueries.id))}
        for row in items:
            lost = dead.get(row.id, [])  # as loaded before labels moved: their old versions
            gone_ids = {m.id for m in lost}
            kept = [m for m in row.matches if m.id not in gone_ids]
            gained: list[Match] = []
            if delta is not None:
                codes, source = queries.get(row.id, (b"", None))
                query_hexes = codes_to_hexes(codes) if source in ("query", "pdq") else []
                have = {(m.hashset_id, m.entry_id) for m in kept}
                for m in delta.match({d: getattr(row, d) for d in _item_digests()}, query_hexes,
                                     row.vpdq if row.vpdq else None,
                                     framing=framing.get(row.id)):
                    if (m.entry.hashset_id, m.entry.entry_id) not in have:
                        have.add((m.entry.hashset_id, m.entry.entry_id))
                        gained.append(m)
            row.matches = kept + [m.to_row() for m in gained]
            result.matches_removed += len(lost)
            result.matches_added += len(gained)
            decodable = row.pdq is not None or bool(row.vpdq)
            finding = decide(row.media, row.error,
                             decodable, [Match.from_row(m) for m in row.matches])
            if finding != row.finding:
                result.changes[f"{row.finding} -> {finding}"] += 1
                s.add(FindingChange(item_id=row.id, changed_at=now, cause="rematch",
                                    old_finding=row.finding, new_finding=finding,
                                    reason=_reason(lost, gained, versions)))
                row.finding = finding


def _reason(lost: list[MatchRow], gained: list[Match], versions: dict[int, int]) -> str:
    parts = []
    for m in lost:
        now_v = versions.get(m.hashset_id)
        was = f"v{m.hashset_version}" if m.hashset_version else "an earlier version"
        where = f"{m.hashset} {was}" + (f"→v{now_v}" if now_v else "")
        parts.append(f"{where}: {m.signal_type} match no longer listed")
    for m in gained:
        d = f" d={m.distance}" if m.signal_type in signals.near_names() else ""
        parts.append(f"{m.entry.hashset} v{m.entry.version}: new {m.signal_type}{d} match")
    return "; ".join(parts) or "labels changed"


def _record(store: CaseStore, sets: list[_SetState], lib_max: list[int], now: datetime,
            lost_matches: set[int] = frozenset()) -> None:
    with store.session() as s, s.begin():
        for st in sets:
            row = s.get(MatchedSet, st.hs.id)
            if row is None:
                row = MatchedSet(hashset_id=st.hs.id)
                s.add(row)
            row.version = st.hs.version
            row.imported_at = st.hs.imported_at
            row.max_entry_id = lib_max[st.library] if st.library is not None else 0
            if row.matched_at is None or _changed(st, lib_max) or st.hs.id in lost_matches:
                row.matched_at = now
        s.execute(delete(MatchedSet).where(~exists().where(HashSet.id == MatchedSet.hashset_id)))
