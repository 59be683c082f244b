"""PDQ from a luma plane (`haven.signals.pdqluma`) against pdqhash on the same luma."""

from __future__ import annotations

import io
import math

import numpy as np
import pdqhash
import pytest
from PIL import Image

from haven.signals import pdq, pdqluma


def _reference(luma: np.ndarray) -> tuple[list[str], int]:
    """pdqhash's dihedral hashes of a uint8 luma plane given as R = G = B: its float luma
    (0.299 + 0.587 + 0.114 times the level, rounded to float32) is the level itself."""
    bits_list, quality = pdqhash.compute_dihedral(np.repeat(luma[:, :, None], 3, axis=2))
    return [pdq._hex(b) for b in bits_list], int(quality)


def _planes(pdq_data) -> list[np.ndarray]:
    """Luma planes as the fast path makes them, from the reference images (some at DCT scale)."""
    files = sorted(p for p in pdq_data.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    out = []
    for path in files[:60]:
        with Image.open(path) as img:
            w, h = img.size
            if img.format == "JPEG" and min(w, h) >= 1024:
                scale = 512 / min(w, h)
                img.draft("L", (math.ceil(w * scale), math.ceil(h * scale)))
            out.append(np.asarray(img.convert("L")))
    return out


def test_luma_hashes_equal_pdqhash_on_the_same_luma_bit_for_bit(pdq_data):
    planes = _planes(pdq_data)
    assert len(planes) >= 40
    for luma in planes:
        hexes, quality = pdqluma.dihedral_hexes(luma)
        assert (hexes, quality) == _reference(luma), luma.shape
        assert pdqluma.pdq_hex(luma) == (hexes[0], quality)


def test_float_luma_of_rgb_hashes_as_pdqhash_on_the_rgb(pdq_data):
    """The fast path of non-JPEGs and small JPEGs: pdqhash's own float luma, then pdqluma.
    Bit for bit on every image PDQ trusts; a near-flat image (quality < 50, never matched) has
    coefficients equal to the median to float rounding: measured 2 bits on one (q0003)."""
    files = sorted(p for p in pdq_data.rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    checked = 0
    for path in files:
        with Image.open(path) as img:
            if img.width * img.height > 5_000_000:
                continue
            rgb = np.asarray(img.convert("RGB"))
        bits_list, quality = pdqhash.compute_dihedral(rgb)
        expected = [pdq._hex(b) for b in bits_list]
        hexes, own_quality = pdqluma.dihedral_hexes(pdqluma.luma_of_rgb(rgb))
        assert own_quality == quality, path.name
        if quality >= pdq.MIN_TRUSTED_QUALITY:
            assert hexes == expected, path.name
        else:
            assert max(pdq.hamming(a, b) for a, b in zip(hexes, expected)) <= 4, path.name
        checked += 1
    assert checked >= 40


@pytest.mark.parametrize("shape", [(1, 1), (4, 7), (5, 5), (7, 10), (64, 64), (65, 63),
                                   (300, 200), (750, 1000)])
def test_any_size_matches_pdqhash_and_flat_pictures_get_its_quality(shape):
    rng = np.random.default_rng(sum(shape))
    noisy = rng.integers(0, 256, size=shape, dtype=np.uint8)
    ramp = (np.add.outer(np.arange(shape[0]), np.arange(shape[1])) % 256).astype(np.uint8)
    flat = np.full(shape, 128, dtype=np.uint8)
    for luma in (noisy, ramp, flat):
        hexes, quality = pdqluma.dihedral_hexes(luma)
        expected, expected_quality = _reference(luma)
        assert quality == expected_quality
        if min(shape) < pdqluma.MIN_SIDE or quality >= pdq.MIN_TRUSTED_QUALITY:
            assert hexes == expected  # below 5 px: pdqhash's all-zero hash
        # else: coefficients of float noise only (see the module docstring)


def _reduction_by_loops(n: int) -> tuple[np.ndarray, np.ndarray]:
    """PDQ's reduction written out box by box (what `reduction` builds with arrays)."""
    window = (n + 127) // 128
    half = (window + 2) // 2

    def box(o):
        return max(0, o - (window - half)), min(n - 1, o + half - 1)

    rows = []
    for i in range(64):
        lo, hi = box(int(((i + 0.5) * n) / 64))
        weights: dict[int, float] = {}
        for o in range(lo, hi + 1):
            lo2, hi2 = box(o)
            for x in range(lo2, hi2 + 1):
                weights[x] = weights.get(x, 0.0) + 1.0 / ((hi - lo + 1) * (hi2 - lo2 + 1))
        rows.append(weights)
    k = max(len(w) for w in rows)
    indices, out = np.zeros((64, k), dtype=np.intp), np.zeros((64, k), dtype=np.float32)
    for i, w in enumerate(rows):
        indices[i, : len(w)] = sorted(w)
        out[i, : len(w)] = [w[x] for x in sorted(w)]
    return indices, out


def test_reduction_equals_the_box_by_box_sums_to_the_bit():
    sizes = list(range(1, 140)) + [255, 256, 257, 511, 512, 750, 767, 1000, 1023, 1024, 3000, 4001]
    for n in sizes:
        indices, weights = pdqluma.reduction(n)
        expected_indices, expected_weights = _reduction_by_loops(n)
        assert np.array_equal(indices, expected_indices), n
        assert np.array_equal(weights, expected_weights), n


def test_reduction_weights_are_averages():
    for n in (64, 100, 750, 3000):
        _idx, weights = pdqluma.reduction(n)
        assert np.allclose(weights.sum(axis=1), 1.0, atol=1e-5)


def test_each_dihedral_hash_is_nearest_to_the_plane_turned_that_way():
    rng = np.random.default_rng(3)
    small = rng.integers(0, 256, size=(16, 16), dtype=np.uint8)
    plane = np.asarray(Image.fromarray(small).resize((384, 384), Image.BICUBIC))
    hexes, _q = pdqluma.dihedral_hexes(plane)
    # numpy's turns in pdqhash's order: original, rot90, rot180, rot270, flip-x, flip-y,
    # flip+1 (the transpose), flip-1
    turned = [plane, np.rot90(plane, 1), np.rot90(plane, 2), np.rot90(plane, 3),
              np.rot90(plane.T, 1), np.rot90(plane.T, 3), plane.T, np.rot90(plane.T, 2)]
    for slot, version in enumerate(turned):
        own = pdqluma.pdq_hex(np.ascontiguousarray(version))[0]
        distances = [pdq.hamming(own, h) for h in hexes]
        # not exact but for the transpose: a turned plane's grid samples pixels one apart
        assert distances.index(min(distances)) == slot and distances[slot] <= 32
    assert pdqluma.pdq_hex(np.ascontiguousarray(plane.T))[0] == hexes[6]


def test_a_jpeg_decoded_to_luma_is_within_a_few_bits_of_its_decoded_rgb():
    rng = np.random.default_rng(5)
    base = rng.integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
    img = Image.fromarray(base).resize((2048, 1536), Image.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    with Image.open(io.BytesIO(buf.getvalue())) as y_img:
        y_img.draft("L", (683, 512))
        y = np.asarray(y_img.convert("L"))
    with Image.open(io.BytesIO(buf.getvalue())) as rgb_img:
        rgb_img.draft("RGB", (683, 512))
        rgb = np.asarray(rgb_img.convert("RGB"))
    assert y.shape == rgb.shape[:2] == (768, 1024)  # 1/2 DCT scale
    assert abs(y.astype(float) - pdqluma.luma_of_rgb(rgb)).mean() < 1.0
    assert pdq.hamming(pdqluma.pdq_hex(y)[0], pdqluma.pdq_hex(pdqluma.luma_of_rgb(rgb))[0]) <= 6


def test_the_grid_of_the_plane_just_hashed_is_served_again_and_only_for_that_plane():
    rng = np.random.default_rng(5)
    plane = rng.integers(0, 256, (300, 400)).astype(np.float32)
    first = pdqluma.grid64(plane)
    again = pdqluma.grid64(plane)
    assert np.array_equal(first, again) and again is not first  # a copy: callers may change it
    other = plane.copy()
    other[100:200] = 0.0
    assert not np.array_equal(pdqluma.grid64(other), first)  # another array is reduced anew
    assert np.array_equal(pdqluma.grid64(plane), first)


def test_a_temporary_plane_is_not_held():
    plane = np.random.default_rng(6).integers(0, 256, (120, 90)).astype(np.float32)
    kept = pdqluma.grid64(plane)
    temporary = plane * 0.5
    assert np.allclose(pdqluma.grid64(temporary, remember=False), kept * 0.5, atol=1e-3)
    assert pdqluma._last_grid[0] is plane  # the plane hashed before is still the one kept
