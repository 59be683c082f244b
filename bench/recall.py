"""Near-duplicate recall of PDQ matching on generated benign images, per kind of variant.

    .venv/bin/python bench/recall.py                 # N=500 known, M=2000 unrelated, 1024x768
    .venv/bin/python bench/recall.py --n 100 --m 400 # quick look
    nice .venv/bin/python bench/recall.py --hash-only  # known sets as PDQ only (recall_hashonly.py)

Known set: N originals from bench/imagegen.py, stored as JPEG q90 and enrolled. Queries: one
variant of each original per kind (below), each saved as JPEG and hashed with haven's fast
path. Unrelated: M other generated images, never enrolled. A query is recalled when its own
original comes back within the threshold; a false match is an unrelated image (or a query)
that comes back with any other known image.

Methods compared:
- plain: known side one PDQ hash, query side its 8 dihedral hashes (threshold 31);
- haven: `haven.match.near.RobustPdq` — the method the scan uses (see its docstring).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parent))
from imagegen import make_photo  # noqa: E402

from haven.match.near import NearIndex, RobustPdq  # noqa: E402
from haven.signals import pdq  # noqa: E402

WORDS = ("holiday", "2019", "best", "day", "ever", "share", "follow", "me", "@user_81", "lol",
         "summer", "trip", "new", "post", "copyright", "www.example.org", "sale", "join", "now")


def _jpeg(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _caption(rng: np.random.Generator) -> str:
    return " ".join(WORDS[int(i)] for i in rng.integers(0, len(WORDS), int(rng.integers(2, 5))))


def v_jpeg(img, rng):
    return _jpeg(img, int(rng.integers(25, 61)))


def v_resize30(img, rng):
    w, h = img.size
    return _jpeg(img.resize((round(w * 0.3), round(h * 0.3)), Image.LANCZOS))


def v_grey(img, rng):
    return _jpeg(img.convert("L"))


def v_mirror(img, rng):
    return _jpeg(img.transpose(Image.Transpose.FLIP_LEFT_RIGHT))


def v_rot90(img, rng):
    turn = Image.Transpose.ROTATE_90 if rng.random() < 0.5 else Image.Transpose.ROTATE_270
    return _jpeg(img.transpose(turn))


def v_crop(img, rng):
    w, h = img.size
    left, right = rng.uniform(0.03, 0.08, 2) * w
    top, bottom = rng.uniform(0.03, 0.08, 2) * h
    return _jpeg(img.crop((round(left), round(top), round(w - right), round(h - bottom))))


def v_text(img, rng):
    """A caption in a random place, 4-6 % of the image height, light or dark."""
    img = img.copy()
    w, h = img.size
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=max(8, int(h * rng.uniform(0.04, 0.06))))
    text = _caption(rng)
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    x = int(rng.uniform(0.02, max(0.03, 0.98 - (x1 - x0) / w)) * w)
    y = int(rng.uniform(0.02, 0.9) * h)
    fill = (255, 255, 255) if rng.random() < 0.5 else (0, 0, 0)
    stroke = (0, 0, 0) if fill == (255, 255, 255) else (255, 255, 255)
    draw.text((x, y), text, font=font, fill=fill, stroke_width=max(1, font.size // 12), stroke_fill=stroke)
    return _jpeg(img)


def v_banner(img, rng):
    """A solid band across the top or bottom, 6-10 % of the height, with text on it."""
    img = img.copy()
    w, h = img.size
    band = int(h * rng.uniform(0.06, 0.10))
    y = 0 if rng.random() < 0.5 else h - band
    draw = ImageDraw.Draw(img)
    colour = tuple(int(v) for v in rng.integers(0, 256, 3))
    draw.rectangle((0, y, w, y + band), fill=colour)
    font = ImageFont.load_default(size=max(8, int(band * 0.6)))
    ink = (0, 0, 0) if sum(colour) > 380 else (255, 255, 255)
    draw.text((int(w * 0.03), y + band // 5), _caption(rng), font=font, fill=ink)
    return _jpeg(img)


VARIANTS = {
    "jpeg q25-60": v_jpeg,
    "resize 30%": v_resize30,
    "grey": v_grey,
    "mirror": v_mirror,
    "rotate 90": v_rot90,
    "crop 3-8%/side": v_crop,
    "text overlay": v_text,
    "banner 6-10%": v_banner,
}

KNOWN_SEED = 1_000_000
UNRELATED_SEED = 5_000_000


def run(n: int, m: int, width: int, height: int, threshold: int, progress: bool = True) -> dict:
    robust = RobustPdq(threshold=threshold)
    plain_index, robust_index = NearIndex(), NearIndex()
    t0 = time.perf_counter()
    # per original: the known image's bytes are what a hash set would have been built from
    originals = []
    for i in range(n):
        img = make_photo(KNOWN_SEED + i, width, height)
        data = _jpeg(img, 90)
        originals.append(img)
        prep = robust.prepare_bytes(data)
        plain_index.add([pdq.pdq_from_prepared(prep).hex], [i])
        enrol = robust.enrolment_hexes(prep)
        robust_index.add(list(enrol.values()), [i] * len(enrol))
    t_known = time.perf_counter() - t0

    results = {}
    for k, (kind, fn) in enumerate(VARIANTS.items()):
        rec_plain = rec_robust = wrong_plain = wrong_robust = 0
        for i, img in enumerate(originals):
            rng = np.random.default_rng([i, k])
            data = fn(img, rng)
            prep = robust.prepare_bytes(data)
            hits = plain_index.search(pdq.dihedral_hexes(prep), threshold)
            ids = {h[0] for h in hits}
            rec_plain += i in ids
            wrong_plain += bool(ids - {i})
            hits = robust.search(robust_index, prep)
            ids = {h[0] for h in hits}
            rec_robust += i in ids
            wrong_robust += bool(ids - {i})
        results[kind] = (rec_plain / n, rec_robust / n, wrong_plain, wrong_robust)
        if progress:
            print(f"  {kind}: done ({time.perf_counter() - t0:.0f}s)", file=sys.stderr)

    fm_plain = fm_robust = 0
    for j in range(m):
        img = make_photo(UNRELATED_SEED + j, width, height)
        prep = robust.prepare_bytes(_jpeg(img, 90))
        fm_plain += bool(plain_index.search(pdq.dihedral_hexes(prep), threshold))
        fm_robust += bool(robust.search(robust_index, prep))
    elapsed = time.perf_counter() - t0
    return {"results": results, "fm_plain": fm_plain, "fm_robust": fm_robust, "n": n, "m": m,
            "known_s": t_known, "elapsed": elapsed, "enrolled": len(robust_index)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=None,
                    help="known originals (default 500; --hash-only: 1000)")
    ap.add_argument("--m", type=int, default=None,
                    help="unrelated images (default 2000; --hash-only: 20000)")
    ap.add_argument("--size", default="1024x768", help="generated image size (default 1024x768)")
    ap.add_argument("--threshold", type=int, default=31)
    ap.add_argument("--hash-only", action="store_true",
                    help="known sets as PDQ only: today's query hashes vs + framing hypotheses "
                         "(bench/recall_hashonly.py; --n default 1000, --m default 20000)")
    ap.add_argument("--queries", type=int, default=300,
                    help="hash-only: collage queries per kind (default 300)")
    ap.add_argument("--photo-seeds", type=int, default=4,
                    help="hash-only: variants per package/reference photo and kind (default 4)")
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("HAVEN_SHARED")
                                                         or "/work/shared"),
                    help="hash-only: folder holding testdata/pdq (ThreatExchange images)")
    ap.add_argument("--photos", type=Path, action="append", default=[],
                    help="hash-only: a folder of photos to add as a known family (repeatable; "
                         "e.g. public photographs fetched for local evaluation, never committed)")
    ap.add_argument("--package-photos", type=Path, default=None,
                    help="hash-only: the package-photo family is every image under this folder "
                         "(photos shipped inside pip/Debian packages, looked at and gathered "
                         "for local evaluation) instead of the built-in scikit-image and "
                         "ThreatExchange list")
    ap.add_argument("--folder-seeds", type=int, default=2,
                    help="hash-only: variants per --photos photo and kind (default 2)")
    ap.add_argument("--kinds", default="",
                    help="hash-only: only these variant kinds, comma-separated (default all)")
    ap.add_argument("--quick", action="store_true", help="hash-only: 100 known, 2,000 unrelated")
    ap.add_argument("--dev", action="store_true",
                    help="hash-only: the development split (other query seeds and other "
                         "unrelated images than the default run reports)")
    ap.add_argument("--pad", type=int, default=0,
                    help="hash-only: add N realistic padding known PDQ hashes (bench/pdq_corpus.py's "
                         "clustered generator) to the known list, e.g. --pad 1000000")
    ap.add_argument("--queries-out", type=Path, default=None,
                    help="hash-only: write one JSON line per query (kind, family, known picture, "
                         "seed, found plainly / with hypotheses, tag, distance) to this file, to "
                         "compare two runs query for query")
    args = ap.parse_args()
    if args.hash_only:
        import recall_hashonly

        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        n = 100 if args.quick else (args.n or 1000)
        m = 2000 if args.quick else (args.m or 20000)
        shared = args.shared if (args.shared / "testdata" / "pdq").exists() else None
        recall_hashonly.report(recall_hashonly.run(
            n, m, min(args.queries, n), 1 if args.quick else args.photo_seeds, shared,
            folders=tuple(args.photos), folder_seeds=1 if args.quick else args.folder_seeds,
            kinds=tuple(k for k in args.kinds.split(",") if k), package_dir=args.package_photos,
            pad=args.pad, dev=args.dev, queries_out=args.queries_out))
        return
    width, height = (int(v) for v in args.size.lower().split("x"))
    r = run(args.n or 500, args.m or 2000, width, height, args.threshold)
    print(f"N={r['n']} known, M={r['m']} unrelated, {width}x{height}, threshold {args.threshold}, "
          f"{r['enrolled']} hashes enrolled (haven), {r['elapsed']:.0f}s")
    print(f"{'variant':<18}{'plain PDQ':>12}{'haven':>12}   wrong-id plain/haven")
    for kind, (p, h, wp, wh) in r["results"].items():
        print(f"{kind:<18}{p:>11.1%}{h:>12.1%}   {wp}/{wh}")
    print(f"{'false matches':<18}{r['fm_plain'] / r['m']:>11.2%}{r['fm_robust'] / r['m']:>12.2%}"
          f"   ({r['fm_plain']}/{r['fm_robust']} of {r['m']} unrelated)")


if __name__ == "__main__":
    main()
