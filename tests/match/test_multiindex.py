"""The multi-index and the segmented NearIndex answer exactly what a brute-force scan answers."""

from __future__ import annotations

import numpy as np
import pytest

from haven.match.multiindex import (
    MultiIndex,
    chunk_layout,
    chunk_values,
    code_words,
    flat_search,
    leading_order,
)
from haven.match.near import NearIndex

from codekit import flip as _flip, pairs as _pairs


def _clustered(rng, n: int) -> np.ndarray:
    """Few centres, many rows 0-40 bits from them, plus a crowd of identical 'blank' hashes."""
    centres = rng.integers(0, 256, (20, 32), dtype=np.uint8)
    rows = np.repeat(centres, n // 20, axis=0)
    for r in range(len(rows)):
        rows[r] = _flip(rng, rows[r:r + 1], int(rng.integers(0, 41)))[0]
    blank = np.zeros((n // 10, 32), dtype=np.uint8)
    blank[:, ::3] = 0x2C
    return np.concatenate([rows, blank])


def test_chunks_cover_every_bit_once_and_values_match_the_bits():
    for m in (8, 11, 12, 16, 32):
        layout = chunk_layout(m)
        assert sum(length for _s, length in layout) == 256
        assert [s for s, _l in layout] == list(np.cumsum([0] + [l for _s, l in layout])[:-1])
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, (50, 32), dtype=np.uint8)
    bits = np.unpackbits(codes, axis=1)
    words = code_words(codes)
    for start, length in chunk_layout(11):  # 23/24-bit chunks straddle the 64-bit words
        want = bits[:, start:start + length] @ (1 << np.arange(length - 1, -1, -1))
        assert (chunk_values(words, start, length) == want).all()


@pytest.mark.parametrize("compiled,threads", [(True, 1), (True, 2), (False, 1)],
                         ids=["numba", "numba-2-threads", "numpy"])
@pytest.mark.parametrize("m", [11, 12, 16, 20, 32])
def test_multiindex_equals_brute_force_on_random_codes(m, compiled, threads):
    rng = np.random.default_rng(m)
    codes = rng.integers(0, 256, (3000, 32), dtype=np.uint8)
    index = MultiIndex(codes, m, compiled=compiled, threads=threads)
    c64 = codes.view(np.uint64).reshape(-1, 4)
    for k in (0, 5, 20, 30, 31, 32, 33, 45):
        q = _flip(rng, codes[rng.integers(0, len(codes), 8)], k)
        for threshold in (0, 15, 31):
            assert _pairs(index.search(q, threshold)) == _pairs(flat_search(c64, q, threshold))


@pytest.mark.parametrize("compiled", [True, False], ids=["numba", "numpy"])
def test_each_pair_is_reported_once_however_many_tables_reach_it(compiled):
    rng = np.random.default_rng(3)
    codes = np.concatenate([_clustered(rng, 2000), rng.integers(0, 256, (2000, 32), np.uint8)])
    index = MultiIndex(codes, 16, compiled=compiled)
    q, rows, _d = index.search(codes[-2:].copy(), 31)
    q2, rows2, _d2 = index.search(codes[[5, 1990]].copy(), 31)  # a cluster, the blank crowd
    for qn, r in ((q, rows), (q2, rows2)):
        assert len(set(zip(qn.tolist(), r.tolist()))) == len(r)
    assert len(rows2) > 100  # a clustered query reaches its rows through many tables


def test_presorted_codes_need_no_copy_and_give_the_callers_rows():
    rng = np.random.default_rng(8)
    codes = _clustered(rng, 3000)
    order = leading_order(codes)
    sorted_codes = codes[order]
    index = MultiIndex(sorted_codes, 11, presorted=True)
    assert index.rows is None and np.shares_memory(index.codes, sorted_codes)
    assert index._postings.size == 10 * len(codes)  # no postings for the first table
    q = _flip(rng, sorted_codes[:6], 12)
    want = _pairs(flat_search(sorted_codes.view(np.uint64).reshape(-1, 4), q, 31))
    assert _pairs(index.search(q, 31)) == want
    with pytest.raises(ValueError, match="leading_order"):
        MultiIndex(codes, 11, presorted=True)


@pytest.mark.parametrize("compiled", [True, False], ids=["numba", "numpy"])
def test_indexes_saved_before_the_sorted_layout_still_answer_exactly(compiled):
    """Library segments of format 1: codes in import order, postings for every table."""
    from haven.match.multiindex import chunk_layout, choose_chunks

    rng = np.random.default_rng(9)
    codes = np.concatenate([_clustered(rng, 2000), rng.integers(0, 256, (2000, 32), np.uint8)])
    m = 12
    words = code_words(codes)
    offsets, postings = [], []
    for start, length in chunk_layout(m):
        keys = chunk_values(words, start, length)
        postings.append(np.argsort(keys, kind="stable").astype(np.uint32))
        offsets.append(np.concatenate([[0], np.cumsum(np.bincount(keys, minlength=2 ** length))]))
    old = MultiIndex.from_arrays(codes.view(np.uint64).reshape(-1, 4),
                                 np.concatenate(offsets).astype(np.uint32),
                                 np.concatenate(postings), m, compiled=compiled)
    q = np.concatenate([_flip(rng, codes[rng.integers(0, len(codes), 10)], 20), codes[-3:]])
    c64 = codes.view(np.uint64).reshape(-1, 4)
    assert _pairs(old.search(q, 31)) == _pairs(flat_search(c64, q, 31))
    assert choose_chunks(len(codes)) >= 8


@pytest.mark.parametrize("compiled,threads", [(True, 1), (True, 2), (False, 1)],
                         ids=["numba", "numba-2-threads", "numpy"])
def test_crowds_are_kept_out_of_the_tables_and_answers_stay_exact(compiled, threads):
    rng = np.random.default_rng(12)
    centres = rng.integers(0, 256, (6, 32), dtype=np.uint8)
    crowds = [_flip(rng, np.repeat(c[None], 400, axis=0), int(k))  # 0-24 bits off
              for c in centres for k in (2, 10, 24)]
    codes = np.concatenate([rng.integers(0, 256, (4000, 32), dtype=np.uint8)] + crowds)
    codes = codes[rng.permutation(len(codes))]
    index = MultiIndex(codes, 12, compiled=compiled, threads=threads)
    assert len(index.crowd_radii) >= 6 and index.n_main < len(codes) - 6 * 400
    assert index.crowd_radii.max() <= 24
    assert index._postings.size == 11 * index.n_main  # crowd rows are in no table
    c64 = codes.view(np.uint64).reshape(-1, 4)
    for k in (0, 8, 20, 30, 40, 55, 60):  # inside, at and beyond the crowds' reach
        q = _flip(rng, np.concatenate([centres, codes[rng.integers(0, len(codes), 4)]]), k)
        for threshold in (0, 12, 31):
            assert _pairs(index.search(q, threshold)) == _pairs(flat_search(c64, q, threshold))
    sizes = index.crowd_sizes(np.concatenate([centres, rng.integers(0, 256, (2, 32), np.uint8)]))
    assert (sizes[:6] >= 400).all() and (sizes[6:] == 0).all()


def _sorted_answer(result) -> np.ndarray:
    q, r, d = result
    out = np.stack([q, r, d], axis=1)
    return out[np.lexsort((out[:, 2], out[:, 1], out[:, 0]))]


def test_threads_share_probes_and_crowd_rows_and_answer_identically():
    """Two or three threads split every hash's probes and each crowd's rows: the answer is the
    same list of pairs as one thread's (each pair once), on a library with crowds, for
    items of 8 hashes whose first hash sits in a crowd (one hash carries most of the work)."""
    rng = np.random.default_rng(21)
    families = [_flip(rng, np.repeat(c[None], 700, axis=0), int(k))
                for c in rng.integers(0, 256, (5, 32), dtype=np.uint8) for k in (1, 6, 14)]
    codes = np.concatenate([_clustered(rng, 3000), rng.integers(0, 256, (6000, 32), np.uint8)]
                           + families)
    codes = codes[rng.permutation(len(codes))]
    index = MultiIndex(codes, 11)
    assert len(index.crowd_radii) >= 5
    c64 = codes.view(np.uint64).reshape(-1, 4)
    items = [np.concatenate([_flip(rng, codes[rng.integers(0, len(codes), 1)], k),
                             rng.integers(0, 256, (7, 32), dtype=np.uint8)]) for k in (0, 9, 25)]
    items.append(_flip(rng, codes[rng.integers(0, len(codes), 8)], 12))
    for q in items:
        for threshold in (0, 16, 31):
            index.threads = 1
            one = _sorted_answer(index.search(q, threshold))
            assert _pairs(index.search(q, threshold)) == _pairs(flat_search(c64, q, threshold))
            # crowds shared out whole (all small), rows of every crowd split (all big), mixed
            for split in (10 ** 9, 1, 1000):
                index.crowd_split_rows = split
                for threads in (2, 3):
                    index.threads = threads
                    got = _sorted_answer(index.search(q, threshold))
                    assert np.array_equal(got, one), (threads, threshold, split)
    assert {size >= 1000 for size in np.diff(index.crowd_starts)} == {True, False}
    assert max(len(_sorted_answer(index.search(q, 31))) for q in items) > 700  # a crowd, whole


def test_compiled_search_is_installed():
    from haven.match import kernels

    assert kernels.available(), "numba is a dependency: the compiled search must be in use"


@pytest.mark.parametrize("compiled", [True, False], ids=["numba", "numpy"])
def test_multiindex_equals_brute_force_on_clustered_codes_with_a_crowded_bucket(compiled):
    rng = np.random.default_rng(7)
    codes = _clustered(rng, 4000)
    index = MultiIndex(codes, 11, compiled=compiled)
    c64 = codes.view(np.uint64).reshape(-1, 4)
    queries = np.concatenate([_flip(rng, codes[rng.integers(0, len(codes), 12)], 25), codes[-3:]])
    got, want = _pairs(index.search(queries, 31)), _pairs(flat_search(c64, queries, 31))
    assert got == want and len(want) > 400  # the blank crowd comes back whole


def test_threshold_is_inclusive_in_the_multiindex():
    codes = np.zeros((1, 32), dtype=np.uint8)
    index = MultiIndex(np.repeat(codes, 100, axis=0), 16)
    q = np.zeros((2, 32), dtype=np.uint8)
    q[0, :4] = [0xFF, 0xFF, 0xFF, 0xFE]  # 31 bits
    q[1, :4] = 0xFF  # 32 bits
    qn, rows, d = index.search(q, 31)
    assert set(qn.tolist()) == {0} and set(d.tolist()) == {31} and len(rows) == 100


def _hexes(codes: np.ndarray) -> list[str]:
    return [bytes(row).hex() for row in codes]


def _brute_ids(queries, haystack, ids, threshold):
    d = np.unpackbits(queries[:, None, :] ^ haystack[None, :, :], axis=-1).sum(-1).min(0)
    best: dict[int, int] = {}
    for ident, dist in zip(ids.tolist(), d.tolist()):
        if dist <= threshold and (ident not in best or dist < best[ident]):
            best[ident] = dist
    return sorted(best.items(), key=lambda t: (t[1], t[0]))


def test_segmented_near_index_with_dihedral_style_queries_equals_brute_force():
    rng = np.random.default_rng(11)
    base = np.concatenate([rng.integers(0, 256, (1500, 32), dtype=np.uint8), _clustered(rng, 600)])
    ids = rng.integers(0, 900, len(base))
    index = NearIndex(flat_limit=256)  # many small segments plus a flat tail
    for lo in range(0, len(base), 333):
        index.add(_hexes(base[lo:lo + 333]), ids[lo:lo + 333].tolist())
    sizes = index.segment_sizes
    assert len(sizes) >= 2 and sum(sizes) == len(base)
    for k in range(12):
        # 8 query hashes like an item's dihedral set: one near a row, seven unrelated
        q = rng.integers(0, 256, (8, 32), dtype=np.uint8)
        q[0] = _flip(rng, base[rng.integers(0, len(base))][None], int(rng.integers(0, 40)))[0]
        for threshold in (31, 20, 50):  # 50 is beyond the multi-index: flat fallback
            assert index.search(_hexes(q), threshold) == _brute_ids(q, base, ids, threshold)


def test_near_index_threshold_inclusive_across_segments_and_tail():
    index = NearIndex(flat_limit=64)
    index.add(["0" * 64] * 100, list(range(100)))  # sealed into a segment
    index.add(["0" * 64], [500])  # stays in the flat tail
    assert index.segment_sizes == [100, 1]
    q31 = "7fffffff" + "0" * 56
    q32 = "ffffffff" + "0" * 56
    assert {d for _i, d in index.search([q31])} == {31} and len(index.search([q31])) == 101
    assert index.search([q32]) == []


def test_added_hashes_are_found_at_once_while_a_background_seal_runs():
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 256, (5000, 32), dtype=np.uint8)
    index = NearIndex(flat_limit=1000, background=True)
    for lo in range(0, 5000, 500):
        index.add(_hexes(codes[lo:lo + 500]), list(range(lo, lo + 500)))
        # every hash added so far is searchable immediately, sealed or not
        probe = codes[lo + 499]
        assert index.search([bytes(probe).hex()], 0) == [(lo + 499, 0)]
    index.wait()
    assert sum(index.segment_sizes) == 5000
    index.compact()
    assert index.segment_sizes == [5000, 0]
    assert index.search([bytes(codes[1234]).hex()], 0) == [(1234, 0)]


def test_search_rows_keeps_tags_through_segments():
    index = NearIndex(flat_limit=2)
    index.add(["0" * 64, "f" * 64, "0" * 63 + "1"], [1, 1, 2], ["pdq", "pdq-c84", None])
    assert index.segment_sizes[0] == 3
    assert index.search_rows(["f" * 64], 0) == [(1, 0, "pdq-c84")]
    assert index.search_rows(["0" * 64], 1) == [(1, 0, "pdq"), (2, 1, None)]


def test_searches_from_another_thread_during_appends_and_seals_stay_correct():
    import threading

    rng = np.random.default_rng(8)
    codes = rng.integers(0, 256, (6000, 32), dtype=np.uint8)
    index = NearIndex(flat_limit=700, background=True)
    index.add(_hexes(codes[:1]), [0])
    errors: list[str] = []
    stop = threading.Event()

    def searcher():
        while not stop.is_set():
            got = index.search([bytes(codes[0]).hex()], 0)
            if got != [(0, 0)]:
                errors.append(repr(got))

    t = threading.Thread(target=searcher)
    t.start()
    for lo in range(1, 6000, 250):
        index.add(_hexes(codes[lo:lo + 250]), list(range(lo, min(lo + 250, 6000))))
    stop.set()
    t.join()
    index.wait()
    assert not errors
    q = codes[rng.integers(0, 6000, 8)]
    rows, dists = index.search_codes(q, 31)
    want_q, want_rows, want_d = flat_search(codes.view(np.uint64).reshape(-1, 4), q, 31)
    assert set(rows.tolist()) == set(want_rows.tolist())
