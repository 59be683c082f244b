"""Multi-index tables in Elias-Fano form answer exactly what the plain tables and a brute-force
scan answer, take fewer bytes, and survive a library segment's write and reopen."""

from __future__ import annotations

import json

import numpy as np
import pytest

from haven.errors import LibraryCorruptError
from haven.match import multiindex
from haven.match.multiindex import MultiIndex, chunk_keys, chunk_layout, flat_search, leading_order
from haven.match.packed import PackedTables, low_bits_for
from haven.match.segments import PdqSegment

from codekit import flip as _flip, pairs as _pairs


def _library(rng, n: int) -> np.ndarray:
    """Random codes, families of near-copies (full buckets) and a block of identical codes."""
    fams = [_flip(rng, np.repeat(c[None], 60, axis=0), int(k))
            for c in rng.integers(0, 256, (8, 32), dtype=np.uint8) for k in (1, 8)]
    same = np.repeat(rng.integers(0, 256, (1, 32), dtype=np.uint8), 300, axis=0)
    codes = np.concatenate([rng.integers(0, 256, (n, 32), dtype=np.uint8), same] + fams)
    return codes[rng.permutation(len(codes))]


@pytest.mark.parametrize("step", [1, 4, 16, 64])
@pytest.mark.parametrize("m", [11, 16])
def test_packed_tables_decode_to_the_plain_tables(m, step):
    rng = np.random.default_rng(m + step)
    codes = _library(rng, 5000)
    codes = codes[leading_order(codes)]
    chunks = chunk_layout(m)
    packed = PackedTables.build(m, lambda t: chunk_keys(codes, *chunks[t]),
                                lambda t: chunks[t][1], step=step)
    plain = MultiIndex(codes, m, presorted=True, packed=False)
    offsets, postings = packed.unpack(len(codes))
    assert np.array_equal(offsets, plain._offsets) and np.array_equal(postings, plain._postings)
    packed.check(m, len(codes))


def test_low_bits_make_the_table_smallest():
    n, bits = 100_000_000, 23
    best = low_bits_for(n, bits)
    size = lambda lw: n * lw + n + 2 ** bits * -(-n // 2 ** lw)  # noqa: E731
    assert best == 23 and all(size(best) <= size(lw) for lw in range(33))
    assert size(best) / n < 25.01  # b + 2 bits a posting at 100M rows


@pytest.mark.parametrize("compiled,threads", [(True, 1), (True, 2), (True, 3), (False, 1)],
                         ids=["numba", "numba-2-threads", "numba-3-threads", "numpy"])
@pytest.mark.parametrize("m", [11, 13, 16, 32])
def test_packed_index_equals_brute_force(m, compiled, threads):
    rng = np.random.default_rng(40 + m)
    codes = _library(rng, 6000)
    index = MultiIndex(codes, m, compiled=compiled, threads=threads, packed=True)
    plain = MultiIndex(codes, m, packed=False)
    assert index.packed and not plain.packed
    c64 = codes.view(np.uint64).reshape(-1, 4)
    for k in (0, 6, 20, 31, 40):
        q = _flip(rng, codes[rng.integers(0, len(codes), 8)], k)
        for threshold in (0, 12, 31):
            got = index.search(q, threshold)
            pairs = list(zip(*[x.tolist() for x in got]))
            assert len(pairs) == len(set(pairs))  # each pair once
            assert set(pairs) == _pairs(flat_search(c64, q, threshold))
            assert set(pairs) == _pairs(plain.search(q, threshold))


@pytest.mark.parametrize("threads", [1, 2])
def test_buckets_bigger_than_the_decode_buffer_are_read_whole(threads):
    """The compiled search decodes a bucket a slice at a time (a fixed buffer); buckets of
    many times that size (crowds off, so they stay in the tables) lose no pair."""
    rng = np.random.default_rng(21)
    same = np.repeat(rng.integers(0, 256, (1, 32), dtype=np.uint8), 1300, axis=0)
    near = _flip(rng, np.repeat(same[:1], 700, axis=0), 3)
    codes = np.concatenate([rng.integers(0, 256, (3000, 32), dtype=np.uint8), same, near])
    codes = codes[rng.permutation(len(codes))]
    index = MultiIndex(codes, 11, threads=threads, packed=True, crowds=False)
    q = np.concatenate([same[:1], _flip(rng, same[:2], 5), codes[:3]])
    got = index.search(q, 31)
    pairs = list(zip(*[x.tolist() for x in got]))
    assert len(pairs) == len(set(pairs))
    assert set(pairs) == _pairs(flat_search(codes.view(np.uint64).reshape(-1, 4), q, 31))
    assert sum(1 for qn, _r, _d in pairs if qn == 0) >= 2000


def test_packed_tables_take_fewer_bytes_than_plain_ones():
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 256, (200_000, 32), dtype=np.uint8)
    packed = MultiIndex(codes, 16, packed=True)
    plain = MultiIndex(codes, 16, packed=False)
    tables = packed.nbytes - packed.codes.nbytes - packed.rows.nbytes
    assert tables < 0.6 * (plain.nbytes - plain.codes.nbytes - plain.rows.nbytes)
    # 15 tables with postings, ~(16 + 2) bits each (+ rounding of the group count), plus
    # the first table's unary part and the sampled directories
    assert tables / len(codes) < 15 * 19 / 8 + 1


