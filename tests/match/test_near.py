from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from haven.match.near import NearAnswer, NearIndex, NearIndexError, RobustPdq, hexes_to_codes


def _shared() -> Path:
    env = os.environ.get("HAVEN_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared"


REG = _shared() / "testdata" / "pdq" / "data" / "reg-test-input"


def _hexes(codes: np.ndarray) -> list[str]:
    return [bytes(row).hex() for row in codes]


def _brute(query: np.ndarray, haystack: np.ndarray, ids: np.ndarray, threshold: int) -> list[tuple[int, int]]:
    """(id, min distance) by numpy popcount, the slow obvious way."""
    x = np.bitwise_xor(query[:, None, :], haystack[None, :, :])
    d = np.unpackbits(x, axis=-1).sum(-1).min(0)
    best: dict[int, int] = {}
    for ident, dist in zip(ids.tolist(), d.tolist()):
        if dist <= threshold and (ident not in best or dist < best[ident]):
            best[ident] = dist
    return sorted(best.items(), key=lambda t: (t[1], t[0]))


def test_empty_index_finds_nothing():
    index = NearIndex()
    assert len(index) == 0
    assert index.search(["0" * 64]) == []
    index.add([], [])
    assert len(index) == 0


def test_threshold_is_inclusive():
    index = NearIndex()
    index.add(["0" * 64], [7])
    q = "7fffffff" + "0" * 56  # 31 bits set
    assert index.search([q], 31) == [(7, 31)]
    assert index.search([q], 30) == []


def test_search_equals_brute_force_on_random_codes_with_shared_ids():
    rng = np.random.default_rng(3)
    base = rng.integers(0, 256, (400, 32), dtype=np.uint8)
    ids = rng.integers(0, 150, 400)  # several hashes per id, as crop windows are enrolled
    index = NearIndex()
    index.add(_hexes(base), ids.tolist())
    for k in range(20):
        # 8 query hashes near random haystack rows: flip a few bits
        rows = base[rng.integers(0, 400, 8)].copy()
        flips = rng.integers(0, 256, (8, int(rng.integers(0, 60))))
        for r, bits in enumerate(flips):
            for b in bits:
                rows[r, b // 8] ^= 1 << (b % 8)
        for threshold in (0, 31, 50):
            assert index.search(_hexes(rows), threshold) == _brute(rows, base, ids, threshold)


def test_search_rows_report_which_enrolled_hash_matched():
    index = NearIndex()
    index.add(["0" * 64, "f" * 64], [1, 1], ["pdq", "pdq-c84"])
    assert index.search_rows(["f" * 64]) == [(1, 0, "pdq-c84")]


def test_search_hits_say_which_query_hash_matched_in_the_tail_and_in_segments():
    rng = np.random.default_rng(5)
    base = rng.integers(0, 256, (300, 32), dtype=np.uint8)
    for flat_limit in (1_000_000, 64):  # all in the flat tail / mostly sealed segments
        index = NearIndex(flat_limit=flat_limit)
        index.add(_hexes(base), list(range(300)))
        far = (~base[:3]).copy()  # 256 bits from rows 0-2
        near = base[[17, 250]].copy()
        near[0, 0] ^= 0b111  # 3 bits from row 17
        hits = index.search_hits(_hexes(far) + _hexes(near) + _hexes(base[[17]]))
        assert hits == [(17, 0, None, 5), (250, 0, None, 4)]
        assert index.search_rows(_hexes(near)) == [(250, 0, None), (17, 3, None)]


def _crowd(rng, centre: np.ndarray, n: int, bits: int) -> np.ndarray:
    rows = np.repeat(centre[None], n, axis=0)
    for r in range(n):
        for b in rng.choice(256, int(rng.integers(0, bits + 1)), replace=False):
            rows[r, b // 8] ^= 1 << (b % 8)
    return rows


@pytest.mark.parametrize("shared_ids", [False, True], ids=["one-row-per-id", "shared-ids"])
def test_bounded_answer_lists_the_best_entries_and_counts_all_of_them(shared_ids):
    rng = np.random.default_rng(21)
    centre = rng.integers(0, 256, 32, dtype=np.uint8)
    base = np.concatenate([rng.integers(0, 256, (3000, 32), dtype=np.uint8),
                           _crowd(rng, centre, 1500, 20)])
    base = base[rng.permutation(len(base))]
    ids = rng.integers(0, 2000, len(base)) if shared_ids else np.arange(10, 10 + len(base))
    index = NearIndex(flat_limit=1024)  # segments and a flat tail
    for lo in range(0, len(base), 700):
        index.add(_hexes(base[lo:lo + 700]), ids[lo:lo + 700].tolist())
    assert index._one_row_per_id is not shared_ids
    query = _crowd(rng, centre, 1, 6)
    full = index.search(_hexes(query))
    assert len(full) > 500
    for limit in (0, 1, 7, 100, len(full), len(full) + 5):
        answer = index.search_bounded(_hexes(query), limit=limit)
        assert isinstance(answer, NearAnswer)
        assert answer.total == len(full)
        assert [(m.entry_id, m.distance) for m in answer.matches] == full[:limit]
        assert answer.truncated == (limit < len(full))
        rows = index.search_bounded_rows(_hexes(query), limit=limit, with_rest=True)
        rest_ids, rest_distances = rows.rest
        # the listed entries and the rest are every entry within reach, each once
        assert sorted(zip(rows.ids.tolist() + rest_ids.tolist(),
                          rows.distances.tolist() + rest_distances.tolist())) == sorted(full)
        assert index.search_bounded_rows(_hexes(query), limit=limit).rest is None
    assert index.search_bounded(_hexes(rng.integers(0, 256, (1, 32), dtype=np.uint8))) \
        == NearAnswer([], 0)


def test_bounded_answer_flags_entries_in_a_crowded_spot_and_not_the_others():
    rng = np.random.default_rng(4)
    centre = rng.integers(0, 256, 32, dtype=np.uint8)
    lone = rng.integers(0, 256, (5000, 32), dtype=np.uint8)
    crowd = _crowd(rng, centre, 3000, 8)
    index = NearIndex(flat_limit=1024)
    index.add_codes(np.concatenate([lone, crowd]), np.arange(8000))
    index.compact()
    answer = index.search_bounded(_hexes(centre[None]), limit=50, crowd_rows=500)
    assert answer.total >= 3000 and len(answer.matches) == 50
    assert all(m.crowded and m.entry_id >= 5000 for m in answer.matches)
    alone = index.search_bounded(_hexes(lone[:3]), crowd_rows=500)
    assert [(m.entry_id, m.crowded, m.query) for m in alone.matches] == \
        [(0, False, 0), (1, False, 1), (2, False, 2)]


def test_bad_hash_is_refused_with_a_clear_error():
    with pytest.raises(NearIndexError, match="64 hex"):
        NearIndex().add(["abc"], [1])


@pytest.mark.skipif(not (REG / "needles.txt").exists(), reason=f"shared PDQ reference lists not found under {REG}")
def test_reference_needles_and_haystack_agree_with_brute_force():
    hay = [l.strip() for l in (REG / "haystack.txt").read_text().split() if l.strip()]
    needles = [l.strip() for l in (REG / "needles.txt").read_text().split() if l.strip()]
    index = NearIndex()
    index.add(hay, list(range(len(hay))))
    hay_codes = np.array([np.frombuffer(bytes.fromhex(h), np.uint8) for h in hay])
    found = 0
    for n in needles:
        q = np.frombuffer(bytes.fromhex(n), np.uint8)[None]
        got = index.search([n], 31)
        assert got == _brute(q, hay_codes, np.arange(len(hay)), 31)
        found += bool(got)
    assert found == len(needles)  # every needle is a near-duplicate of some haystack entry


def test_robust_method_finds_a_cropped_copy_and_not_an_unrelated_image():
    from PIL import Image
    from skimage import data

    known = Image.fromarray(data.astronaut())
    other = Image.fromarray(data.coffee())
    method = RobustPdq()
    index = NearIndex()
    added = method.enrol(index, known, 42)
    assert added == len(index) > 200
    w, h = known.size
    cropped = known.crop((int(w * 0.07), int(h * 0.03), int(w * 0.95), int(h * 0.92)))
    assert [i for i, _d in method.search(index, cropped)] == [42]
    assert method.search(index, other) == []


def test_crowded_flags_remembered_per_row_stay_right_as_segments_change():
    rng = np.random.default_rng(8)
    centre = rng.integers(0, 256, 32, dtype=np.uint8)
    index = NearIndex(flat_limit=1024)
    # a crowd too small to flag (300 < 500 rows) that grows past it
    index.add_codes(np.concatenate([rng.integers(0, 256, (3000, 32), dtype=np.uint8),
                                    _crowd(rng, centre, 300, 8)]), np.arange(3300))
    index.compact()

    def fresh_flags(rows):  # worked out from the segments' crowds, nothing remembered
        codes = index._codes.view()[rows]
        score = sum(seg.index.crowd_sizes(codes) for seg in index._view.segments)
        return score >= 500

    queries = [_hexes(_crowd(rng, centre, 1, 6)) for _ in range(5)] + [_hexes(centre[None])]
    seen = []
    for round_ in range(4):
        for q in queries:
            rows = index.search_codes(hexes_to_codes(q), 31)[0]
            got = index._crowded(index._view, rows, 500)
            assert got.tolist() == fresh_flags(rows).tolist()
            seen.append(bool(got[rows < 3300].any()))  # the first rows' flags
        index.add_codes(_crowd(rng, centre, 600, 8), np.arange(10_000 + 600 * round_,
                                                               10_600 + 600 * round_))
        index.compact()
    assert not seen[0] and seen[-1]  # the first rows were flagged once the crowd grew
