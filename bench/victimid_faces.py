"""Faces at seizure scale: detection recall of the detectors, and false matches in a big gallery.

    nice .venv/bin/python bench/victimid_faces.py detect AFW [--exclude FILE] [--work DIR]
    nice .venv/bin/python bench/victimid_faces.py gallery FACES [--work DIR] [--limit N]
        [--unlabelled-distinct] [--extrapolate N]
    nice .venv/bin/python bench/victimid_faces.py index PHOTOS [--detectors hog,hog+cnn] [--workers 1,2]

Every folder is brought for local evaluation only (never committed); the bench reads it.

**detect**: AFW is the "Annotated Faces in the Wild" test set (Zhu & Ramanan 2012: 205 Flickr
photos, 468 faces with boxes and yaw/pitch/roll) in the layout of the public copy
github.com/RSinhoroto/AFWDataset: `images/*.jpg` and, '*'-separated in image order,
`filenames.txt`, `faces.txt` ("[x1 y1;x2 y2]" per face) and `poses.txt` ("[yaw pitch roll]"
in radians per face). `--exclude` names photos (one name a line) left out — here the photos
with children or of uncertain age, chosen by looking at each one. Each photo is decoded as
`haven index` does (long side at most 2400 px) and given to each detector configuration:

- HOG (haven's default) with 0, 1 (shipped) and 2 upsampling steps, at up to 1600 px;
- the CNN (MMOD) detector at a long side of 640, 800 (shipped) and 1024 px, no upsampling;
- HOG then the CNN (800 px) only on photos where HOG found no face (computed from the two
  runs above: its time is HOG's plus the CNN's where it ran).

A detection matches an annotated face when their boxes overlap with IoU >= 0.3 (dlib's boxes
are tighter than AFW's, forehead and chin excluded; the matched IoUs are printed), one to one,
best overlap first. Recall is given for frontal (|yaw| < 30 deg), turned (30-60) and profile
(>= 60) faces; unmatched detections are counted as false detections (AFW does not annotate
every tiny background face, so a few may be real faces). CPU seconds per photo from
`time.process_time` in this single-threaded process, beside the load. The same faces found by
HOG and by the CNN are embedded both ways and their distance printed: it says whether faces of
both detectors can share one embedding space.

**gallery**: FACES is a folder tree of face photos of adults, one folder per person
(`FACES/<person>/<photo>`; adults only, every photo looked at before use). A folder whose name
ends in `-unlabelled` holds photos of unknown identities (a set without identity labels, where
the same person may appear twice): its photos are compared only with the other folders, never
among themselves. With `--unlabelled-distinct` they are compared among themselves too, each
taken for a different person: an upper side, since two photos of one person then count as a
false match. The text before the first `-` of a folder's name is its source (printed per
source). Every photo is embedded with haven's face model (the largest face found by HOG on the
photo, else the CNN; photos without a face are counted and skipped); embeddings are cached in
`--work`, so a long run resumes and `--limit` gives a quick check. Then, at the shipped
thresholds and a range around them:

- the distance distribution of impostor pairs (different persons) and genuine pairs (same
  person): minimum and low quantiles, exact over every pair (up to 30,000 faces);
- false-match rate per pair (FMR): the share of impostor pairs closer than the threshold, with
  its one-sided 95 % Clopper-Pearson upper bound (which treats pairs as independent: they are
  not quite, each face is in many pairs);
- per query, measured: for each labelled face, whether any face of another person in the whole
  gallery is closer than the threshold (what an analyst sees when "find this face" runs
  against a gallery this big);
- per query, EXTRAPOLATED to a gallery of `--extrapolate` faces (100,000 by default): the
  expected number of false matches (FMR x size) and the chance of at least one,
  1 - (1 - FMR)^size, also at the FMR's upper bound; this assumes independent pairs and a
  gallery drawn from the same population as these faces — an estimate, labelled as one;
- genuine-match rate: the share of same-person pairs closer than the threshold.

**index**: `haven index --parts faces` (the shipped path: decode, detect, align, embed, store)
over a folder of photos, once per detector and worker count: wall time, photos/s, CPU seconds
per photo (this process and its workers), faces stored, load.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from pathlib import Path

import numpy as np

from haven.victimid import faces as F

IMAGE_EXT = {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".webp"}
MATCH_IOU = 0.3
CONFIGS = {  # name -> FaceModel keyword arguments
    "hog-up0": dict(detector="hog", upsample=0),
    "hog-up1": dict(detector="hog", upsample=1),
    "hog-up2": dict(detector="hog", upsample=2),
    "cnn-640": dict(detector="cnn", cnn_max_side=640),
    "cnn-800": dict(detector="cnn", cnn_max_side=800),
    "cnn-1024": dict(detector="cnn", cnn_max_side=1024),
}


def load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


# -- detect ---------------------------------------------------------------------------------

def read_afw(root: Path, exclude: set[str]) -> list[dict]:
    """[{file, boxes: [(x1, y1, x2, y2)], yaw: [degrees]}] of the photos not excluded."""
    names = (root / "filenames.txt").read_text().split("*")
    faces = (root / "faces.txt").read_text().split("*")
    poses = (root / "poses.txt").read_text().split("*")
    out = []
    for name, fb, pb in zip(names, faces, poses):
        name = name.strip()
        if not name or name in exclude:
            continue
        boxes = [tuple(float(v) for v in re.split(r"[ ;]+", b.strip())) for b in re.findall(r"\[([^\]]*)\]", fb)]
        yaws = [abs(float(p.split()[0])) * 180 / np.pi for p in re.findall(r"\[([^\]]*)\]", pb)]
        if len(boxes) != len(yaws):
            raise SystemExit(f"{name}: {len(boxes)} boxes but {len(yaws)} poses")
        out.append({"file": name, "boxes": boxes, "yaw": yaws})
    return out


def decode(path: Path) -> np.ndarray:
    """The photo's pixels as `haven index` keeps them."""
    from haven.victimid.indexer import _decode

    return _decode(path.read_bytes())[1]


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match(gt: list, found: list) -> dict[int, tuple[int, float]]:
    """Annotated face index -> (detection index, IoU), one to one, best overlap first."""
    pairs = sorted(((iou(g, d), i, j) for i, g in enumerate(gt) for j, d in enumerate(found)), reverse=True)
    used_g, used_d, out = set(), set(), {}
    for v, i, j in pairs:
        if v < MATCH_IOU:
            break
        if i in used_g or j in used_d:
            continue
        used_g.add(i)
        used_d.add(j)
        out[i] = (j, v)
    return out


