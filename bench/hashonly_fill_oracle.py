"""Which border fill rebuilds a cropped copy's known PDQ best: an oracle at the TRUE cuts.

    OPENBLAS_NUM_THREADS=1 nice .venv/bin/python bench/hashonly_fill_oracle.py --dev \\
        --package-photos DIR --photos DIR [--n 100]

The crop queries bench/recall.py --hash-only makes (same known pictures, same seeds: `--dev`
gives the development split's), each hashed as `haven.match.framing` would rebuild the
original at the cuts the crop really made, with each candidate fill of the cut border
(`framing.Fill`): in the emulated domain (the 128-grid frame, `framing._frames`) and in
pdqhash's own domain (the copy's pixels reduced as pdqhash reduces the original, cells past
the copy's edge filled: `framing.native_frame`'s reduction at the true integer cuts). Printed
per family (photo families split by PDQ-stable / -unstable, as the bench does): the mean
distance to the known hash on the 224 reliable bits and how many queries come within the
frame threshold (`framing.FAMILIES`), for every fill; then the queries a fill wins or loses
against the strip fill. No search: what a fill allows at best, not what the product finds.
Two 2-D fills are measured too, not pairs of axis matrices, so not candidates for the product
as it stands: `harmonic_fill` (Laplace inpainting of the border cells; both domains, in the
emulated one from the adopted fill's 64 x 64 cells) and `tangential_blur` (the adopted fill's
side borders blurred along the edge, sigma = the cell's distance outside; emulated only).
Fill names: "strip bX" = strip fill X times as wide; "slope X" = plus X times the linear
extrapolation; "mean L" = blended toward the axis's mean with weight 1 - exp(-d / L) ("near
.5": the mean of the half of the axis next to that edge); "b1.5 mean L.1" is the one adopted
(`framing.FRAME_FILL`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import recall  # noqa: E402
import recall_hashonly as rh  # noqa: E402
from imagegen import make_photo  # noqa: E402

from haven.match import framing  # noqa: E402
from haven.match.framing import Fill  # noqa: E402
from haven.signals import pdq  # noqa: E402

#: Candidate fills (name -> Fill); "strip" is today's.
CANDIDATES: dict[str, Fill] = {
    "strip": framing.STRIP,
    "mirror": Fill(0.0),
    "strip b1.5": Fill(1.5),
    "strip b2": Fill(2.0),
    "slope 0.25": Fill(slope=0.25),
    "slope 0.5": Fill(slope=0.5),
    "slope .5 band .16": Fill(slope=0.5, band=0.16),
    "mean L.01": Fill(mean_scale=0.01),
    "mean L.1": Fill(mean_scale=0.1),
    "b1.5 mean L.05": Fill(1.5, mean_scale=0.05),
    "b1.5 mean L.1": Fill(1.5, mean_scale=0.1),
    "b1.5 mean L.2": Fill(1.5, mean_scale=0.2),
    "b1.5 L.1 near .5": Fill(1.5, mean_scale=0.1, mean_band=0.5),
}

CROPS = {"crop 3-8%/side": (0.03, 0.08), "crop 8-15%/side": (0.08, 0.15)}


def _known(n: int, package_dir: Path | None, folders: list[Path], shared: Path | None):
    """The bench's known pictures, in its order and with its de-duplication."""
    imgs = [("collages", f"#{i}", make_photo(recall.KNOWN_SEED + i, *rh.SIZE))
            for i in range(n)]
    if package_dir:
        imgs += [("package photos", p.stem, img)
                 for p, img in rh._folder_photos(package_dir, named=True)]
    else:
        imgs += [("package photos", f"#{k}", img)
                 for k, img in enumerate(rh._photo_sources(shared))]
    for folder in folders:
        imgs += [(folder.name, p.stem, img) for p, img in rh._folder_photos(folder, named=True)]
    sigs = [pdq.pdq_from_bytes(recall._jpeg(img, 90)) for _f, _n, img in imgs]
    keep = []
    for k, sig in enumerate(sigs):
        if imgs[k][0] != "collages" and any(pdq.hamming(sig.hex, sigs[j].hex) <= 31
                                            for j in keep):
            continue
        keep.append(k)
    return [(imgs[k][0], imgs[k][1], imgs[k][2], sigs[k]) for k in keep]


def _true_crop(img, rng, lo: float, hi: float):
    """The crop the bench's variant makes with `rng` (same draws), its bytes and cut pixels."""
    w, h = img.size
    left, right = rng.uniform(lo, hi, 2) * w
    top, bottom = rng.uniform(lo, hi, 2) * h
    box = (round(left), round(top), round(w - right), round(h - bottom))
    return recall._jpeg(img.crop(box)), (box[0], w - box[2], box[1], h - box[3])


