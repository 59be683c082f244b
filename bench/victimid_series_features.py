"""Which local features could let series join more same-place pairs at the same precision?

    nice .venv/bin/python bench/victimid_series_features.py DATA [DATA ...] --cache DIR
        [--methods rootsift vgg boost teblid gms] [--distractors 150]

DATA has the layout of bench/victimid_realscene.py (`places/<place>/<photo>`, `distractors/**`),
brought for local evaluation only (never committed). For every method, on the same SIFT
keypoints haven extracts (1,500 at a 1,024-px long side):

- true pairs: every pair of photos of one place;
- chance pairs: every place photo against `--distractors` distractors drawn at random (seed 0);
- each pair matched (mutual nearest neighbours + Lowe ratio 0.8) and both models fitted with
  haven's own checks (`scene._homography_inliers`, `scene._fundamental_inliers`, MAGSAC++).

Printed per method: the chance maximum of homography and fundamental-matrix inliers, and the
true pairs above every chance pair (what a link threshold can join without joining chance
pairs: the ceiling of series pair recall at precision 1 on these pairs), with CPU time per
photo for the descriptors and per pair for matching. `rootsift` is haven's shipped matching
(the baseline of this bench, same run).

Methods beyond RootSIFT need OpenCV's contrib modules (`cv2.xfeatures2d`: VGG, BoostDesc and
TEBLID, whose learned weights are compiled into the library; GMS grid matching); a method the
installed OpenCV lacks is reported and skipped. Descriptors are cached per photo in --cache.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import time
from pathlib import Path

import cv2
import numpy as np

from haven.victimid import scene
from haven.victimid.search import image_pixels

IMAGE_EXT = {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".tif", ".tiff", ".webp"}
# Keypoint scale factors the OpenCV documentation gives for SIFT keypoints.
SCALE = {"vgg": 6.25, "boost": 6.25, "teblid": 6.75}


def images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXT)


# Methods that detect their own keypoints (not haven's 1,500 SIFT keypoints); all in plain
# OpenCV: denser SIFT (more features, a lower contrast threshold, a larger image), ASIFT
# (`cv2.AffineFeature` over SIFT: simulated tilts for extreme viewpoints) and AKAZE (binary).
OWN = {
    "sift4k": lambda: (cv2.SIFT_create(nfeatures=4000, contrastThreshold=0.02), 1600),
    "asift": lambda: (cv2.AffineFeature_create(cv2.SIFT_create(nfeatures=1500), maxTilt=3), 1024),
    "akaze": lambda: (cv2.AKAZE_create(threshold=0.0005), 1024),
}
UNIONS = {"rootsift+akaze": ("rootsift", "akaze"), "rootsift+asift": ("rootsift", "asift")}


def describers() -> dict:
    x = getattr(cv2, "xfeatures2d", None)
    # AKAZE is in OpenCV 4's main package, in the contrib modules of OpenCV 5
    own = {k: None for k in OWN if k != "akaze" or hasattr(cv2, "AKAZE_create")}
    unions = {k: None for k, parts in UNIONS.items() if all(p in own or p == "rootsift" for p in parts)}
    out = {"rootsift": None, **own, **unions}
    if x is not None:
        out["vgg"] = lambda: x.VGG_create(scale_factor=SCALE["vgg"])
        out["boost"] = lambda: x.BoostDesc_create(scale_factor=SCALE["boost"])
        out["teblid"] = lambda: x.TEBLID_create(SCALE["teblid"], x.TEBLID_SIZE_512_BITS)
        out["gms"] = None  # RootSIFT descriptors, GMS grid statistics instead of the ratio test
    return out


def extract(path: Path, method: str, cache: Path, makers: dict) -> tuple[np.ndarray, np.ndarray, tuple]:
    """(keypoints xy in the scaled frame, descriptors, image size) for one photo."""
    key = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]
    base = "rootsift" if method == "gms" else method
    f = cache / f"{key}-{base}.npz"
    if f.exists():
        z = np.load(f)
        return z["pts"], z["desc"], tuple(z["size"])
    if base in OWN:
        det, side = OWN[base]()
        rgb = image_pixels(path.read_bytes())
        gray = scene.to_gray(rgb, side)
        # haven's frame: the long side scaled (down only) to 1,024 px
        factor = min(1.0, 1024 / max(rgb.shape[:2])) / min(1.0, side / max(rgb.shape[:2]))
        kps, desc = det.detectAndCompute(gray, None)
        if desc is not None and desc.dtype != np.uint8:
            desc = scene.rootsift(np.clip(np.rint(desc), 0, 255).astype(np.uint8))
        if desc is None or not kps:
            pts, desc = np.empty((0, 2), np.float32), np.empty((0, 1), np.float32)
        else:
            # every method's points in the 1,024-px frame, so the models' pixel thresholds agree
            pts = np.array([k.pt for k in kps], dtype=np.float32) * np.float32(factor)
        size = np.array([round(v * factor) for v in gray.shape[::-1]])
        np.savez(f, pts=pts, desc=desc, size=size)
        return pts, desc, tuple(size)
    gray = scene.to_gray(image_pixels(path.read_bytes()))
    sift = cv2.SIFT_create(nfeatures=scene.N_FEATURES)
    kps = sift.detect(gray, None)
    if base == "rootsift":
        kps, desc = sift.compute(gray, kps)
        desc = scene.rootsift(np.clip(np.rint(desc), 0, 255).astype(np.uint8)) if desc is not None else None
    else:
        kps, desc = makers[base]().compute(gray, kps)
    if desc is None or not kps:
        pts, desc = np.empty((0, 2), np.float32), np.empty((0, 1), np.float32)
    else:
        pts = np.array([k.pt for k in kps], dtype=np.float32)
    if desc.dtype != np.uint8:
        desc = desc.astype(np.float32)
        desc /= np.maximum(np.linalg.norm(desc, axis=1, keepdims=True), 1e-12)
    np.savez(f, pts=pts, desc=desc, size=np.array(gray.shape[::-1]), sizes=np.array([k.size for k in kps] if kps else []),
             angles=np.array([k.angle for k in kps] if kps else []))
    return pts, desc, gray.shape[::-1]


def match(method: str, a: tuple, b: tuple) -> np.ndarray:
    (pa, da, sa), (pb, db, sb) = a, b
    if len(da) < 2 or len(db) < 2:
        return np.empty((0, 2), np.int64)
    if da.dtype == np.uint8:  # binary descriptors: Hamming, mutual + ratio
        bf = cv2.BFMatcher(cv2.NORM_HAMMING)
        fwd = bf.knnMatch(da, db, k=2)
        back = {m[0].queryIdx: m[0].trainIdx for m in bf.knnMatch(db, da, k=1) if m}
        rows = [(m[0].queryIdx, m[0].trainIdx) for m in fwd
                if len(m) == 2 and m[0].distance < 0.8 * m[1].distance and back.get(m[0].trainIdx) == m[0].queryIdx]
        return np.array(rows, np.int64).reshape(-1, 2)
    if method == "gms":
        bf = cv2.BFMatcher(cv2.NORM_L2, crossCheck=True)
        raw = bf.match(da, db)
        ka = [cv2.KeyPoint(float(x), float(y), 1) for x, y in pa]
        kb = [cv2.KeyPoint(float(x), float(y), 1) for x, y in pb]
        good = cv2.xfeatures2d.matchGMS(tuple(int(v) for v in sa), tuple(int(v) for v in sb), ka, kb, raw,
                                        withRotation=True, withScale=True, thresholdFactor=6)
        return np.array([(m.queryIdx, m.trainIdx) for m in good], np.int64).reshape(-1, 2)
    return scene.match_descriptors(np.ascontiguousarray(da), np.ascontiguousarray(db))


def models(method: str, a: tuple, b: tuple) -> tuple[int, int]:
    if method in UNIONS:  # each part matched on its own; the correspondences pooled for the models
        src, dst = [], []
        for part, fa, fb in zip(UNIONS[method], a, b):
            pairs = match(part, fa, fb)
            src.append(fa[0][pairs[:, 0]])
            dst.append(fb[0][pairs[:, 1]])
        src, dst = np.ascontiguousarray(np.vstack(src)), np.ascontiguousarray(np.vstack(dst))
    else:
        pairs = match(method, a, b)
        src = np.ascontiguousarray(a[0][pairs[:, 0]])
        dst = np.ascontiguousarray(b[0][pairs[:, 1]])
    if len(src) < 8:
        return 0, 0
    return scene._homography_inliers(src, dst), scene._fundamental_inliers(src, dst)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path, nargs="+")
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--methods", nargs="+", default=["rootsift", "vgg", "boost", "teblid", "gms"])
    ap.add_argument("--distractors", type=int, default=150)
    ap.add_argument("--out", type=Path, help="write every pair's inliers here (npz) for offline analysis")
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    makers = describers()
    true_pairs, chance_pairs = [], []
    for data in args.data:
        places = {d.name: images(d) for d in sorted((data / "places").iterdir()) if d.is_dir()}
        places = {k: v for k, v in places.items() if len(v) >= 2}
        rng = random.Random(0)
        dis = images(data / "distractors")
        dis = rng.sample(dis, min(args.distractors, len(dis)))
        for files in places.values():
            true_pairs += [(a, b) for i, a in enumerate(files) for b in files[i + 1:]]
            chance_pairs += [(a, d) for a in files for d in dis]
    print(f"# {len(true_pairs)} true pairs, {len(chance_pairs)} chance pairs; load {' '.join(f'{x:.1f}' for x in __import__('os').getloadavg())}")
    saved = {}
    for method in args.methods:
        if method not in makers:
            print(f"{method:9} skipped: this OpenCV has no cv2.xfeatures2d (opencv-contrib)")
            continue
        photos = sorted({p for pair in true_pairs + chance_pairs for p in pair})
        c0 = time.process_time()
        if method in UNIONS:
            feats = {p: tuple(extract(p, part, args.cache, makers) for part in UNIONS[method]) for p in photos}
        else:
            feats = {p: extract(p, method, args.cache, makers) for p in photos}
        c_ext = time.process_time() - c0
        c0 = time.process_time()
        t = np.array([models(method, feats[a], feats[b]) for a, b in true_pairs]).reshape(-1, 2)
        c = np.array([models(method, feats[a], feats[b]) for a, b in chance_pairs]).reshape(-1, 2)
        c_match = time.process_time() - c0
        mh, mf = c.max(axis=0)
        above = int(((t[:, 0] > mh) | (t[:, 1] > mf)).sum())
        print(f"{method:9} chance max H {mh:3d} F {mf:3d} | true pairs above every chance pair {above:3d} of {len(t)} "
              f"({above / max(len(t), 1):.3f}) | true median H {int(np.median(t[:, 0]))} F {int(np.median(t[:, 1]))} | "
              f"CPU {1000 * c_ext / max(len(photos), 1):.0f} ms/photo (cached: 0), "
              f"{1000 * c_match / max(len(t) + len(c), 1):.1f} ms/pair")
        saved[f"{method}_true"], saved[f"{method}_chance"] = t, c
        if args.out:  # after every method: a long run stopped early keeps what it measured
            np.savez(args.out, **saved)
    if len(saved) > 2:
        # Two methods together: a pair joins when either method puts it above all its chance pairs.
        names = [k[:-5] for k in saved if k.endswith("_true")]
        for i, m1 in enumerate(names):
            for m2 in names[i + 1:]:
                above = np.zeros(len(true_pairs), bool)
                for m in (m1, m2):
                    t, c = saved[f"{m}_true"], saved[f"{m}_chance"]
                    above |= (t[:, 0] > c[:, 0].max()) | (t[:, 1] > c[:, 1].max())
                print(f"{m1} or {m2}: true pairs above every chance pair of either {int(above.sum())} of {len(above)}")


if __name__ == "__main__":
    main()