def run_detect(args) -> None:
    root = Path(args.afw)
    exclude = set(Path(args.exclude).read_text().split()) if args.exclude else set()
    photos = read_afw(root, exclude)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    cache_path = work / "detect_cache.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    scale_of = {}
    print(f"{len(photos)} photos ({len(exclude)} excluded), "
          f"{sum(len(p['boxes']) for p in photos)} annotated faces; {load()}", flush=True)
    configs = args.configs.split(",") if args.configs else list(CONFIGS)
    for name in configs:
        kw = CONFIGS[name]
        model = None
        for n, p in enumerate(photos):
            key = f"{name}/{p['file']}"
            if key in cache:
                continue
            if model is None:
                model = F.FaceModel(**kw)
            rgb = decode(root / "images" / p["file"])
            c0, w0 = time.process_time(), time.perf_counter()
            found = model.detect(rgb)
            cache[key] = {"boxes": [list(b) for b, _s, _h in found], "scores": [s for _b, s, _h in found],
                          "cpu": time.process_time() - c0, "wall": time.perf_counter() - w0}
            if n % 20 == 0:
                cache_path.write_text(json.dumps(cache))
                print(f"  {name}: {n}/{len(photos)}; {load()}", flush=True)
        cache_path.write_text(json.dumps(cache))
    # scale: the decoded photo may be smaller than the annotated original
    from PIL import Image

    for p in photos:
        with Image.open(root / "images" / p["file"]) as im:
            w = max(im.size)
        scale_of[p["file"]] = min(1.0, 2400 / w)

    def results(name: str):
        for p in photos:
            r = cache[f"{name}/{p['file']}"]
            s = scale_of[p["file"]]
            gt = [tuple(v * s for v in b) for b in p["boxes"]]
            yield p, gt, r

    def combo(p, gt, name_a="hog-up1", name_b="cnn-800"):
        a = cache[f"{name_a}/{p['file']}"]
        if a["boxes"]:
            return a
        b = cache[f"{name_b}/{p['file']}"]
        return {"boxes": b["boxes"], "scores": b["scores"], "cpu": a["cpu"] + b["cpu"], "wall": a["wall"] + b["wall"]}

    print(f"\n{'detector':<22} {'recall':>7} {'frontal':>8} {'turned':>7} {'profile':>8} "
          f"{'false':>6} {'photos w/o face':>15} {'CPU s/photo':>12} {'median IoU':>10}")
    bins = {"frontal": (0, 30), "turned": (30, 60), "profile": (60, 181)}
    have = [c for c in CONFIGS if all(f"{c}/{p['file']}" in cache for p in photos)]
    names = have + (["hog-up1 then cnn-800"] if {"hog-up1", "cnn-800"} <= set(have) else [])
    for name in names:
        hit = {k: 0 for k in bins}
        tot = {k: 0 for k in bins}
        false = empty = 0
        cpu = []
        ious = []
        for p, gt, r in results("hog-up1" if name.startswith("hog-up1 then") else name):
            if name.startswith("hog-up1 then"):
                r = combo(p, gt)
            m = match(gt, r["boxes"])
            for i, yaw in enumerate(p["yaw"]):
                k = next(k for k, (lo, hi) in bins.items() if lo <= yaw < hi)
                tot[k] += 1
                hit[k] += i in m
            ious += [v for _j, v in m.values()]
            false += len(r["boxes"]) - len(m)
            empty += not r["boxes"]
            cpu.append(r["cpu"])
        rec = {k: hit[k] / tot[k] if tot[k] else float("nan") for k in bins}
        allrec = sum(hit.values()) / sum(tot.values())
        print(f"{name:<22} {allrec:7.3f} {rec['frontal']:8.3f} {rec['turned']:7.3f} {rec['profile']:8.3f} "
              f"{false:6d} {empty:15d} {np.mean(cpu):12.3f} {np.median(ious) if ious else 0:10.2f}")
    print(f"faces per yaw bin: " + ", ".join(f"{k} {v}" for k, v in tot.items()))
    print(f"(IoU >= {MATCH_IOU}; CPU seconds per photo, mean; {load()})")
    if not args.skip_embed and {"hog-up1", "cnn-800"} <= set(have):
        embed_agreement(root, photos, cache, scale_of)


