"""PDQ computed from a luma plane, in numpy: the same arithmetic as pdqhash, without its RGB step.

pdqhash (the reference C++ behind `pdqhash.compute`) takes an RGB array, turns it into float
luma (0.299 R + 0.587 G + 0.114 B), box-filters it twice along each axis (Jarosz), keeps one
sample per cell of a 64 x 64 grid, then takes rows/columns 1-16 of that grid's DCT and sets a
bit for every coefficient above their median. When the picture already is luma (a JPEG decoded
to its Y plane), the RGB array pdqhash needs costs an expansion to three channels and a
full-size float conversion — more than the hash itself.

Here the filter and the sampling, being linear, are applied as two banded weighted sums
(`reduction`): only the rows and columns the 64 x 64 samples depend on are read, once. Then the
DCT, the median and the quality metric are pdqhash's own definitions on that 64 x 64 grid.
On the same luma the result is pdqhash's hash and quality, bit for bit on every reference
image it trusts (tests/signals/test_pdqluma.py): the sums run in another order, so a
coefficient equal to the median to float rounding may land on the other side of it. That
happens only on near-flat pictures, whose coefficients are all float noise (quality < 50:
stored, never matched; measured 2 bits on one quality-3 reference image, any number on a
perfectly flat one). The quality metric is the same on every image tested.

Dihedral hashes come from the same DCT, as pdqhash's do: a mirror flips the sign of the odd
frequencies along its axis, a transpose swaps the axes.
"""

from __future__ import annotations

import functools

import numpy as np

#: PDQ reduces every image to 64 x 64 luma before its DCT.
PDQ_SIDE = 64
#: pdqhash's smallest hashable side: a narrower picture gets the all-zero hash, quality 0.
MIN_SIDE = 5
_ZERO = "0" * 64

_J = np.arange(PDQ_SIDE)
#: pdqhash's DCT matrix: rows 1-16 (row 0, the mean, is not hashed), float32 as in the C++.
_DCT = (np.sqrt(2 / PDQ_SIDE) * np.cos(np.pi / (2 * PDQ_SIDE) * np.outer(np.arange(1, 17), 2 * _J + 1))
        ).astype(np.float32)
# -1 where the DCT frequency (index + 1) is odd: the coefficients a mirror along that axis negates.
_MIRROR = np.where(np.arange(16) % 2 == 0, -1.0, 1.0).astype(np.float32)
_ROWS, _COLS = _MIRROR[:, None], _MIRROR[None, :]

#: The 8 dihedral versions as (transpose, mirror rows, mirror columns) of the DCT, in pdqhash's
#: order: original, rot90, rot180, rot270, flip-x, flip-y, flip+1, flip-1.
DIHEDRAL = ((False, False, False), (True, False, True), (False, True, True), (True, True, False),
            (False, True, False), (False, False, True), (True, False, False), (True, True, True))


def luma_of_rgb(rgb: np.ndarray) -> np.ndarray:
    """pdqhash's luma of H x W x 3 RGB pixels, to the bit: float64 weighted sum, then float32."""
    return (rgb[:, :, 0] * 0.299 + rgb[:, :, 1] * 0.587 + rgb[:, :, 2] * 0.114).astype(np.float32)


@functools.lru_cache(maxsize=256)
def reduction(n: int) -> tuple[np.ndarray, np.ndarray]:
    """PDQ's reduction of n samples to 64: its Jarosz filter (the box filter applied twice)
    then its decimation, as (indices, weights), each 64 x k:
    out[i] = sum(weights[i] * x[indices[i]]).

    Output i samples input s = int((i + 0.5) * n / 64) of the filtered signal: the mean over
    the box around s of the means over the boxes around each of those, a box being
    [o - (window - half), o + half - 1] cut at the edges (pdqhash's `box1DFloat`). The weights
    are summed in float64 box by box, then stored as float32. Built with arrays, not loops:
    a seizure holds images of many sizes, each needing its own (cached here per size).

    Banded, so it is applied with gathers and `einsum` rather than a dense matrix product,
    which would go through a multi-threaded BLAS (slow when the scan already uses every core).
    """
    window = (n + 2 * PDQ_SIDE - 1) // (2 * PDQ_SIDE)
    half = (window + 2) // 2
    before, after = window - half, half - 1  # a box's reach on each side
    samples = (((np.arange(PDQ_SIDE) + 0.5) * n) / PDQ_SIDE).astype(np.intp)
    lo1, hi1 = np.maximum(0, samples - before), np.minimum(n - 1, samples + after)
    inner = lo1[:, None] + np.arange(window)[None, :]  # 64 x window: the inner boxes' centres
    used = inner <= hi1[:, None]
    lo2, hi2 = np.maximum(0, inner - before), np.minimum(n - 1, inner + after)
    share = np.where(used, 1.0 / ((hi1 - lo1 + 1)[:, None] * (hi2 - lo2 + 1)), 0.0)
    first, last = lo2[:, 0], np.minimum(n - 1, hi1 + after)
    k = int((last - first + 1).max())
    x = first[:, None] + np.arange(k)[None, :]  # 64 x k: the inputs each output reads
    covered = (x[:, None, :] >= lo2[:, :, None]) & (x[:, None, :] <= hi2[:, :, None]) & used[:, :, None]
    # summed over the inner boxes in order (a reduction over a middle axis adds slice by slice)
    weights = (share[:, :, None] * covered).sum(axis=1)
    inside = x <= last[:, None]
    return np.where(inside, x, 0), np.where(inside, weights, 0.0).astype(np.float32)


