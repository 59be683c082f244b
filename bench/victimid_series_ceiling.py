"""How far can series join same-place pairs at all? Exhaustive pair evidence on a real set.

    nice .venv/bin/python bench/victimid_series_ceiling.py WORK [WORK ...] --cache DIR [--workers 2]

WORK is a working directory `bench/victimid_realscene.py --work WORK` left behind (its
`case/` store holds every photo's stored features, queries included, and `evidence/places/
<place>/...` names the places; never committed). For every place photo, against every other
place photo (true pairs, and cross-place pairs) and every distractor (chance pairs), the pair is
matched once and each kind of evidence is computed (the pair's record is cached in --cache):

- `base`: haven's check (`scene.verify`'s matching, MAGSAC++ homography 4 px and fundamental
  matrix 1.5 px with the spread and plausibility rules): homography / fundamental inliers;
- `hguided`: the same, then guided matching along the first homography: every feature's
  nearest descriptor among the features within 4 px of where the homography puts it (ratio
  test 0.8 against the second such feature, or the nearest anywhere else), and the homography
  fitted again on those matches (the fundamental matrix's count is `base`'s; guided along
  epipolar lines was tried and confirms itself: chance pairs reached 45 inliers);
- `raw`: both models counted before the spread and plausibility rules.
- `reverse`: `base` with the two photos' roles swapped (Lowe's ratio test is taken on the
  first photo's side, so the matches differ); `both`: the larger of `base` and `reverse`.

Printed per set and evidence: the chance maximum (place x distractor and cross-place pairs),
the true pairs above it and the pairs their connected components join; then, over every
threshold pair (6-40 homography x 10-40 fundamental-matrix inliers), the best pair recall at
precision >= 0.99 (and 1.0) with the links kept as direct pairs, chained through everything
compared (as series chain; distractor-distractor pairs are not compared, so this is kind to
the chaining), or chained through place photos only (an oracle). `--same A=B` treats two place
folders as one place (a label error of the set).
"""

from __future__ import annotations

import argparse
import os
import pickle
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from haven.disjoint import DisjointSets
from haven.victimid import scene
from haven.victimid.search import StoreScenes
from haven.victimid.store import VictimStore

_FEATS: dict[int, scene.Features] = {}


def _place_of(vs: VictimStore) -> tuple[list[int], dict[int, str]]:
    ids, place_of = [], {}
    for m in vs.all_media():
        parts = Path(m.path).as_posix().split("/")
        ids.append(m.id)
        if "places" in parts and parts.index("places") + 1 < len(parts) - 1:
            place_of[m.id] = parts[parts.index("places") + 1]
    return sorted(ids), place_of


def _init(work: str) -> None:
    vs = VictimStore(Path(work) / "case")
    store = StoreScenes(vs)
    ids, _ = _place_of(vs)
    _FEATS.update(store.features_many(ids))
    vs.close()


def _fit_h(src: np.ndarray, dst: np.ndarray):
    """(homography or None, inlier mask, count under haven's rules)."""
    try:
        h, mask = cv2.findHomography(src, dst, cv2.USAC_MAGSAC, 4.0, maxIters=2000, confidence=0.999)
    except cv2.error:
        return None, None, 0
    if h is None or mask is None:
        return None, None, 0
    keep = mask.ravel().astype(bool)
    ok = scene._plausible(h, src[keep]) and scene._spread(dst[keep])
    return h, keep, int(keep.sum()) if ok else 0


def _fit_f(src: np.ndarray, dst: np.ndarray):
    try:
        f, mask = cv2.findFundamentalMat(src, dst, cv2.USAC_MAGSAC, 1.5, 0.999, 5000)
    except cv2.error:
        return None, None, 0
    if f is None or mask is None or f.shape != (3, 3):
        return None, None, 0
    keep = mask.ravel().astype(bool)
    ok = scene._spread(src[keep]) and scene._spread(dst[keep])
    return f, keep, int(keep.sum()) if ok else 0


