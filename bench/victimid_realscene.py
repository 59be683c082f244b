"""Same-scene search and series on REAL photographs, beside an exhaustive textbook baseline.

    nice .venv/bin/python bench/victimid_realscene.py DATA [--work DIR] [--skip-baseline]
        [--skip-search] [--separability] [--verbose]

DATA is a folder brought for local evaluation only (never committed):

    DATA/places/<place>/<image>...   two or more photos of one place; the first by name is the
                                     query, the others are its true views
    DATA/distractors/**/<image>      photos of other places and people (no true view of any place)

What runs, all in this one process:

1. haven: `haven index` (scene part) over the true views and the distractors (queries left
   out), `build_links` + `build_series`, then `SceneSearch.find` for every query's pixels —
   the shipped path, with its shortlist, verification and query expansion over linked views.
2. baseline: exhaustive RootSIFT matching of the query against EVERY indexed photo (the same
   stored features haven uses), mutual nearest neighbours + Lowe ratio 0.8, a fundamental
   matrix by RANSAC (OpenCV FM_RANSAC, 3 px, 0.99), ranked by inliers.
3. series: the queries are indexed too, links and series rebuilt over everything; same-place
   pair recall and precision of the series. A pair counts as false when it joins a place's
   photo with anything outside that place; pairs among distractors are not judged (their own
   overlaps are unlabelled).

   Also printed: the scene links touching a place photo and how many join the same place
   (link precision, direct pair recall), with every false link and its reason (--verbose).
4. `--separability`: every place photo against every distractor with both models fitted —
   the chance tail of inliers the link thresholds must stay above — and the true pairs'
   counts against it. `--skip-search` runs the series part only.

Prints recall@5 and MRR (first true view) for both, recall@5 on the queries the baseline
solves (its first true view ranked first with >= 15 inliers), query latency, and the load.
Extra option `--src DIR` is not needed: run the script with PYTHONPATH pointing at another
checkout to time that code on the same data.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from sqlalchemy import delete

from haven.disjoint import DisjointSets
from haven.victimid import scene, series
from haven.victimid.indexer import Indexer, IndexOptions
from haven.victimid.models import MediaRow
from haven.victimid.search import SceneSearch, StoreScenes, image_pixels
from haven.victimid.store import VictimStore

IMAGE_EXT = {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".tif", ".tiff", ".webp"}


def load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXT)


def layout(data: Path) -> tuple[dict[str, list[Path]], list[Path]]:
    places = {d.name: images(d) for d in sorted((data / "places").iterdir()) if d.is_dir()}
    places = {k: v for k, v in places.items() if len(v) >= 2}
    return places, images(data / "distractors")


def _link(src: Path, dst: Path) -> None:
    if dst.exists():
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def first_true(ranked: list[int], relevant: set[int]) -> int | None:
    return next((k for k, m in enumerate(ranked) if m in relevant), None)


def summary(name: str, firsts: list[int | None]) -> tuple[float, float]:
    r5 = float(np.mean([f is not None and f < 5 for f in firsts]))
    mrr = float(np.mean([1 / (f + 1) if f is not None else 0.0 for f in firsts]))
    print(f"{name:34} recall@1 {np.mean([f == 0 for f in firsts]):.3f}  recall@5 {r5:.3f}  MRR {mrr:.3f}")
    return r5, mrr


def baseline_rank(q: scene.Features, db: dict[int, scene.Features]) -> list[tuple[int, int, int]]:
    """(media id, F inliers, matches) of every db photo, best first (exhaustive)."""
    out = []
    for mid, f in db.items():
        pairs = scene.match_descriptors(q.root, f.root)
        n = 0
        if len(pairs) >= 8:
            F, mask = cv2.findFundamentalMat(q.keypoints[pairs[:, 0]], f.keypoints[pairs[:, 1]], cv2.FM_RANSAC, 3.0, 0.99)
            n = int(mask.sum()) if F is not None and mask is not None else 0
        out.append((mid, n, len(pairs)))
    out.sort(key=lambda t: (-t[1], -t[2]))
    return out


def separability(vs: VictimStore, place_of: dict[int, str], ids: list[int]) -> None:
    """Inliers of true pairs (same place) against the chance tail (every place photo against
    every distractor), both models always fitted: what a threshold can separate at all."""
    store = StoreScenes(vs)
    feats = {m: store.features(m) for m in ids}

    def models(a: int, b: int) -> tuple[int, int]:
        pairs = scene.match_descriptors(feats[a].root, feats[b].root)
        if len(pairs) < 8:
            return 0, 0
        src = np.ascontiguousarray(feats[a].keypoints[pairs[:, 0]])
        dst = np.ascontiguousarray(feats[b].keypoints[pairs[:, 1]])
        return scene._homography_inliers(src, dst), scene._fundamental_inliers(src, dst)

    places = sorted(m for m in ids if m in place_of)
    others = [m for m in ids if m not in place_of]
    chance = np.array([models(a, d) for a in places for d in others]).reshape(-1, 2)
    true_pairs = [(a, b) for i, a in enumerate(places) for b in places[i + 1:] if place_of[a] == place_of[b]]
    true = np.array([models(a, b) for a, b in true_pairs]).reshape(-1, 2)
    if not len(chance) or not len(true):
        print("## separability: needs place photos and distractors both")
        return
    mh, mf = chance.max(axis=0)
    print(f"## separability ({load()}): {len(chance)} chance pairs (place photo x distractor): max homography "
          f"{mh}, max fundamental matrix {mf} inliers (>= 14: {int((chance[:, 1] >= 14).sum())})")
    print(f"{len(true)} true pairs: above every chance pair {int(((true[:, 0] > mh) | (true[:, 1] > mf)).sum())}; "
          f"with >= {series.WEAK_H_INLIERS} H or >= {series.WEAK_F_INLIERS} F (weak link) "
          f"{int(((true[:, 0] >= series.WEAK_H_INLIERS) | (true[:, 1] >= series.WEAK_F_INLIERS)).sum())}; "
          f">= {scene.MIN_INLIERS} H or >= {scene.MIN_F_INLIERS} F (verified) "
          f"{int(((true[:, 0] >= scene.MIN_INLIERS) | (true[:, 1] >= scene.MIN_F_INLIERS)).sum())}")
    # The ceiling of series on these features: every true pair above every chance pair linked,
    # and chained (a place's photos joined through each other, as series chain them).
    sets = DisjointSets()
    for (a, b), (h, f) in zip(true_pairs, true):
        if h > mh or f > mf:
            sets.union(sets.find(a), sets.find(b))
    chained = sum(len(g) * (len(g) - 1) // 2 for g in sets.groups())
    print(f"ceiling of series on these features (true pairs above every chance pair, chained through the "
          f"place's photos): {chained} of {len(true)} same-place pairs, pair recall {chained / max(len(true), 1):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path)
    ap.add_argument("--work", type=Path, help="working directory (kept; re-runs skip indexing)")
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--verify-top", type=int, default=50)
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--skip-series", action="store_true")
    ap.add_argument("--skip-search", action="store_true", help="series only (no queries, no baseline)")
    ap.add_argument("--separability", action="store_true",
                    help="also compare every place photo with every distractor: the chance tail of inliers")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    places, distractors = layout(args.data)
    queries = {p: files[0] for p, files in places.items()}
    true_views = sum(len(v) - 1 for v in places.values())
    print(f"# data {args.data}: {len(places)} places, {len(queries)} queries, {true_views} true views, "
          f"{len(distractors)} distractors ({len(distractors) / max(true_views, 1):.1f}x the true views)")
    print(f"# {load()}, {os.cpu_count()} cores")
    work = args.work or Path(tempfile.mkdtemp(prefix="vi-real-"))
    ev = work / "evidence"
    for name, files in places.items():
        for f in files[1:]:
            _link(f, ev / "places" / name / f.name)
    for f in distractors:
        _link(f, ev / "distractors" / f.relative_to(args.data / "distractors"))
    vs = VictimStore(work / "case", create=not (work / "case").exists())
    # A kept working directory may hold the queries from the series step of an earlier run.
    qpaths = [f"{ev.name}/places/{name}/{q.name}" for name, q in queries.items()]
    for name, q in queries.items():
        (ev / "places" / name / q.name).unlink(missing_ok=True)
    with vs.session() as s, s.begin():
        s.execute(delete(MediaRow).where(MediaRow.path.in_(qpaths)))
    t0 = time.perf_counter()
    stats = Indexer(vs, IndexOptions(parts=("scene",))).run([str(ev)])
    print(f"index: {stats.indexed} indexed, {stats.skipped} skipped in {time.perf_counter() - t0:.1f} s "
          f"({scene.default_extractor().name})")
    media = {Path(m.path).relative_to(ev.name).as_posix(): m.id for m in vs.all_media()}
    place_of = {mid: rel.split("/")[1] for rel, mid in media.items() if rel.startswith("places/")}
    if not args.skip_series and not args.skip_search:
        t0 = time.perf_counter()
        counts = series.build_links(vs, ("scene",))
        made = series.build_series(vs)
        print(f"links before the queries: {counts} , {len(made)} series, {time.perf_counter() - t0:.1f} s")

    search = SceneSearch(vs)
    firsts, lat, qfeats = {}, [], {}
    for name, qfile in (queries.items() if not args.skip_search else ()):
        rgb = image_pixels(qfile.read_bytes())
        relevant = {m for m, p in place_of.items() if p == name}
        t0 = time.perf_counter()
        hits = search.find(rgb, top=args.top, verify_top=args.verify_top)
        lat.append(time.perf_counter() - t0)
        firsts[name] = first_true([h.media_id for h in hits], relevant)
        qfeats[name] = search.extractor.extract(rgb)
        if args.verbose:
            print(f"  {name:28} first true view at {firsts[name]}; top: "
                  + ", ".join(f"{h.media_id}{'*' if h.media_id in relevant else ''}:{h.inliers}"
                              f"{'v' if h.verified else 'l' if getattr(h, 'linked_via', None) else ''}"
                              for h in hits[:5]))
    if not args.skip_search:
        print(f"## same-scene search, {len(queries)} queries ({load()})")
        h_r5, h_mrr = summary("haven SceneSearch.find", list(firsts.values()))
        t = np.array(lat) * 1000
        print(f"haven query latency median {np.median(t):.0f} ms, p95 {np.percentile(t, 95):.0f} ms "
              f"(extraction + shortlist + verification, {len(media)} indexed photos)")

    if not args.skip_baseline and not args.skip_search:
        store = StoreScenes(vs)
        db = {mid: store.features(mid) for mid in media.values()}
        bfirst, solved = {}, set()
        t0 = time.perf_counter()
        for name, q in qfeats.items():
            relevant = {m for m, p in place_of.items() if p == name}
            ranked = baseline_rank(q, db)
            bfirst[name] = first_true([m for m, _n, _k in ranked], relevant)
            if ranked and ranked[0][0] in relevant and ranked[0][1] >= scene.MIN_INLIERS:
                solved.add(name)
            if args.verbose:
                print(f"  baseline {name:28} first at {bfirst[name]}; top inliers "
                      + ", ".join(f"{m}{'*' if m in relevant else ''}:{n}" for m, n, _k in ranked[:5]))
        tb = time.perf_counter() - t0
        b_r5, b_mrr = summary("baseline exhaustive RootSIFT+F", list(bfirst.values()))
        print(f"baseline: {tb / max(len(qfeats), 1):.1f} s per query (exhaustive over {len(db)} photos)")
        on = [firsts[n] for n in solved]
        print(f"queries the baseline solves (top-1 true view, >= {scene.MIN_INLIERS} inliers): {len(solved)}; "
              f"haven recall@5 on them {np.mean([f is not None and f < 5 for f in on]) if on else float('nan'):.3f}")
        print(f"haven vs baseline: recall@5 {h_r5:.3f} vs {b_r5:.3f}, MRR {h_mrr:.3f} vs {b_mrr:.3f}")

    if not args.skip_series:
        for name, qfile in queries.items():
            _link(qfile, ev / "places" / name / qfile.name)
        Indexer(vs, IndexOptions(parts=("scene",))).run([str(ev)])
        t0, c0 = time.perf_counter(), time.process_time()
        link_stats = series.SceneLinkStats()
        counts = series.build_links(vs, ("scene",), scene_stats=link_stats)
        series.build_series(vs)
        t_series, c_series = time.perf_counter() - t0, time.process_time() - c0
        media = {Path(m.path).relative_to(ev.name).as_posix(): m.id for m in vs.all_media()}
        place_of = {mid: rel.split("/")[1] for rel, mid in media.items() if rel.startswith("places/")}
        group = {}
        for x in series.list_series(vs):
            for mem in x["members"]:
                group[mem["media_id"]] = x["id"]
        ids = sorted(media.values())
        tp = fp = 0
        truth = sum(len(v) * (len(v) - 1) // 2 for v in places.values())
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                if a in group and group.get(b) == group[a] and (a in place_of or b in place_of):
                    if place_of.get(a) is not None and place_of.get(a) == place_of.get(b):
                        tp += 1
                    else:
                        fp += 1
        print(f"## series over {len(ids)} photos ({load()}): scene links {counts['scene']}, "
              f"{link_stats.weak_links} of them weak, {link_stats.verified_pairs} pairs verified, {t_series:.1f} s wall / {c_series:.1f} s CPU to link "
              f"and build ({1000 * t_series / max(len(ids), 1):.0f} ms wall, "
              f"{1000 * c_series / max(len(ids), 1):.0f} ms CPU per photo)")
        direct = [(l.media_a, l.media_b) for mid in ids for l in series.links_of(vs, mid)
                  if l.kind == "scene" and l.media_a == mid]
        judged = [(a, b) for a, b in direct if a in place_of or b in place_of]
        good = sum(place_of.get(a) is not None and place_of.get(a) == place_of.get(b) for a, b in judged)
        print(f"scene links touching a place: {len(judged)}, same place {good} (link precision "
              f"{good / max(len(judged), 1):.3f}, direct pair recall {good / max(truth, 1):.3f})")
        if args.verbose:
            paths = {mid: rel for rel, mid in media.items()}
            for a, b in judged:
                if place_of.get(a) is None or place_of.get(a) != place_of.get(b):
                    why = next(l.detail for l in series.links_of(vs, a) if l.kind == "scene" and b in (l.media_a, l.media_b))
                    print(f"  false link {paths[a]} -- {paths[b]}: {why}")
        print(f"same-place pairs joined {tp} of {truth}: pair recall {tp / max(truth, 1):.3f}, "
              f"pair precision {tp / max(tp + fp, 1):.3f} ({fp} false pairs)")
        if args.separability:
            separability(vs, place_of, ids)
    vs.close()
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