def harmonic_fill(cells: np.ndarray, rows: tuple[float, float], cols: tuple[float, float],
                  iterations: int = 400) -> np.ndarray:
    """The 64 x 64 cells with those outside the rows' and columns' spans (fractions) replaced
    by the harmonic (Laplace) inpainting of the known ones, the picture's outer edge free
    (reflecting): 2-D and not separable, so not a pair of axis matrices (measured here only,
    in pdqhash's domain)."""
    u = (np.arange(64) + 0.5) / 64
    known = (((u >= rows[0]) & (u <= rows[1]))[:, None]
             & ((u >= cols[0]) & (u <= cols[1]))[None, :])
    x = cells.astype(np.float64).copy()
    x[~known] = x[known].mean()
    for _ in range(iterations):  # Jacobi sweeps; the hole is a border a few cells deep
        p = np.pad(x, 1, mode="edge")
        x[~known] = ((p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:]) / 4)[~known]
    return x


def tangential_blur(cells: np.ndarray, rows: tuple[float, float], cols: tuple[float, float],
                    scale: float = 1.0) -> np.ndarray:
    """The 64 x 64 cells with those of the left/right border blurred along their column, then
    those of the top/bottom border along their row, a Gaussian of sigma = `scale` x the cell's
    distance outside the span (in cells)."""
    u = (np.arange(64) + 0.5) / 64
    idx = np.arange(64)
    out = cells.astype(np.float64).copy()
    for axis, (lo, hi) in ((1, cols), (0, rows)):
        dist = np.maximum(lo - u, u - hi).clip(0) * 64
        for j in np.flatnonzero(dist > 0):
            g = np.exp(-0.5 * ((idx[:, None] - idx[None, :]) / (scale * dist[j])) ** 2)
            g /= g.sum(1, keepdims=True)
            if axis == 1:
                out[:, j] = g @ out[:, j]
            else:
                out[j, :] = g @ out[j, :]
    return out


def _dist(blocks: np.ndarray, known: np.ndarray) -> np.ndarray:
    codes, masks = framing._bits_of(blocks)
    return np.bitwise_count((codes ^ known[None]) & masks).sum(1)


def measure(known, dev: bool, queries: int, photo_seeds: int, folder_seeds: int,
            kinds: list[str]) -> list[dict]:
    kind_index = {k: i for i, k in enumerate(rh.VARIANTS)}
    fills = list(CANDIDATES.items())
    adopted = framing.FRAME_FILL
    rows = []
    shift_of: dict[int, int] = {}
    n_coll = sum(f[0] == "collages" for f in known)
    for kind in kinds:
        k = kind_index[kind]
        lo, hi = CROPS[kind]
        for i, (family, name, img, sig) in enumerate(known):
            if family == "collages" and i >= queries:
                continue
            if not sig.trusted:
                continue
            seeds = 1 if family == "collages" else (photo_seeds if family == "package photos"
                                                    else folder_seeds)
            if family != "collages" and i not in shift_of:
                shift_of[i] = rh.shift_bits(img)
            code = np.frombuffer(bytes.fromhex(sig.hex), np.uint8).view(np.uint64)
            w, h = img.size
            for s in range(seeds):
                rng = np.random.default_rng([i, k, s + (rh.DEV_SEED if dev else 0)])
                data, (left, right, top, bottom) = _true_crop(img, rng, lo, hi)
                pixels = pdq._prepared(data, True).pixels
                grid = framing.luma_grid(pixels)
                luma = pixels if pixels.ndim == 2 else pdq._float_luma(pixels)
                luma = np.asarray(luma, np.float32)
                cuts = (left / w, right / w, top / h, bottom / h)
                ri, rw, (r0, r1) = framing.native_reduction(luma.shape[0], top, bottom)
                ci, cw, (c0, c1) = framing.native_reduction(luma.shape[1], left, right)
                cells = np.einsum("ijk,jk->ij",
                                  np.einsum("ikx,ik->ix", luma[ri], rw)[:, ci], cw)
                emu, nat = [], []
                for _name, fill in fills:
                    framing.FRAME_FILL = fill
                    _t, _f, b, _e = framing._frames(grid, [(cuts[2], cuts[3])],
                                                    [(cuts[0], cuts[1])])
                    emu.append(b[0])
                    nat.append(framing.cell_matrix(r0, r1, fill) @ cells
                               @ framing.cell_matrix(c0, c1, fill).T)
                framing.FRAME_FILL = adopted
                # 2-D fills in the emulated domain, from the adopted fill's 64 x 64 cells; the
                # item's span in the original's coordinates
                fill = adopted
                emu_cells = (framing._resample(cuts[2], cuts[3], 0.0, 1.0, framing.GRID, fill)
                             @ grid @ framing._resample(cuts[0], cuts[1], 0.0, 1.0,
                                                        framing.GRID, fill).T)
                span_r, span_c = (cuts[2], 1 - cuts[3]), (cuts[0], 1 - cuts[1])
                dct = framing._DCT
                emu.append(dct @ harmonic_fill(emu_cells, span_r, span_c) @ dct.T)
                emu.append(dct @ tangential_blur(emu_cells, span_r, span_c) @ dct.T)
                nat.append(dct @ harmonic_fill(cells, (r0, r1), (c0, c1)) @ dct.T)
                rows.append(dict(kind=kind, family=family, photo=i - n_coll, seed=s, name=name,
                                 unstable=shift_of.get(i, 0) > rh.UNSTABLE_SHIFT,
                                 emu=_dist(np.stack(emu).astype(np.float32), code),
                                 native=_dist(np.stack(nat).astype(np.float32), code)))
    return rows


