"""The search side of hash-only hypotheses: which known PDQ hashes come close to any of them.

`haven.match.framing` builds ~110 hypothesis hashes per item (frames, bands, logos), each
scored on its own 224 reliable bits (`DROP_BITS` masked out). Its decision needs, per known
row, the best first-round frame within `CANDIDATE` (52) reliable bits (refined afterwards)
and the best band/logo hypothesis within its family's threshold (36). This module answers
exactly that, for every known row, and nothing else: `first_round` returns only the rows
within those radii, each with its best frame and best other hypothesis.

Two paths, the same answers (tests/match/test_hypothesis_search.py compares them on random
and adversarial codes, with rows exactly at and one past each radius):

- `first_round_numpy`: the whole (h, n) distance matrix, one 64-bit word at a time over
  blocks of known rows (`framing.masked_distances`), then the minima;
- `first_round_compiled` (numba, when available): one pass over the known rows, each row's
  32 bytes read once and compared with every hypothesis (all in L1) in a branch-free loop
  that LLVM vectorises (AVX-512 POPCNT where the CPU has it); nothing is allocated but the
  rows that come close. Rows may be split over threads (the kernel releases the GIL).

Why no index prunes the known rows first (measured, docs/hash-only.md): the hypotheses of
one item are ~96 bits apart from each other (independent queries, no shared probes), and the
radii are 23 % (52 / 224) and 16 % (36 / 224) of the reliable bits. A multi-index over 16-bit
chunks with the generalised pigeonhole, chunk radii chosen per hypothesis around its masked
bits, hands out 18 % of a clustered 1M library as candidates per hypothesis at radius 52 and
3 % at 36 (20-bit chunks: 12 % and 1.4 %), i.e. more work than the flat pass at 52 and ~3M
candidates per item at 36. So the search stays a pass over the rows, made as cheap per row
as it can be; its cost grows with the list (see docs/hash-only.md for the figures).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from haven.match import kernels

#: Rows per thread share below which a search is not split (thread start-up would dominate).
SPLIT_ROWS = 200_000


@dataclass(frozen=True)
class FirstRound:
    """Known rows within reach of an item's first-round hypotheses (ascending row order).

    `frame_dist` / `frame_hyp`: the best frame hypothesis (lowest distance, then lowest
    hypothesis number), or distance 999 / -1 when no frame came within the frame radius;
    `other_dist` / `other_hyp`: the same over the band and logo hypotheses."""

    rows: np.ndarray
    frame_dist: np.ndarray
    frame_hyp: np.ndarray
    other_dist: np.ndarray
    other_hyp: np.ndarray


NONE = 999


def first_round_numpy(codes: np.ndarray, masks: np.ndarray, nf: int, known: np.ndarray,
                      frame_radius: int, other_radius: int) -> FirstRound:
    """Flat: the full (h, n) masked distance matrix, then each row's best hypotheses."""
    from haven.match.framing import masked_distances

    dist = masked_distances(codes, masks, known)
    return _from_matrix(dist, nf, frame_radius, other_radius)


def _from_matrix(dist: np.ndarray, nf: int, frame_radius: int, other_radius: int
                 ) -> FirstRound:
    n = dist.shape[1]
    cols = np.arange(n)
    fk = dist[:nf].argmin(0) if nf else np.zeros(n, np.int64)
    fd = dist[:nf][fk, cols].astype(np.int64) if nf else np.full(n, NONE)
    if dist.shape[0] > nf:
        ok = dist[nf:].argmin(0)
        od = dist[nf:][ok, cols].astype(np.int64)
        ok = ok + nf
    else:
        ok, od = np.full(n, -1), np.full(n, NONE)
    f_in, o_in = fd <= frame_radius, od <= other_radius
    rows = np.nonzero(f_in | o_in)[0]
    return FirstRound(rows, np.where(f_in, fd, NONE)[rows], np.where(f_in, fk, -1)[rows],
                      np.where(o_in, od, NONE)[rows], np.where(o_in, ok, -1)[rows])


