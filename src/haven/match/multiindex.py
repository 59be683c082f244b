"""Exact Hamming-range search over 256-bit codes by multi-index hashing, in numpy.

Why it is exact: split the 256 bits into `m` disjoint chunks and give chunk i a radius t_i
with sum(t_i) = T - m + 1 (the generalised pigeonhole principle). If two codes differed in
more than t_i bits of every chunk, they would differ in at least sum(t_i + 1) = T + 1 bits; so
two codes within `T` bits agree to within t_i bits on at least one chunk i. For each chunk we
keep a table from chunk value to the rows that have it; a query probes, in table i, each value
within t_i bits of its own chunk (t_i = -1: table i is not probed). Every row within `T` of the
query is reached through at least one table, and every candidate is then verified on all 256
bits, so nothing outside `T` is returned either. (Plain pigeonhole, t_i = T // m everywhere,
probes more: at T = 31, m = 11 it gives every table radius 2 where ten suffice.)

Layout (all flat numpy arrays, no Python objects per row):

- `codes`: (n, 4) uint64, the codes themselves, used only to verify candidates;
- per chunk a CSR table: `offsets` (2**bits + 1 entries) into `postings` (n row numbers,
  grouped by chunk value). The postings of all tables live in one array, so one gather
  fetches the candidates of every probe of every query hash at once.

The number of chunks trades probes against candidates: more, shorter chunks mean fewer probe
values per table but fuller buckets. `choose_chunks` picks it from the table size with a cost
model fitted on this machine (see docs/library.md); benchmarks can force it.

An index is immutable once built; `haven.match.near.NearIndex` stacks several of them (and a
small flat tail) to take appends while serving.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from itertools import combinations
from math import comb

import numpy as np

from haven.match.packed import PackedTables

CODE_BITS = 256
#: Largest threshold an index answers by probing; larger ones need a flat scan.
MAX_RADIUS = 31
#: A crowd: at least this many rows within `CROWD_RADIUS` bits of one centre (a near-blank
#: image, a family of re-shared copies), kept apart from the tables and scanned in order.
CROWD_MIN = 128
CROWD_RADIUS = 24
#: With several threads per search, a crowd this big has its rows shared among them.
CROWD_SPLIT_ROWS = 4096
#: From this many table rows on an index keeps its tables in Elias-Fano form
#: (`haven.match.packed`: ~b + 2 bits a posting, no offsets array) unless told otherwise;
#: None: only when asked (`packed=True`). Off by default: the packed search costs ~2x the
#: CPU (measured, docs/library.md) and the latency targets at 100M come first.
PACKED_MIN_ROWS: int | None = None


def code_words(codes: np.ndarray) -> np.ndarray:
    """(n, 32) uint8 packed codes as (n, 4) uint64 big-endian words (bit 0 = first byte's MSB)."""
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    return codes.view(">u8").astype(np.uint64)


def chunk_layout(m: int) -> list[tuple[int, int]]:
    """(start bit, length) of `m` chunks as equal as possible, covering all 256 bits."""
    if not 1 <= m <= CODE_BITS:
        raise ValueError(f"chunk count must be 1..{CODE_BITS}, got {m}")
    base, extra = divmod(CODE_BITS, m)
    out, start = [], 0
    for k in range(m):
        length = base + (1 if k < extra else 0)
        out.append((start, length))
        start += length
    return out


def chunk_values(words: np.ndarray, start: int, length: int) -> np.ndarray:
    """The `length`-bit chunk beginning at bit `start` of each code, as int64."""
    if length > 32:
        raise ValueError("chunks longer than 32 bits are not supported")
    w, off = divmod(start, 64)
    if off + length <= 64:
        v = words[:, w] >> np.uint64(64 - off - length)
    else:
        head = 64 - off  # bits taken from word w; the rest from the top of word w + 1
        tail = length - head
        v = ((words[:, w] & np.uint64((1 << head) - 1)) << np.uint64(tail)) | (
            words[:, w + 1] >> np.uint64(64 - tail))
    return (v & np.uint64((1 << length) - 1)).astype(np.int64)


def chunk_keys(codes: np.ndarray, start: int, length: int) -> np.ndarray:
    """`chunk_values` straight from (n, 32) uint8 codes, reading only the one or two 64-bit
    words the chunk lies in (building a 100M-row index must not copy all the codes again)."""
    w0, w1 = start // 64, (start + length - 1) // 64
    part = np.ascontiguousarray(codes[:, 8 * w0:8 * (w1 + 1)]).view(">u8").astype(np.uint64)
    return chunk_values(part, start - 64 * w0, length)


@lru_cache(maxsize=None)
def flip_masks(length: int, radius: int) -> np.ndarray:
    """Every `length`-bit value with at most `radius` bits set (XOR masks for probing)."""
    masks = [0]
    for k in range(1, radius + 1):
        for bits in combinations(range(length), k):
            v = 0
            for b in bits:
                v |= 1 << b
            masks.append(v)
    return np.asarray(masks, dtype=np.int64)


def chunk_radii(m: int, threshold: int) -> list[int]:
    """Probe radius of each of `m` chunks for `threshold`: they sum to threshold - m + 1,
    as equal as possible, the larger ones on the later (shorter or equal) chunks; -1 means
    the chunk's table is not probed at all."""
    budget = threshold - m + 1
    base, extra = divmod(budget, m)  # floor division: base may be -1
    return [base + (1 if k >= m - extra else 0) for k in range(m)]


def estimated_cost(n: int, m: int, radius: int = MAX_RADIUS, generalised: bool = True) -> float:
    """Relative per-query-hash cost of `m` chunks over `n` uniform codes (probes + candidates)."""
    lengths = [length for _s, length in chunk_layout(m)]
    radii = chunk_radii(m, radius) if generalised else [radius // m] * m
    probes = sum(sum(comb(length, k) for k in range(r + 1)) for length, r in zip(lengths, radii))
    candidates = sum(sum(comb(length, k) for k in range(r + 1)) * n / 2 ** length
                     for length, r in zip(lengths, radii))
    # a probe is two random reads of the offsets plus numpy bookkeeping; a candidate is one
    # postings read plus one code gather: about the same price (measured, docs/library.md)
    return probes + candidates


def choose_chunks(n: int, radius: int = MAX_RADIUS, max_offset_bytes_per_code: float = 48.0
                  ) -> int:
    """The chunk count with the lowest estimated cost whose offsets stay within budget."""
    best, best_cost = 16, float("inf")
    for m in range(8, 33):
        lengths = [length for _s, length in chunk_layout(m)]
        if max(lengths) > 32:
            continue
        offset_bytes = sum(2 ** length + 1 for length in lengths) * 4
        if offset_bytes > max(64 << 20, max_offset_bytes_per_code * n):
            continue
        # chosen on the plain-pigeonhole cost (every chunk at radius // m), which favours
        # fewer, cheaper offset tables; the generalised radii only lower the cost afterwards
        # (measured choices in docs/library.md: m=16 at 1M, m=11 at 10M and 100M)
        cost = estimated_cost(n, m, radius, generalised=False)
        if cost < best_cost:
            best, best_cost = m, cost
    return best


def leading_order(codes: np.ndarray) -> np.ndarray:
    """The row order that sorts (n, 32) uint8 codes by their first 64 bits (stable).

    Codes in this order are sorted by the first chunk whatever the chunk count, so a
    `MultiIndex(..., presorted=True)` over them needs no postings for that table; a store
    that keeps its own rows (a library segment's codes and ids) saves them in this order.
    """
    first = np.ascontiguousarray(codes, dtype=np.uint8).reshape(-1, CODE_BITS // 8)[:, :8]
    return np.argsort(np.ascontiguousarray(first).view(">u8").ravel(), kind="stable")


def _chunk_masks(chunks: list[tuple[int, int]]) -> np.ndarray:
    """(m, 4) uint64: each chunk's bits as they lie in the native-order code words."""
    out = np.zeros((len(chunks), CODE_BITS // 8), dtype=np.uint8)
    for t, (start, length) in enumerate(chunks):
        bits = np.zeros(CODE_BITS, dtype=np.uint8)
        bits[start:start + length] = 1
        out[t] = np.packbits(bits)
    return out.view(np.uint64).reshape(len(chunks), 4).copy()


def find_crowds(codes: np.ndarray, lead_bits: int, min_rows: int = CROWD_MIN,
                radius: int = CROWD_RADIUS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dense spots of (n, 32) uint8 codes sorted by `leading_order`: (crowd number of each
    row or -1, centres (c, 32) uint8, largest member distance of each crowd).

    Seeds are the full buckets of the leading `lead_bits` bits (>= min_rows / 2 rows and 8x
    the average), fullest first; a seed's centre is the bitwise majority of its rows, and its
    members are the rows not yet taken within `radius` bits of the centre among the buckets
    within 2 bits of the centre's leading bits. A seed with fewer than `min_rows` members
    is dropped (its rows stay in the tables). Which rows end up in a crowd does not affect
    exactness, only speed: a crowd is searched by a scan bounded by its largest distance.
    """
    n = codes.shape[0]
    empty = (np.full(n, -1, dtype=np.int32), np.zeros((0, 32), np.uint8), np.zeros(0, np.int64))
    if n < 4 * min_rows:
        return empty
    keys = chunk_keys(codes, 0, lead_bits)
    offsets = np.zeros(2 ** lead_bits + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=2 ** lead_bits), out=offsets[1:])
    del keys
    counts = np.diff(offsets)
    seeds = np.nonzero(counts >= max(min_rows // 2, 8 * n / 2 ** lead_bits))[0]
    if seeds.size == 0:
        return empty
    seeds = seeds[np.argsort(-counts[seeds], kind="stable")]
    masks = flip_masks(lead_bits, 2)
    c64 = codes.view(np.uint64).reshape(n, 4)
    crowd = np.full(n, -1, dtype=np.int32)
    centres, radii = [], []
    for v in seeds:
        s, e = offsets[v], offsets[v + 1]
        if (crowd[s:e] >= 0).sum() * 2 > e - s:
            continue  # mostly taken by a fuller crowd already
        bits = np.unpackbits(codes[s:e], axis=1)
        centre = np.packbits(bits.sum(axis=0, dtype=np.int64) * 2 > e - s)
        lead = int(code_words(centre[None])[0, 0] >> np.uint64(64 - lead_bits))
        keys = lead ^ masks
        lo, hi = offsets[keys], offsets[keys + 1]
        lens = hi - lo
        if lens.sum() == 0:
            continue
        rows = np.repeat(lo - (np.cumsum(lens) - lens), lens) + np.arange(lens.sum())
        rows = rows[crowd[rows] < 0]
        d = hamming_rows(c64, rows, centre.view(np.uint64).reshape(1, 4),
                         np.zeros(rows.size, dtype=np.int64))
        near = d <= radius
        if near.sum() >= min_rows:
            crowd[rows[near]] = len(centres)
            centres.append(centre)
            radii.append(int(d[near].max()))
    if not centres:
        return empty
    return crowd, np.stack(centres), np.asarray(radii, dtype=np.int64)


class MultiIndex:
    """An immutable exact range index over (n, 32) uint8 codes; rows are 0..n-1.

    Inside, the codes are kept sorted by their leading bits, so the first table is the code
    array itself (its offsets, no postings: 4 bytes a row fewer) and the rows of any crowded
    first-chunk bucket are read in order. `presorted=True` says the caller's codes are in
    `leading_order` already (no copy, rows are the caller's); otherwise the index keeps a
    sorted copy and the permutation (`rows`) and answers in the caller's row numbers.

    Crowds (`find_crowds`, not with `presorted`): rows packed within a few bits of one
    centre, which every table would hand out again and again as candidates, are kept out
    of the tables after the other rows, one block per crowd, and a query scans a block
    only when it comes within `threshold` + the block's radius of its centre.
    """

    def __init__(self, codes: np.ndarray, n_chunks: int | None = None,
                 max_radius: int = MAX_RADIUS, compiled: bool = True, threads: int = 1, *,
                 presorted: bool = False, crowds: bool = True, packed: bool | None = None
                 ) -> None:
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        if codes.ndim != 2 or codes.shape[1] != CODE_BITS // 8:
            raise ValueError("codes must be an (n, 32) uint8 array")
        n = codes.shape[0]
        pos_dtype = np.uint32 if n < 2 ** 32 else np.uint64
        m = n_chunks or choose_chunks(n, max_radius)
        chunks = chunk_layout(m)
        crowd = None
        if presorted:
            rows = None
        else:
            rows = leading_order(codes).astype(pos_dtype)
            codes = np.take(codes, rows, axis=0)
            if crowds:
                member, centres, radii = find_crowds(codes, chunks[0][1])
                if len(centres):  # tables' rows first (still sorted), then each crowd's
                    inside = np.nonzero(member >= 0)[0]
                    inside = inside[np.argsort(member[inside], kind="stable")]
                    new = np.concatenate([np.nonzero(member < 0)[0], inside])
                    codes, rows = np.take(codes, new, axis=0), rows[new]
                    n_main = n - inside.size
                    starts = n_main + np.concatenate(
                        [[0], np.cumsum(np.bincount(member[inside], minlength=len(centres)))])
                    crowd = (centres.view(np.uint64).reshape(-1, 4).copy(),
                             starts.astype(np.int64), radii)
                    del member, inside, new
        n_main = n if crowd is None else int(crowd[1][0])
        if n_main > 1 and presorted:
            first = np.ascontiguousarray(codes[:, :8]).view(">u8").ravel()
            if (first[1:] < first[:-1]).any():
                raise ValueError("presorted codes are not in leading_order")
            del first
        if packed is None:
            packed = PACKED_MIN_ROWS is not None and n_main >= PACKED_MIN_ROWS
        if packed:  # table 0 is the sorted code array itself: its rows are its pairs
            tables = PackedTables.build(
                m, lambda t: chunk_keys(codes[:n_main], *chunks[t]), lambda t: chunks[t][1])
            self._setup(codes.view(np.uint64).reshape(n, 4), None, None, m, max_radius,
                        compiled, rows, crowd, packed=tables)
            self.threads = threads
            return
        sizes = [2 ** length + 1 for _s, length in chunks]
        offsets = np.zeros(sum(sizes), dtype=pos_dtype)
        postings = np.empty((m - 1) * n_main, dtype=pos_dtype)
        base = 0
        for t, (start, length) in enumerate(chunks):
            keys = chunk_keys(codes[:n_main], start, length)
            if t:  # table 0 is the sorted code array itself
                postings[(t - 1) * n_main:t * n_main] = np.argsort(keys, kind="stable")
            counts = np.bincount(keys, minlength=2 ** length)
            np.cumsum(counts, out=offsets[base + 1:base + sizes[t]])
            base += sizes[t]
            del keys, counts
        self._setup(codes.view(np.uint64).reshape(n, 4), offsets, postings, m, max_radius,
                    compiled, rows, crowd)
        self.threads = threads

    def _setup(self, codes64, offsets, postings, m, max_radius, compiled, rows, crowd=None,
               packed: PackedTables | None = None) -> None:
        n = int(codes64.shape[0])
        self.n = n
        if crowd is None:
            crowd = (np.zeros((0, 4), np.uint64), np.asarray([n], np.int64), np.zeros(0, np.int64))
        #: crowds: centres (c, 4) uint64, first rows (c + 1; the last is n), radii (c)
        self.crowd_centres, self.crowd_starts, self.crowd_radii = crowd
        #: crowds of at least this many rows have their rows shared among a search's threads;
        #: smaller ones go whole to one thread (the threads share out the centres instead)
        self.crowd_split_rows = CROWD_SPLIT_ROWS
        self._crowd_cache = None
        n_main = int(self.crowd_starts[0])
        self.n_main = n_main
        self.max_radius = max_radius
        #: search with the numba kernel when it is available (False: the numpy path)
        self.compiled = compiled
        #: threads one search may use (compiled path): each takes every query hash and its
        #: share of the probes and of the crowd rows
        self.threads = 1
        self.m = m
        self.chunks = chunk_layout(m)
        sizes = [2 ** length + 1 for _s, length in self.chunks]
        #: the tables in Elias-Fano form (None: plain offsets and postings)
        self._packed = packed
        if codes64.ndim != 2 or codes64.shape[1] != 4:
            raise ValueError("saved multi-index arrays do not fit together")
        if packed is not None:
            packed.check(m, n_main)
            if [int(b) for b in packed.params[:, 5]] != [length for _s, length in self.chunks]:
                raise ValueError("saved packed tables do not fit together")
            self._post_base = None
        elif offsets.shape != (sum(sizes),):
            raise ValueError("saved multi-index arrays do not fit together")
        elif postings.shape == ((m - 1) * n_main,):  # table 0 = the codes, sorted by leading bits
            self._post_base = np.asarray([-1] + [(t - 1) * n_main for t in range(1, m)], np.int64)
        elif postings.shape == (m * n,) and n_main == n:  # format 1: every table has postings
            self._post_base = np.arange(m, dtype=np.int64) * n
        else:
            raise ValueError("saved multi-index arrays do not fit together")
        self.codes = codes64  # native words: XOR/popcount only
        #: caller's row of each internal row (None: the same)
        self.rows = rows
        self._key_base = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self._offsets = offsets
        self._postings = postings
        self._chunk_masks = _chunk_masks(self.chunks)
        # bit weights: chunk values of a few query codes as one small matrix product
        self._weights = np.zeros((CODE_BITS, m), dtype=np.int64)
        for t, (start, length) in enumerate(self.chunks):
            self._weights[start:start + length, t] = 1 << np.arange(length - 1, -1, -1)
        self._probes: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    @classmethod
    def from_arrays(cls, codes64: np.ndarray, offsets: np.ndarray | None,
                    postings: np.ndarray | None, n_chunks: int, max_radius: int = MAX_RADIUS,
                    compiled: bool = True, crowd: tuple | None = None,
                    packed: dict[str, np.ndarray] | None = None) -> MultiIndex:
        """An index over arrays saved by `arrays()` (e.g. memory-mapped files), not rebuilt.

        `packed` (the `packed_*` arrays): tables in Elias-Fano form, codes in
        `leading_order`. Otherwise `postings` of (m - 1) * n rows: the codes are in
        `leading_order` and table 0 is read from them; m * n rows (segments saved before
        that layout): every table has postings.
        """
        self = cls.__new__(cls)
        tables = PackedTables.from_arrays(packed) if packed is not None else None
        self._setup(codes64, offsets, postings, n_chunks, max_radius, compiled, None, crowd,
                    packed=tables)
        return self

    @property
    def packed(self) -> bool:
        """True when the tables are in Elias-Fano form (`haven.match.packed`)."""
        return self._packed is not None

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays `from_arrays` needs besides the chunk count (`self.m`) and the crowds;
        the codes in the index's own (sorted) row order: save `rows` too if it is not None."""
        if self._packed is not None:
            return {"codes": self.codes, **self._packed.arrays()}
        return {"codes": self.codes, "offsets": self._offsets, "postings": self._postings}

    def _plain(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(offsets, postings, postings base per table) of the plain layout: the tables as
        they are, or decoded once from the packed form (the numpy search reads these)."""
        if self._packed is None:
            return self._offsets, self._postings, self._post_base
        if self._offsets is None:
            self._offsets, self._postings = self._packed.unpack(self.n_main)
            self._post_base = np.asarray([-1] + [(t - 1) * self.n_main
                                                 for t in range(1, self.m)], np.int64)
        return self._offsets, self._postings, self._post_base

    def __len__(self) -> int:
        return self.n

    @property
    def nbytes(self) -> int:
        """RAM held by this index, codes (and the row permutation, if any) included."""
        tables = (self._packed.nbytes if self._packed is not None
                  else self._postings.nbytes + self._offsets.nbytes)
        return int(self.codes.nbytes + tables
                   + (0 if self.rows is None else self.rows.nbytes)
                   + 2 * (self.crowd_centres.nbytes + self.crowd_starts.nbytes
                          + self.crowd_radii.nbytes))

    def crowd_sizes(self, qcodes: np.ndarray) -> np.ndarray:
        """Per code: rows of the largest crowd whose ball (centre, radius) holds it, else 0."""
        qcodes = np.ascontiguousarray(qcodes, dtype=np.uint8).reshape(-1, CODE_BITS // 8)
        out = np.zeros(len(qcodes), dtype=np.int64)
        if len(self.crowd_radii) and len(qcodes):
            q64 = qcodes.view(np.uint64).reshape(-1, 4)
            kernels = _compiled_kernels() if self.compiled else None
            if kernels is not None:
                return kernels.crowd_sizes(q64, self.crowd_centres, self.crowd_starts,
                                           self.crowd_radii)
            d = np.bitwise_count(q64[:, None, :] ^ self.crowd_centres[None]).sum(axis=2)
            sizes = np.diff(self.crowd_starts)
            out = np.where(d <= self.crowd_radii[None], sizes[None], 0).max(axis=1)
        return out

    def bucket_sizes(self, qcodes: np.ndarray) -> np.ndarray:
        """(k, m): how many rows share each chunk value of each code (how crowded its spot is)."""
        qcodes = np.ascontiguousarray(qcodes, dtype=np.uint8).reshape(-1, CODE_BITS // 8)
        words = code_words(qcodes)
        keys = np.stack([chunk_values(words, start, length) for start, length in self.chunks],
                        axis=1) + self._key_base
        offsets = self._plain()[0]
        return (offsets[keys + 1].astype(np.int64) - offsets[keys].astype(np.int64))

    def _crowd_groups(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]]:
        """The crowds as the compiled search reads them: (centres one code word per row, first
        rows, ends, radii, split rows?) for the crowds of fewer than `crowd_split_rows` rows
        (threads share their centres, each crowd scanned whole by one) and for the bigger
        ones (every thread checks their centres and scans a share of their rows)."""
        key = int(self.crowd_split_rows)
        if self._crowd_cache is None or self._crowd_cache[0] != key:
            sizes = np.diff(self.crowd_starts)
            groups = []
            for pick, split in ((sizes < key, False), (sizes >= key, True)):
                ids = np.nonzero(pick)[0]
                if ids.size:
                    groups.append((np.ascontiguousarray(self.crowd_centres[ids].T),
                                   self.crowd_starts[ids].astype(np.int64),
                                   self.crowd_starts[ids + 1].astype(np.int64),
                                   self.crowd_radii[ids].astype(np.int64), split))
            self._crowd_cache = (key, groups)
        return self._crowd_cache[1]

    def _probe_plan(self, threshold: int, part: int = 0, parts: int = 1
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(table, XOR mask, radius per table) of the probes of one query hash at `threshold`:
        all of them, or share `part` of `parts` (every parts-th probe, for one thread)."""
        plan = self._probes.get((threshold, part, parts))
        if plan is None:
            if parts > 1:
                table, masks, radii = self._probe_plan(threshold)
                plan = (np.ascontiguousarray(table[part::parts]),
                        np.ascontiguousarray(masks[part::parts]), radii)
            else:
                tables, masks = [], []
                radii = chunk_radii(self.m, threshold)
                for t, ((_start, length), r) in enumerate(zip(self.chunks, radii)):
                    if r < 0:
                        continue
                    m = flip_masks(length, r)
                    tables.append(np.full(m.size, t, dtype=np.int64))
                    masks.append(m)
                plan = (np.concatenate(tables), np.concatenate(masks), np.asarray(radii, np.int64))
            self._probes[(threshold, part, parts)] = plan
        return plan

    def candidates(self, qcodes: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray]:
        """(query number, internal row) of every probed row; may repeat, includes non-matches."""
        table, masks, _radii = self._probe_plan(threshold)
        offsets, postings, post_base = self._plain()
        values = np.unpackbits(qcodes, axis=1).astype(np.int64) @ self._weights  # (q, m)
        keys = (values[:, table] ^ masks[None, :]) + self._key_base[table][None, :]
        keys = keys.ravel()
        s = np.take(offsets, keys).astype(np.int64)
        lens = np.take(offsets, keys + 1).astype(np.int64) - s
        hit = np.nonzero(lens)[0]
        lens = lens[hit]
        total = int(lens.sum())
        if total == 0:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty
        pbase = np.tile(post_base[table], qcodes.shape[0])[hit]
        direct = np.repeat(pbase < 0, lens)
        s = s[hit] + np.maximum(pbase, 0)
        # positions s[k], s[k]+1, ..., s[k]+lens[k]-1 for every probe k, without a Python loop
        first = np.cumsum(lens) - lens
        pos = np.repeat(s - first, lens) + np.arange(total, dtype=np.int64)
        rows = pos.copy()
        rows[~direct] = np.take(postings, pos[~direct])
        return np.repeat(hit // masks.size, lens), rows

    def search(self, qcodes: np.ndarray, threshold: int = MAX_RADIUS
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query number, row, distance) of every row within `threshold` of a query code.

        Each (query, row) pair appears once, in no particular order. `threshold` must not
        exceed `max_radius`.
        """
        if threshold > self.max_radius:
            raise ValueError(f"index built for distances up to {self.max_radius}, asked {threshold}")
        qcodes = np.ascontiguousarray(qcodes, dtype=np.uint8).reshape(-1, CODE_BITS // 8)
        empty = np.empty(0, dtype=np.int64)
        if self.n == 0 or qcodes.shape[0] == 0 or threshold < 0:
            return empty, empty, empty
        kernels = _compiled_kernels() if self.compiled else None
        if kernels is not None:
            values = np.unpackbits(qcodes, axis=1).astype(np.int64) @ self._weights
            q64 = qcodes.view(np.uint64).reshape(-1, 4)
            parts = max(1, int(self.threads))

            def run(part: int):
                table, masks, radii = self._probe_plan(threshold, part, parts)
                if self._packed is not None:
                    pk = self._packed
                    q, r, d = kernels.range_search_packed(
                        self.codes, pk.low, pk.high, pk.dirs, pk.params, values, q64, table,
                        masks, threshold, self._chunk_masks, radii)
                else:
                    q, r, d = kernels.range_search(
                        self.codes, self._offsets, self._postings, self._post_base,
                        self.n_main, self._key_base, values, q64, table, masks, threshold,
                        self._chunk_masks, radii)
                for centres_t, lo, hi, radii_c, split in self._crowd_groups():
                    cq, cr, cd = kernels.crowd_search(self.codes, centres_t, lo, hi, radii_c,
                                                      q64, threshold, part, parts, split)
                    q, r, d = np.concatenate([q, cq]), np.concatenate([r, cr]), np.concatenate([d, cd])
                return q, r, d

            if parts > 1:
                # the kernels release the GIL: every thread takes all the query hashes but
                # only its share of the probes (every parts-th) and of each reachable crowd's
                # rows, so the work halves even when one hash of the 8 carries most of it (a
                # near-blank image); the calling thread does share 0 itself
                later = [_pool(parts - 1).submit(run, p) for p in range(1, parts)]
                done = [run(0)] + [f.result() for f in later]
                qnum, rows, dist = (np.concatenate([x[k] for x in done]) for k in range(3))
            else:
                qnum, rows, dist = run(0)
        else:
            qnum, rows = self.candidates(qcodes, threshold)
            if len(self.crowd_radii):  # every row of each crowd a query comes near enough to
                q64 = qcodes.view(np.uint64).reshape(-1, 4)
                dp = np.bitwise_count(q64[:, None, :] ^ self.crowd_centres[None]).sum(axis=2)
                qi, ci = np.nonzero(dp - self.crowd_radii[None] <= threshold)
                lo, lens = self.crowd_starts[ci], np.diff(self.crowd_starts)[ci]
                pos = np.repeat(lo - (np.cumsum(lens) - lens), lens) + np.arange(lens.sum())
                qnum = np.concatenate([qnum, np.repeat(qi, lens)])
                rows = np.concatenate([rows, pos])
            if rows.size == 0:
                return empty, empty, empty
            dist = hamming_rows(self.codes, rows, qcodes.view(np.uint64).reshape(-1, 4), qnum)
            keep = dist <= threshold
            qnum, rows, dist = qnum[keep], rows[keep], dist[keep]
            if rows.size > 1:  # a pair found through several chunks is reported once
                _, first = np.unique(qnum * self.n + rows, return_index=True)
                qnum, rows, dist = qnum[first], rows[first], dist[first]
        if self.rows is not None and rows.size:
            rows = self.rows[rows].astype(np.int64)
        return qnum, rows, dist


def _compiled_kernels():
    """`haven.match.kernels` when the compiled search can run, else None. Imported at the first
    search, not with this module: numba costs ~0.4 s CPU to import, and building or opening an
    index (a scan's query index, `haven library`) does not need it."""
    from haven.match import kernels

    return kernels if kernels.available() else None


@lru_cache(maxsize=None)
def _pool(threads: int) -> ThreadPoolExecutor:
    """One shared pool per size: the helper threads of a search (the caller's thread works
    too); searches are short, a pool per search would cost more."""
    return ThreadPoolExecutor(threads, thread_name_prefix="haven-mih")


def hamming_rows(codes64: np.ndarray, rows: np.ndarray, q64: np.ndarray, qnum: np.ndarray
                 ) -> np.ndarray:
    """Distance between `codes64[rows[k]]` and `q64[qnum[k]]` for every k, as int64."""
    # np.take is ~10x faster than fancy indexing on (n, 4) arrays; popcount in place
    x = np.take(codes64, rows, axis=0)
    x ^= np.take(q64, qnum, axis=0)
    np.bitwise_count(x, out=x)
    return (x[:, 0] + x[:, 1] + x[:, 2] + x[:, 3]).astype(np.int64)


#: (query, row) pairs `flat_search` compares at once (~40 bytes of temporaries each)
PAIRS = 1 << 20


def flat_search(codes64: np.ndarray, qcodes: np.ndarray, threshold: int, block: int = 1 << 16
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Brute-force (query number, row, distance) within `threshold`: the reference and the fallback.

    Rows are taken `block` at a time and queries in chunks of at most `PAIRS` (query, row)
    pairs: the temporaries stay ~`PAIRS` x 40 bytes whatever the number of queries (a
    re-match looks tens of thousands of new PDQs up at once: all of them against 10,000 item
    query hashes in one go took ~16 GB)."""
    q64 = np.ascontiguousarray(qcodes, dtype=np.uint8).reshape(-1, 32).view(np.uint64).reshape(-1, 4)
    qs, rs, ds = [], [], []
    for lo in range(0, codes64.shape[0], block):
        part = codes64[lo:lo + block]
        step = max(1, PAIRS // max(1, part.shape[0]))
        for qlo in range(0, q64.shape[0], step):  # in order: (query, row) as one pass gives
            d = np.bitwise_count(part[None, :, :] ^ q64[qlo:qlo + step, None, :]).sum(
                axis=2, dtype=np.int64)
            qi, ri = np.nonzero(d <= threshold)
            qs.append(qi + qlo)
            rs.append(ri + lo)
            ds.append(d[qi, ri])
    if not qs:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty
    return (np.concatenate(qs).astype(np.int64), np.concatenate(rs).astype(np.int64),
            np.concatenate(ds).astype(np.int64))
