"""Hash-only recall on variants made by a second, independent generator (bench/variants2.py:
ImageMagick and OpenCV) beside the first generator's (bench/recall_hashonly.py, Pillow), on
the same known lists (PDQ only) and with the same matcher calls (issue 17).

    OPENBLAS_NUM_THREADS=1 nice .venv/bin/python bench/recall_variants2.py \\
        --package-photos /work/data/pkgphotos/package_photos \\
        --photos /work/data/hashonly_places --photos /work/data/people17/people

Known list, PDQ of the JPEG q90 file only, built exactly as bench/recall_hashonly.py builds
it (so the first generator's rows repeat its default split query for query): `--n` generated
collages, every image under `--package-photos DIR`, then one family per `--photos DIR`
(public photographs fetched for local evaluation, each looked at, never committed; a folder
of people-centred photos is just another `--photos` family). Photos within 31 bits of an
earlier one are dropped (one entry per picture).

Queries: per kind and family, variants of the known pictures (collages: the first
`--queries`; package photos `--photo-seeds` per photo, other folders `--folder-seeds`):
- second generator: every kind of `variants2.KINDS` (or those named by `--kinds`, which may
  also name `variants2.EXTRA_KINDS`: aspect crops, straightening, colour filters, stickers,
  phone screenshots, edits beyond issue 17's list, with no target), the tool alternating per
  query between ImageMagick's `convert` and OpenCV (`--tool` forces one); seeds [photo,
  1000 + kind, seed];
- first generator (`--no-first` leaves it out): the kinds of bench/recall_hashonly.py beside
  which the second's are read (same seeds as its default split).
A query is found when its own known row comes back from today's plain PDQ search (8
dihedral query hashes, threshold 31) or from `haven.match.framing.FramingIndex`; 'wrong'
counts queries that also brought back another known row.

Unrelated: the first `--m` of bench/recall_hashonly.py's unrelated images (generated, near
blank, screenshots, text pages; its cache under bench/.cache/hashonly is reused), matched
against this known list (people included): false matches and the closest first-round
distance, overall and to each family's rows.

`--log FILE` writes every query as a JSON line (generator, kind, family, photo and its file,
tool, the edit, found or not; for a miss its best plain distance and best first-round
hypothesis distance to its own row, and every other known row that came back) for diagnosis.
CPU seconds are process time (this process and, for ImageMagick, its children). A smaller
`--m` is sliced from a larger cached set when there is one (the cache may be shared).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import recall  # noqa: E402
import recall_hashonly as rh  # noqa: E402
import variants2  # noqa: E402
from imagegen import make_photo  # noqa: E402

from haven.match import framing  # noqa: E402
from haven.match.near import NearIndex  # noqa: E402
from haven.signals import pdq  # noqa: E402

#: second generator's kind -> the first generator's kind it is read beside (None: no
#: counterpart there)
COUNTERPART = {"crop 3-8%/side": "crop 3-8%/side", "crop 8-15%/side": "crop 8-15%/side",
               "banner 6-12%": "banner 6-12%", "banner 6-12% translucent": None,
               "caption": "text overlay", "corner logo 10-20%": "corner logo 10-20%",
               "corner logo translucent": None, "jpeg q30-85": "jpeg q25-60",
               "resize 25-60%": "resize 30%"}
#: issue 17's targets per second-generator kind ('unchanged' kinds: plain PDQ already)
TARGETS = {"crop 3-8%/side": ">= 90 %", "crop 8-15%/side": "-", "banner 6-12%": ">= 95 %",
           "banner 6-12% translucent": "(>= 95 %)", "caption": ">= 95 %",
           "corner logo 10-20%": ">= 95 %", "corner logo translucent": "(>= 95 %)",
           "jpeg q30-85": "unchanged", "resize 25-60%": "unchanged"}


def known_list(n: int, package_dir: Path | None, folders: list[Path]):
    """(family, image) pairs, their names (paths), their PDQ hex, low-quality and PDQ-unstable
    indices, as bench/recall_hashonly.run builds them."""
    imgs = [("collages", make_photo(recall.KNOWN_SEED + i, *rh.SIZE)) for i in range(n)]
    names = [f"collage {i}" for i in range(n)]
    for p, img in (rh._folder_photos(package_dir, named=True) if package_dir else
                   ((f"built-in {k}", im) for k, im in enumerate(rh._photo_sources(None)))):
        imgs.append(("package photos", img))
        names.append(str(p))
    for folder in folders:
        for p, img in rh._folder_photos(folder, named=True):
            imgs.append((folder.name, img))
            names.append(str(p))
    sigs = [pdq.pdq_from_bytes(recall._jpeg(img, 90)) for _f, img in imgs]
    hexes = [s.hex for s in sigs]
    keep, dropped = [], {}
    for k, h in enumerate(hexes):
        if imgs[k][0] != "collages" and any(pdq.hamming(h, hexes[j]) <= 31 for j in keep):
            dropped[imgs[k][0]] = dropped.get(imgs[k][0], 0) + 1
            continue
        keep.append(k)
    low = {i for i, k in enumerate(keep) if not sigs[k].trusted}
    imgs = [imgs[k] for k in keep]
    names = [names[k] for k in keep]
    hexes = [hexes[k] for k in keep]
    unstable = {k for k, (f, img) in enumerate(imgs)
                if f != "collages" and rh.shift_bits(img) > rh.UNSTABLE_SHIFT}
    return imgs, names, hexes, low, unstable, dropped


class Matcher:
    """The bench's two calls on one known list: plain PDQ (NearIndex, 31) and hypotheses."""

    def __init__(self, hexes: list[str]) -> None:
        self.plain = NearIndex()
        self.plain.add(hexes, list(range(len(hexes))))
        codes = np.frombuffer(bytes.fromhex("".join(hexes)), np.uint8).reshape(-1, 32)
        self.fidx = framing.FramingIndex(codes)
        self.codes = codes

    def match(self, data: bytes):
        """(plain rows, framed {row: Hit}, item, trusted, cpu today, cpu added)."""
        hexes, trusted, tp = rh.plain_query(data)
        t = time.process_time()
        plain = {i for i, _d in self.plain.search(hexes, 31)} if trusted else set()
        tp += time.process_time() - t
        item, _t_old, ti = rh.framing_item(data)
        t = time.process_time()
        hits = self.fidx.search(item) if trusted else []
        te = ti + time.process_time() - t
        return plain, {h.row: h for h in hits}, item, hexes, trusted, tp, te

    def distances(self, item, hexes: list[str], row: int) -> tuple[int, int]:
        """For a miss: the best plain distance (query hashes vs the row) and the best
        first-round hypothesis distance to the row."""
        plain = min(pdq.hamming(h, self.codes[row].tobytes().hex()) for h in hexes)
        detail: dict = {}
        self.fidx.search(item, detail)
        return plain, int(detail["first_round"][row])


