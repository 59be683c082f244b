"""Certain bits of a frame hypothesis: does bounding the unknown border separate crops better?

    nice .venv/bin/python bench/hashonly_certain.py --package-photos DIR --photos DIR --dev \
        --kinds "crop 3-8%/side,crop 8-15%/side" --methods today,smooth10,soft:smooth10,fit30
    nice .venv/bin/python bench/hashonly_certain.py --check   # the intervals are sound

A frame hypothesis rebuilds the original's 64 x 64 PDQ cells as the cropped item placed where
the guess puts it plus a border nobody saw. Every PDQ DCT coefficient is linear in the cells,
so coefficient = (part read from the item) + (part from the border); with the border's cells
bounded, each coefficient lies in an interval, the median of the 256 lies between the
medians of the lower and of the upper ends, and a bit is **certain** when its whole interval
lies on one side of the whole median interval: no admissible border flips it (`--check`
rebuilds the cells explicitly for random and worst-case admissible borders and counts flips).

Border models (regions: the 4 sides beyond the item and the 4 corners; a cell partly
outside counts its outside share only):
- `range`: border cells anywhere in [0, 255];
- `strip`: border cells within the 5-95 % percentiles of the item's own strip along that
  side (8 % of the side; corners: the union of their two sides);
- `dev<d>`: border cells within d grey levels of today's strip fill (`framing.FILL_BLUR`),
  each cell on its own;
- `smooth<d>`: today's fill plus a smooth border: per region a constant, a ramp along, a ramp
  across and their product, each parameter within d grey levels (32 parameters).

Scores per (item, known hash), each the best over the same frame hypotheses (every side cut
0, 2, ..., 10 %: 1,296 frames):
- `today`: the 224 most reliable bits by margin (`framing._bits_of`), distance d -> score
  112 - d;
- `<model>[/norm]` (certain bits): the certain bits only, n of them, distance d -> z =
  (n - 2 d) / sqrt(n) (`/frac`: / n; `/raw`: n - 2 d); n below `--min-bits` scores nothing;
- `top<K>:<model>`: the K bits whose margin beyond their own interval (|c - med| - radius)
  is largest;
- `soft:<model>`: every bit weighted by |c - med| / (|c - med| + radius), weighted agreement
  over the weights' norm;
- `fit<s>`: a fitted test: on each known row's best frame by `today`, the smooth border's 32
  parameters fitted toward that row (ridge, prior s grey levels, then `HINGE_ITERS` refits on
  the coefficients still on the wrong side), scored as `today`, never below `today`.

Separation: true pairs (a crop query and its own known hash) against negative pairs (every
trusted unrelated image of the split against every known hash), recall at the score of the
k-th best negative pair (k = 1, 3, 10, 30): the same false-match count for every score.
`--out` keeps the raw scores (docs/hash-only.md reads them at the depth of the product's
threshold too, from a log-linear fit of each score's negative tail).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import recall  # noqa: E402
import recall_hashonly as rh  # noqa: E402
from imagegen import make_photo  # noqa: E402

from haven.match import framing  # noqa: E402
from haven.signals import pdq  # noqa: E402

CUTS = (0.0, 0.02, 0.04, 0.06, 0.08, 0.10)
_D = framing._DCT
_AD = np.abs(_D)


def axis_parts(cut_lo: float, cut_hi: float, side: int = framing.GRID):
    """Per original cell of one axis: the tent's share inside the item (64,), beyond its low
    edge, beyond its high edge, and the known-only resampling (64 x side)."""
    scale = 1.0 - cut_lo - cut_hi
    sub = framing._SUB
    offs = (np.arange(2 * sub) + 0.5) / (2 * sub) - 0.5
    w = 1.0 - np.abs(offs) * 2
    w /= w.sum()
    x = ((framing._J[:, None] + 0.5) + offs[None, :]) / 64
    u = (x - cut_lo) / scale
    low, high = u < 0, u > 1
    inside = ~(low | high)
    k = (w[None, :] * inside).sum(1)
    o_lo = (w[None, :] * low).sum(1)
    o_hi = (w[None, :] * high).sum(1)
    rk = np.zeros((64, side))
    cell = np.repeat(framing._J, 2 * sub)
    bins = np.clip((u.ravel() * side).astype(np.int64), 0, side - 1)
    np.add.at(rk, (cell, bins), (np.tile(w, 64) * inside.ravel()))
    return k, o_lo, o_hi, rk


def frame_intervals(grid: np.ndarray, models: list[str], pct: float = 0.0):
    """For every frame of CUTS x CUTS x CUTS x CUTS: the fill's coefficients (h, 256) and, per
    border model, (center, radius) (h, 256) each."""
    pairs = [(a, b) for a in CUTS for b in CUTS]
    side = grid.shape[0]
    parts = [axis_parts(a, b, side) for a, b in pairs]
    sy = np.concatenate([framing.axis_matrix(framing._key(a), framing._key(b), side=side)
                         for a, b in pairs])  # (P*16, side)
    fill = (sy @ grid @ sy.T).reshape(len(pairs), 16, len(pairs), 16).transpose(0, 2, 1, 3)
    # grid is square and the rows and columns use the same cut pairs: sy serves both axes
    dk = np.stack([_D @ p[3] for p in parts])  # (P, 16, side)
    dk2 = dk.reshape(-1, side)
    known = (dk2 @ grid @ dk2.T).reshape(len(pairs), 16, len(pairs), 16).transpose(0, 2, 1, 3)
    k = np.stack([p[0] for p in parts])
    lo = np.stack([p[1] for p in parts])
    hi = np.stack([p[2] for p in parts])
    # regions: (row profile, col profile, region name); row axis: lo = top, hi = bottom
    sgn = {"k": k @ _D.T, "lo": lo @ _D.T, "hi": hi @ _D.T}
    ab = {"k": k @ _AD.T, "lo": lo @ _AD.T, "hi": hi @ _AD.T}
    regions = [("lo", "k", "t"), ("hi", "k", "b"), ("k", "lo", "l"), ("k", "hi", "r"),
               ("lo", "lo", "tl"), ("lo", "hi", "tr"), ("hi", "lo", "bl"), ("hi", "hi", "br")]
    n = len(pairs)
    out = {"fill": fill.reshape(n * n, 256)}
    strip = max(2, round(0.08 * side))
    sides = {"t": grid[:strip], "b": grid[-strip:], "l": grid[:, :strip],
             "r": grid[:, -strip:]}
    if pct:
        rng_side = {s: (np.percentile(v, pct), np.percentile(v, 100 - pct))
                    for s, v in sides.items()}
    else:
        rng_side = {s: (float(v.min()), float(v.max())) for s, v in sides.items()}
    for model in models:
        center = np.zeros((n, n, 16, 16))
        radius = np.zeros((n, n, 16, 16))
        if model.startswith("smooth"):
            radius = float(model[6:]) * smooth_radius(tuple(pairs), side)
            out[model] = (fill.reshape(n * n, 256), radius.reshape(n * n, 256))
            continue
        for ry, rx, name in regions:
            a_abs = np.einsum("pu,qv->pquv", ab[ry], ab[rx])
            if model.startswith("dev"):
                radius += float(model[3:]) * a_abs
                continue
            if model == "range":
                lo_v, hi_v = 0.0, 255.0
            else:
                sl = [rng_side[c] for c in name]
                lo_v, hi_v = min(s[0] for s in sl), max(s[1] for s in sl)
            center += 0.5 * (lo_v + hi_v) * np.einsum("pu,qv->pquv", sgn[ry], sgn[rx])
            radius += 0.5 * (hi_v - lo_v) * a_abs
        if model.startswith("dev"):
            center = fill
        else:
            center = center + known
        out[model] = (center.reshape(n * n, 256), radius.reshape(n * n, 256))
    return out


_X = (framing._J + 0.5) / 64


def _smooth_profiles(k, o_lo, o_hi):
    """Per axis cut pair: for each region kind ("k" inside, "lo", "hi" beyond an edge), the
    cell profiles times each 1-D basis function (constant, linear ramp; on the outside parts
    the ramp runs across the border, from its inner edge outwards)."""
    out = {}
    out["k"] = [k, k * (2 * _X - 1)]
    for name, o in (("lo", o_lo), ("hi", o_hi)):
        w = o.sum() or 1.0
        # distance outwards from the item's edge, 0..1 across the border's width
        pos = np.cumsum(o[::-1])[::-1] / w if name == "lo" else np.cumsum(o) / w
        out[name] = [o, o * (2 * pos - 1)]
    return out


#: The border's regions as (row-axis part, column-axis part): the 4 sides, then the 4 corners.
_REGIONS = [("lo", "k"), ("hi", "k"), ("k", "lo"), ("k", "hi"),
            ("lo", "lo"), ("lo", "hi"), ("hi", "lo"), ("hi", "hi")]


@lru_cache(maxsize=8)
def smooth_basis(pairs, side):
    """Per cut pair, `_smooth_profiles` (the same serve rows and columns: the grid is square)."""
    return [_smooth_profiles(*axis_parts(a, b, side)[:3]) for a, b in pairs]


@lru_cache(maxsize=8)
def smooth_radius(pairs, side):
    """(P, P, 16, 16): how far a smooth border can move each coefficient: the border is today's
    fill plus, per region (4 sides, 4 corners), a x 1 + b x (ramp along) + c x (ramp across)
    + d x both (grey levels at the region's extremes, each |.| <= 1 here; the caller scales)."""
    prof = smooth_basis(pairs, side)
    total = 0.0
    for ry, rx in _REGIONS:
        for fy in range(2):
            for fx in range(2):
                ay = np.stack([np.abs(_D @ pr[ry][fy]) for pr in prof])  # (P, 16)
                ax = np.stack([np.abs(_D @ pr[rx][fx]) for pr in prof])
                total = total + np.einsum("pu,qv->pquv", ay, ax)
    return total


#: Re-fits of the border on the coefficients still on the wrong side (0: plain ridge).
HINGE_ITERS = 2


def border_basis(pairs, side, p: int, q: int) -> np.ndarray:
    """(256, 32): what each smooth-border parameter (grey levels) adds to the 16 x 16 DCT
    block of the frame with row cut pair p and column cut pair q."""
    prof = smooth_basis(pairs, side)
    cols = []
    for ry, rx in _REGIONS:
        for fy in range(2):
            for fx in range(2):
                cols.append(np.outer(_D @ prof[p][ry][fy], _D @ prof[q][rx][fx]).ravel())
    return np.stack(cols, 1)


def fit_scores(grid: np.ndarray, known: np.ndarray, sigmas: tuple[float, ...]) -> dict:
    """Per sigma, (n_known,) score after fitting a smooth border (`border_basis`, ridge prior
    sigma grey levels per parameter) toward each known row, on that row's best frame by
    today's distance; scored as today (224 reliable bits of the fitted block)."""
    pairs = tuple((a, b) for a in CUTS for b in CUTS)
    iv = frame_intervals(grid, [])
    fill = iv["fill"].astype(np.float64)
    codes, masks = framing._bits_of(fill.reshape(-1, 16, 16).astype(np.float32))
    d = framing.masked_distances(codes, masks, known)
    best = d.argmin(0)
    kb = np.unpackbits(known.view(np.uint8).reshape(-1, 32), axis=1)[:, ::-1].astype(np.float64)
    target = 2 * kb - 1  # (n, 256) in block order
    out = {s: np.zeros(len(known)) for s in sigmas}
    n_pairs = len(pairs)
    for h in np.unique(best):
        rows = np.flatnonzero(best == h)
        c = fill[h]
        med = np.median(c)
        r0 = c - med
        tau = np.median(np.abs(r0))
        a = border_basis(pairs, grid.shape[0], h // n_pairs, h % n_pairs)
        a = a - np.median(a, axis=0, keepdims=True)
        ata = a.T @ a
        rhs = a.T @ (tau * target[rows].T - r0[:, None])  # (32, k)
        base = (224 - 2 * d[h, rows]) / 2.0
        for s in sigmas:
            lam = (tau / s) ** 2 * np.eye(a.shape[1])
            beta = np.linalg.solve(ata + lam, rhs)
            for _ in range(HINGE_ITERS):
                # hinge: only coefficients on the wrong side of the median, or within tau of
                # it on the right side, pull the border; the rest are left where they are
                cur = r0[:, None] + a @ beta  # (256, k)
                active = (target[rows].T * cur) < tau
                for j in range(len(rows)):
                    aw = a[active[:, j]]
                    beta[:, j] = np.linalg.solve(
                        aw.T @ aw + lam, aw.T @ (tau * target[rows[j]][active[:, j]]
                                                 - r0[active[:, j]]))
            blocks = (c[None, :] + (a @ beta).T).reshape(-1, 16, 16).astype(np.float32)
            fc, fm = framing._bits_of(blocks)
            dd = np.bitwise_count((fc ^ known[rows]) & fm).sum(1).astype(np.int64)
            out[s][rows] = np.maximum(base, (224 - 2 * dd) / 2.0)
    return out


def _pack(bits: np.ndarray) -> np.ndarray:
    return np.packbits(bits[:, ::-1], axis=1).view(np.uint64)


def certain_bits(center: np.ndarray, radius: np.ndarray, eps: float = 0.0):
    """Codes and certain-bit masks ((h, 4) uint64) of coefficient intervals."""
    lo_c, hi_c = center - radius, center + radius
    med_lo = np.median(lo_c, axis=1, keepdims=True)
    med_hi = np.median(hi_c, axis=1, keepdims=True)
    one = lo_c > med_hi + eps
    zero = hi_c < med_lo - eps
    return _pack(one), _pack(one | zero)


def top_bits(center: np.ndarray, radius: np.ndarray, keep: int):
    """Codes and masks of the `keep` bits whose margin beyond their interval is largest."""
    med = np.median(center, axis=1, keepdims=True)
    slack = np.abs(center - med) - radius
    order = np.argsort(-slack, axis=1)[:, :keep]
    mask = np.zeros(center.shape, bool)
    np.put_along_axis(mask, order, True, axis=1)
    return _pack(center > med), _pack(mask)


def _dist(codes, masks, known):
    """(h, n) distances and (h,) bits compared."""
    d = framing.masked_distances(codes, masks, known).astype(np.int32)
    nb = np.bitwise_count(masks).sum(1).astype(np.int32)
    return d, nb


def scores(grid: np.ndarray, known: np.ndarray, methods: dict, min_bits: int) -> dict:
    """Per method, (n_known,) best score over the frames."""
    models = sorted({m["model"] for m in methods.values() if "model" in m})
    out = {}
    sigmas = tuple(m["sigma"] for m in methods.values() if m["kind"] == "fit")
    if sigmas:
        fitted = fit_scores(grid, known, sigmas)
        for name, m in methods.items():
            if m["kind"] == "fit":
                out[name] = fitted[m["sigma"]]
    iv = frame_intervals(grid, models, pct=5.0 if "strip" in models else 0.0)
    for name, m in methods.items():
        if m["kind"] == "fit":
            continue
        if m["kind"] == "today":
            codes, masks = framing._bits_of(iv["fill"].reshape(-1, 16, 16).astype(np.float32))
            d, nb = _dist(codes, masks, known)
            out[name] = (nb[:, None] - 2 * d).max(0) / 2.0
            continue
        center, radius = iv[m["model"]]
        if m["kind"] == "soft":
            # weighted agreement: each bit weighs |c - med| / (|c - med| + radius), how far
            # its margin stands beyond what a smooth border can move it; z-like normalisation
            med = np.median(center, axis=1, keepdims=True)
            margin = np.abs(center - med)
            w = (margin / (margin + radius + 1e-9)).astype(np.float32)
            sign = np.where(center > med, 1.0, -1.0).astype(np.float32)
            kb = np.unpackbits(known.view(np.uint8).reshape(-1, 32), axis=1)[:, ::-1]
            t = (2.0 * kb - 1.0).astype(np.float32)
            agree = (w * sign) @ t.T  # (h, n)
            out[name] = (agree / np.sqrt((w ** 2).sum(1))[:, None]).max(0)
            continue
        if m["kind"] == "certain":
            codes, masks = certain_bits(center, radius, m.get("eps", 0.0))
            d, nb = _dist(codes, masks, known)
            norm = {"z": np.sqrt(np.maximum(nb, 1)), "frac": np.maximum(nb, 1),
                    "raw": np.ones_like(nb)}[m.get("norm", "z")]
            z = (nb[:, None] - 2 * d) / norm[:, None]
            z[nb < min_bits] = -99
            out[name] = z.max(0)
        else:
            codes, masks = top_bits(center, radius, m["keep"])
            d, nb = _dist(codes, masks, known)
            out[name] = (nb[:, None] - 2 * d).max(0) / 2.0
        out[name + ":bits"] = (nb.min(), int(np.median(nb)), nb.max())
    return out


def check(items: int = 4, borders: int = 200, seed: int = 0) -> int:
    """Draw admissible borders and rebuild the original's 64 x 64 cells explicitly (item part
    + border part, not through the interval formulas): a certain bit must never flip. Returns
    the number of flips seen (0 when the intervals are sound); prints what it tried."""
    rng = np.random.default_rng(seed)
    pairs = tuple((a, b) for a in CUTS for b in CUTS)
    flips = tried = certain_total = 0
    for it in range(items):
        grid = framing.luma_grid(np.asarray(make_photo(rh.UNRELATED_SEED + 97 * it, *rh.SIZE)))
        side = grid.shape[0]
        models = ["range", "dev10", "smooth10"]
        iv = frame_intervals(grid, models)
        for h in rng.choice(len(pairs) ** 2, 6, replace=False):
            p, q = divmod(int(h), len(pairs))
            ky, lo_y, hi_y, rky = axis_parts(*pairs[p], side)
            kx, lo_x, hi_x, rkx = axis_parts(*pairs[q], side)
            prof_y = {"k": ky, "lo": lo_y, "hi": hi_y}
            prof_x = {"k": kx, "lo": lo_x, "hi": hi_x}
            known_cells = rky @ grid @ rkx.T
            ay = framing.axis_matrix(framing._key(pairs[p][0]), framing._key(pairs[p][1]),
                                     side=side)
            ax = framing.axis_matrix(framing._key(pairs[q][0]), framing._key(pairs[q][1]),
                                     side=side)
            fill_block = ay @ grid @ ax.T
            for model in models:
                center, radius = iv[model]
                codes, masks = certain_bits(center[h:h + 1], radius[h:h + 1])
                certain_total += int(np.bitwise_count(masks).sum())
                for k in range(borders):
                    extreme = k % 2 == 0  # half at the corners of the admissible box
                    if model == "range":
                        cells = known_cells.copy()
                        for ry, rx in _REGIONS:
                            share = np.outer(prof_y[ry], prof_x[rx])
                            v = (rng.integers(0, 2, share.shape) * 255.0 if extreme
                                 else rng.uniform(0, 255, share.shape))
                            cells += share * v
                        block = _D @ cells @ _D.T
                    elif model == "dev10":
                        border = 1.0 - np.outer(ky, kx)
                        e = (rng.choice([-10.0, 10.0], border.shape) if extreme
                             else rng.uniform(-10, 10, border.shape))
                        if k < 2 * 256:  # the worst border of one coefficient
                            u, v = divmod(k // 2 % 256, 16)
                            e = 10.0 * np.sign(np.outer(_D[u], _D[v])) * (1 if k % 4 else -1)
                        block = fill_block + _D @ (border * e) @ _D.T
                    else:  # smooth10: today's fill plus a smooth border, |parameter| <= 10
                        prof = smooth_basis(pairs, side)
                        e = np.zeros((64, 64))
                        for ry, rx in _REGIONS:
                            for fy in range(2):
                                for fx in range(2):
                                    b = (rng.choice([-10.0, 10.0]) if extreme
                                         else rng.uniform(-10, 10))
                                    e += b * np.outer(prof[p][ry][fy], prof[q][rx][fx])
                        block = fill_block + _D @ e @ _D.T
                    c, _m = framing._bits_of(block[None].astype(np.float64), drop=0)
                    flips += int(np.bitwise_count((c ^ codes) & masks).sum())
                    tried += 1
    print(f"check: {tried} admissible borders (range, dev10, smooth10; half at the box's "
          f"corners, dev10 also each coefficient's worst border), {certain_total} certain bits "
          f"over the frames tried, certain bits flipped: {flips}")
    return flips


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--package-photos", type=Path)
    ap.add_argument("--photos", type=Path, action="append", default=[])
    ap.add_argument("--n", type=int, default=100, help="known collages")
    ap.add_argument("--m", type=int, default=2000, help="unrelated images")
    ap.add_argument("--dev", action="store_true")
    ap.add_argument("--kinds", default="crop 3-8%/side")
    ap.add_argument("--min-bits", type=int, default=48)
    ap.add_argument("--methods", default="today,range,strip,dev10,dev20,dev40")
    ap.add_argument("--out", type=Path, default=None, help="save the raw scores (npz)")
    ap.add_argument("--check", action="store_true",
                    help="only check that no admissible border flips a certain bit")
    ap.add_argument("--report", type=Path, default=None,
                    help="only print the report of scores saved with --out")
    args = ap.parse_args()
    if args.report:
        z = np.load(args.report)
        names = [str(m) for m in z["methods"]]
        rows = [(str(f), str(k), None, dict(zip(names, o)), dict(zip(names, x)))
                for f, k, o, x in zip(z["family"], z["kind"], z["own"], z["other"])]
        report(rows, dict(zip(names, z["neg"])), names, {m: [] for m in names})
        return
    if args.check:
        sys.exit(1 if check() else 0)
    t0, c0, l0 = time.perf_counter(), time.process_time(), os.getloadavg()[0]
    methods = {}
    for name in args.methods.split(","):
        if name == "today":
            methods[name] = dict(kind="today")
        elif name.startswith("soft:"):
            methods[name] = dict(kind="soft", model=name[5:])
        elif name.startswith("fit"):
            methods[name] = dict(kind="fit", sigma=float(name[3:]))
        elif name.startswith("top"):
            keep, model = name[3:].split(":")
            methods[name] = dict(kind="top", keep=int(keep), model=model)
        else:
            name_, _, norm = name.partition("/")
            model, _, eps = name_.partition("@")
            methods[name] = dict(kind="certain", model=model, eps=float(eps or 0),
                                 norm=norm or "z")
    known_imgs = [("collages", make_photo(recall.KNOWN_SEED + i, *rh.SIZE))
                  for i in range(args.n)]
    known_imgs += [("package photos", img) for img in rh._folder_photos(args.package_photos)]
    for folder in args.photos:
        known_imgs += [(folder.name, img) for img in rh._folder_photos(folder)]
    sigs = [pdq.pdq_from_bytes(recall._jpeg(img, 90)) for _f, img in known_imgs]
    keep = []
    for k, s in enumerate(sigs):
        if known_imgs[k][0] != "collages" and any(pdq.hamming(s.hex, sigs[j].hex) <= 31
                                                  for j in keep):
            continue
        keep.append(k)
    known_imgs = [known_imgs[k] for k in keep]
    hexes = [sigs[k].hex for k in keep]
    known = np.frombuffer(bytes.fromhex("".join(hexes)), np.uint8).view(np.uint64).reshape(-1, 4)
    print(f"{len(known)} known; methods {list(methods)}", file=sys.stderr)
    seed0 = rh.DEV_SEED if args.dev else 0
    kinds = args.kinds.split(",")
    true_rows = []  # (family, kind, own score per method, best other score per method)
    for kind in kinds:
        k = list(rh.VARIANTS).index(kind)
        fn = rh.VARIANTS[kind]
        for i, (family, img) in enumerate(known_imgs):
            if family == "collages":
                seeds = 1
            else:
                seeds = 2 if family == "package photos" else 1
            for s in range(seeds):
                data = fn(img, np.random.default_rng([i, k, s + seed0]))
                sig = pdq.pdq_from_bytes(data)
                if not sig.trusted:
                    continue
                grid = framing.luma_grid(pdq._prepared(data, True).pixels)
                sc = scores(grid, known, methods, args.min_bits)
                own = {m: float(sc[m][i]) for m in methods}
                other = {m: float(np.delete(sc[m], i).max()) for m in methods}
                true_rows.append((family, kind, i, own, other))
        print(f"  {kind}: {len(true_rows)} queries ({time.perf_counter() - t0:.0f}s)",
              file=sys.stderr)
    u = rh._cached_unrelated(args.m, False, rh.DEV_UNRELATED if args.dev else 0)
    neg = {m: [] for m in methods}
    bits_seen = {m: [] for m in methods}
    for j in range(args.m):
        if not u["trusted"][j]:
            continue
        sc = scores(u["grids"][j].astype(np.float32), known, methods, args.min_bits)
        for m in methods:
            neg[m].append(sc[m])
            if m + ":bits" in sc:
                bits_seen[m].append(sc[m + ":bits"][1])
        if j % 500 == 499:
            print(f"  unrelated {j + 1} ({time.perf_counter() - t0:.0f}s)", file=sys.stderr)
    neg = {m: np.concatenate(v) for m, v in neg.items()}
    if args.out:
        np.savez(args.out, neg=np.stack([neg[m] for m in methods]),
                 own=np.array([[r[3][m] for m in methods] for r in true_rows]),
                 other=np.array([[r[4][m] for m in methods] for r in true_rows]),
                 family=np.array([r[0] for r in true_rows]), kind=np.array([r[1] for r in true_rows]),
                 methods=np.array(list(methods)))
    report(true_rows, neg, methods, bits_seen)
    print(f"{time.perf_counter() - t0:.0f}s wall, {time.process_time() - c0:.0f}s CPU, load "
          f"{l0:.1f} -> {os.getloadavg()[0]:.1f}")


def tail_fit(scores: np.ndarray, ranks: tuple[int, int] = (30, 1000)) -> tuple[float, float]:
    """log10(number of negative pairs scoring >= s) ~ a s + b, fitted on the ranks given."""
    s = np.sort(scores)[::-1]
    ks = np.arange(*ranks)
    a, b = np.linalg.lstsq(np.vstack([s[ks - 1], np.ones(len(ks))]).T, np.log10(ks),
                           rcond=None)[0]
    return float(a), float(b)


def report(true_rows, neg, methods, bits_seen) -> None:
    fams = list(dict.fromkeys((r[0], r[1]) for r in true_rows))
    # the product's operating depth: today's frame threshold, extrapolated on today's tail
    ref = 112 - framing.FAMILIES["frame"]
    a0, b0 = tail_fit(neg["today"]) if "today" in neg else (0.0, 0.0)
    depth = a0 * ref + b0
    if "today" in neg:
        print(f"at the product's depth (today's frame threshold {framing.FAMILIES['frame']}: "
              f"10^{depth:.2f} negative pairs expected of {len(neg['today']):,}, from a "
              "log-linear fit of ranks 30-1000 of each score's negative tail), found:")
        for m in methods:
            a, b = tail_fit(neg[m])
            thr = (depth - b) / a
            print(f"  {m:<18} threshold {thr:7.2f}: " + ", ".join(
                f"{kind} [{fam}] {sum(r[3][m] >= thr for r in true_rows if r[:2] == (fam, kind))}"
                for fam, kind in fams))
    ks = (1, 3, 10, 30)
    print(f"negative pairs: {len(next(iter(neg.values()))):,}; recall of own known hash at "
          f"the score of the k-th best negative pair, k = {ks}")
    for m in methods:
        s = np.sort(neg[m])[::-1]
        ths = [s[k - 1] for k in ks]
        bits = f" (median bits compared {int(np.median(bits_seen[m]))})" if bits_seen[m] else ""
        print(f"{m}{bits}: thresholds {['%.2f' % t for t in ths]}")
        for fam, kind in fams:
            rows = [r for r in true_rows if r[0] == fam and r[1] == kind]
            rec = [sum(r[3][m] > t for r in rows) for t in ths]
            wrong = [sum(r[4][m] > t for r in rows) for t in ths]
            print(f"  {kind} [{fam}] {len(rows)}: found " + " / ".join(map(str, rec))
                  + "   other known above: " + " / ".join(map(str, wrong)))


if __name__ == "__main__":
    main()