if kernels.available():
    from numba import njit

    _popcount = kernels._popcount

    @njit(cache=True, nogil=True)
    def _first_round_kernel(cw, mw, nf, known, lo, hi, frame_radius, other_radius):
        """Rows lo..hi-1 of `known` within a radius of some hypothesis: (rows, best frame
        distance and number, best other distance and number); 999 / -1 where none.

        `cw` / `mw`: the hypotheses' code and mask words, word-major ((4, h) uint64), so
        the loop over hypotheses reads each word contiguously: branch-free, LLVM turns it
        into vector XOR / AND / POPCNT (8x faster here than leaving each hypothesis as soon
        as its partial distance passes the radius, which branches on every word)."""
        h = cw.shape[1]
        dist = np.empty(h, np.int64)
        cap = 64
        rows = np.empty(cap, np.int64)
        fdist = np.empty(cap, np.int64)
        fhyp = np.empty(cap, np.int64)
        odist = np.empty(cap, np.int64)
        ohyp = np.empty(cap, np.int64)
        cnt = 0
        for r in range(lo, hi):
            k0 = known[r, 0]
            k1 = known[r, 1]
            k2 = known[r, 2]
            k3 = known[r, 3]
            for q in range(h):
                dist[q] = (_popcount((cw[0, q] ^ k0) & mw[0, q])
                           + _popcount((cw[1, q] ^ k1) & mw[1, q])
                           + _popcount((cw[2, q] ^ k2) & mw[2, q])
                           + _popcount((cw[3, q] ^ k3) & mw[3, q]))
            best_f = np.int64(NONE)
            for q in range(nf):
                best_f = min(best_f, dist[q])
            best_o = np.int64(NONE)
            for q in range(nf, h):
                best_o = min(best_o, dist[q])
            if best_f > frame_radius and best_o > other_radius:
                continue
            best_fk = np.int64(-1)
            if best_f <= frame_radius:
                for q in range(nf):
                    if dist[q] == best_f:
                        best_fk = q  # the first hypothesis at the best distance
                        break
            else:
                best_f = NONE
            best_ok = np.int64(-1)
            if best_o <= other_radius:
                for q in range(nf, h):
                    if dist[q] == best_o:
                        best_ok = q
                        break
            else:
                best_o = NONE
            if cnt == cap:
                cap *= 2
                rows = _grow(rows, cap)
                fdist = _grow(fdist, cap)
                fhyp = _grow(fhyp, cap)
                odist = _grow(odist, cap)
                ohyp = _grow(ohyp, cap)
            rows[cnt] = r
            fdist[cnt] = best_f
            fhyp[cnt] = best_fk
            odist[cnt] = best_o
            ohyp[cnt] = best_ok
            cnt += 1
        return rows[:cnt], fdist[:cnt], fhyp[:cnt], odist[:cnt], ohyp[:cnt]

    @njit(cache=True, nogil=True)
    def _grow(a, cap):
        out = np.empty(cap, a.dtype)
        out[:a.shape[0]] = a
        return out


def first_round_compiled(codes: np.ndarray, masks: np.ndarray, nf: int, known: np.ndarray,
                         frame_radius: int, other_radius: int, threads: int = 1) -> FirstRound:
    """The compiled pass (numba): the same answers as `first_round_numpy`."""
    cw = np.ascontiguousarray(np.asarray(codes, dtype=np.uint64).T)
    mw = np.ascontiguousarray(np.asarray(masks, dtype=np.uint64).T)
    known = np.ascontiguousarray(known, dtype=np.uint64)  # no copy when it already is
    n = len(known)
    parts = max(1, min(int(threads), n // SPLIT_ROWS or 1))
    bounds = [n * k // parts for k in range(parts + 1)]

    def share(k: int):
        return _first_round_kernel(cw, mw, nf, known, bounds[k], bounds[k + 1],
                                   frame_radius, other_radius)

    if parts == 1:
        pieces = [share(0)]
    else:
        futures = [_pool(parts).submit(share, k) for k in range(1, parts)]
        pieces = [share(0)] + [f.result() for f in futures]
    return FirstRound(*(np.concatenate([p[i] for p in pieces]) for i in range(5)))


def first_round(codes: np.ndarray, masks: np.ndarray, nf: int, known: np.ndarray,
                frame_radius: int, other_radius: int, threads: int = 1) -> FirstRound:
    """Known rows within `frame_radius` of a frame hypothesis (the first `nf`) or within
    `other_radius` of another one, with their best ones: compiled when numba is there."""
    if not len(known) or not len(codes):
        empty = np.zeros(0, np.int64)
        return FirstRound(empty, empty, empty, empty, empty)
    if kernels.available():
        return first_round_compiled(codes, masks, nf, known, frame_radius, other_radius,
                                    threads)
    return first_round_numpy(codes, masks, nf, known, frame_radius, other_radius)


_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _pool(threads: int) -> ThreadPoolExecutor:
    with _POOLS_LOCK:
        if threads not in _POOLS:
            _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="haven-hyp")
        return _POOLS[threads]
