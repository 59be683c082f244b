"""Faces at seizure scale: detection recall of the detectors, and false matches in a big gallery.

    nice .venv/bin/python bench/victimid_faces.py detect AFW [--exclude FILE] [--work DIR]
    nice .venv/bin/python bench/victimid_faces.py gallery FACES [--work DIR] [--limit N]
        [--unlabelled-distinct] [--extrapolate N]
    nice .venv/bin/python bench/victimid_faces.py index PHOTOS [--detectors hog,hog+cnn] [--workers 1,2]
    nice .venv/bin/python bench/victimid_faces.py generate FACES --work DIR [--count 96000] [--sheet 60]
        [--shard i/n]   (one process per shard; each resumes from its checkpoint)
    nice .venv/bin/python bench/victimid_faces.py literal FACES --work DIR [--cluster]

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

**generate** and **literal**: a literal gallery of >= 100,000 faces. No offline public set of
100,000 looked-at adult faces exists here, so most of the gallery is GENERATED from the
looked-at adults of FACES (after `gallery` has cached their embeddings and boxes in --work):

- identities: the labelled folders (ORL, Yale) are never parents; the unlabelled photos get
  pseudo-identities (connected components closer than 0.4, so a celebrity photographed twice
  is one person) and a random fifth of those persons is held out, never a parent;
- each generated face is a morph of two real faces of different persons: their 150 px chips,
  aligned by haven's 5-point model as its embedder sees them, put into dense correspondence by
  optical flow, warped to the in-between geometry and blended (the second parent's share drawn
  in 0.4-0.6); each pair of parents once. A new synthetic adult face, not a rendering of one
  photo: flips, crops and jitter of one photo are the same person and are never counted;
- `--sheet N` writes a PNG contact sheet of the first N (parent | generated | parent) to look at;
- `--shard i/n` embeds every n-th generated face with haven's ResNet (checkpointed every 250).

`literal` then builds haven's own `FaceIndex` (exact FAISS flat, the `faces find` search) over
the generated faces plus every real face, and queries it with the faces of persons who are no
parent: the held-out unlabelled persons (their pseudo-identity's other photos left out) and
the labelled persons (their other photos in the gallery: the genuine side). Printed per
threshold: false matches per query (against generated and real faces apart), the share of
queries with one or more, the FMR per pair with its Clopper-Pearson bound, what the real faces'
FMR alone would extrapolate at this size, the genuine-match rate and rank-1; before that, how
near each generated face lies to its parents (the "morph attack" view: a parent as the query)
and how spread the generated faces are against their parents.

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


# -- generate / literal: a literal gallery of >= 100,000 faces --------------------------------

MORPH_SEED = 16
HOLDOUT_SEED = 3
PSEUDO_ID_DISTANCE = 0.4  # unlabelled photos closer than this (single link) count as one person
ALPHA = (0.4, 0.6)  # a morph's share of its second parent


def _paths(work: Path) -> dict[str, Path]:
    return {"split": work / "literal_split.json", "chips": work / "literal_parent_chips.npy",
            "pairs": work / "literal_pairs.npz"}


def literal_split(root: Path, work: Path, holdout: float) -> dict:
    """Which real faces are parents of generated faces, which are queries, and their persons.

    Labelled folders (ORL, Yale: one folder per person) are never parents: their faces are
    queries, and the same faces sit in the gallery as the genuine side (a query meets its own
    person's other photos). Unlabelled folders (UTKFace, Caltech, AFW) get pseudo-identities:
    connected components of pairs closer than PSEUDO_ID_DISTANCE (haven's `faces.cluster`),
    so a celebrity photographed twice is one person. A random `holdout` share of those
    persons (whole components) are queries only; the rest are parents and gallery faces."""
    path = _paths(work)["split"]
    if path.exists():
        return json.loads(path.read_text())
    cache = GalleryCache(work / f"gallery_{root.name}.npz")
    rows = []
    for person, f in gallery_photos(root):
        key = f"{person}/{f.name}"
        if key in cache.vec and np.isfinite(cache.vec[key]).all():
            rows.append((key, person, str(f)))
    unl = [r for r in rows if r[1].endswith(UNLABELLED)]
    lab = [r for r in rows if not r[1].endswith(UNLABELLED)]
    comp = F.cluster(np.stack([cache.vec[k] for k, _p, _f in unl]), PSEUDO_ID_DISTANCE)
    ncomp = max(comp) + 1
    held = set(np.random.default_rng(HOLDOUT_SEED).permutation(ncomp)[:int(round(holdout * ncomp))].tolist())
    split = {"parents": [], "holdout": [], "labelled": []}
    for (key, person, f), c in zip(unl, comp):
        split["holdout" if c in held else "parents"].append(
            {"key": key, "file": f, "box": list(cache.box[key]), "person": f"u{c}"})
    for key, person, f in lab:
        split["labelled"].append({"key": key, "file": f, "box": list(cache.box[key]), "person": person})
    sizes = np.bincount(comp)
    split["note"] = (f"{len(unl)} unlabelled faces in {ncomp} pseudo-identities (largest {sizes.max()}, "
                     f"{int((sizes > 1).sum())} with several photos), {len(held)} held out")
    path.write_text(json.dumps(split))
    return split


def face_chip(model: F.FaceModel, path: str, box) -> np.ndarray:
    """The 150 px aligned chip haven's embedder sees (5-point alignment, padding 0.25)."""
    import dlib

    rgb = decode(Path(path))
    shape = model._shape(rgb, dlib.rectangle(*box))
    return np.ascontiguousarray(dlib.get_face_chip(rgb, shape, 150, 0.25))


def morph(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    """A new face between two aligned chips: dense correspondence by optical flow (Farneback,
    coarse to fine, wide windows: faces of two people differ, so the flow must stay smooth),
    both faces warped to the in-between geometry, then blended (`alpha` = B's share).

    No landmark model beyond the 5 points the chips were aligned on (dlib's 68-point model is
    trained on data that forbids commercial use; haven never loads it)."""
    import cv2

    ga = cv2.GaussianBlur(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), (0, 0), 1.0)
    gb = cv2.GaussianBlur(cv2.cvtColor(b, cv2.COLOR_RGB2GRAY), (0, 0), 1.0)
    flow = cv2.calcOpticalFlowFarneback(ga, gb, None, 0.5, 4, 25, 5, 7, 1.5, 0)
    fx, fy = flow[..., 0], flow[..., 1]
    yy, xx = np.mgrid[0:a.shape[0], 0:a.shape[1]].astype(np.float32)
    wa = cv2.remap(a, xx - alpha * fx, yy - alpha * fy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    wb = cv2.remap(b, xx + (1 - alpha) * fx, yy + (1 - alpha) * fy, cv2.INTER_LINEAR,
                   borderMode=cv2.BORDER_REFLECT)
    return np.clip((1 - alpha) * wa.astype(np.float32) + alpha * wb.astype(np.float32) + 0.5, 0, 255).astype(np.uint8)


def prepare_generation(root: Path, work: Path, count: int, holdout: float) -> dict:
    """Split, parents' aligned chips and the list of (parent a, parent b, alpha) per generated face."""
    split = literal_split(root, work, holdout)
    p = _paths(work)
    parents = split["parents"]
    if not p["chips"].exists():
        model = _gallery_model()
        t0 = time.process_time()
        chips = np.stack([face_chip(model, r["file"], r["box"]) for r in parents])
        np.save(p["chips"], chips)
        print(f"{len(parents):,} parent chips in {time.process_time() - t0:.1f} CPU-s", flush=True)
    if p["pairs"].exists() and len(np.load(p["pairs"])["a"]) >= count:
        return split
    person = np.array([r["person"] for r in parents])
    rng = np.random.default_rng(MORPH_SEED)
    a = rng.integers(0, len(parents), count * 2)
    b = rng.integers(0, len(parents), count * 2)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    _u, first = np.unique(lo * len(parents) + hi, return_index=True)
    ok = np.zeros(len(a), bool)
    ok[first] = True  # each pair of parents once
    ok &= person[a] != person[b]  # two different persons
    a, b = a[ok][:count], b[ok][:count]
    if len(a) < count:
        raise SystemExit(f"only {len(a):,} distinct parent pairs drawn; ask for fewer")
    alpha = rng.uniform(*ALPHA, len(a)).astype(np.float32)
    np.savez(p["pairs"], a=a, b=b, alpha=alpha)
    pairs = set(zip(np.minimum(a, b).tolist(), np.maximum(a, b).tolist()))
    print(f"{len(a):,} generated faces planned from {len(parents):,} parent faces "
          f"({len(set(person)):,} persons; {len(pairs):,} distinct parent pairs)", flush=True)
    return split


def morph_sheet(work: Path, n: int, out: Path, start: int = 0) -> None:
    """PNG contact sheet of generated faces start..start+n, each with its two parents."""
    from PIL import Image, ImageDraw

    p = _paths(work)
    chips = np.load(p["chips"], mmap_mode="r")
    z = np.load(p["pairs"])
    cols, cell = 6, 150 * 3 + 8
    rows = (n + cols - 1) // cols
    sheet = Image.new("RGB", (cols * cell, rows * 164), "white")
    d = ImageDraw.Draw(sheet)
    for k, i in enumerate(range(start, start + n)):
        a, b, al = int(z["a"][i]), int(z["b"][i]), float(z["alpha"][i])
        strip = np.concatenate([chips[a], morph(chips[a], chips[b], al), chips[b]], axis=1)
        x, y = (k % cols) * cell, (k // cols) * 164
        sheet.paste(Image.fromarray(strip), (x + 4, y + 12))
        d.text((x + 4, y), f"{i}: a | morph {al:.2f} | b", fill="red")
    sheet.save(out)
    print(f"sheet {out}: generated faces {start}-{start + n - 1} (parent a | generated | parent b)")


def generate_shard(work: Path, count: int, shard: int, shards: int, seconds: float | None) -> None:
    """Embed the generated faces i with i % shards == shard (checkpointed; resumes)."""
    p = _paths(work)
    chips = np.load(p["chips"], mmap_mode="r")
    z = np.load(p["pairs"])
    a, b, alpha = z["a"], z["b"], z["alpha"]
    out = work / f"literal_morphs_{shard}of{shards}.npz"
    done_idx, done_vec = [], []
    if out.exists():
        y = np.load(out)
        done_idx, done_vec = list(y["idx"]), list(y["vecs"])
    have = set(int(i) for i in done_idx)
    todo = [i for i in range(shard, min(count, len(a)), shards) if i not in have]
    print(f"shard {shard}/{shards}: {len(have):,} done, {len(todo):,} to do; {load()}", flush=True)
    model = _gallery_model()
    c0, w0 = time.process_time(), time.perf_counter()
    deadline = time.monotonic() + seconds if seconds else None

    def save():
        tmp = out.with_suffix(".tmp.npz")
        np.savez(tmp, idx=np.array(done_idx, np.int64),
                 vecs=np.array(done_vec, np.float32).reshape(len(done_idx), 128))
        os.replace(tmp, out)

    for n, i in enumerate(todo, 1):
        chip = morph(chips[a[i]], chips[b[i]], float(alpha[i]))
        done_idx.append(i)
        done_vec.append(np.asarray(model._embed.compute_face_descriptor(chip), np.float32))
        if n % 250 == 0 or n == len(todo):
            save()
            print(f"  shard {shard}: {len(done_idx):,} embedded; {(time.process_time() - c0) / n * 1000:.1f} ms CPU, "
                  f"{(time.perf_counter() - w0) / n * 1000:.1f} ms wall per face; {load()}", flush=True)
        if deadline and time.monotonic() > deadline:
            save()
            break


def run_generate(args) -> None:
    root, work = Path(args.faces), Path(args.work)
    prepare_generation(root, work, args.count, args.holdout)
    if args.sheet:
        morph_sheet(work, args.sheet, work / f"literal_sheet_{args.sheet_from}.png", args.sheet_from)
    if args.shard:
        shard, shards = (int(v) for v in args.shard.split("/"))
        generate_shard(work, args.count, shard, shards, args.seconds)


def _generated(work: Path) -> tuple[np.ndarray, np.ndarray]:
    """(index into the plan, embedding) of every generated face embedded so far, by index."""
    idx, vecs = [], []
    for f in sorted(work.glob("literal_morphs_*of*.npz")):
        if ".tmp" in f.name:
            continue
        z = np.load(f)
        idx.append(z["idx"])
        vecs.append(z["vecs"])
    if not idx:
        raise SystemExit(f"no generated faces in {work}: run `generate --shard i/n` first")
    idx, vecs = np.concatenate(idx), np.concatenate(vecs)
    order = np.argsort(idx)
    return idx[order], vecs[order]


def _dist(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.linalg.norm(x.astype(np.float64) - y.astype(np.float64), axis=1)


def literal_clusters(gallery: np.ndarray, n_gen: int, pa: np.ndarray, pb: np.ndarray, pp: np.ndarray,
                     person: np.ndarray, thresholds=(0.3, 0.35, 0.4)) -> None:
    """Every pair of the literal gallery closer than each threshold, as `faces cluster` would
    join them (single link), by kind: the same real person; relatives (a generated face and
    its parent's person, or two generated faces with a parent's person in common); strangers.
    Then the connected components at each threshold: the largest, and how many mix persons."""
    import faiss
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(gallery)
    c0, w0 = time.process_time(), time.perf_counter()
    index = faiss.IndexFlatL2(gallery.shape[1])
    index.add(gallery)
    lims, d2, rows = index.range_search(gallery, max(thresholds) ** 2)
    q = np.repeat(np.arange(n), np.diff(lims.astype(np.int64)))
    keep = rows > q
    i, j, dist = q[keep], rows[keep].astype(np.int64), np.sqrt(np.maximum(d2[keep], 0))
    # each face's persons: a real face its own; a generated face its two parents'
    par_persons = [set() for _ in range(n)]
    for g in range(n_gen):
        par_persons[g] = {pp[pa[g]], pp[pb[g]]}
    for r in range(n_gen, n):
        par_persons[r] = {person[r]}
    both_real = (i >= n_gen) & (j >= n_gen)
    same = both_real & (person[i] == person[j])
    related = np.array([bool(par_persons[a] & par_persons[b]) for a, b in zip(i, j)], bool) & ~same
    print(f"\nclustering the whole literal gallery ({n:,} faces, every pair; range search "
          f"{time.perf_counter() - w0:.0f} s wall, {time.process_time() - c0:.0f} CPU-s):")
    for t in thresholds:
        m = dist < t
        strangers = m & ~same & ~related
        gg = strangers & (i < n_gen) & (j < n_gen)
        rr = strangers & both_real
        print(f"  {t:.2f}: pairs joined {int(m.sum()):,}: same real person {int((m & same).sum()):,}, relatives "
              f"(a generated face and a parent's person) {int((m & related).sum()):,}, strangers "
              f"{int(strangers.sum()):,} (generated-generated {int(gg.sum()):,}, real-real {int(rr.sum()):,}, "
              f"mixed {int(strangers.sum() - gg.sum() - rr.sum()):,})")
        graph = coo_matrix((np.ones(int(m.sum())), (i[m], j[m])), shape=(n, n))
        _k, lab = connected_components(graph, directed=False)
        sizes = np.bincount(lab)
        big = np.flatnonzero(sizes > 1)
        order = np.argsort(lab, kind="stable")
        groups = np.split(order, np.cumsum(sizes)[:-1])
        # a component is mixed when no one person is shared by all its members
        mixed = sum(1 for c in big if not set.intersection(*(par_persons[x] for x in groups[c])))
        print(f"         components with more than one face {len(big):,}, largest {sizes.max():,}, "
              f"joining faces with no person in common {mixed:,}")


def run_literal(args) -> None:
    """False and genuine matches of held-out real faces against the literal gallery, searched
    with haven's own `FaceIndex` (exact FAISS flat L2, as `faces find` searches a store)."""
    root, work = Path(args.faces), Path(args.work)
    split = literal_split(root, work, args.holdout)
    cache = GalleryCache(work / f"gallery_{root.name}.npz")
    vec = lambda rows: np.stack([cache.vec[r["key"]] for r in rows]).astype(np.float32)  # noqa: E731
    plan = np.load(_paths(work)["pairs"])
    gidx, gen = _generated(work)
    if args.limit:
        gidx, gen = gidx[:args.limit], gen[:args.limit]
    parents, labelled, holdout = split["parents"], split["labelled"], split["holdout"]
    par, lab, hold = vec(parents), vec(labelled), vec(holdout)
    pa, pb, alpha = plan["a"][gidx], plan["b"][gidx], plan["alpha"][gidx]
    thresholds = [float(t) for t in args.thresholds.split(",")]
    print(f"{split['note']}; {load()}")

    # -- the generated faces themselves: how near their parents, how spread out
    da, db = _dist(gen, par[pa]), _dist(gen, par[pb])
    near = np.minimum(da, db)
    print(f"\ngenerated faces: {len(gen):,} (of {len(plan['a']):,} planned), from {len(par):,} parent faces of "
          f"{len(set(r['person'] for r in parents)):,} persons; share of the second parent {ALPHA[0]}-{ALPHA[1]}")
    print(f"  distance to the nearer parent: {_quantiles(near, (0.0, 0.01, 0.1, 0.5, 0.9))}; "
          f"to the farther: {_quantiles(np.maximum(da, db), (0.0, 0.01, 0.1, 0.5, 0.9))}")
    print("  morph-attack view (a parent as the query, its generated child in the gallery):")
    for t in thresholds:
        print(f"    {t:.2f}: child within t of parent a {np.mean(da < t):.3f}, of parent b {np.mean(db < t):.3f}, "
              f"of both {np.mean((da < t) & (db < t)):.3f}")
    rng = np.random.default_rng(5)
    m = min(200_000, len(gen) * 4)
    i, j = rng.integers(0, len(gen), m), rng.integers(0, len(gen), m)
    shared = (pa[i] == pa[j]) | (pa[i] == pb[j]) | (pb[i] == pa[j]) | (pb[i] == pb[j])
    pp = np.array([r["person"] for r in parents])
    shared |= (pp[pa[i]] == pp[pa[j]]) | (pp[pa[i]] == pp[pb[j]]) | (pp[pb[i]] == pp[pa[j]]) | (pp[pb[i]] == pp[pb[j]])
    dg = _dist(gen[i[~shared & (i != j)]], gen[j[~shared & (i != j)]])
    ri, rj = rng.integers(0, len(par), m), rng.integers(0, len(par), m)
    ok = pp[ri] != pp[rj]
    dr = _dist(par[ri[ok]], par[rj[ok]])
    print(f"  random pairs of generated faces with no parent in common: {_quantiles(dg, (0.0, 1e-4, 1e-3, 0.01, 0.5))}")
    print(f"  random pairs of their real parent faces (different persons): {_quantiles(dr, (0.0, 1e-4, 1e-3, 0.01, 0.5))}")

    # -- the gallery: generated + every real face (parents, the labelled faces: the genuine
    # side of the labelled queries, and the held-out faces: each query set's strangers)
    gallery = np.concatenate([gen, par, lab, hold])
    kind = np.concatenate([np.zeros(len(gen), np.int8), np.ones(len(par) + len(lab) + len(hold), np.int8)])
    lab_person = np.array([r["person"] for r in labelled])
    hold_person = np.array([r["person"] for r in holdout])
    person = np.concatenate([np.full(len(gen), "g"), pp, lab_person, hold_person]).astype(object)
    person[:len(gen)] = [f"g{i}" for i in range(len(gen))]
    t0 = time.perf_counter()
    index = F.FaceIndex(np.arange(len(gallery)), gallery)
    print(f"\nliteral gallery: {len(gallery):,} faces = {len(gen):,} generated + {len(par):,} real parent faces "
          f"(UTKFace 25+, Caltech, AFW adults) + {len(lab):,} labelled real faces (ORL, Yale) + {len(hold):,} "
          f"held-out real faces; FaceIndex built in {time.perf_counter() - t0:.2f} s")
    # no generated face has a query's person as a parent: queries are never parents
    assert not set(r["person"] for r in holdout) & set(pp) and not set(lab_person) & set(pp)

    def search(q: np.ndarray, self_row: int | None):
        k = 2048
        while True:
            hits = index.nearest(q, k + 1)
            if hits[-1][1] >= max(thresholds) or len(hits) >= len(gallery):
                break
            k *= 4
        return [(r, d) for r, d in hits if r != self_row]

    lat = []
    for q in hold[:200]:
        c0 = time.perf_counter()
        index.nearest(q, 20)
        lat.append(time.perf_counter() - c0)
    print(f"FaceIndex.nearest(top 20) at {len(gallery):,} faces: median {np.median(lat) * 1000:.1f} ms, "
          f"p95 {np.percentile(lat, 95) * 1000:.1f} ms wall (200 queries; {load()})")

    if args.cluster:
        literal_clusters(gallery, len(gen), pa, pb, pp, person)
    N = args.extrapolate
    base = len(gen) + len(par)
    sets = [("held-out unlabelled persons (UTKFace 25+, Caltech, AFW)", hold,
             np.arange(base + len(lab), len(gallery)), hold_person, False),
            ("labelled persons (ORL, Yale)", lab, np.arange(base, base + len(lab)), lab_person, True)]
    for name, queries, rows, qperson, labelled_set in sets:
        c0, w0 = time.process_time(), time.perf_counter()
        # a query's own row and, for a pseudo-identity (unlabelled photos closer than
        # PSEUDO_ID_DISTANCE), its other photos are neither strangers nor a known genuine pair
        res = [[(r, d) for r, d in search(q, int(rows[n])) if labelled_set or person[r] != qperson[n]]
               for n, q in enumerate(queries)]
        print(f"\n-- queries: {len(queries):,} faces of {name}; searched in {time.perf_counter() - w0:.1f} s wall, "
              f"{time.process_time() - c0:.1f} CPU-s")
        n_gen, n_real = len(gen), len(gallery) - len(gen)
        real_person, counts = np.unique(person[n_gen:].astype(str), return_counts=True)
        size_of = dict(zip(real_person, counts))
        same = np.array([size_of[p] for p in qperson])  # the query's person's real faces, itself too
        print(f"{'threshold':>9} {'false/query':>11} {'of which generated':>18} {'real':>6} {'queries >=1 false':>17} "
              f"{'FMR/pair':>9} {'95% upper':>9} {'FMR gen':>8} {'FMR real':>9} "
              f"{'extrap. @' + format(len(gallery), ',') + ' from real':>26} {'genuine rate':>12} {'rank-1':>7}")
        for t in thresholds:
            fg = np.zeros(len(queries))
            fr = np.zeros(len(queries))
            g_in = 0
            for n, hits in enumerate(res):
                for r, d in hits:
                    if d >= t:
                        break
                    if person[r] == qperson[n]:
                        g_in += 1
                    elif kind[r] == 0:
                        fg[n] += 1
                    else:
                        fr[n] += 1
            real_size = n_real - same  # other persons' real faces
            gen_pairs, g_pairs = len(queries) * n_gen, int((same - 1).sum()) if labelled_set else 0
            real_pairs = int(real_size.sum())
            fals = fg + fr
            pairs = gen_pairs + real_pairs
            fmr = fals.sum() / pairs
            fmr_real = fr.sum() / real_pairs
            rank1 = float("nan")
            if labelled_set:
                first = [hits[0] if hits else (None, 9.0) for hits in res]
                rank1 = np.mean([r is not None and d < t and person[r] == qperson[n] for n, (r, d) in enumerate(first)])
            mark = {F.SAME_PERSON: "  <- one to one", F.CLUSTER_DISTANCE: "  <- gallery"}.get(round(t, 2), "")
            print(f"{t:9.2f} {fals.mean():11.3f} {fg.mean():18.3f} {fr.mean():6.3f} {np.mean(fals > 0):17.3f} "
                  f"{fmr:9.2e} {fmr_upper(int(fals.sum()), pairs):9.2e} {fg.sum() / gen_pairs:8.2e} {fmr_real:9.2e} "
                  f"{fmr_real * len(gallery):26.3f} {g_in / g_pairs if g_pairs else float('nan'):12.3f} "
                  f"{rank1:7.3f}{mark}")
        print(f"(false/query: faces of other persons closer than the threshold, measured in the {len(gallery):,}-face "
              f"gallery; FMR gen / real: per pair against the generated / the real faces; 'extrap.': the real "
              f"faces' FMR x the gallery size, what an extrapolation from real faces alone predicts; genuine rate: "
              f"same-person pairs closer than the threshold; rank-1: the nearest face is the same person and "
              f"closer than the threshold)")
        if labelled_set:
            ranks = []
            for n, hits in enumerate(res):
                rk = next((k for k, (r, _d) in enumerate(hits) if person[r] == qperson[n]), None)
                ranks.append(rk if rk is not None else 10**9)
            ranks = np.array(ranks)
            print(f"first same-person face at rank 1: {np.mean(ranks == 0):.3f}, in the top 5: {np.mean(ranks < 5):.3f}, "
                  f"in the top 20 (`faces find` shows 20): {np.mean(ranks < 20):.3f}")
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
    n = sub.add_parser("generate", help="generated faces (morphs of two looked-at adults) for a literal gallery")
    n.add_argument("faces", help="the gallery folder of `gallery` (its embeddings cached in --work)")
    n.add_argument("--work", default="/tmp/haven-faces-bench")
    n.add_argument("--count", type=int, default=96_000, help="generated faces to plan and embed")
    n.add_argument("--holdout", type=float, default=0.2, help="share of unlabelled persons kept out as queries")
    n.add_argument("--shard", help="embed shard i of n (e.g. 0/2; run one process per shard; resumes)")
    n.add_argument("--seconds", type=float, help="stop embedding after this long (the shard file keeps what is done)")
    n.add_argument("--sheet", type=int, default=0, help="write a PNG contact sheet of N generated faces")
    n.add_argument("--sheet-from", type=int, default=0, help="the sheet's first generated face")
    lt = sub.add_parser("literal", help="false and genuine matches against the literal gallery (FaceIndex)")
    lt.add_argument("faces", help="the gallery folder of `gallery` and `generate`")
    lt.add_argument("--work", default="/tmp/haven-faces-bench")
    lt.add_argument("--holdout", type=float, default=0.2, help="as given to generate")
    lt.add_argument("--limit", type=int, help="only the first N generated faces")
    lt.add_argument("--thresholds", default="0.3,0.35,0.4,0.45,0.5,0.55,0.6")
    lt.add_argument("--extrapolate", type=int, default=100_000)
    lt.add_argument("--cluster", action="store_true",
                    help="also join every pair of the whole gallery as `faces cluster` would (a minute or more)")
    i = sub.add_parser("index", help="photos/s of haven index --parts faces per detector and worker count")
    i.add_argument("photos")
    i.add_argument("--detectors", default="hog,hog+cnn")
    i.add_argument("--workers", default="1,2")
    args = ap.parse_args()
    {"detect": run_detect, "gallery": run_gallery, "index": run_index, "generate": run_generate,
     "literal": run_literal}[args.cmd](args)


if __name__ == "__main__":
    main()
