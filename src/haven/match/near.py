"""PDQ near matching: a Hamming-range index over 256-bit hashes, and the robust method on top.

`NearIndex` answers "which known entries have a hash within `threshold` bits of any of these
query hashes", exactly. Several enrolled hashes may share one entry id (an image's PDQ plus its
crop-window hashes); results come back once per id, at the best distance.

Inside, rows live in an LSM-like stack (issue 7): a small flat tail (FAISS
`IndexBinaryFlat`, brute force, new hashes are searchable the moment `add` returns) and
sealed segments, each an exact multi-index (`haven.match.multiindex`). When the tail reaches
`flat_limit` rows it is sealed; segments of similar size are merged, so a library of n
hashes has O(log n) segments and each row is rebuilt O(log n) times in all. Sealing can run
in a background thread (`background=True`): searches keep using the previous segments and the
tail until the new segment is swapped in.

`RobustPdq` is the matching method haven measures in bench/recall.py and the scan uses: which
hashes to enrol for a known image and which to compute for a queried item.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import faiss
import numpy as np

from haven.errors import HavenError
from haven.match.multiindex import MAX_RADIUS, MultiIndex, flat_search

HASH_BITS = 256
HASH_BYTES = HASH_BITS // 8
#: The upstream PDQ matching threshold (inclusive).
DEFAULT_THRESHOLD = 31
#: Below this many rows a flat scan beats the multi-index (bench/library_pdq.py).
FLAT_LIMIT = 32_768
#: Matches a bounded answer lists at most, best first (`NearIndex.search_bounded`); the total
#: is always counted in full.
MATCH_LIMIT = 100
#: An enrolled hash is "crowded" when it lies in the ball of a crowd of the index
#: (`haven.match.multiindex.find_crowds`: >= 128 rows within 24 bits of one centre) and the
#: crowds holding it have at least this many rows in all (summed over segments): a near-blank
#: or a heavily re-shared image, where a match says little by itself.
CROWD_ROWS = 1_000


class NearIndexError(HavenError):
    """A PDQ hash given to the near index is not 64 hex digits."""


@dataclass(frozen=True, slots=True)
class NearMatch:
    """One entry of a bounded answer."""

    entry_id: int
    distance: int
    #: position in the query hashes of the hash that gave the best distance
    query: int
    #: the enrolled hash's tag (e.g. `pdq-c84`), None for a plain hash
    tag: str | None
    #: the enrolled hash sits in a crowded spot of the library (see `CROWD_ROWS`)
    crowded: bool


@dataclass(frozen=True, slots=True)
class NearAnswer:
    """A bounded answer: the best `limit` entries and how many there are in all."""

    #: best first (distance, then entry id), at most the limit asked for
    matches: list[NearMatch]
    #: distinct entries within the threshold, all of them (exact, not estimated)
    total: int

    @property
    def truncated(self) -> bool:
        """More entries matched than are listed."""
        return self.total > len(self.matches)


@dataclass(frozen=True, slots=True)
class NearRows:
    """A bounded answer as arrays, one element per listed entry (best first, as `NearAnswer`):
    for callers that turn many matches into something else without one object per match."""

    ids: np.ndarray  # int64 entry ids
    distances: np.ndarray  # int64
    queries: np.ndarray  # int64 position of the query hash that gave the best distance
    tag_codes: np.ndarray  # numbers into the index's tag names
    crowded: np.ndarray  # bool
    total: int
    #: (ids, distances) of the entries within reach that are not listed, in no order; only
    #: when asked for (`search_bounded_rows(with_rest=True)`), else None
    rest: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def truncated(self) -> bool:
        return self.total > len(self.ids)


def hexes_to_codes(hexes: list[str]) -> np.ndarray:
    """64-hex PDQ hashes as an (n, 32) uint8 array of packed bits, as FAISS wants them."""
    try:
        raw = bytes.fromhex("".join(hexes))
        ok = len(raw) == HASH_BYTES * len(hexes) and all(len(h) == 2 * HASH_BYTES for h in hexes)
    except (TypeError, ValueError):
        ok = False
    if ok:
        return np.frombuffer(raw, dtype=np.uint8).reshape(len(hexes), HASH_BYTES).copy()
    for value in hexes:  # find the culprit for the message
        try:
            good = len(bytes.fromhex(value)) == HASH_BYTES
        except (TypeError, ValueError):
            good = False
        if not good:
            raise NearIndexError(f"not a PDQ hash (need 64 hex digits): {value!r}")
    raise NearIndexError("not PDQ hashes (need 64 hex digits each)")


@dataclass(frozen=True)
class _Segment:
    start: int  # first global row
    index: MultiIndex


@dataclass(frozen=True)
class _View:
    """What a search reads: swapped as a whole, so a search never sees half a seal."""

    segments: tuple[_Segment, ...]
    tail_start: int
    tail: faiss.IndexBinaryFlat  # rows tail_start .. tail_start + tail.ntotal - 1


class _Growable:
    """An append-only numpy array with amortised O(1) appends."""

    def __init__(self, dtype, width: int | None = None) -> None:
        shape = (1024,) if width is None else (1024, width)
        self._data = np.empty(shape, dtype=dtype)
        self.n = 0

    def extend(self, values: np.ndarray) -> None:
        need = self.n + len(values)
        if need > len(self._data):
            grown = np.empty((max(need, 2 * len(self._data)),) + self._data.shape[1:],
                             dtype=self._data.dtype)
            grown[:self.n] = self._data[:self.n]
            self._data = grown
        self._data[self.n:need] = values
        self.n = need

    def view(self) -> np.ndarray:
        return self._data[:self.n]


class NearIndex:
    """Exact Hamming-range search over PDQ hashes, many hashes per id allowed.

    Rows below `flat_limit` are scanned flat; larger sets go to multi-index segments (exact
    up to distance 31; a larger threshold falls back to a flat scan). `add` may be called at
    any time, also while other threads search.
    """

    def __init__(self, *, flat_limit: int = FLAT_LIMIT, background: bool = False,
                 n_chunks: int | None = None) -> None:
        self.flat_limit = flat_limit
        self.background = background
        self.n_chunks = n_chunks
        self._lock = threading.Lock()
        self._codes = _Growable(np.uint8, HASH_BYTES)  # rows not yet in a segment live here too
        self._ids = _Growable(np.int64)
        self._tag_codes = _Growable(np.int32)
        self._tag_names: list[str | None] = [None]
        self._tag_number: dict[str | None, int] = {None: 0}
        self._view = _View((), 0, faiss.IndexBinaryFlat(HASH_BITS))
        self._sealing: threading.Thread | None = None
        # True while every row has its own id, added in increasing order (the service's one
        # PDQ per entry): a bounded answer then counts rows, without de-duplicating ids
        self._one_row_per_id = True
        # each row's crowded flag once worked out (-1: not yet), for one set of segments: the
        # same crowd rows head answer after answer near a near-blank spot
        self._crowd_memo: tuple | None = None

    # -- writing -------------------------------------------------------------------------
    def add(self, hexes: list[str], ids: list[int], tags: list[str] | None = None) -> None:
        """Enrol `hexes[k]` under `ids[k]`; `tags` optionally names each hash (e.g. `pdq-c88`)."""
        if len(hexes) != len(ids) or (tags is not None and len(tags) != len(hexes)):
            raise ValueError("hexes, ids (and tags) must have the same length")
        if not hexes:
            return
        self.add_codes(hexes_to_codes(hexes), np.asarray(ids, dtype=np.int64), tags)

    def add_codes(self, codes: np.ndarray, ids: np.ndarray, tags: list[str | None] | None = None
                  ) -> None:
        """`add` for (n, 32) uint8 codes already decoded (bulk loads, benchmarks)."""
        codes = np.ascontiguousarray(codes, dtype=np.uint8).reshape(-1, HASH_BYTES)
        with self._lock:
            if tags is None:
                tag_codes = np.zeros(len(codes), dtype=np.int32)
            else:
                tag_codes = np.fromiter((self._tag(t) for t in tags), dtype=np.int32,
                                        count=len(tags))
            ids = np.asarray(ids, dtype=np.int64)
            if self._one_row_per_id and ids.size:
                last = self._ids.view()[-1] if self._ids.n else None
                self._one_row_per_id = bool((ids[1:] > ids[:-1]).all()
                                            and (last is None or ids[0] > last))
            self._codes.extend(codes)
            self._ids.extend(ids)
            self._tag_codes.extend(tag_codes)
            view = self._view
            view.tail.add(codes)  # searchable from now on
            due = view.tail.ntotal >= self.flat_limit and self._sealing is None
            if due and self.background:
                self._sealing = threading.Thread(target=self._seal, daemon=True)
        if due:
            if self.background:
                self._sealing.start()
            else:
                self._seal()

    def _tag(self, tag: str | None) -> int:
        number = self._tag_number.get(tag)
        if number is None:
            number = self._tag_number[tag] = len(self._tag_names)
            self._tag_names.append(tag)
        return number

    def _seal(self) -> None:
        """Turn the tail into a segment, merging segments of similar size (LSM levels)."""
        try:
            with self._lock:
                view = self._view
                end = self._codes.n
                segments = list(view.segments)
                start = view.tail_start
                codes = self._codes.view()
            # merge while the segment below is not more than twice the size of what we seal
            while segments and segments[-1].index.n <= 2 * (end - start):
                start = segments.pop().start
            # a view, not a copy: if the buffer grows later the segment keeps the old one
            # alive until its next merge, at worst doubling the codes' RAM for a while
            merged = _Segment(start, MultiIndex(codes[start:end], self.n_chunks))
            with self._lock:
                tail = faiss.IndexBinaryFlat(HASH_BITS)
                if self._codes.n > end:  # rows added while we were building
                    tail.add(self._codes.view()[end:])
                self._view = _View(tuple(segments) + (merged,), end, tail)
        finally:
            self._sealing = None

    def wait(self) -> None:
        """Block until a background seal (if any) has been swapped in."""
        thread = self._sealing
        if thread is not None:
            thread.join()

    def compact(self) -> None:
        """Seal everything into one segment now (after a bulk load, before serving).

        Below `flat_limit` rows nothing changes: the flat scan is faster there.
        """
        self.wait()
        with self._lock:
            end = self._codes.n
            codes = self._codes.view()
            if end < self.flat_limit or self.segment_sizes == [end, 0]:
                return
        index = MultiIndex(codes[:end], self.n_chunks)
        with self._lock:
            tail = faiss.IndexBinaryFlat(HASH_BITS)
            if self._codes.n > end:
                tail.add(self._codes.view()[end:])
            self._view = _View((_Segment(0, index),), end, tail)

    # -- reading -------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._ids.n

    @property
    def segment_sizes(self) -> list[int]:
        """Rows per multi-index segment, oldest first, then the flat tail's."""
        view = self._view
        return [s.index.n for s in view.segments] + [int(view.tail.ntotal)]

    @property
    def nbytes(self) -> int:
        """RAM for codes, indexes, ids and tags (the flat tail's FAISS copy and the segments'
        sorted copies of their codes included)."""
        view = self._view
        return int(self._codes._data.nbytes + self._ids._data.nbytes + self._tag_codes._data.nbytes
                   + sum(s.index.nbytes - (s.index.codes.nbytes if s.index.rows is None else 0)
                         for s in view.segments)
                   + view.tail.ntotal * HASH_BYTES)

    def rows(self) -> tuple[np.ndarray, np.ndarray]:
        """(codes (n, 32) uint8, ids (n,)) of every enrolled hash in row order: a read-only
        snapshot for other searches over the same hashes (hash-only framing hypotheses)."""
        with self._lock:
            return self._codes.view(), self._ids.view()

    def search_codes(self, qcodes: np.ndarray, threshold: int = DEFAULT_THRESHOLD, *,
                     with_query: bool = False):
        """(row, best distance) of every enrolled row within `threshold` of any query code.

        `with_query=True` returns (query number, row, distance): which query code gave the
        row its best distance (the lowest number on ties), e.g. which dihedral hash matched.
        """
        view = self._view
        qcodes = np.ascontiguousarray(qcodes, dtype=np.uint8).reshape(-1, HASH_BYTES)
        qnums, rows, dists = [], [], []
        if threshold > MAX_RADIUS and view.segments:
            end = view.tail_start
            q, r, d = flat_search(self._codes.view()[:end].view(np.uint64).reshape(-1, 4),
                                  qcodes, threshold)
            qnums.append(q)
            rows.append(r)
            dists.append(d)
        else:
            for seg in view.segments:
                q, r, d = seg.index.search(qcodes, threshold)
                qnums.append(q)
                rows.append(r + seg.start)
                dists.append(d)
        if view.tail.ntotal:
            # FAISS range search keeps distances strictly below the radius; under the lock
            # because `add` grows the tail in place (it is small: <= flat_limit rows)
            with self._lock:
                lims, d, r = view.tail.range_search(qcodes, int(threshold) + 1)
            qnums.append(np.repeat(np.arange(len(qcodes), dtype=np.int64),
                                   np.diff(lims).astype(np.int64)))
            rows.append(r.astype(np.int64) + view.tail_start)
            dists.append(d.astype(np.int64))
        if not rows:
            empty = np.empty(0, dtype=np.int64)
            return (empty, empty, empty) if with_query else (empty, empty)
        q_a = np.concatenate(qnums).astype(np.int64)
        rows_a, dists_a = np.concatenate(rows), np.concatenate(dists)
        if rows_a.size > 1 and len(qcodes) > 1:  # best distance per row over all query hashes
            # (one query code: segments and tail hold disjoint rows, each reported once)
            order = np.lexsort((q_a, dists_a, rows_a))
            q_a, rows_a, dists_a = q_a[order], rows_a[order], dists_a[order]
            first = np.ones(rows_a.size, dtype=bool)
            first[1:] = rows_a[1:] != rows_a[:-1]
            q_a, rows_a, dists_a = q_a[first], rows_a[first], dists_a[first]
        return (q_a, rows_a, dists_a) if with_query else (rows_a, dists_a)

    def search_bounded(self, query_hexes: list[str], threshold: int = DEFAULT_THRESHOLD,
                       limit: int = MATCH_LIMIT, crowd_rows: int = CROWD_ROWS) -> NearAnswer:
        """The best `limit` entries within `threshold` of any query hash, and how many match.

        For answers that may be huge (a near-blank query matches every near-blank entry):
        the search stays exact and `total` counts every matching entry, but only the best
        `limit` (by distance, then entry id; an entry at its best distance over its hashes
        and the query hashes) are listed, each flagged `crowded` when its hash lies in a
        crowd of `crowd_rows` or more library hashes (`CROWD_ROWS`). Rows still in the flat
        tail (the newest < `flat_limit`) are never flagged.
        """
        rows = self.search_bounded_rows(query_hexes, threshold, limit, crowd_rows)
        names = self._tag_names
        return NearAnswer([NearMatch(int(i), int(d), int(q), names[t], bool(c))
                           for i, d, q, t, c in zip(rows.ids, rows.distances, rows.queries,
                                                    rows.tag_codes, rows.crowded)], rows.total)

    def search_bounded_rows(self, query_hexes: list[str], threshold: int = DEFAULT_THRESHOLD,
                            limit: int = MATCH_LIMIT, crowd_rows: int = CROWD_ROWS,
                            with_rest: bool = False) -> NearRows:
        """`search_bounded` as arrays (`NearRows`): the same entries in the same order;
        `with_rest`: also the ids and distances of the entries within reach not listed."""
        if limit < 0:
            raise ValueError("limit must be >= 0")
        if not query_hexes or len(self) == 0:
            empty = np.empty(0, dtype=np.int64)
            return NearRows(empty, empty, empty, empty, np.zeros(0, dtype=bool), 0)
        view = self._view
        qnums, rows, dists = self.search_codes(hexes_to_codes(query_hexes), threshold,
                                               with_query=True)
        all_ids = self._ids.view()
        # read after the search: it only ever turns False, so True covers every row found
        one_row_per_id = self._one_row_per_id
        if one_row_per_id:
            # ids increase with the row: rows order the hits as their ids do, and only the
            # listed rows' ids are read (a crowded answer has thousands of rows, scattered
            # over the id array: one cache miss each)
            ids = rows
        else:  # best row per id
            ids = all_ids[rows]
            if ids.size > 1:
                order = np.lexsort((rows, dists, ids))
                keep = np.ones(order.size, dtype=bool)
                keep[1:] = ids[order][1:] != ids[order][:-1]
                order = order[keep]
                qnums, rows, dists, ids = qnums[order], rows[order], dists[order], ids[order]
        total = int(ids.size)
        rest = None
        if total > limit:  # the `limit` best without sorting them all
            kth = np.partition(dists, limit - 1)[limit - 1] if limit else -1
            better, tied = np.nonzero(dists < kth)[0], np.nonzero(dists == kth)[0]
            room = limit - better.size  # ties at the cut: the smallest ids
            if tied.size > room:
                tied = tied[np.argpartition(ids[tied], room - 1)[:room]] if room else tied[:0]
            pick = np.concatenate([better, tied])
            if with_rest:
                left = np.ones(total, dtype=bool)
                left[pick] = False
                rest = (all_ids[rows[left]] if one_row_per_id else ids[left], dists[left])
            qnums, rows, dists, ids = qnums[pick], rows[pick], dists[pick], ids[pick]
        elif with_rest:
            rest = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))
        order = np.lexsort((ids, dists))[:limit]
        qnums, rows, dists = qnums[order], rows[order], dists[order]
        ids = all_ids[rows] if one_row_per_id else ids[order]
        return NearRows(ids, dists, qnums, self._tag_codes.view()[rows],
                        self._crowded(view, rows, crowd_rows), total, rest)

    def _crowded(self, view: _View, rows: np.ndarray, crowd_rows: int) -> np.ndarray:
        """Per row: do the crowds holding it have >= `crowd_rows` rows (see `CROWD_ROWS`)?"""
        if rows.size == 0 or not view.segments:
            return np.zeros(rows.size, dtype=bool)
        memo = self._crowd_memo  # 1 byte per row; the crowds change only with the segments
        if memo is None or memo[0] is not view.segments or memo[1] != crowd_rows:
            memo = (view.segments, crowd_rows, np.full(view.tail_start, -1, dtype=np.int8))
            self._crowd_memo = memo
        flags = memo[2]
        known = np.full(rows.size, -1, dtype=np.int8)
        inside = rows < flags.size  # rows added to the tail since have no place in it
        known[inside] = flags[rows[inside]]
        todo = np.nonzero(known < 0)[0]
        if todo.size:
            codes = self._codes.view()[rows[todo]]
            score = np.zeros(todo.size, dtype=np.int64)
            for seg in view.segments:
                score += seg.index.crowd_sizes(codes)
            known[todo] = score >= crowd_rows
            fresh = inside[todo]
            flags[rows[todo[fresh]]] = known[todo[fresh]]  # same values whoever writes them
        return known.astype(bool)

    def search_hits(self, query_hexes: list[str], threshold: int = DEFAULT_THRESHOLD
                    ) -> list[tuple[int, int, str | None, int]]:
        """`search_rows` with, last, the position in `query_hexes` of the hash that matched."""
        if not query_hexes or len(self) == 0:
            return []
        qnums, rows, dists = self.search_codes(hexes_to_codes(query_hexes), threshold,
                                               with_query=True)
        ids = self._ids.view()[rows]
        tag_codes = self._tag_codes.view()[rows]
        order = np.lexsort((rows, ids, dists))
        return [(int(ids[k]), int(dists[k]), self._tag_names[tag_codes[k]], int(qnums[k]))
                for k in order]

    def search_rows(self, query_hexes: list[str], threshold: int = DEFAULT_THRESHOLD
                    ) -> list[tuple[int, int, str | None]]:
        """Every enrolled hash within `threshold` (inclusive) of any query hash.

        Returns (id, distance, tag) per enrolled row at its best distance, sorted by distance.
        """
        return [hit[:3] for hit in self.search_hits(query_hexes, threshold)]

    def search(self, query_hexes: list[str], threshold: int = DEFAULT_THRESHOLD) -> list[tuple[int, int]]:
        """(id, distance) of each id with a hash within `threshold` of any query hash.

        `query_hexes` are usually the 8 dihedral hashes of one item; an id's distance is the
        minimum over all its enrolled hashes and all query hashes. Sorted by distance, then id.
        """
        best: dict[int, int] = {}
        for ident, d, _tag in self.search_rows(query_hexes, threshold):
            if ident not in best:
                best[ident] = d
        return sorted(best.items(), key=lambda t: (t[1], t[0]))