def embed_agreement(root: Path, photos, cache, scale_of) -> None:
    """Distance between the embeddings of one face found by HOG and by the CNN."""
    model = F.FaceModel(detector="hog")
    dists = []
    for p in photos:
        a, b = cache[f"hog-up1/{p['file']}"], cache[f"cnn-800/{p['file']}"]
        s = scale_of[p["file"]]
        gt = [tuple(v * s for v in bx) for bx in p["boxes"]]
        ma, mb = match(gt, a["boxes"]), match(gt, b["boxes"])
        both = [i for i in ma if i in mb]
        if not both:
            continue
        rgb = decode(root / "images" / p["file"])
        for i in both:
            ea = model._embedded(rgb, tuple(a["boxes"][ma[i][0]]), 0.0, "hog").embedding
            eb = model._embedded(rgb, tuple(b["boxes"][mb[i][0]]), 0.0, "cnn").embedding
            dists.append(float(np.linalg.norm(ea - eb)))
    d = np.array(dists)
    print(f"\nsame face, HOG box vs CNN box: {len(d)} faces, embedding distance median {np.median(d):.3f}, "
          f"p95 {np.percentile(d, 95):.3f}, max {d.max():.3f} (same-person threshold {F.SAME_PERSON})")


# -- index ----------------------------------------------------------------------------------

