"""Compiled inner loop of the multi-index search (numba), with a pure-numpy fallback elsewhere.

The numpy search of `haven.match.multiindex` materialises every probe, every candidate and
every candidate's code as temporary arrays; at 100M rows a query hash has ~3 000 probes and
~30 000 candidates, and most of the time goes to those temporaries and to cache misses
taken one array at a time. This kernel walks probe → bucket → candidate → popcount in one
loop, so each candidate costs one postings read and one 32-byte code read, and nothing is
allocated but the answer.

numba compiles it on first use (~1 s, cached on disk next to this file when the directory is
writable). Without numba (`HAVEN_NO_NUMBA=1`, or the import fails) `available()` is false and
the numpy path runs; both give the same answers (tests/match/test_multiindex.py checks).
"""

from __future__ import annotations

import os

import numpy as np

try:
    if os.environ.get("HAVEN_NO_NUMBA"):
        raise ImportError("disabled by HAVEN_NO_NUMBA")
    from llvmlite import ir
    from numba import njit, types
    from numba.core import cgutils
    from numba.extending import intrinsic
except ImportError:  # pragma: no cover - exercised when numba is absent
    njit = None


def available() -> bool:
    """True when the compiled search can run."""
    return njit is not None


if njit is not None:

    @intrinsic
    def _popcount(typingctx, x):
        """LLVM's ctpop on a uint64 (one POPCNT instruction on x86-64)."""
        sig = types.uint64(types.uint64)

        def codegen(context, builder, signature, args):
            return builder.ctpop(args[0])

        return sig, codegen

    @intrinsic
    def _cttz(typingctx, x):
        """LLVM's cttz on a uint64: the number of trailing zero bits (64 for 0)."""
        sig = types.uint64(types.uint64)

        def codegen(context, builder, signature, args):
            return builder.cttz(args[0], ir.Constant(ir.IntType(1), 0))

        return sig, codegen

    @intrinsic
    def _prefetch(typingctx, arr, idx):
        """A hint to fetch arr[idx] (1-D) or row arr[idx] (2-D) into the cache; no effect on
        results (LLVM's prefetch: read, keep in all levels)."""
        sig = types.void(arr, idx)

        def codegen(context, builder, signature, args):
            aryty = signature.args[0]
            ary = context.make_array(aryty)(context, builder, args[0])
            inds = [args[1]] + [context.get_constant(types.intp, 0)] * (aryty.ndim - 1)
            ptr = cgutils.get_item_pointer(context, builder, aryty, ary, inds, wraparound=False)
            p = builder.bitcast(ptr, ir.IntType(8).as_pointer())
            i32 = ir.IntType(32)
            fnty = ir.FunctionType(ir.VoidType(), [p.type, i32, i32, i32])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
            builder.call(fn, [p, i32(0), i32(3), i32(1)])
            return context.get_dummy_value()

        return sig, codegen

    #: candidates in flight: each candidate's code is prefetched this many candidates before
    #: it is verified (a power of two); postings of a probe this many probes before it is read
    _RING = 32
    _PROBES_AHEAD = 8
    #: pairs of a bucket the packed search decodes at a time
    _BUF = 256

    @njit(cache=True, nogil=True)
    def range_search(codes, offsets, postings, post_base, n, key_base, qvals, q64, tables,
                     masks, threshold, chunk_masks, radii):
        """(query number, row, distance) of every row within `threshold`, each pair once.

        codes (n, 4) uint64; offsets / postings: the CSR tables of all chunks; key_base[t]:
        where table t's offsets start; post_base[t]: where its postings start, or -1 when
        the rows are stored sorted by that chunk (the bucket's rows are its offsets' range,
        read in order); qvals (q, m) chunk values of the query codes; q64 (q, 4) uint64
        query words; tables[k] / masks[k]: the table and XOR mask of probe k, grouped by
        table; chunk_masks (m, 4): each chunk's bits in the code words; radii[t]: table
        t's probe radius (-1: not probed).

        A pair within `threshold` is reachable through every table whose chunk differs by at
        most its radius; it is reported only by the first of them (the chunk differences of
        the earlier tables are counted on the candidate's XOR), so answers need no
        de-duplication afterwards, however crowded. A pair is found by exactly one probe
        (its table's mask equals the pair's chunk difference), so the probes may be dealt
        out to several threads, each calling this with its share: together they report
        every pair once.

        At national scale nearly every read is a cache miss (offsets, the first posting of
        a bucket, each candidate's code), and a plain loop waits for them one or two at a
        time. So the reads are requested ahead: all the probes' offsets first, each probe's
        postings `_PROBES_AHEAD` probes early, and each candidate's code `_RING` candidates
        before it is verified (a ring of pending candidates), keeping many misses in flight.
        """
        cap = 256
        out_q = np.empty(cap, np.int64)
        out_r = np.empty(cap, np.int64)
        out_d = np.empty(cap, np.int64)
        cnt = 0
        nq = qvals.shape[0]
        nprobe = tables.shape[0]
        keys = np.empty(nprobe, np.int64)
        ring_r = np.empty(_RING, np.int64)
        ring_t = np.empty(_RING, np.int64)
        for qi in range(nq):
            a0 = q64[qi, 0]
            a1 = q64[qi, 1]
            a2 = q64[qi, 2]
            a3 = q64[qi, 3]
            for k in range(nprobe):
                t = tables[k]
                key = (qvals[qi, t] ^ masks[k]) + key_base[t]
                keys[k] = key
                _prefetch(offsets, key)
            pushed = 0
            done = 0
            # one pass per probe, then one more (k == nprobe) that verifies what is left
            for k in range(nprobe + 1):
                if k < nprobe:
                    if k + _PROBES_AHEAD < nprobe:
                        b2 = post_base[tables[k + _PROBES_AHEAD]]
                        if b2 >= 0:
                            _prefetch(postings, b2 + np.int64(offsets[keys[k + _PROBES_AHEAD]]))
                    t = tables[k]
                    s = np.int64(offsets[keys[k]])
                    steps = np.int64(offsets[keys[k] + 1]) - s
                    base = post_base[t]
                else:
                    steps = pushed - done
                for i in range(steps):
                    if k < nprobe:
                        if base < 0:
                            row = s + i
                        else:
                            row = np.int64(postings[base + s + i])
                        _prefetch(codes, row)
                        slot = pushed & (_RING - 1)
                        pushed += 1
                        if pushed - done <= _RING:  # the ring has room: verify later
                            ring_r[slot] = row
                            ring_t[slot] = t
                            continue
                        # full: this slot holds the oldest pending candidate; swap it out
                        vrow = ring_r[slot]
                        vt = ring_t[slot]
                        ring_r[slot] = row
                        ring_t[slot] = t
                    else:
                        slot = done & (_RING - 1)
                        vrow = ring_r[slot]
                        vt = ring_t[slot]
                    done += 1
                    # the first two words together: a branch on the first alone goes either way
                    # for most candidates (~32 of its 64 bits differ), and mispredicts cost more
                    # than one more word of the line the first is in
                    x0 = codes[vrow, 0] ^ a0
                    x1 = codes[vrow, 1] ^ a1
                    d = _popcount(x0) + _popcount(x1)
                    if d > threshold:
                        continue
                    x2 = codes[vrow, 2] ^ a2
                    x3 = codes[vrow, 3] ^ a3
                    d += _popcount(x2) + _popcount(x3)
                    if d > threshold:
                        continue
                    seen = False
                    for u in range(vt):  # found already through an earlier table?
                        if radii[u] >= 0 and (
                                _popcount(x0 & chunk_masks[u, 0]) + _popcount(x1 & chunk_masks[u, 1])
                                + _popcount(x2 & chunk_masks[u, 2])
                                + _popcount(x3 & chunk_masks[u, 3])) <= radii[u]:
                            seen = True
                            break
                    if seen:
                        continue
                    if cnt == cap:
                        cap *= 2
                        nq_, nr_, nd_ = (np.empty(cap, np.int64), np.empty(cap, np.int64),
                                         np.empty(cap, np.int64))
                        nq_[:cnt] = out_q[:cnt]
                        nr_[:cnt] = out_r[:cnt]
                        nd_[:cnt] = out_d[:cnt]
                        out_q, out_r, out_d = nq_, nr_, nd_
                    out_q[cnt] = qi
                    out_r[cnt] = vrow
                    out_d[cnt] = d
                    cnt += 1
        return out_q[:cnt], out_r[:cnt], out_d[:cnt]

    @njit(cache=True, nogil=True)
    def range_search_packed(codes, low, high, dirs, params, qvals, q64, tables, masks,
                            threshold, chunk_masks, radii):
        """`range_search` over tables in Elias-Fano form (`haven.match.packed`): the same
        answers, each pair once.

        params[t] = (low base or -1, high base, dirs base, l, G, chunk bits, log2 step). A
        probe of value v starts at the sampled pair number of value v - v % step, skips
        (v % step) * G zeros of the unary part word by word (popcount), then reads the
        bucket's pairs: each 1 is a pair (row = group << l | its low bits, or the pair
        number itself in the first table), each 0 closes one of the value's G groups. The
        rows are gathered into a buffer and verified as in `range_search` (a ring of
        candidates whose codes are requested ahead). Each probe's sampled pair number is
        requested before the first is read, and its unary word and estimated low bits (two
        lines) `_PROBES_AHEAD` probes early.

        The buffer has a fixed size (`_BUF`): a bucket with more pairs is decoded and
        verified in slices. It used to double when full, and that one reassignment of an
        array inside the decode loop made numba count references on every pair: 2 of the
        ~5 ms CPU per 8-hash item with the tables cached, ~2 ms of ~10 at 100M rows.
        """
        cap = 256
        out_q = np.empty(cap, np.int64)
        out_r = np.empty(cap, np.int64)
        out_d = np.empty(cap, np.int64)
        cnt = 0
        nq = qvals.shape[0]
        nprobe = tables.shape[0]
        keys = np.empty(nprobe, np.int64)
        first_e = np.empty(nprobe, np.int64)
        first_p = np.empty(nprobe, np.int64)
        ring_r = np.empty(_RING, np.int64)
        ring_t = np.empty(_RING, np.int64)
        buf = np.empty(_BUF, np.int64)  # never grown: see the docstring
        one = np.uint64(1)
        for qi in range(nq):
            a0 = q64[qi, 0]
            a1 = q64[qi, 1]
            a2 = q64[qi, 2]
            a3 = q64[qi, 3]
            for k in range(nprobe):
                t = tables[k]
                v = qvals[qi, t] ^ masks[k]
                keys[k] = v
                _prefetch(dirs, params[t, 2] + (v >> params[t, 6]))
            pushed = 0
            done = 0
            # probe k + _PROBES_AHEAD is located (its first pair found in the unary part,
            # whose word was requested _PROBES_AHEAD probes before) and its low bits are
            # requested while probe k is read; then one more pass verifies what is left
            for k in range(-_PROBES_AHEAD, nprobe + 1):
                k2 = k + 2 * _PROBES_AHEAD
                if k2 < nprobe:  # the unary words from the sampled value on (two lines)
                    t2 = tables[k2]
                    sh2 = params[t2, 6]
                    j2 = keys[k2] >> sh2
                    w2 = params[t2, 1] + ((np.int64(dirs[params[t2, 2] + j2])
                                           + (j2 << sh2) * params[t2, 4]) >> 6)
                    _prefetch(high, w2)
                    _prefetch(high, w2 + 8)
                k1 = k + _PROBES_AHEAD
                if k1 < nprobe:  # locate: skip to the first pair of the probed value
                    t1 = tables[k1]
                    v1 = keys[k1]
                    hb1 = params[t1, 1]
                    g1 = params[t1, 4]
                    sh1 = params[t1, 6]
                    j1 = v1 >> sh1
                    e = np.int64(dirs[params[t1, 2] + j1])
                    p = e + (j1 << sh1) * g1
                    z = (v1 - (j1 << sh1)) * g1
                    while z > 0:  # whole words by popcount, then the word's ones
                        off = p & 63
                        w = high[hb1 + (p >> 6)] >> np.uint64(off)
                        avail = 64 - off
                        ones = np.int64(_popcount(w))
                        if avail - ones < z:
                            z -= avail - ones
                            e += ones
                            p += avail
                        else:  # the z-th zero is here: find it by halving the word
                            x = ~w
                            at = 0
                            rest = z
                            for width in (32, 16, 8, 4, 2, 1):  # no data-dependent branch
                                cz = np.int64(_popcount(x & ((one << np.uint64(width)) - one)))
                                take = np.int64(cz < rest)
                                rest -= cz * take
                                x >>= np.uint64(width * take)
                                at += width * take
                            e += at - (z - 1)  # the ones before the z-th zero
                            p += at + 1
                            z = 0
                    first_e[k1] = e
                    first_p[k1] = p
                    if params[t1, 0] >= 0:  # a bucket's low bits: ~b * 12 bits, often 2 lines
                        lp = params[t1, 0] + ((e * params[t1, 3]) >> 6)
                        _prefetch(low, lp)
                        _prefetch(low, lp + 8)
                if k < 0:
                    continue
                t = 0
                lb = hb = lw = groups = e = p = base = got = 0
                w = np.uint64(0)
                lmask = np.uint64(0)
                more = k < nprobe
                if more:
                    t = tables[k]
                    lb = params[t, 0]
                    hb = params[t, 1]
                    lw = params[t, 3]
                    groups = params[t, 4]
                    e = first_e[k]
                    p = first_p[k]
                    lmask = (one << np.uint64(lw)) - one
                    off = p & 63
                    base = p - off
                    w = high[hb + (p >> 6)] & (~np.uint64(0) << np.uint64(off))
                while True:  # the bucket, _BUF pairs at a time (or, after the last probe,
                    # what is left in the ring)
                    if k < nprobe:
                        # its pairs are the 1s up to the G-th 0 from p; a pair's group is
                        # the number of 0s before it
                        nbuf = 0
                        while nbuf < _BUF:
                            if w == 0:
                                base += 64
                                if base - p - got >= groups:
                                    more = False
                                    break
                                w = high[hb + (base >> 6)]
                                continue
                            g = base + np.int64(_cttz(w)) - p - got
                            if g >= groups:
                                more = False
                                break
                            if lb < 0:
                                buf[nbuf] = e + got
                            else:
                                bp = (e + got) * lw
                                wi = lb + (bp >> 6)
                                sb = bp & 63
                                # two words always (the next one is there: a spare word
                                # ends the array), shifted in two steps so none is by 64
                                val = (low[wi] >> np.uint64(sb)) | (
                                    (low[wi + 1] << one) << np.uint64(63 - sb))
                                buf[nbuf] = (g << lw) | np.int64(val & lmask)
                            nbuf += 1
                            got += 1
                            w &= w - one
                        steps = nbuf
                    else:
                        steps = pushed - done
                    for i in range(steps):
                        if k < nprobe:
                            row = buf[i]
                            _prefetch(codes, row)
                            slot = pushed & (_RING - 1)
                            pushed += 1
                            if pushed - done <= _RING:
                                ring_r[slot] = row
                                ring_t[slot] = t
                                continue
                            vrow = ring_r[slot]
                            vt = ring_t[slot]
                            ring_r[slot] = row
                            ring_t[slot] = t
                        else:
                            slot = done & (_RING - 1)
                            vrow = ring_r[slot]
                            vt = ring_t[slot]
                        done += 1
                        # the first two words together: a branch on the first alone goes either way
                        # for most candidates (~32 of its 64 bits differ), and mispredicts cost more
                        # than one more word of the line the first is in
                        x0 = codes[vrow, 0] ^ a0
                        x1 = codes[vrow, 1] ^ a1
                        d = _popcount(x0) + _popcount(x1)
                        if d > threshold:
                            continue
                        x2 = codes[vrow, 2] ^ a2
                        x3 = codes[vrow, 3] ^ a3
                        d += _popcount(x2) + _popcount(x3)
                        if d > threshold:
                            continue
                        seen = False
                        for u in range(vt):
                            if radii[u] >= 0 and (
                                    _popcount(x0 & chunk_masks[u, 0]) + _popcount(x1 & chunk_masks[u, 1])
                                    + _popcount(x2 & chunk_masks[u, 2])
                                    + _popcount(x3 & chunk_masks[u, 3])) <= radii[u]:
                                seen = True
                                break
                        if seen:
                            continue
                        if cnt == cap:
                            cap *= 2
                            nq_, nr_, nd_ = (np.empty(cap, np.int64), np.empty(cap, np.int64),
                                             np.empty(cap, np.int64))
                            nq_[:cnt] = out_q[:cnt]
                            nr_[:cnt] = out_r[:cnt]
                            nd_[:cnt] = out_d[:cnt]
                            out_q, out_r, out_d = nq_, nr_, nd_
                        out_q[cnt] = qi
                        out_r[cnt] = vrow
                        out_d[cnt] = d
                        cnt += 1
                    if not more:
                        break
        return out_q[:cnt], out_r[:cnt], out_d[:cnt]

    @njit(cache=True, nogil=True)
    def crowd_search(codes, centres_t, lo_rows, hi_rows, radii, q64, threshold, part, parts,
                     split_rows):
        """(query number, row, distance) of the crowd rows within `threshold`: share `part`
        (0 .. parts - 1) of the work, so that `parts` threads together answer it once.

        Crowd c holds rows lo_rows[c] .. hi_rows[c] - 1, all within radii[c] of its centre
        (centres_t: (4, c) uint64, one row per code word, so the distance pass over the
        centres runs in vector registers); a query farther than threshold + radii[c] from
        the centre cannot reach any of them (triangle inequality), the others scan the
        crowd's rows in order. `split_rows` (big crowds, e.g. a near-blank image's): every
        part checks every centre and scans its own slice of each reachable crowd's rows;
        otherwise (small crowds) each part checks only its slice of the centres and scans
        those crowds whole, so the centre pass is split too.
        """
        cap = 256
        out_q = np.empty(cap, np.int64)
        out_r = np.empty(cap, np.int64)
        out_d = np.empty(cap, np.int64)
        cnt = 0
        total = centres_t.shape[1]
        c0 = 0 if split_rows else total * part // parts
        nc = total if split_rows else total * (part + 1) // parts - c0
        p0 = centres_t[0, c0:c0 + nc]
        p1 = centres_t[1, c0:c0 + nc]
        p2 = centres_t[2, c0:c0 + nc]
        p3 = centres_t[3, c0:c0 + nc]
        rad = radii[c0:c0 + nc]
        far = np.empty(nc, np.int64)
        for qi in range(q64.shape[0]):
            a0 = q64[qi, 0]
            a1 = q64[qi, 1]
            a2 = q64[qi, 2]
            a3 = q64[qi, 3]
            for c in range(nc):  # no branch: vectorised (VPOPCNTQ where the CPU has it)
                far[c] = (_popcount(p0[c] ^ a0) + _popcount(p1[c] ^ a1) + _popcount(p2[c] ^ a2)
                          + _popcount(p3[c] ^ a3)) - rad[c]
            for c in range(nc):
                if far[c] > threshold:
                    continue
                lo = lo_rows[c0 + c]
                hi = hi_rows[c0 + c]
                if split_rows:
                    size = hi - lo
                    hi = lo + size * (part + 1) // parts
                    lo = lo + size * part // parts
                for row in range(lo, hi):
                    d = (_popcount(codes[row, 0] ^ a0) + _popcount(codes[row, 1] ^ a1)
                         + _popcount(codes[row, 2] ^ a2) + _popcount(codes[row, 3] ^ a3))
                    if d > threshold:
                        continue
                    if cnt == cap:
                        cap *= 2
                        nq_, nr_, nd_ = (np.empty(cap, np.int64), np.empty(cap, np.int64),
                                         np.empty(cap, np.int64))
                        nq_[:cnt] = out_q[:cnt]
                        nr_[:cnt] = out_r[:cnt]
                        nd_[:cnt] = out_d[:cnt]
                        out_q, out_r, out_d = nq_, nr_, nd_
                    out_q[cnt] = qi
                    out_r[cnt] = row
                    out_d[cnt] = d
                    cnt += 1
        return out_q[:cnt], out_r[:cnt], out_d[:cnt]

    @njit(cache=True, nogil=True)
    def crowd_sizes(q64, centres, starts, radii):
        """Per query code: rows of the largest crowd whose ball holds it, else 0."""
        out = np.zeros(q64.shape[0], np.int64)
        for qi in range(q64.shape[0]):
            for c in range(centres.shape[0]):
                d = (_popcount(centres[c, 0] ^ q64[qi, 0]) + _popcount(centres[c, 1] ^ q64[qi, 1])
                     + _popcount(centres[c, 2] ^ q64[qi, 2]) + _popcount(centres[c, 3] ^ q64[qi, 3]))
                if d <= radii[c] and starts[c + 1] - starts[c] > out[qi]:
                    out[qi] = starts[c + 1] - starts[c]
        return out

else:  # pragma: no cover

    def range_search(*_args, **_kw):
        raise RuntimeError("numba is not available")

    def range_search_packed(*_args, **_kw):
        raise RuntimeError("numba is not available")

    def crowd_search(*_args, **_kw):
        raise RuntimeError("numba is not available")

    def crowd_sizes(*_args, **_kw):
        raise RuntimeError("numba is not available")