#: The last plane reduced (the object itself) and its grid: the hash-only hypotheses
#: (`haven.match.framing.pdq_cells`) ask again for the grid of the plane the item's PDQ was
#: just computed from. Planes are never changed once hashed (`haven.signals.pdq`).
_last_grid: tuple[np.ndarray, np.ndarray] | None = None


def grid64(luma: np.ndarray, remember: bool = True) -> np.ndarray:
    """The 64 x 64 float32 grid PDQ samples from an H x W luma plane (uint8 or float).

    A 64 x 64 plane is its own grid (PDQ's filter is then one pixel wide). `remember`: keep
    the plane and its grid for the next call on the same plane (`_last_grid`); a plane made
    for one call only (a temporary) is not worth holding on to."""
    global _last_grid
    h, w = luma.shape
    if h == PDQ_SIDE and w == PDQ_SIDE:
        return luma.astype(np.float32)
    last = _last_grid
    if last is not None and last[0] is luma:
        return last[1].copy()
    row_idx, row_w = reduction(h)
    col_idx, col_w = reduction(w)
    rows = np.einsum("ikx,ik->ix", luma[row_idx], row_w, dtype=np.float32)  # 64 x w
    grid = np.einsum("ijk,jk->ij", rows[:, col_idx], col_w)  # 64 x 64
    if remember:
        _last_grid = (luma, grid)
    return grid


def quality(grid: np.ndarray) -> int:
    """pdqhash's quality metric of a 64 x 64 grid: summed truncated gradients, 0-100."""
    down = ((grid[:-1] - grid[1:]) * np.float32(100)) / np.float32(255)
    across = ((grid[:, :-1] - grid[:, 1:]) * np.float32(100)) / np.float32(255)
    total = int(np.abs(down.astype(np.int32)).sum()) + int(np.abs(across.astype(np.int32)).sum())
    return min(total // 90, 100)


def dct16(grid: np.ndarray) -> np.ndarray:
    """Frequencies 1-16 along each axis of the grid's DCT (16 x 16 float32)."""
    return np.einsum("ik,jk->ij", np.einsum("ik,kj->ij", _DCT, grid), _DCT)


def hex_of(coeffs: np.ndarray) -> str:
    """The 64-hex PDQ hash of 16 x 16 DCT coefficients: a bit per coefficient above the median
    (the 128th smallest, as pdqhash's Torben median), in the reference hex bit order."""
    flat = coeffs.ravel()
    median = np.partition(flat, 127)[127]
    return np.packbits(flat[::-1] > median).tobytes().hex()


def _version(coeffs: np.ndarray, transpose: bool, rows: bool, cols: bool) -> np.ndarray:
    out = coeffs
    if rows:
        out = out * _ROWS
    if cols:
        out = out * _COLS
    return out.T if transpose else out


def pdq_hex(luma: np.ndarray) -> tuple[str, int]:
    """(hex, quality) of an H x W luma plane."""
    if min(luma.shape) < MIN_SIDE:
        return _ZERO, 0
    grid = grid64(luma)
    return hex_of(dct16(grid)), quality(grid)


def dihedral_hexes(luma: np.ndarray) -> tuple[list[str], int]:
    """The 8 dihedral hashes (order of `DIHEDRAL`) of an H x W luma plane, and its quality."""
    if min(luma.shape) < MIN_SIDE:
        return [_ZERO] * len(DIHEDRAL), 0
    grid = grid64(luma)
    coeffs = dct16(grid)
    return [hex_of(_version(coeffs, *v)) for v in DIHEDRAL], quality(grid)