def run_index(args) -> None:
    """`haven index --parts faces` over a folder of photos: photos/s per detector and worker count."""
    import resource
    import shutil
    import tempfile

    from haven.victimid.indexer import Indexer, IndexOptions
    from haven.victimid.store import VictimStore

    photos = sorted(p for p in Path(args.photos).rglob("*") if p.suffix.lower() in IMAGE_EXT)
    print(f"{len(photos)} photos in {args.photos}; {load()}")
    print(f"{'detector':<9} {'workers':>7} {'wall s':>7} {'photos/s':>9} {'CPU s/photo':>12} {'faces':>6}  load")
    for det in args.detectors.split(","):
        for workers in (int(w) for w in args.workers.split(",")):
            tmp = Path(tempfile.mkdtemp(prefix="haven-faces-index-"))
            try:
                vs = VictimStore(tmp / "case", create=True)
                before = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
                w0 = time.perf_counter()
                stats = Indexer(vs, IndexOptions(parts=("faces",), workers=workers, face_detector=det)).run(
                    [args.photos])
                wall = time.perf_counter() - w0
                after = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
                cpu = sum(a.ru_utime + a.ru_stime - b.ru_utime - b.ru_stime for a, b in zip(after, before))
                vs.close()
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            print(f"{det:<9} {workers:7d} {wall:7.1f} {stats.indexed / wall:9.2f} {cpu / max(stats.indexed, 1):12.3f} "
                  f"{stats.faces:6d}  {load()}", flush=True)


# -- gallery --------------------------------------------------------------------------------

def gallery_photos(root: Path) -> list[tuple[str, Path]]:
    out = []
    for person in sorted(p for p in root.iterdir() if p.is_dir()):
        for f in sorted(person.iterdir()):
            if f.suffix.lower() in IMAGE_EXT:
                out.append((person.name, f))
    return out


class GalleryCache:
    """Embedding (and face box) per key, in one .npz under --work; resumable."""

    def __init__(self, path: Path):
        self.path = path
        self.vec: dict[str, np.ndarray] = {}
        self.box: dict[str, tuple] = {}
        if path.exists():
            z = np.load(path, allow_pickle=False)
            for k, v, b in zip(z["keys"], z["vecs"], z["boxes"]):
                self.vec[str(k)] = v
                self.box[str(k)] = tuple(int(x) for x in b)

    def save(self) -> None:
        keys = list(self.vec)
        np.savez(self.path, keys=np.array(keys, dtype=str),
                 vecs=np.stack([self.vec[k] for k in keys]) if keys else np.empty((0, 128), np.float32),
                 boxes=np.array([self.box[k] for k in keys], dtype=np.int32).reshape(len(keys), 4))


NO_FACE = np.full(128, np.nan, np.float32)


def augmented_chip(chip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random rendering of an aligned 150 px face chip: mirror, shift/rotate/scale,
    brightness/contrast/gamma, blur or noise, JPEG re-compression. Same person, new pixels."""
    import cv2

    out = chip[:, ::-1] if rng.random() < 0.5 else chip
    m = cv2.getRotationMatrix2D((75 + rng.uniform(-4, 4), 75 + rng.uniform(-4, 4)),
                                rng.uniform(-8, 8), rng.uniform(0.92, 1.08))
    out = cv2.warpAffine(np.ascontiguousarray(out), m, (150, 150), borderMode=cv2.BORDER_REFLECT)
    x = out.astype(np.float32) / 255
    x = np.clip((x - 0.5) * rng.uniform(0.7, 1.3) + 0.5 + rng.uniform(-0.12, 0.12), 0, 1) ** rng.uniform(0.8, 1.25)
    out = (x * 255).astype(np.uint8)
    if rng.random() < 0.4:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 1.5))
    elif rng.random() < 0.4:
        out = np.clip(out + rng.normal(0, 6, out.shape), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(35, 90))])
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_UNCHANGED))


_MODEL = None


def _gallery_model() -> F.FaceModel:
    global _MODEL
    if _MODEL is None:
        _MODEL = F.FaceModel(detector="hog+cnn", upsample=0)
    return _MODEL


def _embed_task(task: tuple) -> tuple[str, tuple, np.ndarray]:
    """(key, box, embedding) of one gallery task: a photo's largest face (HOG without
    upsampling, the CNN where HOG finds none), or, given its box and a seed, one augmented
    rendering of that face's aligned chip."""
    import dlib

    key, path, box, seed = task
    model = _gallery_model()
    rgb = decode(Path(path))
    if box is None:
        found = sorted(model.detect(rgb), key=lambda d: -(d[0][2] - d[0][0]) * (d[0][3] - d[0][1]))
        if not found:
            return key, (0, 0, 0, 0), NO_FACE
        box = found[0][0]
    shape = model._shape(rgb, dlib.rectangle(*box))
    chip = np.ascontiguousarray(dlib.get_face_chip(rgb, shape, 150, 0.25))
    if seed is not None:
        chip = augmented_chip(chip, np.random.default_rng(seed))
    return key, tuple(box), np.asarray(model._embed.compute_face_descriptor(chip), np.float32)


