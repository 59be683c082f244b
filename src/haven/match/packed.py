"""Multi-index tables in Elias-Fano form: about b + 2 bits a posting and no offsets array.

A plain table of a `b`-bit chunk over n rows costs an offsets array (2**b + 1 entries of 4
bytes) and one 4-byte row number per row. At 100M rows and b = 23 that is 32 + 3.4 bits a
row; the ten tables with postings of the national index then take 40 + 4.7 of its 76.7
bytes a hash (docs/library.md). Here a table is the sorted list of its (chunk value, row)
pairs, stored the Elias-Fano way:

- each pair gets a key `H = value * G + (row >> l)` (G = ceil(n / 2**l) groups per value), and
  `high` is H in unary: pair i is a 1 at bit `H_i + i`, every other bit is 0, so the k-th 0
  closes group k and a value's pairs lie between the 0s that close groups value * G - 1 and
  value * G + G - 1;
- `low` holds each pair's `row & (2**l - 1)`, l bits apiece, packed;
- `dirs` holds the pair number at which every `step`-th value starts (a sampled offsets
  array), so a probe starts its walk at most `step` values early and skips whole 64-bit
  words by popcount.

With l chosen to minimise the size (about b), a posting costs l + 2 bits (the unary part is
n + 2**b * G ~ 2n bits): 25 bits at 100M rows and b = 23, against 32 + 3.4 for the plain
table. The first table of an index (the codes themselves, sorted by that chunk) keeps only
`high` and `dirs`: its rows are the pair numbers (about 1.2 bits a row at 100M).

A table is read only by the compiled search (`haven.match.kernels.range_search_packed`); the
numpy search decodes the tables back into plain offsets and postings once (`unpack`), which
costs the plain layout's memory (it is the fallback when numba is missing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: every `DIR_STEP`-th chunk value's first pair number is kept (power of two)
DIR_STEP = 16
#: pairs encoded per block while building (a multiple of 64: whole words of low bits)
_BLOCK = 1 << 22

# columns of `PackedTables.params`
LOW_BASE, HIGH_BASE, DIR_BASE, LOW_BITS, GROUPS, BITS, STEP_SHIFT = range(7)


def low_bits_for(n: int, bits: int) -> int:
    """The l that makes n pairs of a `bits`-bit table smallest (n*l + n + 2**bits * G bits),
    the largest of those within 0.05 bits a pair of it: fewer groups G, shorter walks."""
    if n == 0:
        return 0
    sizes = {lw: n * lw + n + (2 ** bits) * -(-n // (2 ** lw)) for lw in range(0, 33)}
    least = min(sizes.values())
    return max(lw for lw, size in sizes.items() if size <= least + 0.05 * n)


def _unary(h: np.ndarray, length: int) -> np.ndarray:
    """uint64 words with bit `h[i] + i` set for every i (h non-decreasing), `length` bits."""
    words = (length + 63) // 64 + 1  # one spare word: a walk may read one past its last bit
    bits = np.zeros(words * 64, dtype=bool)
    for lo in range(0, h.size, _BLOCK):
        part = h[lo:lo + _BLOCK].astype(np.int64)
        bits[part + np.arange(lo, lo + part.size, dtype=np.int64)] = True
    return np.packbits(bits, bitorder="little").view(np.uint64)


def _pack_low(values: np.ndarray, width: int) -> np.ndarray:
    """`values` (< 2**width) packed `width` bits apiece into uint64 words, little-endian."""
    n = values.size
    if width == 0 or n == 0:
        return np.zeros(1, dtype=np.uint64)
    blocks = -(-n // 64)
    out = np.zeros(blocks * width + 1, dtype=np.uint64)
    for lo in range(0, blocks, _BLOCK // 64):
        hi = min(blocks, lo + _BLOCK // 64)
        v = np.zeros((hi - lo) * 64, dtype=np.uint64)
        part = values[lo * 64:hi * 64]
        v[:part.size] = part
        v = v.reshape(-1, 64)
        words = np.zeros((hi - lo, width), dtype=np.uint64)
        for j in range(64):  # element j of each block of 64 lies at bit j * width
            w, s = divmod(j * width, 64)
            words[:, w] |= v[:, j] << np.uint64(s)
            if s + width > 64:
                words[:, w + 1] |= v[:, j] >> np.uint64(64 - s)
        out[lo * width:hi * width] = words.ravel()
    return out


def _unpack_low(words: np.ndarray, width: int, n: int) -> np.ndarray:
    """The inverse of `_pack_low`: n values as int64."""
    if width == 0:
        return np.zeros(n, dtype=np.int64)
    blocks = -(-n // 64)
    w2 = words[:blocks * width].reshape(blocks, width)
    out = np.zeros((blocks, 64), dtype=np.uint64)
    mask = np.uint64((1 << width) - 1)
    for j in range(64):
        w, s = divmod(j * width, 64)
        v = w2[:, w] >> np.uint64(s)
        if s + width > 64:
            v |= w2[:, w + 1] << np.uint64(64 - s)
        out[:, j] = v & mask
    return out.ravel()[:n].astype(np.int64)


def encode(keys_of, t: int, bits: int, *, identity: bool = False, step: int = DIR_STEP
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """(low words, high words, dirs, l, G) of table t, whose keys (chunk value per row)
    `keys_of(t)` computes: asked for here so that no caller holds them (100M rows: 0.8 GB).

    `identity`: the rows are sorted by their keys already (the index's first table): no
    low bits, the pair number is the row.
    """
    keys = keys_of(t)
    n = keys.size
    counts = np.bincount(keys, minlength=2 ** bits)
    cum = np.zeros(2 ** bits + 1, dtype=np.int64)
    np.cumsum(counts, out=cum[1:])
    del counts
    dirs = cum[::step].astype(np.uint32 if n < 2 ** 32 else np.uint64)
    del cum
    if identity:
        if n > 1 and (keys[1:] < keys[:-1]).any():
            raise ValueError("identity table keys are not sorted")
        return np.zeros(1, np.uint64), _unary(keys, n + 2 ** bits), dirs, 0, 1
    low_w = low_bits_for(n, bits)
    groups = max(1, -(-n // (2 ** low_w)))
    order = np.argsort(keys, kind="stable")
    h = keys[order].astype(np.int64)
    del keys
    h *= groups
    h += order >> low_w
    high = _unary(h, n + 2 ** bits * groups)
    del h
    low = _pack_low((order & ((1 << low_w) - 1)).astype(np.uint64), low_w)
    return low, high, dirs, low_w, groups


@dataclass
class PackedTables:
    """The tables of one index, concatenated: `params[t]` says where table t's parts start
    (LOW_BASE -1: its rows are its pair numbers) and its l, G, chunk bits and step."""

    low: np.ndarray
    high: np.ndarray
    dirs: np.ndarray
    params: np.ndarray

    @classmethod
    def build(cls, m: int, keys_of, bits_of, step: int | None = None) -> PackedTables:
        """From `keys_of(t)` (chunk value per row, called once per table, not kept) and
        `bits_of(t)`; the first table's keys must be sorted (its rows are its pairs)."""
        step = step or DIR_STEP
        lows, highs, dirs, params = [], [], [], []
        lb = hb = db = 0
        for t in range(m):
            bits = bits_of(t)
            low, high, d, low_w, groups = encode(keys_of, t, bits, identity=(t == 0), step=step)
            params.append([-1 if t == 0 else lb, hb, db, low_w, groups, bits,
                           int(step).bit_length() - 1])
            if t:
                lows.append(low)
                lb += low.size
            highs.append(high)
            dirs.append(d)
            hb += high.size
            db += d.size
        low_all = np.concatenate(lows) if lows else np.zeros(1, np.uint64)
        dtype = np.uint64 if any(d.dtype == np.uint64 for d in dirs) else np.uint32
        return cls(low_all, np.concatenate(highs), np.concatenate(dirs).astype(dtype),
                   np.asarray(params, dtype=np.int64))

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> PackedTables:
        return cls(arrays["packed_low"], arrays["packed_high"], arrays["packed_dirs"],
                   np.asarray(arrays["packed_params"], dtype=np.int64))

    def arrays(self) -> dict[str, np.ndarray]:
        return {"packed_low": self.low, "packed_high": self.high, "packed_dirs": self.dirs,
                "packed_params": self.params}

    @property
    def nbytes(self) -> int:
        return int(self.low.nbytes + self.high.nbytes + self.dirs.nbytes + self.params.nbytes)

    def check(self, m: int, n_main: int) -> None:
        """ValueError unless the arrays fit an index of m tables over n_main rows: each
        table's parts end exactly where the next one's begin, its last sampled pair number
        is n_main."""
        p = self.params
        if p.shape != (m, 7):
            raise ValueError("saved packed tables do not fit together")
        hb = lb = db = 0
        for t in range(m):
            bits, groups, low_w = int(p[t, BITS]), int(p[t, GROUPS]), int(p[t, LOW_BITS])
            step = 1 << int(p[t, STEP_SHIFT])
            if (int(p[t, HIGH_BASE]) != hb or int(p[t, DIR_BASE]) != db
                    or int(p[t, LOW_BASE]) != (lb if t else -1) or groups < 1
                    or step > 2 ** bits or (t and groups * 2 ** low_w < n_main)):
                raise ValueError("saved packed tables do not fit together")
            hb += (n_main + (2 ** bits) * groups + 63) // 64 + 1
            db += (2 ** bits) // step + 1
            if db > self.dirs.size or int(self.dirs[db - 1]) != n_main:
                raise ValueError("saved packed tables do not fit together")
            if t:
                lb += (-(-n_main // 64) * low_w + 1) if (low_w and n_main) else 1
        if hb != self.high.size or db != self.dirs.size or lb != max(self.low.size, 1) and m > 1:
            raise ValueError("saved packed tables do not fit together")

    def unpack(self, n_main: int) -> tuple[np.ndarray, np.ndarray]:
        """(offsets, postings) of the plain layout: offsets of every table, postings of all
        but the first (whose rows are sorted by its chunk), as `MultiIndex` keeps them."""
        offsets, postings = [], []
        for t in range(self.params.shape[0]):
            lb, hb, _db, low_w, groups, bits, _s = (int(x) for x in self.params[t])
            words = (n_main + (2 ** bits) * groups + 63) // 64
            raw = np.unpackbits(self.high[hb:hb + words].view(np.uint8), bitorder="little")
            h = np.flatnonzero(raw)[:n_main] - np.arange(n_main)
            del raw
            values = h // groups
            off = np.zeros(2 ** bits + 1, dtype=np.int64)
            np.cumsum(np.bincount(values, minlength=2 ** bits), out=off[1:])
            offsets.append(off)
            if t:
                low = _unpack_low(self.low[lb:], low_w, n_main)
                postings.append(((h % groups) << low_w) | low)
        dtype = np.uint32 if n_main < 2 ** 32 else np.uint64
        post = np.concatenate(postings) if postings else np.zeros(0, np.int64)
        return np.concatenate(offsets).astype(dtype), post.astype(dtype)