def _unrelated(m: int, progress: bool) -> dict:
    """The first m unrelated of bench/recall_hashonly.py: sliced from a larger cached set when
    there is one (the cache may be shared read-only), else made and cached by it."""
    import re

    have = []
    for path in rh.CACHE.glob(f"unrelated-*-g{framing.GRID}-c64.npz"):
        hit = re.fullmatch(rf"unrelated-(\d+)-g{framing.GRID}-c64\.npz", path.name)
        if hit and int(hit.group(1)) >= m:
            have.append((int(hit.group(1)), path))
    if not have:
        return rh._cached_unrelated(m, progress, 0)
    with np.load(min(have)[1]) as z:
        return {k: z[k][:m] if z[k].ndim else z[k] for k in z.files}


def run(args) -> dict:
    t0, cpu0, load0 = time.perf_counter(), time.process_time(), os.getloadavg()[0]
    gen = variants2.Generator(args.tool)
    imgs, names, hexes, low, unstable, dropped = known_list(args.n, args.package_photos,
                                                            args.photos)
    m = Matcher(hexes)
    fam_of = np.array([f for f, _i in imgs])
    if args.progress:
        print(f"  {len(hexes)} known ({time.perf_counter() - t0:.0f}s); {gen.note}",
              file=sys.stderr)
    # warm the compiled search
    m.match(recall._jpeg(imgs[0][1], 90))

    families = [("collages", list(range(min(args.queries, args.n))), 1)]
    for fam in dict.fromkeys(f for f, _i in imgs if f != "collages"):
        ids = [k for k, (f, _i) in enumerate(imgs) if f == fam]
        families.append((fam, ids, args.photo_seeds if fam == "package photos"
                         else args.folder_seeds))
    every = variants2.KINDS + variants2.EXTRA_KINDS
    kinds2 = [k for k in every if k in args.kinds] if args.kinds else list(variants2.KINDS)
    first_kinds = [] if args.no_first else [COUNTERPART[k] for k in kinds2
                                            if COUNTERPART.get(k)]
    res: dict[tuple[str, str, str], dict] = {}
    costs: dict[str, list] = {"first": [], "second": []}
    log = open(args.log, "w") if args.log else None
    src_cache: dict[int, bytes] = {}

    def record(gname, kind, fam, i, data, tool="", desc=""):
        plain, framed, item, qh, trusted, tp, te = m.match(data)
        costs[gname].append((tp, te))
        found = i in plain or i in framed
        keys = [(gname, kind, fam)]
        if fam != "collages" and i not in unstable:
            keys.append((gname, kind, fam + ", PDQ-stable"))
        for key in keys:
            r = res.setdefault(key, dict(q=0, plain=0, found=0, wrong=0, wrong_added=0,
                                         tools={}, fam={}))
            r["q"] += 1
            r["plain"] += i in plain
            r["found"] += found
            r["wrong"] += bool(plain - {i})
            r["wrong_added"] += bool((set(framed) - plain) - {i})
            if tool:
                tq = r["tools"].setdefault(tool, [0, 0])
                tq[0] += 1
                tq[1] += found
            if found and i not in plain:
                f = framed[i].tag.split("-")[0]
                r["fam"][f] = r["fam"].get(f, 0) + 1
        if log is not None:
            dp, df = m.distances(item, qh, i) if trusted and not found else (None, None)
            log.write(json.dumps(dict(generator=gname, kind=kind, family=fam, photo=i,
                                      name=names[i], unstable=i in unstable,
                                      low_quality=i in low, trusted=trusted, tool=tool,
                                      edit=desc, found=found, plain_dist=dp,
                                      first_round_dist=df,
                                      own=("plain" if i in plain else
                                           [framed[i].tag, framed[i].distance] if found
                                           else None),
                                      others=[[int(o), names[o], "plain" if o in plain
                                               else framed[o].tag,
                                               None if o in plain else framed[o].distance]
                                              for o in sorted((plain | set(framed)) - {i})]))
                      + "\n")

    for fam, ids, seeds in families:
        for kind in kinds2:
            k2 = every.index(kind)
            for i in ids:
                if i not in src_cache:
                    src_cache[i] = recall._jpeg(imgs[i][1], 90)
                for s in range(seeds):
                    rng = np.random.default_rng([i, 1000 + k2, s])
                    data, tool, desc = gen.make(kind, src_cache[i], imgs[i][1].size, rng,
                                                i + s)
                    record("second", kind, fam, i, data, tool, desc)
            if args.progress:
                print(f"  second {kind} [{fam}] ({time.perf_counter() - t0:.0f}s)",
                      file=sys.stderr)
        src_cache.clear()
        for kind in first_kinds:
            k1 = list(rh.VARIANTS).index(kind)
            fn = rh.VARIANTS[kind]
            for i in ids:
                for s in range(seeds):
                    rng = np.random.default_rng([i, k1, s])
                    record("first", kind, fam, i, fn(imgs[i][1], rng))
            if args.progress:
                print(f"  first {kind} [{fam}] ({time.perf_counter() - t0:.0f}s)",
                      file=sys.stderr)
    if log is not None:
        log.close()
    cpu_queries = time.process_time() - cpu0
    children = os.times()
    # unrelated: false matches and the closest first-round distance, overall and per family
    u = _unrelated(args.m, args.progress) if args.m else None
    fm, closest, closest_fam, native_closest, untrusted, per_kind = {}, {}, {}, {}, {}, {}
    fams = list(dict.fromkeys(fam_of))
    for j in range(args.m):
        kind = str(u["kinds"][j])
        per_kind[kind] = per_kind.get(kind, 0) + 1
        if not u["trusted"][j]:
            untrusted[kind] = untrusted.get(kind, 0) + 1
            continue
        qh = [bytes(c).hex() for c in u["codes"][j, :u["ncodes"][j]]]
        rows = {r for r, _d in m.plain.search(qh, 31)}
        item = framing.Item(u["grids"][j].astype(np.float32), float(u["aspects"][j]),
                            u["cells"][j].astype(np.float32))
        detail: dict = {}
        hits = m.fidx.search(item, detail)
        if int(detail["first_round_family"]["frame"].min()) <= framing.NATIVE_CANDIDATE:
            # the cache holds no luma: made again from its generator, searched as the scan
            # would (with its luma when the item looks PDQ-unstable), as the first bench does
            _k, img = rh.unrelated_image(j)
            full = framing.Item.from_pixels(pdq._prepared(recall._jpeg(img, 90), True).pixels)
            if full.luma is not None:
                detail = {}
                hits = m.fidx.search(full, detail)
        for _row, nd in detail.get("native", ()):
            native_closest[kind] = min(native_closest.get(kind, 256), int(nd))
        rows |= {h.row for h in hits}
        if rows:
            fm[kind] = fm.get(kind, 0) + 1
        d = detail["first_round"]
        closest[kind] = min(closest.get(kind, 256), int(d.min()))
        for f in fams:
            closest_fam[f] = min(closest_fam.get(f, 256), int(d[fam_of == f].min()))
        if args.progress and j % 5000 == 4999:
            print(f"  unrelated {j + 1}/{args.m} ({time.perf_counter() - t0:.0f}s)",
                  file=sys.stderr)
    children = os.times()
    return dict(res=res, n_known=len(hexes),
                per_family={f: int((fam_of == f).sum()) for f in fams},
                dropped=dropped, low={f: sum(imgs[k][0] == f for k in low) for f in fams},
                unstable={f: sum(imgs[k][0] == f for k in unstable) for f in fams},
                note=gen.note, kinds2=kinds2, costs=costs, m=args.m, fm=fm, closest=closest,
                closest_fam=closest_fam, native_closest=native_closest, untrusted=untrusted,
                per_kind=per_kind, cpu=time.process_time() - cpu0, cpu_queries=cpu_queries,
                cpu_children=children.children_user + children.children_system,
                elapsed=time.perf_counter() - t0, load=(load0, os.getloadavg()[0]))