def _one_to_one(rows: np.ndarray, cols: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-score)
    _, first = np.unique(cols[order], return_index=True)
    keep = order[first]
    return rows[keep], cols[keep]


def _guided(fa: scene.Features, fb: scene.Features, sim: np.ndarray, model: np.ndarray, kind: str,
            ratio: float = 0.8, fallback: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Matches re-sought where `model` puts them: for each feature of a, the nearest feature of
    b among those within 4 px of H x (homography) or 1.5 px of x's epipolar line (Sampson
    distance, fundamental matrix), passing a ratio test against the second nearest there."""
    xa = np.hstack([fa.keypoints, np.ones((len(fa.keypoints), 1), np.float32)]).astype(np.float64)
    xb = np.hstack([fb.keypoints, np.ones((len(fb.keypoints), 1), np.float32)]).astype(np.float64)
    if kind == "h":
        p = xa @ model.T
        p = p[:, :2] / np.where(np.abs(p[:, 2:]) < 1e-9, 1e-9, p[:, 2:])
        d2 = ((p[:, None, :] - fb.keypoints[None, :, :]) ** 2).sum(-1)
        near = d2 < 16.0
    else:
        fx = xa @ model.T  # epipolar lines in b (rows: features of a)
        ftx = xb @ model  # lines in a (rows: features of b)
        num = (fx @ xb.T) ** 2
        den = fx[:, 0:1] ** 2 + fx[:, 1:2] ** 2 + (ftx[:, 0] ** 2 + ftx[:, 1] ** 2)[None, :]
        near = num / np.maximum(den, 1e-12) < 1.5 ** 2
    d = np.sqrt(np.maximum(2 - 2 * sim, 0))
    d = np.where(near, d, np.inf)
    part = np.partition(d, 1, axis=1)[:, :2] if d.shape[1] > 1 else np.full((len(d), 2), np.inf)
    best = np.argmin(d, axis=1)
    d1, dsecond = part[:, 0], part[:, 1]
    # no second candidate near the model's prediction: the ratio is taken against the nearest
    # feature anywhere else (the plain ratio test, with the model's prediction excluded)
    anywhere = np.sqrt(np.maximum(2 - 2 * np.where(np.arange(d.shape[1])[None, :] == best[:, None], -1, sim).max(axis=1), 0))
    d2 = np.where(np.isfinite(dsecond), dsecond, anywhere if fallback else 0.0)  # no fallback: no match
    ok = np.isfinite(d1) & (d1 < ratio * d2)
    rows = np.nonzero(ok)[0]
    cols = best[rows]
    return _one_to_one(rows, cols, -d1[rows])


def pair_evidence(fa: scene.Features, fb: scene.Features) -> dict:
    """Evidence of one pair under each kind: (homography, fundamental-matrix) inliers."""
    pairs = scene.match_descriptors(fa.root, fb.root)
    out = {"base": (0, 0), "hguided": (0, 0), "raw": (0, 0)}
    if len(pairs) < 8:
        return out
    src = np.ascontiguousarray(fa.keypoints[pairs[:, 0]])
    dst = np.ascontiguousarray(fb.keypoints[pairs[:, 1]])
    h, hkeep, hn = _fit_h(src, dst)
    _f, fkeep, fn = _fit_f(src, dst)
    out["base"] = out["hguided"] = (hn, fn)
    fraw = int(fkeep.sum()) if fkeep is not None else 0
    hraw = int(hkeep.sum()) if hkeep is not None else 0
    out["raw"] = (hraw, fraw)
    if hraw < 6 or h is None:
        return out
    r, c = _guided(fa, fb, fa.root @ fb.root.T, h, "h", 0.8)
    if len(r) >= 8:
        out["hguided"] = (max(hn, _fit_h(np.ascontiguousarray(fa.keypoints[r]),
                                         np.ascontiguousarray(fb.keypoints[c]))[2]), fn)
    return out


def _base(fa: scene.Features, fb: scene.Features) -> tuple[int, int]:
    pairs = scene.match_descriptors(fa.root, fb.root)
    if len(pairs) < 8:
        return 0, 0
    src = np.ascontiguousarray(fa.keypoints[pairs[:, 0]])
    dst = np.ascontiguousarray(fb.keypoints[pairs[:, 1]])
    return _fit_h(src, dst)[2], _fit_f(src, dst)[2]


def _pair_evidence(pair: tuple[int, int], only_reverse: bool = False) -> tuple[int, int, dict]:
    """The pair's evidence; `reverse` is `base` with the two photos' roles swapped (Lowe's
    ratio test is taken on the first photo's side, so the matches differ), `both` the larger
    of the two (a pair checked both ways)."""
    a, b = pair
    ev = {} if only_reverse else pair_evidence(_FEATS[a], _FEATS[b])
    ev["reverse"] = _base(_FEATS[b], _FEATS[a])
    return a, b, ev


def _reverse_only(pair: tuple[int, int]) -> tuple[int, int, dict]:
    return _pair_evidence(pair, only_reverse=True)


def evidence(work: Path, cache: Path, workers: int) -> tuple[dict, dict[int, str], list[int]]:
    vs = VictimStore(work / "case")
    ids, place_of = _place_of(vs)
    vs.close()
    key = cache / f"{work.name}-evidence.pkl"
    done = pickle.loads(key.read_bytes()) if key.exists() else {}
    places = sorted(place_of)
    todo = [(a, b) for i, a in enumerate(places) for b in places[i + 1:]]
    todo += [(a, d) for a in places for d in ids if d not in place_of]
    missing = [p for p in todo if p in done and "reverse" not in done[p]]
    todo = [p for p in todo if p not in done]
    if missing:  # a cache from before the reverse check: only that is computed
        t0 = time.perf_counter()
        with ProcessPoolExecutor(workers, initializer=_init, initargs=(str(work),)) as pool:
            for a, b, ev in pool.map(_reverse_only, missing, chunksize=64):
                done[(a, b)].update(ev)
        key.write_bytes(pickle.dumps(done))
        print(f"  {len(missing)} pairs checked the other way in {time.perf_counter() - t0:.0f} s wall, "
              f"load {os.getloadavg()[0]:.1f}")
    if todo:
        t0, c0 = time.perf_counter(), time.process_time()
        with ProcessPoolExecutor(workers, initializer=_init, initargs=(str(work),)) as pool:
            for n, (a, b, ev) in enumerate(pool.map(_pair_evidence, todo, chunksize=64)):
                done[(a, b)] = ev
                if n % 5000 == 4999:
                    key.write_bytes(pickle.dumps(done))
                    print(f"  {n + 1} of {len(todo)} pairs, {time.perf_counter() - t0:.0f} s", flush=True)
        key.write_bytes(pickle.dumps(done))
        print(f"  {len(todo)} pairs in {time.perf_counter() - t0:.0f} s wall "
              f"({workers} workers; parent CPU {time.process_time() - c0:.0f} s), load {os.getloadavg()[0]:.1f}")
    return done, place_of, ids


def components(pairs: list[tuple[int, int]]) -> dict[int, int]:
    sets = DisjointSets()
    for a, b in pairs:
        sets.union(sets.find(a), sets.find(b))
    return {m: sets.find(m) for g in sets.groups() for m in g}


def judge(pairs_joined: list[tuple[int, int]], place_of: dict[int, str]) -> tuple[int, int, int]:
    """(true pairs joined, false pairs joined, same-place pairs in all) of the components."""
    comp = components(pairs_joined)
    by: dict[int, list[int]] = defaultdict(list)
    for m, r in comp.items():
        by[r].append(m)
    tp = fp = 0
    for members in by.values():
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                if a in place_of or b in place_of:
                    if place_of.get(a) is not None and place_of.get(a) == place_of.get(b):
                        tp += 1
                    else:
                        fp += 1
    count: dict[str, int] = defaultdict(int)
    for p in place_of.values():
        count[p] += 1
    truth = sum(n * (n - 1) // 2 for n in count.values())
    return tp, fp, truth


def _pr(links: list[tuple[int, int]], place_of: dict[int, str], within_places: bool) -> tuple[float, float]:
    if within_places:
        links = [(a, b) for a, b in links if a in place_of and b in place_of]
    tp, fp, truth = judge(links, place_of)
    return tp / truth, tp / (tp + fp) if tp + fp else 1.0


def report(name: str, done: dict, place_of: dict[int, str]) -> None:
    for ev in done.values():
        if "reverse" in ev:
            ev["both"] = tuple(max(x, y) for x, y in zip(ev["base"], ev["reverse"]))
    kinds = [k for k in ("base", "reverse", "both", "hguided", "raw") if all(k in ev for ev in done.values())]
    true = {p: ev for p, ev in done.items() if place_of.get(p[0]) is not None and place_of.get(p[0]) == place_of.get(p[1])}
    chance = {p: ev for p, ev in done.items() if p not in true}
    cross = sum(b in place_of for _a, b in chance)
    count: dict[str, int] = defaultdict(int)
    for p in place_of.values():
        count[p] += 1
    truth = sum(n * (n - 1) // 2 for n in count.values())
    print(f"## {name}: {len(true)} true pairs, {len(chance)} chance pairs "
          f"({len(chance) - cross} place x distractor, {cross} cross-place)")
    for kind in kinds:
        ch = np.array([chance[p][kind] for p in chance]).reshape(-1, 2)
        tr = np.array([true[p][kind] for p in true]).reshape(-1, 2)
        mh, mf = ch.max(axis=0)
        above = [p for p in true if true[p][kind][0] > mh or true[p][kind][1] > mf]
        tp, fp, _ = judge(above, place_of)
        tail = ", ".join(f">={t}: {int((ch[:, 1] >= t).sum())}" for t in range(int(mf) - 3, int(mf) + 1))
        print(f"{kind:>8}: chance max H {mh} / F {mf} (F tail {tail}); true pairs median H {np.median(tr[:, 0]):.0f} "
              f"F {np.median(tr[:, 1]):.0f}; above every chance pair {len(above)} of {truth} ({len(above) / truth:.3f}); "
              f"their components {tp} of {truth} ({tp / truth:.3f}, {fp} false)")
        # Every (H, F) threshold pair: the best recall at precision >= 0.99 (and 1.0), the
        # links kept (a) as direct pairs, (b) chained through place photos only, (c) chained
        # through everything compared (distractors may bridge two places).
        best: dict[tuple[str, float], tuple] = {}
        for th in range(6, 41):
            for tf in range(10, 41):
                links = [p for p, ev in done.items() if ev[kind][0] >= th or ev[kind][1] >= tf]
                direct_tp = sum(p in true for p in links)
                direct = (direct_tp / truth, direct_tp / len(links) if links else 1.0)
                for regime, (r, pr) in (("direct", direct), ("via places", _pr(links, place_of, True)),
                                        ("via all", _pr(links, place_of, False))):
                    for floor in (0.99, 1.0):
                        if pr >= floor and r > best.get((regime, floor), (-1,))[0]:
                            best[(regime, floor)] = (r, pr, th, tf)
        for (regime, floor), (r, pr, th, tf) in sorted(best.items()):
            print(f"          best at precision >= {floor:.2f}, {regime:>10}: recall {r:.3f} "
                  f"(precision {pr:.3f}) with >= {th} H or >= {tf} F inliers")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("work", type=Path, nargs="+")
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--same", action="append", default=[], metavar="PLACE=PLACE",
                    help="two place folders that show one place (a label error of the set)")
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    for work in args.work:
        done, place_of, _ids = evidence(work, args.cache, args.workers)
        alias = dict(x.split("=", 1) for x in args.same)
        place_of = {m: alias.get(p, p) for m, p in place_of.items()}
        report(work.name, done, place_of)


if __name__ == "__main__":
    main()