def test_indexes_are_packed_when_asked_or_past_the_size_set(monkeypatch):
    codes = np.random.default_rng(2).integers(0, 256, (40_000, 32), dtype=np.uint8)
    assert not MultiIndex(codes, 16).packed  # off by default
    assert MultiIndex(codes, 16, packed=True).packed
    monkeypatch.setattr(multiindex, "PACKED_MIN_ROWS", 30_000)
    assert MultiIndex(codes, 16).packed
    assert not MultiIndex(codes, 16, packed=False).packed


def test_a_packed_segment_is_saved_and_reopened_exact(tmp_path):
    rng = np.random.default_rng(11)
    codes = _library(rng, 40_000)
    ids = np.arange(len(codes), dtype=np.int64) + 1000
    PdqSegment.write(tmp_path / "seg", codes, ids, packed=True)
    names = {f.stem for f in (tmp_path / "seg").glob("*.npy")}
    assert {"packed_low", "packed_high", "packed_dirs", "packed_params"} <= names
    assert not {"offsets", "postings"} & names
    assert json.loads((tmp_path / "seg" / "meta.json").read_text())["format"] == 3
    seg = PdqSegment(tmp_path / "seg")
    assert seg.index.packed and isinstance(seg.ids, np.memmap)  # ids read only for matches
    uniq, counts = np.unique(codes, axis=0, return_counts=True)
    q = np.concatenate([_flip(rng, codes[rng.integers(0, len(codes), 12)], 14),
                        uniq[counts.argmax()][None]])  # the block of 300 identical codes
    got_ids, got_d = seg.search(q, 31)
    _q, rows, d = flat_search(codes.view(np.uint64).reshape(-1, 4), q, 31)
    assert sorted(zip(got_ids.tolist(), got_d.tolist())) == sorted(
        zip((rows + 1000).tolist(), d.tolist()))
    assert len(rows) > 300


def test_a_plain_segment_of_format_2_is_still_read(tmp_path):
    rng = np.random.default_rng(12)
    codes = rng.integers(0, 256, (40_000, 32), dtype=np.uint8)
    PdqSegment.write(tmp_path / "seg", codes, np.arange(len(codes)))
    meta_path = tmp_path / "seg" / "meta.json"
    meta = json.loads(meta_path.read_text())
    assert "offsets" in meta["files"]  # plain tables unless asked
    meta["format"] = 2
    meta_path.write_text(json.dumps(meta))
    seg = PdqSegment(tmp_path / "seg")
    assert not seg.index.packed
    q = _flip(rng, codes[:5], 9)
    assert set(seg.search(q, 31)[0].tolist()) == set(range(5))


def test_a_segment_from_a_newer_haven_is_refused_clearly(tmp_path):
    codes = np.random.default_rng(13).integers(0, 256, (100, 32), dtype=np.uint8)
    PdqSegment.write(tmp_path / "seg", codes, np.arange(100))
    meta_path = tmp_path / "seg" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["format"] = 99
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(LibraryCorruptError, match="newer haven"):
        PdqSegment(tmp_path / "seg")


def test_damaged_packed_arrays_are_refused(tmp_path):
    codes = np.random.default_rng(14).integers(0, 256, (40_000, 32), dtype=np.uint8)
    PdqSegment.write(tmp_path / "seg", codes, np.arange(len(codes)), packed=True)
    params = np.load(tmp_path / "seg" / "packed_params.npy")
    params[3, 4] += 1  # a table's group count no longer fits its unary part
    with pytest.raises(ValueError, match="do not fit"):
        MultiIndex.from_arrays(np.load(tmp_path / "seg" / "codes.npy"), None, None,
                               int(json.loads((tmp_path / "seg" / "meta.json").read_text())
                                   ["chunks"]),
                               packed={"packed_low": np.load(tmp_path / "seg" / "packed_low.npy"),
                                       "packed_high": np.load(tmp_path / "seg" / "packed_high.npy"),
                                       "packed_dirs": np.load(tmp_path / "seg" / "packed_dirs.npy"),
                                       "packed_params": params})