def embed_gallery(root: Path, work: Path, limit: int | None, augment: int, seconds: float | None,
                  workers: int = 1):
    """(embeddings, person label per row, is-augmented per row, counts), cached per key."""
    import multiprocessing as mp

    photos = gallery_photos(root)
    if limit:
        photos = photos[:limit]
    work.mkdir(parents=True, exist_ok=True)
    cache = GalleryCache(work / f"gallery_{root.name}.npz")
    deadline = time.monotonic() + seconds if seconds is not None else None

    def photo_tasks():
        for person, f in photos:
            key = f"{person}/{f.name}"
            if key not in cache.vec:
                yield key, str(f), None, None

    def augment_tasks():
        # a fixed random order, so a partial run is a random subset
        for idx in np.random.default_rng(7).permutation(len(photos) * augment):
            person, f = photos[idx // augment]
            base, key = f"{person}/{f.name}", f"{person}/{f.name}#{idx % augment}"
            if key not in cache.vec and base in cache.vec and np.isfinite(cache.vec[base]).all():
                yield key, str(f), cache.box[base], int(idx)

    c0, w0, new = time.process_time(), time.perf_counter(), 0
    pool = mp.get_context("fork").Pool(workers) if workers > 1 else None
    try:
        for stage, tasks in (("photos", photo_tasks), ("augmented", augment_tasks)):
            if stage == "augmented" and not augment:
                continue
            results = pool.imap_unordered(_embed_task, tasks(), chunksize=16) if pool else map(_embed_task, tasks())
            for key, box, vec in (() if deadline and time.monotonic() > deadline else results):
                cache.box[key], cache.vec[key] = box, vec
                new += 1
                if new % 500 == 0:
                    cache.save()
                    print(f"  {stage}: {len(cache.vec):,} embedded; {(time.process_time() - c0) / new * 1000:.0f} ms "
                          f"CPU (main process) and {(time.perf_counter() - w0) / new * 1000:.0f} ms wall per "
                          f"embedding; {load()}", flush=True)
                if deadline and time.monotonic() > deadline:
                    break
            cache.save()
            if deadline and time.monotonic() > deadline:
                break
    finally:
        if pool:
            pool.terminate()
    if new:
        print(f"embedded {new:,} new, {(time.perf_counter() - w0) / new * 1000:.0f} ms wall each "
              f"with {workers} process(es); {load()}")
    wanted = {f"{p}/{f.name}" for p, f in photos}
    keys = [k for k, v in cache.vec.items() if k.split("#")[0] in wanted and np.isfinite(v).all()]
    emb = np.stack([cache.vec[k] for k in keys]).astype(np.float32)
    labels = np.array([k.split("/")[0] for k in keys])
    aug = np.array(["#" in k for k in keys])
    done = [k for k in wanted if k in cache.vec]
    no_face = sum(1 for k in done if not np.isfinite(cache.vec[k]).all())
    return emb, labels, aug, {"photos": len(photos), "done": len(done), "no_face": no_face}


UNLABELLED = "-unlabelled"  # a person folder of photos whose identities are not known


def fmr_upper(k: int, n: int, conf: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound of a rate seen k times in n trials."""
    from scipy.stats import beta

    return 1.0 if k >= n else float(beta.ppf(conf, k + 1, n - k))


def _quantiles(d: np.ndarray, qs=(0.0, 1e-5, 1e-4, 1e-3, 1e-2, 0.5)) -> str:
    if not len(d):
        return "none"
    v = np.quantile(d, qs)
    return ", ".join(f"{'min' if q == 0 else ('median' if q == 0.5 else format(q, 'g'))} {x:.3f}"
                     for q, x in zip(qs, v) if q == 0 or q == 0.5 or q * len(d) >= 1)


def false_matches(emb: np.ndarray, person: np.ndarray, group: np.ndarray, thresholds: list[float],
                  extrapolate: int) -> None:
    """Print FMR per pair (with its 95 % upper bound), per-query false matches measured in this
    gallery and extrapolated to `extrapolate` faces, genuine-match rate, at each threshold.

    `person` is an identity per row; `group` >= 0 marks rows of one unlabelled folder, whose
    pairs among themselves are neither impostor nor genuine pairs (left out)."""
    import faiss

    n = len(emb)
    index = faiss.IndexFlatL2(emb.shape[1])
    index.add(emb)
    t0 = time.perf_counter()
    lims, d2, rows = index.range_search(emb, max(thresholds) ** 2)
    q = np.repeat(np.arange(n), np.diff(lims.astype(np.int64)))
    keep = rows > q  # each unordered pair once, no self pairs
    qa, qb, dist = q[keep], rows[keep].astype(np.int64), np.sqrt(np.maximum(d2[keep], 0))
    skip = (group[qa] >= 0) & (group[qa] == group[qb])
    qa, qb, dist = qa[~skip], qb[~skip], dist[~skip]
    same = person[qa] == person[qb]
    sizes = np.bincount(person)
    gsizes = np.bincount(group[group >= 0]) if (group >= 0).any() else np.zeros(0, np.int64)
    genuine_pairs = int((sizes * (sizes - 1) // 2).sum())
    skipped_pairs = int((gsizes * (gsizes - 1) // 2).sum())
    impostor_pairs = n * (n - 1) // 2 - genuine_pairs - skipped_pairs
    print(f"{n:,} embeddings, {int((sizes > 0).sum()):,} identities ({int((sizes > 1).sum()):,} with several photos); "
          f"pairs: {impostor_pairs:,} of different persons, {genuine_pairs:,} of the same person"
          f"{f', {skipped_pairs:,} within unlabelled folders left out' if skipped_pairs else ''}; "
          f"range search {time.perf_counter() - t0:.1f} s")
    if n <= 30_000:  # the whole distance distribution (blocks of rows, exact)
        imp, gen = [], []
        sq = (emb.astype(np.float64) ** 2).sum(1)
        for a in range(0, n, 2000):
            blk = emb[a:a + 2000].astype(np.float64)
            d = np.sqrt(np.maximum(sq[a:a + 2000, None] + sq[None, :] - 2 * blk @ emb.T.astype(np.float64), 0))
            r = np.arange(a, min(a + 2000, n))[:, None]
            c = np.arange(n)[None, :]
            upper = c > r
            sp = person[r] == person[c]
            sk = (group[r] >= 0) & (group[r] == group[c])
            imp.append(d[upper & ~sp & ~sk])
            gen.append(d[upper & sp])
        imp, gen = np.concatenate(imp), np.concatenate(gen)
        print(f"impostor distances: {_quantiles(imp)}")
        print(f"genuine distances:  {_quantiles(gen, (0.0, 0.5, 0.9, 0.99))}, max {gen.max() if len(gen) else float('nan'):.3f}")
    N = extrapolate
    # per query, measured: a labelled face against every face of another person (an unlabelled
    # face meets only the other sources, so it is left out when labelled faces exist)
    lab = group < 0 if (group < 0).any() else np.ones(n, bool)
    n_eff = int(round(float(np.mean(n - sizes[person[lab]]))))
    print(f"per-query columns: {int(lab.sum()):,} query faces, each against ~{n_eff:,} faces of other persons")
    print(f"{'threshold':>9} {'false pairs':>11} {'FMR per pair':>12} {'95% upper':>10} "
          f"{'queries w/ false match (' + format(n_eff, ',') + ')':>32} "
          f"{'E[false]/query @' + format(N, ','):>22} {'P(>=1 false) @' + format(N, ','):>22} "
          f"{'(upper)':>8} {'genuine-match rate':>19}")
    for t in thresholds:
        under = dist < t
        bad = under & ~same
        false_pairs = int(bad.sum())
        per_q = np.bincount(qa[bad], minlength=n) + np.bincount(qb[bad], minlength=n)
        fmr = false_pairs / impostor_pairs
        up = fmr_upper(false_pairs, impostor_pairs)
        # extrapolation, not a measurement: a query meets N faces of other persons drawn like
        # these, each a false match with probability FMR, independently
        ext, p_any, p_any_up = fmr * N, 1 - (1 - fmr) ** N, 1 - (1 - up) ** N
        gm = int((under & same).sum()) / genuine_pairs if genuine_pairs else float("nan")
        mark = ""
        if abs(t - F.SAME_PERSON) < 1e-9:
            mark = "  <- shipped one to one"
        elif abs(t - F.CLUSTER_DISTANCE) < 1e-9:
            mark = "  <- shipped gallery (faces cluster)"
        print(f"{t:9.2f} {false_pairs:11,d} {fmr:12.2e} {up:10.2e} {(per_q[lab] > 0).mean():32.4f} "
              f"{ext:22.3f} {p_any:22.3f} {p_any_up:8.3f} {gm:19.3f}{mark}")


def run_gallery(args) -> None:
    root = Path(args.faces)
    emb, labels, aug, counts = embed_gallery(root, Path(args.work), args.limit, args.augment, args.seconds,
                                             args.workers)
    keys = np.array([f"{lab}/{i}" if lab.endswith(UNLABELLED) else lab for i, lab in enumerate(labels)])
    _, person = np.unique(keys, return_inverse=True)
    folders, folder = np.unique(labels, return_inverse=True)
    unl = np.array([f.endswith(UNLABELLED) for f in folders])
    group = np.where(unl[folder], folder, -1)
    if args.unlabelled_distinct:  # upper side: every unlabelled photo its own person
        group = np.full(len(labels), -1)
    print(f"\ngallery {root}: {counts['done']:,} of {counts['photos']:,} photos embedded, {counts['no_face']} "
          f"without a face found; {int(aug.sum()):,} augmented renderings; {load()}")
    sources = np.array([lab.split("-")[0] for lab in labels])
    for src in np.unique(sources):
        m = (sources == src) & ~aug
        print(f"  source {src}: {int(m.sum()):,} faces, {len(np.unique(keys[m])):,} identities"
              f"{' (unlabelled: only pairs with other sources count)' if unl[folder[m]].all() else ''}")
    thresholds = [float(t) for t in args.thresholds.split(",")]
    print("\n-- real photos only")
    false_matches(emb[~aug], person[~aug], group[~aug], thresholds, args.extrapolate)
    if aug.any():
        print("\n-- real photos + augmented renderings (a rendering has its photo's person: a match "
              "between them is genuine, never false)")
        false_matches(emb, person, group, thresholds, args.extrapolate)
    print(f"({load()})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("detect", help="detection recall and cost on AFW")
    d.add_argument("afw")
    d.add_argument("--exclude")
    d.add_argument("--work", default="/tmp/haven-faces-bench")
    d.add_argument("--skip-embed", action="store_true", help="leave out the HOG-vs-CNN embedding check")
    d.add_argument("--configs", help="run only these configurations (comma-separated; default all): "
                   + ", ".join(CONFIGS))
    g = sub.add_parser("gallery", help="false matches in a gallery of faces")
    g.add_argument("faces")
    g.add_argument("--work", default="/tmp/haven-faces-bench")
    g.add_argument("--limit", type=int, help="only the first N photos (quick check)")
    g.add_argument("--thresholds", default="0.3,0.35,0.4,0.45,0.5,0.55,0.6")
    g.add_argument("--augment", type=int, default=0, help="augmented renderings per photo (same person)")
    g.add_argument("--seconds", type=float, help="stop embedding after this long (the cache keeps what is done)")
    g.add_argument("--workers", type=int, default=1, help="processes that embed (each loads the model)")
    g.add_argument("--unlabelled-distinct", action="store_true",
                   help="compare the photos of an -unlabelled folder among themselves too, each taken for "
                        "a different person (an upper side: two photos of one person count as a false match)")
    g.add_argument("--extrapolate", type=int, default=100_000, help="gallery size for the per-query estimate")
    i = sub.add_parser("index", help="photos/s of haven index --parts faces per detector and worker count")
    i.add_argument("photos")
    i.add_argument("--detectors", default="hog,hog+cnn")
    i.add_argument("--workers", default="1,2")
    args = ap.parse_args()
    {"detect": run_detect, "gallery": run_gallery, "index": run_index}[args.cmd](args)


if __name__ == "__main__":
    main()
