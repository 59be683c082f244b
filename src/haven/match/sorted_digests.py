"""A sorted digest table: exact digests found by prefix, radix bucket and tail, no dict.

The core of both exact stores: `DigestTable` (in memory, the per-case and service indexes
above `EXACT_TABLE_MIN` digests) and the national library's memory-mapped segments
(`haven.library.digests.Segment`) share the layout and the lookup (`SortedRows`): rows sorted
by the digest's first 8 bytes (`prefix`, big-endian so numeric order is byte order), `radix`
(row where each top-`k`-bits bucket starts, about one bucket per 8 rows), `tail` (the rest of
each digest, read only to confirm a prefix hit) and `ids` (entry id per row).
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from haven import signals
from haven.errors import LibraryError

#: Bytes of one digest per kind: every exact signal type (haven.signals).
DIGEST_WIDTHS = {t.name: t.width for t in signals.digest_types()}


def digest_array(kind: str, digests: Iterable[str] | np.ndarray) -> np.ndarray:
    """Hex digests (or an (n, width) uint8 array) as an (n, width) uint8 array."""
    width = width_of(kind)
    if isinstance(digests, np.ndarray):
        arr = np.ascontiguousarray(digests, dtype=np.uint8)
        if arr.ndim != 2 or arr.shape[1] != width:
            raise LibraryError(f"{kind} digests must be {width} bytes each")
        return arr
    values = list(digests)
    try:
        raw = bytes.fromhex("".join(values))
    except ValueError:
        raw = b""
    if len(raw) != width * len(values) or any(len(v) != 2 * width for v in values):
        bad = next((v for v in values if len(v) != 2 * width or not _is_hex(v)), values[:1])
        raise LibraryError(f"not an {kind} digest ({2 * width} hex digits): {bad!r}")
    return np.frombuffer(raw, dtype=np.uint8).reshape(len(values), width)


def _is_hex(v: str) -> bool:
    try:
        bytes.fromhex(v)
        return True
    except ValueError:
        return False


def width_of(kind: str) -> int:
    """Bytes of one `kind` digest; LibraryError for a kind that is no exact digest."""
    try:
        return DIGEST_WIDTHS[kind]
    except KeyError:
        raise LibraryError(f"unknown digest kind {kind!r} (use {', '.join(DIGEST_WIDTHS)})") from None


def prefixes(digests: np.ndarray) -> np.ndarray:
    """The first 8 bytes of each digest row as big-endian uint64 (sort and search keys)."""
    return digests[:, :8].copy().view(">u8").ravel().astype(np.uint64)


def radix_bits(count: int) -> int:
    """Top bits of the prefix that pick a radix bucket: about 8 rows a bucket."""
    # about 8 rows a bucket: 1e9 rows -> 2**27 buckets -> 1 GiB radix, ~1 byte a row
    return int(min(28, max(0, count.bit_length() - 3)))


def sorted_arrays(kind: str, digests: np.ndarray, ids: np.ndarray) -> dict:
    """The sections of a segment (prefix, radix, tail, ids) plus its header numbers."""
    width = width_of(kind)
    digests = np.ascontiguousarray(digests, dtype=np.uint8).reshape(-1, width)
    ids = np.asarray(ids, dtype=np.uint64).ravel()
    if len(ids) != len(digests):
        raise LibraryError("digests and ids must have the same length")
    count = len(digests)
    prefix = prefixes(digests)
    order = np.argsort(prefix, kind="stable")
    prefix = prefix[order]
    tail = np.ascontiguousarray(digests[order, 8:])
    id_bytes = 4 if count == 0 or int(ids.max(initial=0)) < 2 ** 32 - 1 else 8
    ids_sorted = ids[order].astype(np.uint32 if id_bytes == 4 else np.uint64)
    bits = radix_bits(count)
    buckets = (prefix >> np.uint64(64 - bits)).astype(np.int64) if bits else np.zeros(count, np.int64)
    radix = np.zeros(2 ** bits + 1, dtype=np.uint64)
    np.cumsum(np.bincount(buckets, minlength=2 ** bits), out=radix[1:])
    return {"prefix": prefix, "radix": radix, "tail": tail, "ids": ids_sorted, "count": count,
            "width": width, "id_bytes": id_bytes, "bits": bits,
            "max_bucket": int(np.diff(radix).max(initial=0))}


class SortedRows:
    """Lookup over sorted prefix/radix/tail/ids arrays (a mapped segment or an in-memory table)."""

    count: int
    radix_bits: int
    max_bucket: int
    prefix: np.ndarray
    radix: np.ndarray
    tail: np.ndarray
    ids: np.ndarray

    def lookup_one(self, raw: bytes) -> list[int]:
        """Entry ids of one digest given as raw bytes: the per-item path, no batch overhead."""
        return [int(self.ids[p]) for p in self.positions_one(raw)]

    def positions_one(self, raw: bytes) -> list[int]:
        """Row numbers holding one digest (raw bytes)."""
        if not self.count:
            return []
        q = int.from_bytes(raw[:8], "big")
        if self.radix_bits:
            b = q >> (64 - self.radix_bits)
            lo, hi = int(self.radix[b]), int(self.radix[b + 1])
        else:
            lo, hi = 0, self.count
        if lo == hi:
            return []
        qv = np.uint64(q)
        pos = lo + int(np.searchsorted(self.prefix[lo:hi], qv))
        out = []
        rest = raw[8:]
        while pos < self.count and self.prefix[pos] == qv:
            if self.tail[pos].tobytes() == rest:
                out.append(pos)
            pos += 1
        return out

    def lookup(self, digests: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(query number, entry id) of every row equal to a query digest."""
        empty = np.empty(0, dtype=np.int64)
        if self.count == 0 or len(digests) == 0:
            return empty, empty.astype(np.uint64)
        q = prefixes(digests)
        if self.radix_bits:
            bucket = (q >> np.uint64(64 - self.radix_bits)).astype(np.int64)
            lo = np.take(self.radix, bucket).astype(np.int64)
            hi = np.take(self.radix, bucket + 1).astype(np.int64)
        else:
            lo = np.zeros(len(q), np.int64)
            hi = np.full(len(q), self.count, np.int64)
        # lower bound of q inside [lo, hi): a fixed number of vectorised bisection steps
        for _ in range(int(self.max_bucket).bit_length()):
            open_ = lo < hi
            mid = (lo + hi) >> 1
            less = np.zeros(len(q), dtype=bool)
            less[open_] = np.take(self.prefix, mid[open_]) < q[open_]
            lo = np.where(open_ & less, mid + 1, lo)
            hi = np.where(open_ & ~less, mid, hi)
        qn, rows = [], []
        pos = lo
        live = np.arange(len(q))
        while live.size:  # runs of equal prefixes: usually length 0 or 1
            inside = pos < self.count
            live, pos = live[inside], pos[inside]
            same = np.take(self.prefix, pos) == q[live]
            live, pos = live[same], pos[same]
            qn.append(live)
            rows.append(pos)
            pos = pos + 1
        qn_a, rows_a = np.concatenate(qn), np.concatenate(rows)
        ok = (np.take(self.tail, rows_a, axis=0) == digests[qn_a, 8:]).all(axis=1)
        return qn_a[ok].astype(np.int64), np.take(self.ids, rows_a[ok]).astype(np.uint64)


class DigestTable(SortedRows):
    """An in-memory sorted table: ~20-40 bytes an entry where a dict of hex strings takes ~200."""

    def __init__(self, kind: str, digests: Iterable[str] | np.ndarray, ids: Iterable[int]) -> None:
        arr = digest_array(kind, digests)
        a = sorted_arrays(kind, arr, np.fromiter(ids, dtype=np.uint64, count=len(arr)))
        self.kind, self.count, self.radix_bits, self.max_bucket = kind, a["count"], a["bits"], a["max_bucket"]
        self.prefix, self.radix, self.tail, self.ids = a["prefix"], a["radix"], a["tail"], a["ids"]

    def __len__(self) -> int:
        return self.count

    @property
    def nbytes(self) -> int:
        return int(self.prefix.nbytes + self.radix.nbytes + self.tail.nbytes + self.ids.nbytes)

    def get(self, digest: str) -> list[int]:
        """Entry ids of one hex digest (none when it is not a digest of this kind)."""
        try:
            raw = bytes.fromhex(digest)
        except (TypeError, ValueError):
            return []
        return self.lookup_one(raw) if len(raw) == DIGEST_WIDTHS[self.kind] else []
