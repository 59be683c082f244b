"""The matching API's known hashes (`ServiceHashSets`): the service's hash sets in memory, one
index per signal type (`haven.match.index`: exact digests, PDQ near index).

Loaded from the service tables at start. Hash-set changes reach it at once in the process
that imported them, and within `library_poll_seconds` in every other server worker (and after
a CLI import) through `LibrarySync`, which compares the sets' versions with the ones loaded.
Changes are applied in place (`ServiceHashSets.sync`): new entries appended, removed ones
retired; a lookup reads one build's entries, so it sees the old sets or the new ones, never
half. Every answer carries its evidence: algorithm, hash set name and version,
category, distance, threshold and when the entry was added.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from array import array
from pathlib import Path

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from haven import signals
from haven.hashsets.formats.hma import PYTX_ALIASES
from haven.hashsets.model import ImportResult
from haven.match.index import ExactIndex
from haven.match.near import MATCH_LIMIT, NearIndex
from haven.service import quarantine
from haven.service.answers import AnswerText, EntryInfo, Hits, SetInfo, match_dict, no_hits
from haven.service.accounts import utcnow
from haven.service.errors import BadInput
from haven.service.models import LookupEntry, LookupHashSet
from haven.service.settings import pause_point

#: signal types the matching API answers (every registered type an entry holds) -> hex length
SIGNAL_TYPES = {t.name: t.hex_length for t in signals.entry_types()}
#: retired (deleted or replaced) entries kept filtered in memory before a full rebuild
MAX_RETIRED_SHARE = 0.2
_HEX = re.compile(r"[0-9a-f]+")


def _digest_names() -> list[str]:
    """The exact digests entries hold (md5, sha1, sha256, …), each with its dict."""
    return [t.name for t in signals.digest_types() if t.entry_column]


def check_signal(signal_type: str, signal: str) -> str:
    """The signal in lower-case hex, or BadInput saying what is wrong."""
    st = signal_type.lower()
    if st not in SIGNAL_TYPES:
        raise BadInput(f"signal_type {signal_type[:20]!r} is not one of {', '.join(SIGNAL_TYPES)}")
    value = signal.strip().lower()
    if len(value) != SIGNAL_TYPES[st] or not _HEX.fullmatch(value):
        raise BadInput(f"{st} signal must be {SIGNAL_TYPES[st]} hex characters "
                       f"(got {signal[:80]!r})")
    return value


_log = logging.getLogger("haven.service.lookup")


def set_info(h: LookupHashSet) -> SetInfo:
    return SetInfo(h.name, h.version, h.known_good, h.scheme, h.pdq_threshold, bool(h.negative),
                   tuple(h.suppresses or ()), h.feed or h.format)


def library_stamp(s: Session) -> tuple:
    """What the library was built from: every hash set's (id, version); any change bumps it."""
    return tuple(s.execute(select(LookupHashSet.id, LookupHashSet.version)
                           .order_by(LookupHashSet.id)).all())


def serve_single_threaded() -> None:
    """One OpenMP thread for FAISS in a server process.

    A single-hash search is ~0.1 ms on one thread; with OpenMP's team of threads it measured
    0.7-7 ms on 2 busy cores (the threads spin and wait for each other), which alone capped
    the service below 150 lookups/s. Parallelism comes from server workers instead.
    """
    import faiss

    faiss.omp_set_num_threads(1)


