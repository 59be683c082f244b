"""The compiled first-round pass of hash-only hypotheses answers exactly what the flat
distance matrix does: same rows, same best distances, same best hypothesis (ties to the
earlier one), on random codes and on rows placed exactly at, one inside and one past each
radius of a hypothesis."""

import numpy as np
import pytest

from haven.match import framing, hypothesis_search, kernels
from haven.match.framing import FramingIndex, Item
from haven.match.hypothesis_search import first_round_compiled, first_round_numpy

needs_numba = pytest.mark.skipif(not kernels.available(), reason="numba not installed")


def _item(seed: int) -> Item:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:framing.GRID, 0:framing.GRID] / framing.GRID
    grid = np.zeros_like(x)
    for _ in range(6):
        fx, fy, ph = rng.uniform(0.5, 4), rng.uniform(0.5, 4), rng.uniform(0, 6.3)
        grid += rng.uniform(20, 60) * np.sin(2 * np.pi * (fx * x + fy * y) + ph)
    return Item((grid + 128).astype(np.float32), 4 / 3)


def _bits(words: np.ndarray) -> np.ndarray:
    return np.unpackbits(np.ascontiguousarray(words).view(np.uint8)).astype(bool)


def _at_distance(code, mask, d: int, rng) -> np.ndarray:
    """A known code exactly `d` reliable bits from the hypothesis (any unreliable bits)."""
    bits, rel = _bits(code), _bits(mask)
    out = bits.copy()
    reliable = np.nonzero(rel)[0]
    out[rng.choice(reliable, d, replace=False)] ^= True
    loose = np.nonzero(~rel)[0]
    out[loose] = rng.random(len(loose)) < 0.5
    return np.packbits(out).view(np.uint64)


def _adversarial_known(codes, masks, nf, rng, n_random=3000) -> np.ndarray:
    rows = [rng.integers(0, 2 ** 63, (n_random, 4), dtype=np.int64).view(np.uint64)]
    radius_f = framing.CANDIDATE
    radius_o = framing.first_round_other_radius()
    for q in rng.choice(len(codes), 40, replace=False):
        r = radius_f if q < nf else radius_o
        for d in (0, r - 1, r, r + 1, r + 2, r + 9):
            rows.append(_at_distance(codes[q], masks[q], d, rng)[None])
    # a row that ties: the same code as two hypotheses' own (distance 0 to both when equal)
    rows.append(codes[:1].copy())
    rows.append(codes[nf:nf + 1].copy())
    # rows near a frame AND an other hypothesis at once
    for q in range(3):
        a = _at_distance(codes[q], masks[q], radius_f - q, rng)
        rows.append(a[None])
    known = np.concatenate(rows)
    return known[rng.permutation(len(known))]


def _same(a, b) -> None:
    for field in ("rows", "frame_dist", "frame_hyp", "other_dist", "other_hyp"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)


@needs_numba
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compiled_pass_equals_the_flat_matrix_on_adversarial_rows(seed):
    rng = np.random.default_rng(seed)
    tags, frames, codes, masks = framing.hypotheses(_item(seed))
    nf = len(frames)
    known = _adversarial_known(codes, masks, nf, rng)
    for fr, orad in ((framing.CANDIDATE, 36), (60, 60), (36, 52), (0, 0)):
        flat = first_round_numpy(codes, masks, nf, known, fr, orad)
        fast = first_round_compiled(codes, masks, nf, known, fr, orad)
        _same(flat, fast)
    flat = first_round_numpy(codes, masks, nf, known, framing.CANDIDATE, 36)
    # every placed row within its radius is there, the ones past it are not (by themselves)
    assert len(flat.rows) >= 40 * 3


@needs_numba
def test_compiled_pass_split_over_threads_gives_the_one_thread_answer(monkeypatch):
    monkeypatch.setattr(hypothesis_search, "SPLIT_ROWS", 500)
    rng = np.random.default_rng(5)
    tags, frames, codes, masks = framing.hypotheses(_item(5))
    known = _adversarial_known(codes, masks, len(frames), rng)
    one = first_round_compiled(codes, masks, len(frames), known, 52, 36, threads=1)
    for threads in (2, 3):
        _same(one, first_round_compiled(codes, masks, len(frames), known, 52, 36, threads))


@needs_numba
def test_compiled_pass_on_uniform_random_hypotheses_and_rows():
    rng = np.random.default_rng(9)
    codes = rng.integers(0, 2 ** 63, (50, 4), dtype=np.int64).view(np.uint64)
    masks = rng.integers(0, 2 ** 63, (50, 4), dtype=np.int64).view(np.uint64)  # ~128 bits
    known = rng.integers(0, 2 ** 63, (20000, 4), dtype=np.int64).view(np.uint64)
    # half the mask: distances ~64, so radius 56 keeps some rows and drops most
    flat = first_round_numpy(codes, masks, 30, known, 56, 50)
    assert 0 < len(flat.rows) < len(known)
    _same(flat, first_round_compiled(codes, masks, 30, known, 56, 50))


def test_framing_search_gives_the_same_hits_with_and_without_the_compiled_pass(monkeypatch):
    rng = np.random.default_rng(3)
    item = _item(3)
    tags, frames, codes, masks = framing.hypotheses(item)
    known = _adversarial_known(codes, masks, len(frames), rng, n_random=500)
    index = FramingIndex(known.view(np.uint8))
    fast = index.search(item)
    detail: dict = {}
    assert index.search(item, detail) == fast  # the flat matrix path (bench detail)
    monkeypatch.setattr(hypothesis_search.kernels, "available", lambda: False)
    assert index.search(item) == fast
    assert fast  # rows placed at distance 0 of a band or logo are matched
    wide: dict = {"radius": 60}
    index.search(item, wide)
    best = detail["first_round"]
    np.testing.assert_array_equal(wide["near_rows"], np.nonzero(best <= 60)[0])
    np.testing.assert_array_equal(wide["near_dist"], best[best <= 60])
