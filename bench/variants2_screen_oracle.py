"""Oracle for the phone screenshots of bench/variants2.py (issue 17, "Edits beyond the
issue's list"): how many would be found if the picture's rectangle inside the screenshot
were known. Every screenshot query of bench/recall_variants2.py (same seeds, same tools) is
cut to the picture's true box (from the plan's layout), re-encoded as JPEG q90 with OpenCV
and matched as that bench matches (plain PDQ at 31, then the hypotheses). No detector is
involved: this bounds what finding the picture inside a screenshot could give.

    OPENBLAS_NUM_THREADS=1 nice .venv/bin/python bench/variants2_screen_oracle.py \\
        --package-photos PKGDIR --photos PLACESDIR --photos PEOPLEDIR
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import recall  # noqa: E402
import recall_variants2 as rv  # noqa: E402
import variants2  # noqa: E402

KIND = "phone screenshot"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="known generated collages")
    ap.add_argument("--queries", type=int, default=100, help="collages queried")
    ap.add_argument("--package-photos", type=Path, default=None)
    ap.add_argument("--photos", type=Path, action="append", default=[])
    ap.add_argument("--photo-seeds", type=int, default=2)
    ap.add_argument("--folder-seeds", type=int, default=1)
    args = ap.parse_args()
    t0, cpu0 = time.perf_counter(), time.process_time()
    imgs, _names, hexes, _low, _unstable, _dropped = rv.known_list(
        args.n, args.package_photos, args.photos)
    m = rv.Matcher(hexes)
    gen = variants2.Generator()
    k2 = (variants2.KINDS + variants2.EXTRA_KINDS).index(KIND)
    fams = [("collages", list(range(min(args.queries, args.n))), 1)]
    for fam in dict.fromkeys(f for f, _i in imgs if f != "collages"):
        fams.append((fam, [k for k, (f, _i) in enumerate(imgs) if f == fam],
                     args.photo_seeds if fam == "package photos" else args.folder_seeds))
    print(f"{len(hexes)} known PDQ; {gen.note}")
    for fam, ids, seeds in fams:
        q = plain_n = found_n = 0
        for i in ids:
            src = recall._jpeg(imgs[i][1], 90)
            for s in range(seeds):
                data, _tool, _desc = gen.make(KIND, src, imgs[i][1].size,
                                              np.random.default_rng([i, 1000 + k2, s]), i + s)
                plan = variants2.plan_variant(KIND, np.random.default_rng([i, 1000 + k2, s]))
                w, h = imgs[i][1].size
                (sw, sh), (x0, y0, x1, y1), _bg, _ui = variants2._screen_layout(plan, w, h)
                shot = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
                if shot.shape[:2] != (sh, sw):
                    raise SystemExit(f"layout and screenshot disagree: {shot.shape} {sw}x{sh}")
                ok, buf = cv2.imencode(".jpg", shot[y0:y1, x0:x1], [cv2.IMWRITE_JPEG_QUALITY, 90])
                plain, framed, *_rest = m.match(buf.tobytes())
                q += 1
                plain_n += i in plain
                found_n += i in plain or i in framed
        print(f"{fam}: {q} screenshots cut to the picture's true box: plain {plain_n} "
              f"({plain_n / q:.1%}), plain or hypotheses {found_n} ({found_n / q:.1%})")
    print(f"{time.perf_counter() - t0:.0f}s wall, {time.process_time() - cpu0:.0f}s CPU")


if __name__ == "__main__":
    main()