def _pct(r: dict | None) -> str:
    if not r:
        return "-"
    return f"{r['found']}/{r['q']} {r['found'] / r['q']:.1%}"


def report(r: dict) -> None:
    fams = ", ".join(f"{n} {f}" for f, n in r["per_family"].items())
    drop = ", ".join(f"{f} {c}" for f, c in r["dropped"].items()) or "none"
    print(f"hash-only, second generator: {r['n_known']} known PDQ ({fams}; near-duplicates "
          f"dropped: {drop}), {r['m']} unrelated; {r['elapsed']:.0f}s wall, "
          f"{r['cpu']:.0f}s CPU (+{r['cpu_children']:.0f}s ImageMagick children), "
          f"load {r['load'][0]:.1f} -> {r['load'][1]:.1f}")
    print(f"tools: {r['note']}")
    low = ", ".join(f"{f} {c}" for f, c in r["low"].items() if c) or "none"
    uns = ", ".join(f"{f} {c}" for f, c in r["unstable"].items() if c) or "none"
    print(f"known with PDQ quality < 50 (never near-matched, kept in the rows): {low}; "
          f"PDQ-unstable (> {rh.UNSTABLE_SHIFT} bits under a 1-2 px shift): {uns}")
    print("found = plain PDQ (31) or hypotheses; 'second' = bench/variants2.py (ImageMagick / "
          "OpenCV), 'first' = bench/recall_hashonly.py's kind beside it (Pillow); wrong = "
          "queries that brought back another known row, plainly / added by the hypotheses")
    print(f"{'kind (second) [family]':<50}{'target':>10}{'second':>17}{'plain':>8}"
          f"{'wrong':>8}  {'first (its kind)':<32} magick / cv2; found only by")
    res = r["res"]
    fam_keys = list(dict.fromkeys(f for _g, _k, f in res))
    for kind in r["kinds2"]:
        for fam in fam_keys:
            s = res.get(("second", kind, fam))
            if s is None:
                continue
            fk = COUNTERPART.get(kind)
            f = res.get(("first", fk, fam)) if fk else None
            tools = " / ".join(f"{t[1]}/{t[0]}" for t in (s["tools"].get("magick"),
                                                          s["tools"].get("cv2")) if t)
            by = ", ".join(f"{k} {c}" for k, c in sorted(s["fam"].items()))
            first = f"{_pct(f)} ({fk})" if fk else "-"
            wrong = f"{s['wrong']}/{s['wrong_added']}"
            print(f"{kind + ' [' + fam + ']':<50}{TARGETS.get(kind, '(none)'):>10}{_pct(s):>17}"
                  f"{s['plain'] / s['q']:>8.1%}{wrong:>8}  {first:<32} {tools}; {by}")
    print("unrelated (false matches, plain or hypotheses; closest first-round distance; "
          "untrusted skipped):")
    for kind, count in r["per_kind"].items():
        print(f"  {kind:<12}{count:>7}  false {r['fm'].get(kind, 0)}  closest "
              f"{r['closest'].get(kind, '-')}  native closest "
              f"{r['native_closest'].get(kind, '-')}  untrusted {r['untrusted'].get(kind, 0)}")
    if r["closest_fam"]:
        print("  closest first-round distance of any unrelated to each family's rows: "
              + ", ".join(f"{f} {d}" for f, d in r["closest_fam"].items()))
    for g in ("second", "first"):
        c = np.array(r["costs"][g]) if r["costs"][g] else None
        if c is not None:
            tp, te = c.mean(0)
            print(f"cost per query ({g} generator's queries, CPU ms): today {tp * 1e3:.2f}, "
                  f"+ hypotheses {te * 1e3:.2f} -> {(tp + te) / tp:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="known generated collages")
    ap.add_argument("--queries", type=int, default=100, help="collages queried")
    ap.add_argument("--m", type=int, default=20000, help="unrelated images (0: none)")
    ap.add_argument("--package-photos", type=Path, default=None)
    ap.add_argument("--photos", type=Path, action="append", default=[],
                    help="a folder of photos, one family (repeatable)")
    ap.add_argument("--photo-seeds", type=int, default=2)
    ap.add_argument("--folder-seeds", type=int, default=1)
    ap.add_argument("--kinds", default="", help="comma-separated second-generator kinds")
    ap.add_argument("--tool", choices=("auto", "magick", "cv2"), default="auto")
    ap.add_argument("--no-first", action="store_true",
                    help="leave out the first generator's kinds")
    ap.add_argument("--log", default=None, help="write every query here (JSON lines)")
    ap.add_argument("--quiet", dest="progress", action="store_false")
    args = ap.parse_args()
    args.kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    every = variants2.KINDS + variants2.EXTRA_KINDS
    bad = [k for k in args.kinds if k not in every]
    if bad:
        raise SystemExit(f"unknown kinds {bad}; known: {', '.join(every)}")
    for d in ([args.package_photos] if args.package_photos else []) + args.photos:
        if not d.is_dir():
            raise SystemExit(f"not a folder: {d}")
    report(run(args))


if __name__ == "__main__":
    main()
