"""Why a cropped photo is missed against a hash-only list: per photo, where the bits go.

    nice .venv/bin/python bench/hashonly_diagnose.py                 # package photos
    nice .venv/bin/python bench/hashonly_diagnose.py --photos DIR    # + a folder of photos
    nice .venv/bin/python bench/hashonly_diagnose.py --package-photos DIR  # package photos from DIR

For each known photo (its PDQ is all the list holds) and two copies cropped by 3-8 % per side
(as bench/recall.py --hash-only makes them), in bits of 256 (/ of the 224 reliable bits):

- shift: PDQ of the photo moved by 1 or 2 pixels vs its own PDQ (the larger). Large = the hash
  depends on the
  exact sampling positions (fine texture aliased by PDQ's filter): no reconstruction from a
  crop, whose pixels sit elsewhere on the grid, can be expected to come back near it.
- emu: `haven.match.framing`'s emulated PDQ of the uncropped photo vs pdqhash (the floor
  every hypothesis carries).
- oracle: the frame hypothesis at the true cuts, border filled by mirror reflection
  (`framing.Fill(0.0)`) and by the current fill (`framing.FRAME_FILL`): what the fill costs
  (bench/hashonly_fill_oracle.py compares more fills).
- native: the oracle in pdqhash's own domain: the copy's pixels reduced exactly as pdqhash
  reduces the ORIGINAL (its size = the copy's + the true integer cuts: the same box-filter
  windows and sampling positions, `haven.signals.pdqluma.reduction`), cells whose filter
  reaches past the copy's edge filled from inside (`framing.FRAME_FILL`, as the native frames).
  What a search over exact integer cuts could reach at best, without any emulation error.
- found: the distance `FramingIndex.search` reports (threshold `framing.FAMILIES['frame']`),
  or '-' when missed.
- plain: pdqhash's own distance (256 bits, threshold 31) from the known hash to uncropped
  copies: re-encoded at JPEG q40, resized to 30 %, moved by 1 px. If plain PDQ misses those,
  the photo's hash is out of reach of any query-side method (PDQ's limit, not the
  hypotheses').
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import recall  # noqa: E402
import recall_hashonly  # noqa: E402

from haven.match import framing  # noqa: E402
from haven.signals import pdq  # noqa: E402


def _code(hex_: str) -> np.ndarray:
    return np.frombuffer(bytes.fromhex(hex_), np.uint8).view(np.uint64).reshape(1, 4)


def _bits(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> int:
    x = a ^ b
    if mask is not None:
        x = x & mask
    return int(np.bitwise_count(x).sum())


def _frame(item: framing.Item, cuts, fill: framing.Fill) -> tuple[np.ndarray, np.ndarray]:
    left, right, top, bottom = cuts
    saved = framing.FRAME_FILL
    framing.FRAME_FILL = fill
    try:
        _t, _f, blocks, exposure = framing._frames(item.grid, [(top, bottom)], [(left, right)])
    finally:
        framing.FRAME_FILL = saved
    return framing._bits_of(blocks, exposure)


def _crop(img, rng):
    w, h = img.size
    left, right = rng.uniform(0.03, 0.08, 2)
    top, bottom = rng.uniform(0.03, 0.08, 2)
    box = (round(left * w), round(top * h), round(w - right * w), round(h - bottom * h))
    cuts = (box[0] / w, 1 - box[2] / w, box[1] / h, 1 - box[3] / h)
    pixels = (box[0], w - box[2], box[1], h - box[3])
    return recall._jpeg(img.crop(box)), cuts, pixels



def _native(luma: np.ndarray, pixels: tuple[int, int, int, int]) -> np.ndarray:
    """DCT block of the native-scale oracle (see the module docstring)."""
    left, right, top, bottom = pixels
    ri, rw, (r0, r1) = framing.native_reduction(luma.shape[0], top, bottom)
    ci, cw, (c0, c1) = framing.native_reduction(luma.shape[1], left, right)
    rows = np.einsum("ikx,ik->ix", luma[ri], rw, dtype=np.float32)
    cells = np.einsum("ijk,jk->ij", rows[:, ci], cw)
    fill = framing.FRAME_FILL
    return framing.cell_matrix(r0, r1, fill) @ cells @ framing.cell_matrix(c0, c1, fill).T


def _plain(hex_: str, data: bytes) -> int:
    return pdq.hamming(hex_, pdq.pdq_from_bytes(data).hex)


def diagnose(photos: list[tuple[str, str, object]], seeds: int = 2) -> list[dict]:
    rows = []
    for i, (family, name, img) in enumerate(photos):
        data = recall._jpeg(img, 90)
        sig = pdq.pdq_from_bytes(data)
        if not sig.trusted:
            continue
        known = _code(sig.hex)
        w, h = img.size
        shift = recall_hashonly.shift_bits(img)
        plain = (_plain(sig.hex, recall._jpeg(img, 40)),
                 _plain(sig.hex, recall._jpeg(img.resize((max(1, round(w * 0.3)),
                                                          max(1, round(h * 0.3)))), 90)),
                 _plain(sig.hex, recall._jpeg(img.crop((1, 1, w, h)), 90)))
        whole = framing.Item.from_pixels(pdq._prepared(data, True).pixels)
        c, m = _frame(whole, (0, 0, 0, 0), framing.FRAME_FILL)
        emu, emu_r = _bits(c, known), _bits(c, known, m)
        index = framing.FramingIndex(np.frombuffer(bytes.fromhex(sig.hex), np.uint8))
        for s in range(seeds):
            copy, cuts, cut_px = _crop(img, np.random.default_rng([i, 5, s]))
            pixels = pdq._prepared(copy, True).pixels
            item = framing.Item.from_pixels(pixels)
            c0, m0 = _frame(item, cuts, framing.Fill(0.0))
            c1, m1 = _frame(item, cuts, framing.FRAME_FILL)
            luma = pixels if pixels.ndim == 2 else pdq._float_luma(pixels)
            c2, m2 = framing._bits_of(_native(luma, cut_px)[None])
            hits = index.search(item)
            rows.append(dict(family=family, photo=i, name=name, seed=s, shift=shift, plain=plain,
                             emu=emu, emu_r=emu_r,
                             mirror=_bits(c0, known), mirror_r=_bits(c0, known, m0),
                             fill=_bits(c1, known), fill_r=_bits(c1, known, m1),
                             native=_bits(c2, known), native_r=_bits(c2, known, m2),
                             found=hits[0].distance if hits else None))
    return rows


def report(rows: list[dict]) -> None:
    print(f"{'family':<16}{'photo':<32}{'seed':>5}{'shift':>7}{'plain q40/30%/1px':>18}"
          f"{'emu':>9}{'oracle mirror':>15}{'oracle fill':>13}{'native':>9}{'found':>7}")
    for r in rows:
        found = "-" if r["found"] is None else str(r["found"])
        plain = "/".join(str(v) for v in r["plain"])
        print(f"{r['family']:<16}{r['name'][:31]:<32}{r['seed']:>5}{r['shift']:>7}{plain:>18}"
              f"{r['emu']:>5}/{r['emu_r']:<3}{r['mirror']:>10}/{r['mirror_r']:<4}"
              f"{r['fill']:>8}/{r['fill_r']:<4}{r['native']:>5}/{r['native_r']:<3}{found:>7}")
    for family in dict.fromkeys(r["family"] for r in rows):
        for label, keep in (("shift <= 16", lambda r: r["shift"] <= 16),
                            ("shift > 16", lambda r: r["shift"] > 16)):
            sub = [r for r in rows if r["family"] == family and keep(r)]
            if not sub:
                continue
            mean = {k: np.mean([r[k] for r in sub]) for k in
                    ("emu", "emu_r", "mirror", "mirror_r", "fill", "fill_r", "native",
                     "native_r")}
            found = sum(r["found"] is not None for r in sub)
            print(f"{family} ({label}): {len(sub)} crops, found {found} ({found / len(sub):.0%});"
                  f" mean emu {mean['emu']:.1f}/{mean['emu_r']:.1f}, oracle mirror "
                  f"{mean['mirror']:.1f}/{mean['mirror_r']:.1f}, oracle fill "
                  f"{mean['fill']:.1f}/{mean['fill_r']:.1f}, native oracle "
                  f"{mean['native']:.1f}/{mean['native_r']:.1f} (bits of 256 / of the reliable "
                  f"224); native oracle within {framing.FAMILIES['frame']}: "
                  f"{sum(r['native_r'] <= framing.FAMILIES['frame'] for r in sub)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", type=Path, action="append", default=[],
                    help="a folder of photos to diagnose too (repeatable)")
    ap.add_argument("--package-photos", type=Path, default=None,
                    help="the package photos are every image under this folder (as "
                         "bench/recall.py --hash-only --package-photos)")
    ap.add_argument("--seeds", type=int, default=2, help="cropped copies per photo (default 2)")
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("HAVEN_SHARED")
                                                         or "/work/shared"))
    args = ap.parse_args()
    shared = args.shared if (args.shared / "testdata" / "pdq").exists() else None
    if args.package_photos:
        photos = [("package photos", p.name, img) for p, img in
                  recall_hashonly._folder_photos(args.package_photos, named=True)]
    else:
        photos = [("package photos", f"#{k}", img)
                  for k, img in enumerate(recall_hashonly._photo_sources(shared))]
    for folder in args.photos:
        photos += [(folder.name, p.name, img)
                   for p, img in recall_hashonly._folder_photos(folder, named=True)]
    report(diagnose(photos, args.seeds))


if __name__ == "__main__":
    main()