class _Entries:
    """Every entry's evidence in flat arrays, found by entry id.

    A dict of one `EntryInfo` object per entry cost ~160 MB per million entries in every
    worker; these arrays cost ~20 MB. `EntryInfo` is built for the matches only.

    An entry's three numbers (set, category, time) sit side by side (`numbers`, one row of
    12 bytes), and while ids are dense (the usual case: ids count up from 1, few deleted)
    `slot_of` maps an id straight to its row (4 bytes per id up to the largest): a crowded
    answer's 100 entries then cost ~100 cache misses after the index search has evicted
    everything, instead of ~2,000 for binary searches over the ids and three more arrays.
    """

    __slots__ = ("ids", "numbers", "sets", "categories", "times", "_controls", "_slot_of")

    #: ids up to this many times the entry count (plus a million) get the direct map
    DENSE_FACTOR = 4

    def __init__(self, ids, set_of, category_of, time_of, sets, categories, times) -> None:
        self.ids = _int_array(ids, np.int64)
        self.numbers = np.stack([_int_array(set_of, np.int32), _int_array(category_of, np.int32),
                                 _int_array(time_of, np.int32)], axis=1)
        # `categories` numbers (category, series) pairs: both repeat across a set's entries
        self.sets, self.categories, self.times = sets, categories, times
        self._controls: tuple | None = None
        self._slot_of = None
        top = int(self.ids[-1]) if len(self.ids) else 0
        if len(self.ids) and int(self.ids[0]) >= 0 and top <= (
                self.DENSE_FACTOR * len(self.ids) + 1_000_000):
            self._slot_of = np.full(top + 1, -1, dtype=np.int32)
            self._slot_of[self.ids] = np.arange(len(self.ids), dtype=np.int32)

    @property
    def set_of(self) -> np.ndarray:
        return self.numbers[:, 0]

    @property
    def category_of(self) -> np.ndarray:
        return self.numbers[:, 1]

    @property
    def time_of(self) -> np.ndarray:
        return self.numbers[:, 2]

    def __len__(self) -> int:
        return len(self.ids)

    def info(self, entry_id: int) -> EntryInfo | None:
        """The entry's evidence; None when this build does not hold it (an index shared with
        a newer build may already answer ids this one has not loaded)."""
        k = int(np.searchsorted(self.ids, entry_id))
        if k >= len(self.ids) or self.ids[k] != entry_id:
            return None
        category, series = self.categories[self.category_of[k]]
        return EntryInfo(int(entry_id), self.sets[self.set_of[k]], category, series,
                         self.times[self.time_of[k]])

    def positions(self, entry_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position, held here) of each entry id: `info` for many ids in one call (an id
        not held gets some valid position, flagged False)."""
        if not len(self.ids):
            return np.zeros(entry_ids.size, np.int64), np.zeros(entry_ids.size, bool)
        slot_of = self._slot_of
        if slot_of is not None:
            inside = (entry_ids >= 0) & (entry_ids < slot_of.size)
            k = slot_of[np.where(inside, entry_ids, 0)]
            found = inside & (k >= 0)
            return np.where(found, k, 0), found
        k = np.minimum(np.searchsorted(self.ids, entry_ids), len(self.ids) - 1)
        return k, self.ids[k] == entry_ids

    def controls(self, default_threshold: int) -> tuple[np.ndarray, np.ndarray, bool]:
        """Per set number: (PDQ threshold, negative set?), and whether any set is negative.
        Set numbers only grow (a changed set gets a new one), so the table is made once per
        build, for the sets it holds."""
        table = self._controls
        if table is None or table[0] != default_threshold:
            sets = list(self.sets)
            negative = np.array([h.negative for h in sets], dtype=bool)
            table = self._controls = (
                default_threshold,
                np.array([default_threshold if h.threshold is None else h.threshold
                          for h in sets], dtype=np.int64),
                negative, bool(negative.any()))
        return table[1:]


class _Index:
    """The library as one value: the entries (evidence) and the set of retired ids of one
    build, with the exact indexes and PDQ index, which later incremental builds extend in place
    (append only). A hit counts only if this build holds its id and has not retired it."""

    __slots__ = ("exact", "entries", "near", "dead")

    def __init__(self, exact: dict[str, ExactIndex], entries: _Entries, near: NearIndex,
                 dead: frozenset = frozenset()) -> None:
        self.exact, self.entries, self.near, self.dead = exact, entries, near, dead

    def info(self, entry_id: int) -> EntryInfo | None:
        if entry_id in self.dead:
            return None
        return self.entries.info(entry_id)


def _int_array(values, dtype) -> np.ndarray:
    """An `array.array` (zero-copy) or any sequence of ints as a numpy array of `dtype`."""
    if isinstance(values, array):
        return np.frombuffer(values, dtype=dtype) if len(values) else np.zeros(0, dtype)
    return np.asarray(values, dtype=dtype)


def _pdq_bytes(eid: int, pdq: str | None) -> bytes:
    """A stored PDQ hash as 32 bytes; b"" (logged) when it is not 64 hex digits."""
    if not pdq:
        return b""
    try:
        raw = bytes.fromhex(pdq)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        _log.warning("entry %s: stored PDQ %r is not 64 hex digits; skipped", eid, pdq[:80])
        return b""
    return raw


def _numbered(index: dict, values: list, value) -> int:
    k = index.get(value)
    if k is None:
        k = index[value] = len(values)
        values.append(value)
    return k


class ServiceHashSets:
    """All service hash sets, one index per signal type; `match` answers one signal, `reload`
    rebuilds from the tables."""

    def __init__(self, threshold: int = 31, max_matches: int = MATCH_LIMIT) -> None:
        self.threshold = threshold
        self.max_matches = max_matches
        #: the answers' JSON pieces, encoded once (`answers.AnswerText`)
        self.text = AnswerText()
        self._radius = threshold  # the widest PDQ threshold of any set
        self._index = _Index({k: ExactIndex(k) for k in _digest_names()},
                             _Entries(array("q"), array("i"), array("i"), array("i"), [], [], []),
                             NearIndex())
        self.stamp: tuple | None = None
        self.built_at = 0.0
        self._held: frozenset[int] = frozenset()
        self._withheld: tuple = (None, None, np.zeros(0, np.int64))
        self._pending: set[int] = set()  # flagged here, not yet in the flags table
        self._released: dict[int, object] = {}
        self.flags_stamp: tuple | None = None
        #: the flood watch (`quarantine.FloodWatch`) and what to call with entries it flags
        self.flood = None
        self.on_flood = None
        self._reload_lock = threading.Lock()

    def _set_radius(self, hashsets: dict) -> None:
        self._radius = max([self.threshold] + [h.threshold for h in hashsets.values()
                                               if h.threshold is not None])
        self.built_at = time.time()

    def __len__(self) -> int:
        index = self._index
        return len(index.entries) - len(index.dead)

    def sync(self, s: Session) -> bool:
        """Take in hash-set changes since the last build; True when there were any.

        Added and removed entries of the changed sets are applied to the loaded library
        (`_update`: new entries appended to the exact dicts and the PDQ index, removed ones
        retired, the sets' new versions reported); a full rebuild only when a set was deleted
        or retired entries pile up beyond `MAX_RETIRED_SHARE`.
        """
        flags = self._sync_flags(s)
        if library_stamp(s) == self.stamp:
            return flags
        with self._reload_lock:
            if not self._update(s):
                self._reload(s)
        return True

    def reload(self, s: Session) -> None:
        with self._reload_lock:  # two rebuilds at once would only double the memory
            self._reload(s)
        self._sync_flags(s)

    def _reload(self, s: Session) -> None:
        stamp = library_stamp(s)  # read first: rows newer than it only cause one more rebuild
        names = _digest_names()
        exact = {k: ExactIndex(k) for k in names}
        hashsets = {h.id: set_info(h) for h in s.scalars(select(LookupHashSet))}
        ids, set_of, category_of, time_of = array("q"), array("i"), array("i"), array("i")
        set_index: dict = {}
        sets: list = []
        category_index: dict = {}
        categories: list = []
        time_index: dict = {}
        times: list = []
        hs_of = array("i")
        codes, pdq_ids = bytearray(), array("q")
        # Streamed in id order (a server-side cursor on PostgreSQL): no million-row list.
        rows = s.execute(select(LookupEntry.id, LookupEntry.hashset_id, LookupEntry.pdq,
                                LookupEntry.category, LookupEntry.added_at, LookupEntry.series,
                                *(getattr(LookupEntry, k) for k in names))
                         .order_by(LookupEntry.id).execution_options(yield_per=20_000))
        for eid, hsid, pdq, category, added, series, *digests in rows:
            ids.append(eid)
            hs_of.append(hsid)
            set_of.append(_numbered(set_index, sets, hashsets[hsid]))
            category_of.append(_numbered(category_index, categories, (category, series)))
            time_of.append(_numbered(time_index, times, added))
            for name, value in zip(names, digests):
                if value:
                    exact[name].add_one(value, eid)
            raw = _pdq_bytes(eid, pdq)
            if raw:
                codes += raw
                pdq_ids.append(eid)
        near = NearIndex()
        if pdq_ids:
            near.add_codes(np.frombuffer(bytes(codes), dtype=np.uint8).reshape(-1, 32),
                           np.frombuffer(pdq_ids, dtype=np.int64))
            # One search before serving: the index's kernels are compiled (numba) at first use,
            # which otherwise lands on the first lookups as a multi-second delay.
            near.search_bounded(["0" * 64], self.threshold, limit=1)
        entries = _Entries(ids, set_of, category_of, time_of, sets, categories, times)
        self._set_radius(hashsets)
        self._index = _Index(exact, entries, near)  # one assignment: readers never see half
        self._numbering = (set_index, category_index, time_index)
        self._hs_of = np.frombuffer(hs_of, dtype=np.int32) if len(hs_of) else np.zeros(0, np.int32)
        self.stamp = stamp

    def _update(self, s: Session) -> bool:
        """Apply the changed sets' added and removed entries to the loaded library; False
        when only a full rebuild will do (nothing loaded yet, a set deleted, too many retired
        entries)."""
        stamp = library_stamp(s)  # read first: later changes only cause one more update
        if self.stamp is None:
            return False
        old_versions, new_versions = dict(self.stamp), dict(stamp)
        if set(old_versions) - set(new_versions):
            return False  # a set was deleted
        changed = sorted(h for h, v in new_versions.items() if old_versions.get(h) != v)
        index, entries = self._index, self._index.entries
        hashsets = {h.id: set_info(h) for h in s.scalars(select(LookupHashSet))}
        ids = entries.ids
        in_changed = np.isin(self._hs_of, np.asarray(changed, dtype=np.int32))
        in_set = LookupEntry.hashset_id.in_(changed)
        # Entry ids are never handed out twice (PostgreSQL sequences; SQLite AUTOINCREMENT,
        # migration 0003), so an id names one entry for good.
        top = int(ids[-1]) if len(ids) else 0
        live = in_changed & ~np.isin(ids, np.fromiter(index.dead, np.int64, len(index.dead)))
        n_old = s.scalar(select(func.count(LookupEntry.id)).where(in_set, LookupEntry.id <= top))
        if n_old == int(live.sum()):
            # appends only (a feed): every loaded row is still there; read the newer rows only
            removed, added, new_rows_where = set(), None, LookupEntry.id > top
        else:
            loaded = set(ids[in_changed].tolist())
            current = set(s.scalars(select(LookupEntry.id).where(in_set)).all())
            removed, added = loaded - current, current - loaded
            new_rows_where = LookupEntry.id.in_(added) if len(added) <= 500 else None
        dead = index.dead | removed
        if len(dead) > MAX_RETIRED_SHARE * max(len(ids), 1):
            return False
        set_index, category_index, time_index = self._numbering
        sets, categories, times = entries.sets, entries.categories, entries.times
        set_of = np.array(entries.set_of, dtype=np.int32)
        for h in changed:  # every entry of a changed set now reports its new version
            set_of[in_changed & (self._hs_of == h)] = _numbered(set_index, sets, hashsets[h])
        fresh, digests = [], []  # (id, set id, set, category, time); (kind, digest, id)
        names = _digest_names()
        query = select(LookupEntry.id, LookupEntry.hashset_id, LookupEntry.pdq,
                       LookupEntry.category, LookupEntry.added_at, LookupEntry.series,
                       *(getattr(LookupEntry, k) for k in names)).where(in_set)
        if new_rows_where is not None:
            query = query.where(new_rows_where)
        rows = s.execute(query.order_by(LookupEntry.id).execution_options(yield_per=20_000))
        codes, pdq_ids = bytearray(), array("q")
        for eid, hsid, pdq, category, added_at, series, *values in rows:
            if added is not None and eid not in added:
                continue
            fresh.append((eid, hsid, _numbered(set_index, sets, hashsets[hsid]),
                          _numbered(category_index, categories, (category, series)),
                          _numbered(time_index, times, added_at)))
            raw = _pdq_bytes(eid, pdq)
            if raw:
                codes += raw
                pdq_ids.append(eid)
            digests += [(kind, value, eid) for kind, value in zip(names, values) if value]
        # the new build's entries first, then the shared dicts and index (append only): a
        # reader of the old build skips ids it does not hold
        all_ids = np.concatenate([ids, np.asarray([r[0] for r in fresh], dtype=np.int64)])
        order = np.argsort(all_ids, kind="stable")

        def merged(old, col, dtype=np.int32):
            return np.concatenate([np.asarray(old, dtype=dtype),
                                   np.asarray([r[col] for r in fresh], dtype=dtype)])[order]

        new_entries = _Entries(array("q", all_ids[order].tobytes()), merged(set_of, 2),
                               merged(entries.category_of, 3), merged(entries.time_of, 4),
                               sets, categories, times)
        self._hs_of = merged(self._hs_of, 1)
        self._set_radius(hashsets)
        self._index = _Index(index.exact, new_entries, index.near, frozenset(dead))
        for kind, value, eid in digests:
            index.exact[kind].add_one(value, eid)
        if pdq_ids:
            index.near.add_codes(np.frombuffer(bytes(codes), dtype=np.uint8).reshape(-1, 32),
                                 np.frombuffer(pdq_ids, dtype=np.int64))
        self.stamp = stamp
        return True

    def match(self, signal_type: str, value: str, query_hexes: list[str] | None = None) -> list[dict]:
        """The matches of one signal (see `answer`), best first."""
        return self.answer(signal_type, value, query_hexes)[0]

    def answer(self, signal_type: str, value: str,
               query_hexes: list[str] | None = None) -> tuple[list[dict], bool, int]:
        """(matches best first, truncated, within reach) of one signal (see `hits`)."""
        hits = self.hits(signal_type, value, query_hexes)
        return hits.dicts(), hits.truncated, hits.reach

    def hits(self, signal_type: str, value: str, query_hexes: list[str] | None = None) -> Hits:
        """The entries one signal matches, best first, controls applied (`answers.Hits`).

        PDQ: the index is searched to the widest threshold any set asks for; `within reach`
        counts every entry it found, exactly, before the controls. Each hit counts only within
        its own set's threshold; entries held in quarantine or retired are left out; a hit in
        a negative set (anywhere within reach) removes the hits of the sets it suppresses, and
        is never an answer itself. Of the entries left, the best `max_matches` are listed, and
        `truncated` says the list stopped there while entries behind the last one listed were
        within reach (the index lists the best `max_matches`, then looks further only when
        the controls left fewer). The entries answered are shown to the flood watch.

        Done on arrays for all the hits at once: a crowded query lists 100 entries, and one
        Python step per entry and control cost more than the search.
        """
        index, held = self._index, self._held
        near_type = signal_type in signals.near_names()
        if not near_type:
            exact = index.exact.get(signal_type)
            ids = np.asarray(exact.get(value) if exact is not None else [], dtype=np.int64)
            if not ids.size:
                return no_hits(signal_type, 0, False)
            out = self._answerable(signal_type, index, held, ids,
                                   np.zeros(ids.size, dtype=np.int64), None, int(ids.size),
                                   None)
        elif not len(index.near):
            return no_hits(signal_type, crowded=True)
        else:
            # entries held, retired, past their own set's threshold or suppressed still take a
            # place among the best `limit` the index lists: when they leave fewer than
            # `max_matches` while more were within reach, look further (rare: a flood held
            # in a crowded spot, a strict set among loose ones). A negative set's entry
            # anywhere within reach suppresses: with negative sets, the index also hands
            # back the unlisted rest of the reach.
            limit, queries = self.max_matches, query_hexes or [value]
            any_negative = index.entries.controls(self.threshold)[2]
            while True:
                found = index.near.search_bounded_rows(queries, self._radius, limit=limit,
                                                       with_rest=any_negative)
                out = self._answerable(signal_type, index, held, found.ids, found.distances,
                                       found.crowded, found.total, found.rest)
                if not found.truncated or len(out) >= self.max_matches:
                    break
                limit = min(found.total, limit * 4)
        if out.entry_ids and self.flood is not None:
            self._watch(out.entry_ids, f"{signal_type}:{value}")
        return out

    def _answerable(self, signal_type: str, index: _Index, held: frozenset, ids: np.ndarray,
                    distances: np.ndarray, crowded: np.ndarray | None, reach: int,
                    rest: tuple[np.ndarray, np.ndarray] | None) -> Hits:
        """`hits` of the entries an index listed (the first of `reach`, best first; `rest`:
        the others' ids and distances, for negative sets): the controls applied, at most
        `max_matches` of them. `truncated`: the answer stopped at `max_matches` while entries
        behind the last one listed were within reach."""
        if not ids.size:
            return no_hits(signal_type, reach, crowded is not None)
        entries = index.entries
        near_type = crowded is not None
        pos, keep = entries.positions(ids)
        withheld = self._withheld_ids(held, index.dead)
        if withheld.size:
            at = np.minimum(np.searchsorted(withheld, ids), withheld.size - 1)
            keep &= withheld[at] != ids
        numbers = entries.numbers[pos]  # (set, category, time) of each hit: one row each
        set_numbers = numbers[:, 0]
        thresholds, negative, any_negative = entries.controls(self.threshold)
        if near_type:
            limits = thresholds[set_numbers]
            keep &= distances <= limits
        else:
            limits = np.zeros(ids.size, dtype=np.int64)
        if any_negative:
            hit_negative = set(set_numbers[keep & negative[set_numbers]].tolist())
            if rest is not None and rest[0].size:
                hit_negative |= self._negative_sets_hit(index, held, rest, negative, thresholds)
            if hit_negative:
                keep &= self._not_suppressed(set_numbers, hit_negative, negative, entries.sets)
        truncated = False
        if near_type:
            # the best `max_matches` that pass (the list is ordered: the first ones)
            passing = np.flatnonzero(keep)
            if passing.size >= self.max_matches:
                if passing.size > self.max_matches:
                    keep[passing[self.max_matches]:] = False
                truncated = self.max_matches > 0 and reach > int(passing[self.max_matches - 1]) + 1
        kept = int(np.count_nonzero(keep))
        if not kept:
            return no_hits(signal_type, reach, near_type, truncated)
        if kept < ids.size:
            ids, distances, limits = ids[keep], distances[keep], limits[keep]
            numbers = numbers[keep]
            crowded = None if crowded is None else crowded[keep]
        set_numbers, category_numbers, time_numbers = numbers.T.tolist()
        return Hits(signal_type, ids.tolist(), distances.tolist(), limits.tolist(),
                    None if crowded is None else crowded.tolist(), set_numbers,
                    category_numbers, time_numbers,
                    entries.sets, entries.categories, entries.times, truncated, reach)

    def _withheld_ids(self, held: frozenset, dead: frozenset) -> np.ndarray:
        """The ids never answered (quarantined or retired), sorted: one array per pair of
        sets, remade only when either changes (both are replaced, never changed in place)."""
        cached = self._withheld
        if cached[0] is held and cached[1] is dead:  # the cache holds both: ids never reused
            return cached[2]
        ids = np.sort(np.fromiter(held | dead, dtype=np.int64, count=len(held | dead)))
        self._withheld = (held, dead, ids)
        return ids

    def _negative_sets_hit(self, index: _Index, held: frozenset,
                           rest: tuple[np.ndarray, np.ndarray], negative: np.ndarray,
                           thresholds: np.ndarray) -> set[int]:
        """The negative sets (numbers) with an answerable entry among `rest` (ids,
        distances: entries within reach the index did not list), within the set's own
        threshold."""
        ids, distances = rest
        entries = index.entries
        pos, keep = entries.positions(ids)
        sets = entries.numbers[pos, 0]
        keep &= negative[sets]
        if not keep.any():
            return set()
        keep &= distances <= thresholds[sets]
        withheld = self._withheld_ids(held, index.dead)
        if withheld.size:
            at = np.minimum(np.searchsorted(withheld, ids), withheld.size - 1)
            keep &= withheld[at] != ids
        return set(sets[keep].tolist())

    @staticmethod
    def _not_suppressed(set_numbers: np.ndarray, hit_negative: set[int], negative: np.ndarray,
                        sets: list[SetInfo]) -> np.ndarray:
        """Per hit: not in a negative set nor in a set a negative hit (`hit_negative`: the
        negative sets the query matched) suppresses (all sets when a negative set names
        none)."""
        names: set[str] = set()
        every = False
        for n in hit_negative:
            if sets[n].suppresses:
                names.update(sets[n].suppresses)
            else:
                every = True
        if every:
            return np.zeros(set_numbers.size, dtype=bool)
        allowed = {n: not sets[n].negative and sets[n].name not in names
                   for n in set(set_numbers.tolist())}
        return np.fromiter((allowed[n] for n in set_numbers.tolist()), dtype=bool,
                           count=set_numbers.size)

    def _watch(self, entry_ids: list[int], query: str) -> None:
        flagged = self.flood.observe(entry_ids, query)
        if flagged:
            self._pending |= set(flagged)
            self._held = self._held | frozenset(flagged)  # this worker at once
            if self.on_flood is not None:
                self.on_flood(flagged)

    def hold(self, entry_ids, released: dict | None = None) -> None:
        """Hold from answers the entries the flags table has in quarantine (and those this
        worker flagged that are not written yet); entries released since the last call start
        their flood history afresh."""
        held = frozenset(entry_ids)
        self._pending -= held | set(released or ())  # the table knows them now
        self._held = held | frozenset(self._pending)
        for eid, when in (released or {}).items():
            if self._released.get(eid) != when:
                self._released[eid] = when
                if self.flood is not None:
                    self.flood.forget(eid)

    def _sync_flags(self, s: Session) -> bool:
        stamp = quarantine.flags_stamp(s)
        if stamp == self.flags_stamp:
            return False
        self.hold(*quarantine.held_and_released(s))
        self.flags_stamp = stamp
        return True

    def status(self) -> dict[str, dict]:
        """HMA's index status per signal type: present, built_to (Unix time), size."""
        index = self._index
        sizes = {k: len(v) for k, v in index.exact.items()}
        for name in signals.near_names():
            if name in SIGNAL_TYPES:
                sizes[name] = len(index.near)
        return {k: {"present": n > 0, "built_to": int(self.built_at) if n else -1, "size": n}
                for k, n in sizes.items()}

    def hma(self, signal_type: str, signal: str) -> tuple[str, str, dict[str, list[dict]], int]:
        """HMA's lookup answer: (type, normalised signal, {bank: [match…]}, match count)."""
        hma_type = PYTX_ALIASES.get(signal_type, signal_type)
        value = check_signal(hma_type, signal)
        matches = self.match(hma_type.lower(), value)
        return hma_type, value, self.hma_banks(matches), len(matches)

    def hma_text(self, signal_type: str, signal: str, banks: set[str] | None = None
                 ) -> tuple[str, str, str, int, int]:
        """`hma` as JSON text, only the `banks` given (all when None): (type, normalised
        signal, `{bank: [match…]}` text, banks in it, matches in it). The same answer as
        `hma_banks` encoded compactly, at a fraction of the CPU (`answers.AnswerText`)."""
        hma_type = PYTX_ALIASES.get(signal_type, signal_type)
        value = check_signal(hma_type, signal)
        body, n_banks, n = self.text.banks(self.hits(hma_type.lower(), value), banks)
        return hma_type, value, body, n_banks, n

    @staticmethod
    def hma_banks(matches: list[dict]) -> dict[str, list[dict]]:
        """Matches grouped by bank (hash set), each with HMA's `bank_content_id` and
        `distance` (a string) beside haven's provenance."""
        banks: dict[str, list[dict]] = {}
        for m in matches:
            banks.setdefault(m["hashset"], []).append(
                {**m, "bank_content_id": m["entry_id"], "distance": str(m["distance"])})
        return banks

    def match_analysis(self, analysis) -> list[dict]:
        """Matches of an uploaded file: its digests, then PDQ near matches."""
        out, seen = [], set()
        for st in signals.scanned_digests():
            name = st.name
            value = getattr(analysis, name)
            for m in self.match(name, value) if value else []:
                if m["entry_id"] not in seen:
                    seen.add(m["entry_id"])
                    out.append(m)
        if analysis.pdq and analysis.pdq_trusted:
            for m in self.match("pdq", analysis.pdq, analysis.query_hexes or [analysis.pdq]):
                if m["entry_id"] not in seen:
                    seen.add(m["entry_id"])
                    out.append(m)
            out += [m for m in self._framing_matches(analysis) if m["entry_id"] not in seen]
        return out

    def _framing_matches(self, analysis) -> list[dict]:
        """Hash-only hypotheses (`haven.match.framing`): cropped, bannered or logo-marked
        copies of known pictures the library holds only as PDQ; `hypothesis` says which."""
        from haven.match.framing import FAMILIES, MAX_ROWS, FramingIndex, Item

        index = self._index
        near = index.near
        if not getattr(analysis, "framing", None) or not 0 < len(near) <= MAX_ROWS:
            return []
        codes, ids = near.rows()
        out = []
        for hit in FramingIndex(codes).search(Item.unpack(analysis.framing)):
            eid = int(ids[hit.row])
            info = index.info(eid)
            # quarantined entries and negative sets' are never answered, as in `answer`
            if info is not None and eid not in self._held and not info.hashset.negative:
                family = hit.tag.split("-")[0]
                out.append({**match_dict(info, "pdq", hit.distance, FAMILIES[family]),
                            "hypothesis": hit.tag})
        return out


#: The name this class had before issue 20 (kept while other branches move over).
LookupLibrary = ServiceHashSets


class LibrarySync:
    """A thread that keeps one process's library in step with the hash-set tables."""

    def __init__(self, library: ServiceHashSets, sessions, interval: float) -> None:
        self.library, self.sessions, self.interval = library, sessions, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="haven-library-sync",
                                            daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                with self.sessions() as s:
                    if self.library.sync(s):
                        _log.info("hash sets changed: library rebuilt (%d entries)",
                                  len(self.library))
            except Exception:  # noqa: BLE001 - keep serving the library we have
                _log.exception("library sync failed; keeping the current library")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def store_hashset(s: Session, result: ImportResult, *, name: str, source_sha256: str | None,
                  known_good: bool = False, tombstones: list[str] | None = None,
                  append: bool = False, owner: str | None = None,
                  controls: dict | None = None) -> LookupHashSet:
    """Create or update a hash set (version + 1 on every change).

    `append` keeps earlier entries (an incremental feed such as NCMEC's) and removes the
    entries whose source id is tombstoned; otherwise the set is replaced. `owner` (an actor)
    is recorded when the set is created; `controls` (see `apply_controls`) are applied.
    """
    now = utcnow()
    hs = s.scalar(select(LookupHashSet).where(LookupHashSet.name == name))
    if hs is None:
        hs = LookupHashSet(name=name, version=1, format=result.format, scheme=result.scheme,
                           known_good=known_good, source_sha256=source_sha256,
                           imported_at=now, entry_count=0, owner=owner, negative=False)
        s.add(hs)
        s.flush()
    else:
        hs.version += 1
        hs.format, hs.scheme, hs.source_sha256, hs.imported_at = (
            result.format, result.scheme, source_sha256, now)
        if not append:
            s.execute(delete(LookupEntry).where(LookupEntry.hashset_id == hs.id))
    rows = []
    new_ids = set()
    for e in result.entries:
        source_id = (e.extra or {}).get("ncmec_id") or (e.extra or {}).get("id")
        source_id = str(source_id)[:200] if source_id is not None else None
        if source_id:
            new_ids.add(source_id)
        rows.append({"hashset_id": hs.id, **{k: getattr(e, k) for k in SIGNAL_TYPES},
                     "category": (e.category or None) and str(e.category)[:60],
                     "source_id": source_id, "added_at": now,
                     "series": (e.series or None) and str(e.series)[:200]})
    gone = set(tombstones or ()) | (new_ids if append else set())
    if append and gone:  # a re-shared id replaces its old entry; a tombstone deletes it
        ids = sorted(gone)
        for start in range(0, len(ids), 500):
            s.execute(delete(LookupEntry).where(LookupEntry.hashset_id == hs.id,
                                                LookupEntry.source_id.in_(ids[start:start + 500])))
    for start in range(0, len(rows), 20_000):
        s.execute(LookupEntry.__table__.insert(), rows[start:start + 20_000])
        pause_point("hashset.store")  # tests kill the server here, half the rows written
    hs.entry_count = s.scalar(select(func.count(LookupEntry.id))
                              .where(LookupEntry.hashset_id == hs.id)) or 0
    if controls:
        apply_controls(hs, controls, bump=False)
    return hs


PDQ_THRESHOLD_MAX = 63  # searches wider than that return near-random hashes


def apply_controls(hs: LookupHashSet, controls: dict, *, bump: bool = True) -> dict:
    """Set a hash set's matching controls; the changed ones, {name: (old, new)}.

    Keys: `pdq_threshold` (0-63, or None for the service's default), `negative`,
    `suppresses` (set names; empty: every set), `feed`. A change bumps the set's version, so
    every worker's library takes it in (`ServiceHashSets.sync`).
    """
    changed = {}
    for key, value in controls.items():
        if key == "pdq_threshold" and value is not None and not 0 <= value <= PDQ_THRESHOLD_MAX:
            raise BadInput(f"pdq_threshold must be 0 to {PDQ_THRESHOLD_MAX} (or null)")
        if key == "suppresses":
            value = sorted(set(value or []))
        if key == "negative" and not isinstance(value, bool):
            raise BadInput("negative must be true or false")
        old = getattr(hs, key)
        if old != value:
            setattr(hs, key, value)
            changed[key] = (old, value)
    if changed and bump:
        hs.version += 1
    return changed


def import_file(s: Session, path: Path, *, name: str, fmt: str = "auto",
                known_good: bool = False, append: bool = False, owner: str | None = None,
                controls: dict | None = None,
                allow_empty: bool = False) -> tuple[LookupHashSet, ImportResult, int]:
    """Read a hash-set file with haven's readers and store it; the ids the file retracts
    (`ImportResult.tombstones`, e.g. an NCMEC feed's deleted media) delete earlier entries.

    A file that yields no entry (a wrong format, a garbled or empty download) would replace
    the set with nothing: it is refused (`HashSetFormatError`) unless `allow_empty`, or
    `append` (an incremental feed may bring only tombstones)."""
    from haven.hashsets.formats.registry import read_hashset, require_entries

    result = read_hashset(path, fmt)
    if not append:
        require_entries(path, result, allow_empty)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    hs = store_hashset(s, result, name=name, source_sha256=digest, known_good=known_good,
                       tombstones=result.tombstones, append=append, owner=owner,
                       controls=controls)
    return hs, result, len(result.tombstones)


def import_case_store(s: Session, case_dir: Path, names: list[str] | None = None) -> list[LookupHashSet]:
    """Copy hash sets of a haven case store into the service (each under its case name)."""
    from haven.hashsets.model import HashEntry
    from haven.store.case import CaseStore
    from haven.store.models import HashEntryRow, HashSet

    store = CaseStore(case_dir)
    out = []
    try:
        with store.session() as cs:
            q = select(HashSet)
            if names:
                q = q.where(HashSet.name.in_(names))
            for src in cs.scalars(q.order_by(HashSet.name)):
                result = ImportResult(format=src.format, scheme=src.scheme)
                for row in cs.scalars(select(HashEntryRow).where(HashEntryRow.hashset_id == src.id)):
                    result.entries.append(HashEntry(
                        **{k: getattr(row, k) for k in SIGNAL_TYPES}, category=row.category,
                        scheme=row.scheme))
                out.append(store_hashset(s, result, name=src.name,
                                         source_sha256=src.source_sha256,
                                         known_good=src.known_good))
    finally:
        store.close()
    return out