def report(rows: list[dict]) -> None:
    names = list(CANDIDATES)
    thr = framing.FAMILIES["frame"]
    print("queries of photos beyond the threshold at the true cuts with the strip fill "
          "(emulated / native distance per fill):")
    print(f"{'kind':<16}{'photo':<34}" + "".join(f"{n[:13]:>14}" for n in names)
          + "  harmonic 2-D (native)")
    for r in rows:
        if r["family"] == "collages" or min(r["emu"][0], r["native"][0]) <= thr:
            continue
        name = r["name"]
        print(f"{r['kind'][:15]:<16}{(name + ('*' if r['unstable'] else ''))[:33]:<34}"
              + "".join(f"{int(e):>8}/{int(n):<5}" for e, n in zip(r["emu"], r["native"]))
              + f"{int(r['native'][-1]):>8}")
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        sub = "collages" if r["family"] == "collages" else (
            f"{r['family']}, {'unstable' if r['unstable'] else 'stable'}")
        groups.setdefault((r["kind"], sub), []).append(r)
    base = names
    for domain in ("emu", "native"):
        names = base + (["harmonic 2-D", "tangential blur"] if domain == "emu"
                        else ["harmonic 2-D"])
        print(f"\n== {domain}: mean reliable-bit distance at the true cuts / within {thr} ==")
        head = "".join(f"{k[0][:11]:>13}" for k in groups)
        print(f"{'fill':<20}" + head)
        print(f"{'':<20}" + "".join(f"{k[1][:12]:>13}" for k in groups))
        print(f"{'(queries)':<20}" + "".join(f"{len(v):>13}" for v in groups.values()))
        for j, name in enumerate(names):
            cells = []
            for v in groups.values():
                d = np.array([r[domain][j] for r in v])
                cells.append(f"{d.mean():6.1f}/{int((d <= thr).sum()):<4}")
            print(f"{name:<20}" + "".join(f"{c:>13}" for c in cells))
        print(f"-- per fill, queries within {thr} that the strip fill has not (+) / loses (-)")
        for j, name in enumerate(names[1:], 1):
            cells = []
            for v in groups.values():
                a = np.array([r[domain][0] <= thr for r in v])
                b = np.array([r[domain][j] <= thr for r in v])
                cells.append(f"+{int((b & ~a).sum())}/-{int((a & ~b).sum())}")
            print(f"{name:<20}" + "".join(f"{c:>13}" for c in cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dev", action="store_true", help="the development split's queries")
    ap.add_argument("--n", type=int, default=100, help="collages known (bench's --n)")
    ap.add_argument("--queries", type=int, default=100, help="collage queries (bench's)")
    ap.add_argument("--photo-seeds", type=int, default=2)
    ap.add_argument("--folder-seeds", type=int, default=1)
    ap.add_argument("--package-photos", type=Path, default=None)
    ap.add_argument("--photos", type=Path, action="append", default=[])
    ap.add_argument("--kinds", default=",".join(CROPS))
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("HAVEN_SHARED")
                                                         or "/work/shared"))
    args = ap.parse_args()
    shared = args.shared if (args.shared / "testdata" / "pdq").exists() else None
    t0, c0 = time.perf_counter(), time.process_time()
    known = _known(args.n, args.package_photos, args.photos, shared)
    rows = measure(known, args.dev, args.queries, args.photo_seeds, args.folder_seeds,
                   [k.strip() for k in args.kinds.split(",")])
    report(rows)
    print(f"\n{len(rows)} queries, {'DEV' if args.dev else 'default'} split; "
          f"{time.perf_counter() - t0:.0f} s wall, {time.process_time() - c0:.0f} s CPU, "
          f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
