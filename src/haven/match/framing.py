"""Hash-only near matching: hypotheses of the known picture's framing, hashed in PDQ's domain.

Most known lists hold one PDQ per known image and never the image, so haven cannot enrol crop
windows of it (`haven.signals.pdq.enrolment_hexes`). This module works from the query side
only: it guesses how the item was made from an unknown original and rebuilds, for each guess,
what the original's PDQ would be.

- **Frames** (`frame-l4r6t0b2`): the item is the original with l/r/t/b % cut from each side
  (each side independently, 0-16 %). The original's 64x64 luminance is the item's, placed
  where the guess puts it, with the cut border filled from the strip along the item's edge,
  leaning toward the row's (column's) mean the further out it lies (`FRAME_FILL`).
- **Bands** (`band-b8`): a banner or caption strip covers the item's top or bottom h %; the
  strip is replaced by reflecting the rows next to it.
- **Logos** (`logo-br15`): a mark covers a corner; the corner block is replaced by reflecting
  its neighbours.
- **Exact bands and logos** (`xband-b9`, `xlogo-br20`): the same two overlays, masked in the
  item's own 64 x 64 PDQ samples (`Item.cells`: pdqhash's filter and decimation of the item,
  `haven.signals.pdqluma.grid64`) instead of the emulated grid. A banner or a logo does not
  move the pixel grid: outside the mask those samples are the known picture's own, so these
  hypotheses carry no emulation error. That matters on pictures whose PDQ rests on the exact
  sampling positions (fine texture, printed text, periodic patterns: their emulated PDQ is
  ~34 bits off pdqhash even unedited, docs/hash-only.md).
- **Exact captions** (`xcaption-37h6`): a caption band anywhere across the item (here from 37 %
  of its height, 6 % high) masked in those samples and filled from its nearer side. Only for
  items that look PDQ-unstable themselves (`UNSTABLE_GATE`): on the others the emulated
  hypotheses and the plain hashes already find captions, and these 59 hypotheses would only
  add cost and exposure to false matches.
- **Inner pictures** (`inner-l0r0t35b31`): the item shows the known picture inside a larger
  copy (a phone screenshot: the picture between plain margins and interface bars). The box is
  found on the grid (`inner_box`: the longest run of rows, then columns, that are not flat
  background, with background on both sides) and its span stretched to PDQ's 64 cells is
  hashed, each inner edge at its estimate and half a grid cell either side. Only items where
  such a box is found get them (`inner_blocks`).

Everything is linear until the median threshold: the item is reduced once to an R x R
luminance grid `Q` (PIL box filter, in C), and a hypothesis that acts per axis is two 16 x R
matrices `Py`, `Px` (resampling with PDQ's tent kernel, reflection, then PDQ's DCT rows 1-16),
so its 16 x 16 DCT block is `Py Q Px^T`. All frame hypotheses are one matrix product
(`(ny*16) x R` times `R x (nx*16)`); the matrices are built once per process.

Each hypothesis hash is scored on its reliable bits only: a bit whose DCT coefficient lies
within `margin` of the block's median flips under the smallest error of the reconstruction,
so the distance ignores the `DROP_BITS` least reliable bits and the threshold is set per
family (`FAMILIES`), measured in bench/recall.py --hash-only against >= 20,000 unrelated
images (docs/hash-only.md).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

#: Side of the luminance grid the item is reduced to before the hypotheses (2 per PDQ cell).
GRID = 128
#: Cuts per side tried first by frame hypotheses (fractions of the original's side); around
#: the best one, `REFINE_STEPS` then try +-step per side for the known entries that came close.
FRAME_CUTS = (0.0, 0.04, 0.08)
#: Deeper first-round frames, every side cut by one of these (crops of 8-15 % per side): few
#: hypotheses (16), since a copy cut that deep on one side is usually cut deep on all.
WIDE_CUTS: tuple[float, ...] = (0.08, 0.12)
REFINE_STEPS = (0.02, 0.01)
#: Largest cut per side a refined frame may reach.
MAX_CUT = 0.16
#: Heights of bands tried at the top and at the bottom (fractions of the item's height).
BAND_HEIGHTS = (0.06, 0.09, 0.12)
#: Corner logo sizes tried (fraction of the width; the block is as tall as it is wide in
#: pixels, capped at 40 % of the height).
LOGO_SIZES = (0.12, 0.2)

#: Exact bands: heights in PDQ cells (of 64) masked at the top or at the bottom of the item's
#: own PDQ samples (a band of 6-12 % of the height covers 4-8 cells, its edge bleeding into
#: one more through PDQ's filter).
EXACT_BAND_CELLS = (3, 4, 5, 6, 7, 8)
#: Exact corner logos: sides in PDQ cells (of 64) of the corner block masked (12-23 %).
EXACT_LOGO_CELLS = (8, 10, 13, 15)
#: Exact captions: a band this many cells high (6 %: a caption 4-6 % of the height bleeds
#: into ~4 cells through PDQ's filter) at every row from the second to the last but one.
CAPTION_CELLS = 4
#: An item whose emulated PDQ (the frame cutting nothing) is at least this many bits from its
#: own PDQ looks PDQ-unstable (its hash rests on the exact sampling positions: ~10 bits on
#: ordinary photos, ~34 on fine texture and printed text) and gets the exact captions. Set on
#: the development split (docs/hash-only.md).
UNSTABLE_GATE = 20
#: Native frames (`nframe`), on items that look PDQ-unstable only: a known row whose best
#: first-round frame is within this many reliable bits (and not matched otherwise) gets a
#: search over integer cuts in the item's own pixels (`native_frame`).
NATIVE_CANDIDATE = 64
#: The native search moves each pair of opposite cuts by up to this many pixels at a time
#: around the emulated frame, one axis after the other, `NATIVE_PASSES` times.
NATIVE_SPAN = 6
NATIVE_PASSES = 3
#: Items whose short side is below this get no native frames (too few pixels per PDQ cell).
NATIVE_MIN_SIDE = 64
#: `native_frame`'s distance before any frame is tried (none with `NATIVE_PASSES` 0).
NATIVE_NONE = 999

#: Inner pictures (`inner-l0r0t22b31`): the item shows the known picture inside a larger
#: frame (a phone screenshot: the picture letterboxed between plain margins and interface
#: bars; a picture pasted on a plain border). False: none are tried (bench/recall_hashonly.py
#: measures its 'before' column so).
INNER = True
#: A grid row (column) whose values spread less than this (standard deviation, grey levels)
#: is flat margin.
INNER_FLAT = 2.0
#: The picture's box must cover at least this share of the item's area (a 16:9 picture
#: across a 9:19.5 portrait screen covers 26 %, a 2:1 one 23 %) ...
INNER_MIN_AREA = 0.2
#: ... and leave a margin of at least this share of the item's side on some side (nearer the
#: full frame, the frames and bands already cover it).
INNER_MIN_MARGIN = 0.04
#: Flat rows (columns) within this many grey levels of the commonest flat level are the
#: background; the picture is the longest run of other rows, with background on both sides
#: (one plain background, not a sky above and a floor below).
INNER_SAME_LEVEL = 6.0
#: Each detected edge inside the item is tried at its estimate and this many grid cells to
#: either side (the box reduction blurs an edge over one cell).
INNER_STEP = 0.5

_CELLS = 64
_J = np.arange(_CELLS)
#: PDQ's DCT rows 1-16 (row 0, the mean, is not hashed).
_DCT = np.sqrt(2 / 64) * np.cos(np.pi / 128 * np.outer(np.arange(1, 17), 2 * _J + 1))
_SUB = 8  # sample points per grid cell when building an axis matrix


def luma_grid(pixels: np.ndarray, side: int | None = None) -> np.ndarray:
    """The item's luminance (PDQ's 0.299/0.587/0.114) box-reduced to side x side, float32.

    `pixels`: RGB, or luma as the fast path makes it (uint8, or float32 reduced as it is:
    Pillow's float-to-L conversion would truncate every level)."""
    side = side or GRID
    img = Image.fromarray(pixels)
    if img.mode not in ("L", "F"):
        img = img.convert("L")
    return np.asarray(img.resize((side, side), Image.BOX), dtype=np.float32)


def _reflect(u: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Fold positions outside [lo, hi] back inside by mirror reflection at the edges."""
    span = hi - lo
    v = np.mod(u - lo, 2 * span)
    v = np.where(v > span, 2 * span - v, v)
    return lo + v


#: How the cut border (or a masked band) is filled: a point at distance d outside the item's
#: valid span reads the item's mean over a window of width 2 * d * FILL_BLUR centred on its
#: mirror image (0 = plain reflection; 1 = the mean of the strip of width 2d along the edge).
#: The further from the edge, the less is known of the content, so the smoother the guess.
FILL_BLUR = 1.0
_FILL_TAPS = 8


@dataclass(frozen=True)
class Fill:
    """How a frame's cut border is filled, per axis (a linear map of the item's samples, so
    it is folded into the cached axis matrices and costs nothing per item).

    A point at distance d (fraction of the item's side) outside the edge reads the strip fill
    (`blur`: see `FILL_BLUR`), then
    - `slope`: plus that many times the linear extrapolation from the strip's centre to the
      point (the slope a least-squares line takes over the `band` next to the edge; 0: none);
    - `mean_scale`: blended toward the mean of the whole axis with weight 1 - exp(-d /
      mean_scale) (the best linear guess of a far value under a decaying correlation; 0:
      none), the mean over the `mean_band` of the axis next to that edge (1: all of it)."""

    blur: float = FILL_BLUR
    slope: float = 0.0
    band: float = 0.08
    mean_scale: float = 0.0
    mean_band: float = 1.0


#: The strip fill (bands and masks always use it).
STRIP = Fill()
#: The fill of the frames' cut border (emulated `axis_matrix` frames and native frames): the
#: strip fill 1.5x as wide, blended toward the axis's mean with weight 1 - exp(-d / 0.1),
#: chosen on the development split at the true cuts (bench/hashonly_fill_oracle.py,
#: docs/hash-only.md "The border fill").
FRAME_FILL = Fill(1.5, mean_scale=0.1)
_MEAN_TAPS = 64
_SLOPE_TAPS = 16


def border_taps(u: np.ndarray, lo: float, hi: float, fill: Fill = STRIP
                ) -> tuple[np.ndarray, np.ndarray]:
    """Where each position `u` (fractions of the item's side) reads the item, as (n, k)
    positions inside [lo, hi] and (n, k) weights summing to 1 per row: a position inside the
    span reads itself, one outside reads `fill`."""
    u = np.asarray(u, dtype=np.float64)
    d = np.maximum(lo - u, u - hi).clip(0)
    mirror = _reflect(u, lo, hi)
    if fill.blur > 0:
        taps = (np.arange(_FILL_TAPS) + 0.5) / _FILL_TAPS - 0.5
        pos = _reflect(mirror[:, None] + taps[None, :] * 2 * d[:, None] * fill.blur, lo, hi)
        w = np.full(pos.shape, 1.0 / _FILL_TAPS)
    else:
        pos, w = mirror[:, None], np.ones((len(u), 1))
    parts_p, parts_w = [pos], [w]
    outside = d > 0
    if fill.slope and outside.any():
        # inward coordinate t from the edge the point lies beyond; the strip reads ~f(t = d)
        inward = np.where(u < lo, 1.0, -1.0)
        edge = np.where(u < lo, lo, hi)
        band = min(fill.band, hi - lo)
        t = (np.arange(_SLOPE_TAPS) + 0.5) / _SLOPE_TAPS * band
        tc = t - band / 2
        # f(-d) - f(d) ~ -2 d * slope, slope = sum(tc * f) / sum(tc ** 2)
        sw = (-2 * d * fill.slope)[:, None] * (tc / (tc ** 2).sum())[None, :]
        parts_p.append(edge[:, None] + inward[:, None] * t[None, :])
        parts_w.append(np.where(outside[:, None], sw, 0.0))
    if fill.mean_scale and outside.any():
        a = 1.0 - np.exp(-d / fill.mean_scale)
        parts_w[0] = parts_w[0] * (1.0 - a)[:, None]
        if len(parts_w) > 1:
            parts_w[1] = parts_w[1] * (1.0 - a)[:, None]
        reach = min(fill.mean_band, 1.0) * (hi - lo)
        t = (np.arange(_MEAN_TAPS) + 0.5) / _MEAN_TAPS * reach
        parts_p.append(np.where((u < lo)[:, None], lo + t[None, :], hi - t[None, :]))
        parts_w.append(a[:, None] / _MEAN_TAPS * np.ones((1, _MEAN_TAPS)))
    return np.concatenate(parts_p, axis=1), np.concatenate(parts_w, axis=1)


@lru_cache(maxsize=4096)
def axis_matrix(cut_lo: float, cut_hi: float, valid_lo: float = 0.0, valid_hi: float = 1.0,
                side: int = GRID, fill: Fill = STRIP) -> np.ndarray:
    """16 x side: PDQ's DCT rows of the original's 64 cells, read from the item's grid.

    The original axis [0, 1] maps to the item as u = (x - cut_lo) / (1 - cut_lo - cut_hi);
    item positions outside [valid_lo, valid_hi] (the cut border, or a masked band) are
    filled from inside it (`fill`; default the strip fill, `FILL_BLUR` wide).
    Each cell is PDQ's tent (two box passes of half a cell), sampled.
    """
    return _DCT @ _resample(cut_lo, cut_hi, valid_lo, valid_hi, side, fill).astype(np.float32)


def _resample(cut_lo, cut_hi, valid_lo, valid_hi, side, fill) -> np.ndarray:
    """64 x side: each of the original's cells as weights over the item's grid cells
    (`fill`: a `Fill`, or a number: the strip fill of that width)."""
    if not isinstance(fill, Fill):
        fill = Fill(float(fill))
    scale = 1.0 - cut_lo - cut_hi
    # tent of base one cell around each cell centre, _SUB * 2 samples
    offs = (np.arange(2 * _SUB) + 0.5) / (2 * _SUB) - 0.5  # -0.5..0.5 of a cell
    weights = 1.0 - np.abs(offs) * 2
    weights /= weights.sum()
    x = ((_J[:, None] + 0.5) + offs[None, :]) / _CELLS  # original positions (64, 2*_SUB)
    u = ((x - cut_lo) / scale).ravel()
    pos, w = border_taps(u, valid_lo, valid_hi, fill)
    w = w * np.tile(weights, _CELLS)[:, None]
    cell = np.broadcast_to(np.repeat(_J, 2 * _SUB)[:, None], pos.shape)
    bins = np.clip((pos * side).astype(np.int64), 0, side - 1)
    resample = np.zeros((_CELLS, side))
    np.add.at(resample, (cell.ravel(), bins.ravel()), w.ravel())
    return resample


#: How many least reliable bits of each hypothesis hash are not counted in its distance.
DROP_BITS = 32
#: Threshold (inclusive, on the 224 reliable bits) per hypothesis family, checked against
#: bench/recall.py --hash-only's 20,000 unrelated images (docs/hash-only.md). All were 36
#: (set on a 100-known pilot); frames went to 40 after the per-photo diagnosis showed crops
#: of photos missed at 37-44 while no unrelated image came within 54 of any known hash
#: (first round, 1.96e7 pairs): crops 3-8 % +1.5-4 points, 8-15 % +11-14 on every family,
#: 0 false matches of 20,000 before and after; it costs 2-12x the extrapolated false-match
#: exposure of 36 (docs/hash-only.md, "False-match arithmetic").
#: The exact bands and logos (`exact_blocks`) have the thresholds of the emulated ones, not
#: tuned (docs/hash-only.md).
#: The native frames (`nframe`) have their own threshold, set against the distances the same
#: search reaches on unrelated images (docs/hash-only.md).
#: The inner pictures (`inner_blocks`) take the threshold of the other emulated families
#: decided on their first-round distance (bands, logos), not tuned.
FAMILIES = {"frame": 40, "band": 36, "logo": 36, "xband": 36, "xlogo": 36, "xcaption": 36,
            "nframe": 40, "inner": 36}


def first_round_other_radius() -> int:
    """The radius the first round keeps band/logo (non-frame) hypotheses within: the largest
    threshold of the families decided on their first-round distance (not the frames, emulated
    or native, which are refined or searched afterwards)."""
    return max(v for k, v in FAMILIES.items() if k not in ("frame", "nframe"))


#: A known entry this close to a first-round frame hypothesis gets refined frames.
CANDIDATE = 52
#: Largest number of known hashes searched with hypotheses: the search is a pass over every
#: known row (`haven.match.hypothesis_search`: no index prunes at these radii), ~2.4 ms per
#: item at 50,000 compiled (~43 ms in numpy), ~47 ms at 1M: larger sets get plain PDQ only.
MAX_ROWS = 50_000
_BLAS_ONCE = threading.Lock()
_blas_single = False


def _one_blas_thread() -> None:
    """Hypotheses are small matrix products: BLAS threads only fight the scan's workers
    (55 ms vs 3.5 ms per item at load 16 with two threads), so use one, once per process."""
    global _blas_single
    with _BLAS_ONCE:
        if not _blas_single:
            from threadpoolctl import threadpool_limits

            threadpool_limits(1, user_api="blas")
            _blas_single = True


def _key(v: float) -> float:
    return round(v, 4)


@lru_cache(maxsize=1024)
def _axis_stack(pairs: tuple[tuple[float, float], ...], side: int, fill: Fill
                ) -> tuple[np.ndarray, np.ndarray]:
    """The axis matrices of `pairs` (border filled by `fill`) stacked ((16 k) x side) and
    their known shares (k, 16)."""
    return (np.concatenate([axis_matrix(_key(a), _key(b), side=side, fill=fill)
                            for a, b in pairs]),
            np.stack([axis_known(_key(a), _key(b)) for a, b in pairs]))


def _frames(grid: np.ndarray, rows: list[tuple[float, float]], cols: list[tuple[float, float]]
            ) -> tuple[list[str], list[tuple[float, float, float, float]], np.ndarray, np.ndarray]:
    """Every (rows x cols) frame: tags, (l, r, t, b), DCT blocks (n, 16, 16) and each
    coefficient's exposure to the filled border (n, 16, 16)."""
    side = grid.shape[0]
    (sy, ky), (sx, kx) = (_axis_stack(tuple(rows), side, FRAME_FILL),
                          _axis_stack(tuple(cols), side, FRAME_FILL))
    blocks = (sy @ grid @ sx.T).reshape(len(rows), 16, len(cols), 16).transpose(0, 2, 1, 3)
    exposure = 1.0 - ky[:, None, :, None] * kx[None, :, None, :]
    tags, frames = [], []
    for t, b in rows:
        for left, right in cols:
            frames.append((left, right, t, b))
            tags.append(f"frame-l{round(left * 100)}r{round(right * 100)}"
                        f"t{round(t * 100)}b{round(b * 100)}")
    return tags, frames, blocks.reshape(-1, 16, 16), exposure.reshape(-1, 16, 16)


def band_blocks(grid: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """DCT blocks with a band at the top or bottom masked (filled from next to it), and
    each coefficient's exposure to the band."""
    side = grid.shape[0]
    px = axis_matrix(0.0, 0.0, side=side)
    gx = grid @ px.T  # (side, 16), shared by every band
    tags, blocks, exposure = [], [], []
    for h in BAND_HEIGHTS:
        for where, lo, hi in (("t", h, 1.0), ("b", 0.0, 1.0 - h)):
            py = axis_matrix(0.0, 0.0, _key(lo), _key(hi), side=side)
            tags.append(f"band-{where}{round(h * 100)}")
            blocks.append(py @ gx)
            exposure.append(np.broadcast_to(1.0 - axis_known(0.0, 0.0, _key(lo), _key(hi))[:, None],
                                            (16, 16)))
    return tags, np.stack(blocks), np.stack(exposure)


def _corner_mirror(grid: np.ndarray, corner: str, h: int, w: int
                   ) -> tuple[slice, slice, np.ndarray]:
    """Rows and columns of an `h` x `w` block in `corner` ("tl", "tr", "bl", "br") of a square
    grid, and what replacing the block by its mirror image across its inner vertical edge
    (the neighbouring columns of the same rows) adds to the grid there."""
    n = grid.shape[0]
    rows = slice(0, h) if corner[0] == "t" else slice(n - h, n)
    if corner[1] == "l":
        cols = slice(0, w)
        mirror = grid[rows, 2 * w - 1:w - 1:-1]
    else:
        cols = slice(n - w, n)
        mirror = grid[rows, n - w - 1:n - 2 * w - 1:-1]
    return rows, cols, mirror - grid[rows, cols]


def logo_blocks(grid: np.ndarray, aspect: float, base: np.ndarray | None = None
                ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """DCT blocks with a corner block replaced by its mirror image across the block's inner
    vertical edge (the neighbouring columns of the same rows), and each coefficient's
    exposure to the block. `aspect` = width / height; `base` = the unmasked block, if known.
    Only the corner changes, so each hypothesis is the base plus that corner's difference."""
    side = grid.shape[0]
    p = axis_matrix(0.0, 0.0, side=side)
    if base is None:
        base = p @ grid @ p.T
    tags, blocks, exposure = [], [], []
    for size in LOGO_SIZES:
        w = max(1, round(size * side))
        h = max(1, min(round(size * aspect * side), int(0.4 * side)))
        for corner in ("tl", "tr", "bl", "br"):
            rows, cols, diff = _corner_mirror(grid, corner, h, w)
            tags.append(f"logo-{corner}{round(size * 100)}")
            blocks.append(base + p[:, rows] @ diff @ p[:, cols].T)
            ey = (1.0 - axis_known(0.0, 0.0, *((h / side, 1.0) if corner[0] == "t"
                                               else (0.0, 1.0 - h / side))))
            ex = (1.0 - axis_known(0.0, 0.0, *((w / side, 1.0) if corner[1] == "l"
                                               else (0.0, 1.0 - w / side))))
            exposure.append(ey[:, None] * ex[None, :])
    return tags, np.stack(blocks), np.stack(exposure)


@lru_cache(maxsize=256)
def cell_matrix(valid_lo: float, valid_hi: float, fill: Fill = STRIP) -> np.ndarray:
    """16 x 64: PDQ's DCT rows of 64 cells of which those outside [valid_lo, valid_hi] (cell
    centres, as fractions of the side) are filled from inside as `axis_matrix` fills (`fill`,
    default the strip fill); the others read themselves, untouched."""
    u = (_J + 0.5) / _CELLS
    pos, w = border_taps(u, valid_lo, valid_hi, fill)
    fill_m = np.zeros((_CELLS, _CELLS))
    rows = np.broadcast_to(_J[:, None], pos.shape)
    np.add.at(fill_m, (rows.ravel(), np.clip((pos.ravel() * _CELLS).astype(np.int64), 0,
                                               _CELLS - 1)), w.ravel())
    inside = (u >= valid_lo) & (u <= valid_hi)
    fill_m[inside] = np.eye(_CELLS)[inside]
    return (_DCT @ fill_m).astype(np.float32)


@lru_cache(maxsize=1)
def _caption_stack() -> tuple[list[str], np.ndarray]:
    """Tags and the stacked (n * 16) x 64 DCT-of-fill matrices of every exact caption."""
    k = CAPTION_CELLS
    taps = (np.arange(_FILL_TAPS) + 0.5) / _FILL_TAPS - 0.5
    tags, mats = [], []
    for a in range(1, _CELLS - k):
        b = a + k
        fill = np.eye(_CELLS)
        for i in range(a, b):
            fill[i] = 0.0
            up, down = i - a + 0.5, b - i - 0.5  # distances to the hole's two edges
            if up <= down:  # strip fill from above: mirror at a, positions folded into [0, a)
                pos = a - up + taps * 2 * up * FILL_BLUR
                pos = np.where(pos >= a, 2 * a - pos, pos)
            else:  # from below: mirror at b, folded into [b, 64)
                pos = b + down + taps * 2 * down * FILL_BLUR
                pos = np.where(pos < b, 2 * b - pos, pos)
            pos = np.abs(np.where(pos >= _CELLS, 2 * _CELLS - pos, pos))
            lo, hi = (0, a - 1) if up <= down else (b, _CELLS - 1)
            np.add.at(fill[i], np.clip(np.floor(pos).astype(np.int64), lo, hi), 1.0 / _FILL_TAPS)
        tags.append(f"xcaption-{round(a / _CELLS * 100)}h{round(k / _CELLS * 100)}")
        mats.append(_DCT @ fill)
    return tags, np.concatenate(mats).astype(np.float32)


def caption_blocks(cells: np.ndarray) -> tuple[list[str], np.ndarray]:
    """DCT blocks of the item's own PDQ samples with a caption band (`CAPTION_CELLS` rows)
    masked at every height, filled from the band's nearer side (one matrix product)."""
    tags, stack = _caption_stack()
    gx = cells.astype(np.float32) @ _DCT.T.astype(np.float32)
    return tags, (stack @ gx).reshape(len(tags), 16, 16)


def looks_unstable(frame_code: np.ndarray, cells: np.ndarray) -> bool:
    """Whether the item's emulated PDQ (`frame_code`, packed (4,) uint64 of the frame cutting
    nothing) is `UNSTABLE_GATE` bits or more from the PDQ of its own samples."""
    own, _m = _bits_of(_exact_dct(cells)[None], drop=0)
    return int(np.bitwise_count(own[0] ^ frame_code).sum()) >= UNSTABLE_GATE


def _exact_dct(cells: np.ndarray) -> np.ndarray:
    dct = _DCT.astype(np.float32)
    return dct @ cells.astype(np.float32) @ dct.T


@lru_cache(maxsize=1)
def _band_stack() -> tuple[tuple[str, ...], np.ndarray]:
    """Tags and stacked (n * 16) x 64 fill matrices of the exact top and bottom bands."""
    tags, mats = [], []
    for k in EXACT_BAND_CELLS:
        for where, lo, hi in (("t", k / _CELLS, 1.0), ("b", 0.0, 1.0 - k / _CELLS)):
            tags.append(f"xband-{where}{round(k / _CELLS * 100)}")
            mats.append(cell_matrix(lo, hi))
    return tuple(tags), np.concatenate(mats)


def exact_blocks(cells: np.ndarray) -> tuple[list[str], np.ndarray]:
    """DCT blocks of the item's own PDQ samples (64 x 64) with a band at the top or bottom
    (`EXACT_BAND_CELLS`) or a corner block (`EXACT_LOGO_CELLS`) masked: bands filled from
    the rows next to them (`cell_matrix`), corners by reflecting the neighbouring columns of
    the same rows (as `logo_blocks`). Tags give the mask in % of the item's side."""
    cells = cells.astype(np.float32)
    dct = _DCT.astype(np.float32)
    gx = cells @ dct.T  # (64, 16), shared by every band
    tags, stack = _band_stack()
    blocks = list((stack @ gx).reshape(len(tags), 16, 16))
    tags = list(tags)
    base = dct @ gx
    for k in EXACT_LOGO_CELLS:
        for corner in ("tl", "tr", "bl", "br"):
            rows, cols, diff = _corner_mirror(cells, corner, k, k)
            tags.append(f"xlogo-{corner}{round(k / _CELLS * 100)}")
            blocks.append(base + dct[:, rows] @ diff @ dct[:, cols].T)
    return tags, np.stack(blocks)


#: How much a coefficient's exposure to the guessed (filled or masked) part of the picture
#: lowers its reliability: a bit is ranked by |c - median| / sqrt(1 + EXPOSURE_WEIGHT * e),
#: e = the share of the coefficient's DCT energy that falls on guessed cells (0..1).
EXPOSURE_WEIGHT = 0.0


@lru_cache(maxsize=4096)
def axis_known(cut_lo: float, cut_hi: float, valid_lo: float = 0.0, valid_hi: float = 1.0
               ) -> np.ndarray:
    """(16,): per DCT row, the share of its energy on cells that read the item itself (not
    the filled border or a masked band)."""
    x = (_J + 0.5) / _CELLS
    u = (x - cut_lo) / (1.0 - cut_lo - cut_hi)
    inside = ((u >= valid_lo) & (u <= valid_hi)).astype(np.float64)
    return ((_DCT ** 2) @ inside).astype(np.float32)


def _bits_of(blocks: np.ndarray, exposure: np.ndarray | None = None, drop: int = DROP_BITS
             ) -> tuple[np.ndarray, np.ndarray]:
    """Packed PDQ codes and reliable-bit masks of (n, 16, 16) DCT blocks, as (n, 4) uint64.

    `exposure` (n, 16, 16), when given, is each coefficient's share of guessed content
    (`EXPOSURE_WEIGHT`)."""
    flat = blocks.reshape(len(blocks), 256)
    # np.median's value (the mean of the 128th and 129th smallest), from a full sort: numpy's
    # vectorised sort is ~15x faster than the partition np.median makes, on 256 values a row
    ordered = np.sort(flat, axis=1)
    med = (ordered[:, 127:128] + ordered[:, 128:129]) * flat.dtype.type(0.5)
    bits = flat > med
    reliable = np.ones_like(bits)
    if drop:
        margin = np.abs(flat - med)
        if exposure is not None and EXPOSURE_WEIGHT:
            margin = margin / np.sqrt(1.0 + EXPOSURE_WEIGHT * exposure.reshape(len(blocks), 256))
        # the `drop` smallest margins; a row where ties reach past them takes exactly `drop`
        weak = margin <= np.sort(margin, axis=1)[:, drop - 1:drop]
        ties = np.flatnonzero(weak.sum(1) != drop)
        if len(ties):
            exact = np.zeros((len(ties), flat.shape[1]), dtype=bool)
            np.put_along_axis(exact, np.argpartition(margin[ties], drop, axis=1)[:, :drop],
                              True, axis=1)
            weak[ties] = exact
        reliable = ~weak
    # PDQ's bit k is block cell 255 - k (row-major), packed MSB first
    codes = np.packbits(bits[:, ::-1], axis=1)
    masks = np.packbits(reliable[:, ::-1], axis=1)
    return codes.view(np.uint64), masks.view(np.uint64)


def masked_distances(codes: np.ndarray, masks: np.ndarray, known: np.ndarray,
                     block: int = 2048) -> np.ndarray:
    """(h, n) distances of h hypothesis codes to n known codes, on each hypothesis's mask.

    One 64-bit word at a time (four passes of xor, and, popcount over an (h, block) array,
    ~9x faster than one (h, n, 4) pass), in blocks of known rows that stay in the CPU cache."""
    out = np.zeros((len(codes), len(known)), dtype=np.int16)
    x = np.empty((len(codes), min(block, len(known))), dtype=np.uint64)
    for lo in range(0, len(known), block):
        k = known[lo:lo + block]
        o = out[:, lo:lo + len(k)]
        xb = x[:, :len(k)]
        for w in range(4):
            np.bitwise_xor(codes[:, w, None], k[None, :, w], out=xb)
            xb &= masks[:, w, None]
            o += np.bitwise_count(xb)
    return out


def pdq_cells(pixels: np.ndarray) -> np.ndarray:
    """The 64 x 64 samples PDQ hashes (pdqhash's luma, filter and decimation:
    `haven.signals.pdqluma.grid64`) of luma or RGB pixels, float32."""
    from haven.signals import pdqluma

    temporary = pixels.ndim == 3
    if temporary:  # pdqhash's own luma of RGB (as haven.signals.pdq's fast path)
        pixels = pdqluma.luma_of_rgb(pixels)
    if min(pixels.shape) < pdqluma.MIN_SIDE:
        return np.zeros((_CELLS, _CELLS), np.float32)
    # a luma plane is the one the item's PDQ was just computed from: its grid is kept there
    return pdqluma.grid64(pixels, remember=not temporary).astype(np.float32)


def native_luma(pixels: np.ndarray, grid: np.ndarray, cells: np.ndarray) -> np.ndarray | None:
    """The item's luma at its own resolution (uint8, rounded) when the item looks PDQ-unstable
    (`looks_unstable`, the gate of the exact captions) and is large enough, else None: what
    the native frames (`native_frame`) search in."""
    if min(pixels.shape[:2]) < NATIVE_MIN_SIDE or not cells.any():
        return None
    _t, _f, blocks, _e = _frames(grid, [(0.0, 0.0)], [(0.0, 0.0)])
    code, _m = _bits_of(blocks)
    if not looks_unstable(code[0], cells):
        return None
    from haven.signals import pdqluma

    luma = pdqluma.luma_of_rgb(pixels) if pixels.ndim == 3 else pixels
    if luma.dtype != np.uint8:
        luma = np.clip(np.rint(luma), 0, 255).astype(np.uint8)
    return luma


_LUMA_MARK = b"NLUM"
#: First bytes of `Item.pack`'s form (a later layout takes another mark).
PACK_MARK = b"HVF1"
_PACK_HEAD = "<4sfHBII"  # mark, aspect, grid side, has cells, luma height, luma width


def _pack_half(values: np.ndarray) -> bytes:
    """A 2-D array as float16, losslessly and compactly: the bit patterns' differences from
    their left and upper neighbours (zigzag), split into byte planes, deflated."""
    import zlib

    u = values.astype(np.float16).view(np.uint16).astype(np.int32)
    d = np.diff(np.diff(u, axis=0, prepend=0), axis=1, prepend=0)
    z = np.ascontiguousarray(((d << 1) ^ (d >> 31)).astype(np.uint32))
    # level 1: half the CPU of level 6 for 5 % more bytes (every trusted image of every scan
    # pays it: docs/benchmarks.md)
    return zlib.compress(np.ascontiguousarray(z.view(np.uint8).reshape(-1, 4).T).tobytes(), 1)


def _unpack_half(data: bytes, shape: tuple[int, int]) -> np.ndarray:
    import zlib

    planes = np.frombuffer(zlib.decompress(data), np.uint8).reshape(4, -1)
    z = np.ascontiguousarray(planes.T).view(np.uint32).reshape(shape).astype(np.int64)
    d = (z >> 1) ^ -(z & 1)
    u = np.cumsum(np.cumsum(d, axis=1), axis=0)
    return u.astype(np.uint16).view(np.float16).astype(np.float32)


@dataclass(frozen=True)
class Item:
    """What the hypotheses need from an item: its luminance grid, its aspect ratio, its own
    PDQ samples (`cells`, for the exact bands and logos; None: those are not tried) and, only
    on items that look PDQ-unstable, its luma at its own resolution (`luma`, uint8, for the
    native frames; None: those are not tried)."""

    grid: np.ndarray  # GRID x GRID float32
    aspect: float  # width / height
    cells: np.ndarray | None = None  # 64 x 64 float32, `pdq_cells`
    luma: np.ndarray | None = None  # H x W uint8, `native_luma`

    @classmethod
    def from_pixels(cls, pixels: np.ndarray) -> Item:
        """From an RGB (or grey) pixel array as `haven.signals.pdq.PreparedImage` holds."""
        grid, cells = luma_grid(pixels), pdq_cells(pixels)
        return cls(grid, pixels.shape[1] / pixels.shape[0], cells,
                   native_luma(pixels, grid, cells))

    def to_bytes(self) -> bytes:
        """The plain form: float16 grid, float16 cells (when present), the aspect as float32,
        then (when present) the luma, its height and width (uint32) and a 4-byte mark. What
        a scan worker sends and keeps is `pack`, the same values compressed."""
        cells = b"" if self.cells is None else self.cells.astype(np.float16).tobytes()
        out = (self.grid.astype(np.float16).tobytes() + cells
               + np.float32(self.aspect).tobytes())
        if self.luma is not None:
            out += (np.ascontiguousarray(self.luma, dtype=np.uint8).tobytes()
                    + np.array(self.luma.shape, dtype=np.uint32).tobytes() + _LUMA_MARK)
        return out

    def pack(self) -> bytes:
        """The compact form a scan sends and keeps per item (`haven.store.hypotheses`): the
        same values as `to_bytes` (float16 grid and cells, float32 aspect, uint8 luma), so
        `unpack(pack())` equals `from_bytes(to_bytes())` exactly, losslessly compressed: the
        float16 planes by `_pack_half`, the luma as PNG (docs/hash-only.md: sizes)."""
        import io
        import struct

        h, w = self.luma.shape if self.luma is not None else (0, 0)
        grid = _pack_half(self.grid)
        cells = _pack_half(self.cells) if self.cells is not None else b""
        luma = b""
        if self.luma is not None:
            buf = io.BytesIO()
            Image.fromarray(np.ascontiguousarray(self.luma, dtype=np.uint8)).save(
                buf, "PNG", compress_level=1)
            luma = buf.getvalue()
        return (struct.pack(_PACK_HEAD, PACK_MARK, self.aspect, self.grid.shape[0],
                            self.cells is not None, h, w)
                + struct.pack("<II", len(grid), len(cells)) + grid + cells + luma)

    @classmethod
    def unpack(cls, data: bytes) -> Item:
        """The item `pack` wrote (`HavenError` for anything else)."""
        import io
        import struct
        import zlib

        from haven.errors import HavenError

        head = struct.calcsize(_PACK_HEAD) + 8
        if len(data) < head or data[:4] != PACK_MARK:
            raise HavenError("not an item's stored hypothesis data (unknown layout)")
        try:
            _mark, aspect, side, has_cells, h, w = struct.unpack_from(_PACK_HEAD, data)
            n_grid, n_cells = struct.unpack_from("<II", data, head - 8)
            grid = _unpack_half(data[head:head + n_grid], (side, side))
            at = head + n_grid
            cells = (_unpack_half(data[at:at + n_cells], (_CELLS, _CELLS))
                     if has_cells else None)
            luma = None
            if h:
                with Image.open(io.BytesIO(data[at + n_cells:])) as img:
                    luma = np.asarray(img, dtype=np.uint8)
                if luma.shape != (h, w):
                    raise ValueError("luma size")
        except (struct.error, zlib.error, ValueError, OSError) as exc:
            raise HavenError(f"an item's stored hypothesis data is damaged ({exc})") from None
        return cls(grid, float(np.float32(aspect)), cells, luma)

    @classmethod
    def from_bytes(cls, data: bytes) -> Item:
        luma = None
        if data[-4:] == _LUMA_MARK:
            h, w = (int(v) for v in np.frombuffer(data[-12:-4], dtype=np.uint32))
            luma = np.frombuffer(data[-12 - h * w:-12], dtype=np.uint8).reshape(h, w)
            data = data[:-12 - h * w]
        values = (len(data) - 4) // 2
        side = int(round(values ** 0.5))
        cells = None
        if side * side != values:  # grid and cells
            side = int(round((values - _CELLS * _CELLS) ** 0.5))
            cells = np.frombuffer(data[2 * side * side:-4], dtype=np.float16).reshape(
                _CELLS, _CELLS).astype(np.float32)
        grid = np.frombuffer(data[:2 * side * side], dtype=np.float16).reshape(
            side, side).astype(np.float32)
        return cls(grid, float(np.frombuffer(data[-4:], dtype=np.float32)[0]), cells, luma)


def native_reduction(n_copy: int, cut_lo: int, cut_hi: int
                     ) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """pdqhash's reduction of an original axis of n_copy + cut_lo + cut_hi samples, read from
    the copy: indices into the copy (64, k; mirrored at its edges), weights (64, k), and the
    span (start, end, fractions of the axis) of the cells whose filter stays inside the copy."""
    from haven.signals import pdqluma

    idx, w = pdqluma.reduction(n_copy + cut_lo + cut_hi)
    local = idx - cut_lo
    ok = (((local >= 0) & (local < n_copy)) | (w == 0)).all(1)
    local = np.abs(local)
    local = np.clip(np.where(local >= n_copy, 2 * n_copy - 2 - local, local), 0, n_copy - 1)
    inside = np.flatnonzero(ok)
    if not len(inside):
        inside = np.array([0, _CELLS - 1])
    return local, w, (inside[0] / _CELLS, (inside[-1] + 1) / _CELLS)


def _native_axis(n_copy: int, cut_lo: int, cut_hi: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`native_reduction` with the DCT rows of that axis, the cells whose filter reaches past
    the copy's edge filled by `FRAME_FILL` (`cell_matrix`, 16 x 64)."""
    return _native_axis_filled(n_copy, cut_lo, cut_hi, FRAME_FILL)


@lru_cache(maxsize=4096)
def _native_axis_filled(n_copy: int, cut_lo: int, cut_hi: int, fill: Fill
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    local, w, span = native_reduction(n_copy, cut_lo, cut_hi)
    return local, w, cell_matrix(*span, fill)


def _native_rows(luma: np.ndarray, cuts: tuple[int, int]) -> np.ndarray:
    """16 x W: PDQ's DCT rows of the original's axis 0 (cut `cuts` pixels), read from `luma`."""
    idx, w, fill = _native_axis(luma.shape[0], *cuts)
    return fill @ np.einsum("ikx,ik->ix", luma[idx], w)


def _native_distances(half: np.ndarray, n: int, pairs: list[tuple[int, int]],
                      code: np.ndarray, transpose: bool) -> np.ndarray:
    """Reliable-bit distances to `code` of the frames with every cut pair of one axis, the
    other axis already applied (`half`: 16 x n)."""
    ops = [_native_axis(n, a, b) for a, b in pairs]
    k = max(o[0].shape[1] for o in ops)
    idx = np.zeros((len(ops), _CELLS, k), np.int64)
    w = np.zeros((len(ops), _CELLS, k), np.float32)
    for p, (i, ww, _f) in enumerate(ops):
        idx[p, :, :i.shape[1]] = i
        w[p, :, :i.shape[1]] = ww
    cells = np.einsum("ipjk,pjk->pij", half[:, idx], w)  # (P, 16, 64)
    blocks = cells @ np.stack([o[2] for o in ops]).transpose(0, 2, 1)
    if transpose:
        blocks = blocks.transpose(0, 2, 1)
    codes, masks = _bits_of(np.ascontiguousarray(blocks))
    return np.bitwise_count((codes ^ code[None]) & masks).sum(1)


def native_frame(luma: np.ndarray, code: np.ndarray, frame: tuple[float, float, float, float]
                 ) -> tuple[int, tuple[int, int, int, int]]:
    """The best native frame toward one known code ((4,) uint64): the item's own pixels
    reduced exactly as pdqhash reduces an original of which the item is a crop by integer
    cuts (l, r, t, b) in pixels, cells whose filter reaches past the item's edge filled by
    `FRAME_FILL` (`_native_axis`).
    Starts from the emulated `frame` (fractions) and moves the left/right then the top/bottom
    cuts by up to `NATIVE_SPAN` pixels each, `NATIVE_PASSES` times. Returns (distance on the
    reliable bits, cuts)."""
    h, w = luma.shape
    left, right, top, bottom = frame
    wo, ho = w / (1 - left - right), h / (1 - top - bottom)
    cut = [round(left * wo), round(right * wo), round(top * ho), round(bottom * ho)]
    lim = (round(MAX_CUT * w / (1 - 2 * MAX_CUT)), round(MAX_CUT * h / (1 - 2 * MAX_CUT)))
    rows_luma = luma.astype(np.float32)
    cols_luma = np.ascontiguousarray(rows_luma.T)
    best = NATIVE_NONE

    def around(a: int, b: int, top_: int) -> list[tuple[int, int]]:
        return [(x, y) for x in range(max(0, a - NATIVE_SPAN), min(top_, a + NATIVE_SPAN) + 1)
                for y in range(max(0, b - NATIVE_SPAN), min(top_, b + NATIVE_SPAN) + 1)]

    for _ in range(NATIVE_PASSES):
        pairs = around(cut[0], cut[1], lim[0])
        d = _native_distances(_native_rows(rows_luma, (cut[2], cut[3])), w, pairs, code, False)
        k = int(d.argmin())
        cut[0], cut[1], best = pairs[k][0], pairs[k][1], int(d[k])
        pairs = around(cut[2], cut[3], lim[1])
        d = _native_distances(_native_rows(cols_luma, (cut[0], cut[1])), h, pairs, code, True)
        k = int(d.argmin())
        cut[2], cut[3], best = pairs[k][0], pairs[k][1], int(d[k])
    return best, (cut[0], cut[1], cut[2], cut[3])


def native_tag(shape: tuple[int, int], cuts: tuple[int, int, int, int]) -> str:
    """`nframe-l4r6t1b2`: the native frame's cuts in % of the original's side."""
    h, w = shape
    left, right, top, bottom = cuts
    wo, ho = w + left + right, h + top + bottom
    return (f"nframe-l{round(100 * left / wo)}r{round(100 * right / wo)}"
            f"t{round(100 * top / ho)}b{round(100 * bottom / ho)}")


def _inner_rows(grid: np.ndarray) -> tuple[float, float, int, int] | None:
    """The picture's rows inside flat margins: (top, bottom) edges in grid cells (sub-cell
    estimates) and the integer run [a, b) of non-flat rows, or None."""
    n = grid.shape[0]
    flat = grid.std(1) <= INNER_FLAT
    if flat.sum() < 2:
        return None
    means = grid.mean(1)
    # the background: the commonest level of the flat rows
    levels = np.round(means[flat] / INNER_SAME_LEVEL)
    values, counts = np.unique(levels, return_counts=True)
    background = float(np.median(means[flat][levels == values[int(np.argmax(counts))]]))
    margin = flat & (np.abs(means - background) <= INNER_SAME_LEVEL)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], (~margin).astype(np.int8), [0]])))
    if not len(edges):
        return None
    runs = edges.reshape(-1, 2)
    a, b = (int(v) for v in runs[int(np.argmax(runs[:, 1] - runs[:, 0]))])
    if a == 0 or b == n or b - a < 3:
        return None  # not bounded by the background on both sides
    above, below = grid[a - 1], grid[b]

    def share(edge_row: np.ndarray, inner_row: np.ndarray, margin: np.ndarray) -> float:
        # an edge row mixes the picture (like the row inside it) and the margin in proportion
        full = float(np.abs(inner_row - margin).mean())
        return 1.0 if full <= 0 else min(1.0, float(np.abs(edge_row - margin).mean()) / full)

    top = a + 1 - share(grid[a], grid[a + 1], above)
    bottom = b - 1 + share(grid[b - 1], grid[b - 2], below)
    return top, bottom, a, b


def inner_box(grid: np.ndarray) -> tuple[float, float, float, float] | None:
    """The box (left, right, top, bottom margins, fractions of the item's sides) of a picture
    shown inside plain margins (`INNER_FLAT`...`INNER_SAME_LEVEL`), or None: the longest run
    of non-flat rows bounded by flat rows of one background, then the non-flat columns
    across it (or the same with columns first)."""
    n = grid.shape[0]
    for g, transposed in ((grid, False), (grid.T, True)):
        rows = _inner_rows(g)
        if rows is None:
            continue
        top, bottom, a, b = rows
        cols = _inner_rows(np.ascontiguousarray(g[a:b].T))
        left, right = (0.0, float(n)) if cols is None else cols[:2]
        if cols is None:
            busy = np.flatnonzero(g[a:b].std(0) > INNER_FLAT)
            if len(busy) and (busy[0] > 0 or busy[-1] < n - 1):
                continue  # margins at the sides that are not one flat background
        box = (left / n, 1 - right / n, top / n, 1 - bottom / n)
        if transposed:
            box = (box[2], box[3], box[0], box[1])
        if ((1 - box[0] - box[1]) * (1 - box[2] - box[3]) >= INNER_MIN_AREA
                and max(box) >= INNER_MIN_MARGIN):
            return box
    return None


def _inner_spans(lo: float, hi: float, side: int) -> list[tuple[float, float]]:
    """Spans (start, end: fractions of the item's side) tried for one axis of the box: each
    edge inside the item at its estimate and `INNER_STEP` cells either side."""
    step = INNER_STEP / side
    los = [lo] if lo <= 0 else [max(0.0, lo - step), lo, lo + step]
    his = [hi] if hi >= 1 else [hi - step, hi, min(1.0, hi + step)]
    return [(_key(a), _key(b)) for a in los for b in his]


def inner_blocks(grid: np.ndarray) -> tuple[list[str], np.ndarray]:
    """DCT blocks of the picture inside the item's plain margins (`inner_box`), hashed as
    the original (the box's span of the grid stretched to PDQ's 64 cells), or none when no
    such box is found (then the item pays nothing)."""
    box = inner_box(grid) if INNER else None
    if box is None:
        return [], np.zeros((0, 16, 16), np.float32)
    left, right, top, bottom = box
    side = grid.shape[0]
    rows = _inner_spans(top, 1 - bottom, side)
    cols = _inner_spans(left, 1 - right, side)

    def matrices(spans: list[tuple[float, float]]) -> np.ndarray:
        # the original's [0, 1] on the item's [p0, p1]: negative cuts of the frame's map
        return np.concatenate([axis_matrix(_key(-p0 / (p1 - p0)), _key(-(1 - p1) / (p1 - p0)),
                                           side=side) for p0, p1 in spans])

    sy, sx = matrices(rows), matrices(cols)
    blocks = (sy @ grid @ sx.T).reshape(len(rows), 16, len(cols), 16).transpose(0, 2, 1, 3)
    tags = [f"inner-l{round(100 * c0)}r{round(100 * (1 - c1))}"
            f"t{round(100 * r0)}b{round(100 * (1 - r1))}" for r0, r1 in rows for c0, c1 in cols]
    return tags, np.ascontiguousarray(blocks.reshape(-1, 16, 16), dtype=np.float32)


def hypotheses(item: Item) -> tuple[list[str], list[tuple[float, float, float, float]],
                                     np.ndarray, np.ndarray]:
    """An item's first-round hypotheses: tags, the frames' (l, r, t, b) (the frames come
    first, bands and logos after them), packed codes and reliable-bit masks ((h, 4) uint64)."""
    cuts = [(a, b) for a in FRAME_CUTS for b in FRAME_CUTS]
    f_tags, f_frames, f_blocks, f_exp = _frames(item.grid, cuts, cuts)
    if WIDE_CUTS:
        wide = [(a, b) for a in WIDE_CUTS for b in WIDE_CUTS]
        w_tags, w_frames, w_blocks, w_exp = _frames(item.grid, wide, wide)
        f_tags, f_frames = f_tags + w_tags, f_frames + w_frames
        f_blocks = np.concatenate([f_blocks, w_blocks])
        f_exp = np.concatenate([f_exp, w_exp])
    b_tags, b_blocks, b_exp = band_blocks(item.grid)
    l_tags, l_blocks, l_exp = logo_blocks(item.grid, item.aspect, f_blocks[0])
    x_tags, x_blocks = [], np.zeros((0, 16, 16), np.float32)
    if item.cells is not None:
        x_tags, x_blocks = exact_blocks(item.cells)
    x_exp = np.zeros_like(x_blocks)  # not used (EXPOSURE_WEIGHT 0)
    codes, masks = _bits_of(np.concatenate([f_blocks, b_blocks, l_blocks, x_blocks]),
                            np.concatenate([f_exp, b_exp, l_exp, x_exp]))
    tags = f_tags + b_tags + l_tags + x_tags
    if item.cells is not None and CAPTION_CELLS and looks_unstable(codes[0], item.cells):
        c_tags, c_blocks = caption_blocks(item.cells)
        c_codes, c_masks = _bits_of(c_blocks)
        tags += c_tags
        codes, masks = np.concatenate([codes, c_codes]), np.concatenate([masks, c_masks])
    i_tags, i_blocks = inner_blocks(item.grid)
    if i_tags:  # only items showing a picture inside plain margins
        i_codes, i_masks = _bits_of(i_blocks)
        tags += i_tags
        codes, masks = np.concatenate([codes, i_codes]), np.concatenate([masks, i_masks])
    return tags, f_frames, codes, masks


@dataclass(frozen=True)
class Hit:
    row: int  # position in the index's codes
    distance: int  # on the hypothesis's reliable bits
    tag: str  # the hypothesis, e.g. frame-l4r6t0b2 (see haven.match.how)


class FramingIndex:
    """Known PDQ hashes (one per known image, as hash-only lists give them), searched with
    hypothesis hashes of an item. Every hypothesis is compared with every known hash (about
    100 x n popcounts per item, compiled: `haven.match.hypothesis_search`; see
    docs/hash-only.md for the cost by list size)."""

    def __init__(self, codes: np.ndarray, threads: int = 1) -> None:
        codes = np.ascontiguousarray(codes, dtype=np.uint8).reshape(-1, 32)
        self.codes = codes.view(np.uint64).reshape(-1, 4)
        #: threads one search may use (the compiled pass splits the known rows among them)
        self.threads = threads

    def __len__(self) -> int:
        return len(self.codes)

    def search(self, item: Item, detail: dict | None = None) -> list[Hit]:
        """Known rows within their family's threshold of some hypothesis, best first.

        `detail`, when given, receives `first_round`: per known row, the smallest distance of
        any first-round hypothesis (what bench/recall.py --hash-only's false-match arithmetic
        counts; a flat pass over all rows), and `first_round_family`: the same per family.
        With `detail["radius"]` set beforehand it receives instead `near_rows` / `near_dist`:
        only the rows whose best first-round distance is within that radius (the compiled
        pass, any list size)."""
        if not len(self.codes):
            return []
        _one_blas_thread()
        tags, f_frames, codes, masks = hypotheses(item)
        nf = len(f_frames)
        return self._decide(item, tags, f_frames, codes, masks, nf, detail)

    def _decide(self, item: Item, tags, f_frames, codes, masks, nf: int,
                detail: dict | None) -> list[Hit]:
        from haven.match.hypothesis_search import _from_matrix, first_round

        # bands and logos are decided on their first-round distance; frames are refined first
        other_radius = first_round_other_radius()
        # items that carry their luma (PDQ-unstable ones) look further for native frames
        frame_radius = CANDIDATE if item.luma is None else max(CANDIDATE, NATIVE_CANDIDATE)
        if detail is not None and "radius" not in detail:
            dist = masked_distances(codes, masks, self.codes)  # (h, n)
            detail["first_round"] = dist.min(0)
            fams = np.array([t.split("-")[0] for t in tags])
            detail["first_round_family"] = {f: dist[fams == f].min(0) for f in dict.fromkeys(fams)}
            near = _from_matrix(dist, nf, frame_radius, other_radius)
        else:
            wide = max(frame_radius, other_radius, detail["radius"] if detail else 0)
            near = first_round(codes, masks, nf, self.codes,
                               frame_radius if detail is None else wide,
                               other_radius if detail is None else wide, self.threads)
            if detail is not None:
                best = np.minimum(near.frame_dist, near.other_dist)
                keep = best <= detail["radius"]
                detail["near_rows"], detail["near_dist"] = near.rows[keep], best[keep]
        best: dict[int, tuple[int, str]] = {}

        def take(row: int, d: int, tag: str) -> None:
            if d <= FAMILIES[tag.split("-")[0]] and (row not in best or d < best[row][0]):
                best[row] = (d, tag)

        # bands and logos: decided as they are
        for row, d, k in zip(near.rows, near.other_dist, near.other_hyp):
            if d <= other_radius:
                take(int(row), int(d), tags[int(k)])
        # frames: refine around the best first-round frame of each close known row; on items
        # carrying their luma, a row still not matched gets the native search from there
        for row, d, k in zip(near.rows, near.frame_dist, near.frame_hyp):
            if d > frame_radius:
                continue
            row, d0, k = int(row), int(d), int(k)
            frame, d, tag = f_frames[k], d0, tags[k]
            for step in REFINE_STEPS:
                frame, d, tag = self._refine(item, row, frame, d, tag, step)
            if d0 <= CANDIDATE:  # emulated frames are decided as before
                take(row, d, tag)
            if item.luma is not None and row not in best:
                nd, cuts = native_frame(item.luma, self.codes[row], frame)
                take(row, nd, native_tag(item.luma.shape, cuts))
                if detail is not None:
                    detail.setdefault("native", []).append((row, nd))
        return [Hit(row, d, tag) for row, (d, tag) in
                sorted(best.items(), key=lambda t: (t[1][0], t[0]))]

    def _refine(self, item: Item, row: int, frame, d: int, tag: str, step: float):
        left, right, top, bottom = frame

        def around(a: float, b: float) -> list[tuple[float, float]]:
            return [(x, y) for x in (a - step, a, a + step) for y in (b - step, b, b + step)
                    if 0 <= x <= MAX_CUT + 1e-9 and 0 <= y <= MAX_CUT + 1e-9]

        f_tags, f_frames, blocks, exposure = _frames(item.grid, around(top, bottom),
                                                     around(left, right))
        codes, masks = _bits_of(blocks, exposure)
        dist = masked_distances(codes, masks, self.codes[row:row + 1])[:, 0]
        k = int(dist.argmin())
        if int(dist[k]) < d:
            return f_frames[k], int(dist[k]), f_tags[k]
        return frame, d, tag