class RobustPdq:
    """haven's near-duplicate method: PDQ plus crop windows, threshold 31 throughout.

    - Known side (`enrolment_hexes`): the image's PDQ, its central 84 % window and a grid of
      225 crop windows (sizes 85/89/93 % per axis, centre shifts 0/±1/±2 %), all under the
      entry's id. Needs the known image itself; hash-only sets enrol their one PDQ hash.
    - Query side (`query_hexes`): 32 hashes, the 8 dihedral PDQ hashes of the item and of
      its central 84, 89 and 93 % windows.
    - Match: any query hash within `threshold` bits of any enrolled hash of an entry.

    bench/recall.py measures exactly this; the scan reaches it through
    `haven.signals.pdq.enrolment_hexes` / `query_hexes` and `NearIndex.search`.
    """

    def __init__(self, threshold: int = DEFAULT_THRESHOLD, *, fast: bool = True) -> None:
        self.threshold = threshold
        self.fast = fast

    def prepare_bytes(self, data: bytes):
        """Decode once; every other method accepts the result (or bytes, an image, a path)."""
        from haven.signals import pdq

        return pdq._prepared(data, self.fast)

    def enrolment_hexes(self, source) -> dict[str, str]:
        from haven.signals import pdq

        return pdq.enrolment_hexes(source, fast=self.fast)

    def query_hexes(self, source) -> list[str]:
        from haven.signals import pdq

        return pdq.query_hexes(source, fast=self.fast)

    def enrol(self, index: NearIndex, source, entry_id: int) -> int:
        """Add one known image's hashes to `index`; returns how many were added."""
        hexes = self.enrolment_hexes(source)
        index.add(list(hexes.values()), [entry_id] * len(hexes), list(hexes))
        return len(hexes)

    def search(self, index: NearIndex, source) -> list[tuple[int, int]]:
        """(id, distance) of the known entries matching one item, best first."""
        return index.search(self.query_hexes(source), self.threshold)
