"""Same-scene search benchmark: mAP and recall@10 of haven's scene search beside PDQ ranking.

Scenes: scikit-image's bundled photos plus procedural rooms (haven.victimid.synth). Each scene
is "photographed" `--views` times (crop, perspective warp, lighting, objects in front); the
first photo of each scene is the query, the others are the relevant items in a database that
also holds every other scene's photos and `--distractors` single photos of unrelated rooms.

    .venv/bin/python bench/victimid_scene.py                 # quality + 100k latency
    .venv/bin/python bench/victimid_scene.py --rooms 40 --views 5 --large 0

Large-scale latency uses synthetic unit vectors (random, not image-derived) of the same
dimension as the real global descriptors; it measures the index, not retrieval quality.
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

import numpy as np
from PIL import Image

from haven.signals.pdq import hamming, pdq_from_image
from haven.victimid import scene
from haven.victimid.synth import make_room, photograph

_SKIMAGE = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field",
            "retina", "colorwheel")


def scenes(n_rooms: int) -> list[Image.Image]:
    import skimage.data as data

    out = []
    for name in _SKIMAGE:
        arr = getattr(data, name)()
        img = Image.fromarray(arr).convert("RGB")
        out.append(img.resize((img.width * 2, img.height * 2)) if img.width < 700 else img)
    out += [make_room(1000 + i) for i in range(n_rooms)]
    return out


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def average_precision(ranked: list[int], relevant: set[int]) -> float:
    hits, total = 0, 0.0
    for pos, ident in enumerate(ranked, start=1):
        if ident in relevant:
            hits += 1
            total += hits / pos
    return total / len(relevant) if relevant else 0.0


def quality(args) -> None:
    rng = np.random.default_rng(0)
    base = scenes(args.rooms)
    photos: list[tuple[int, Image.Image]] = []
    for sid, img in enumerate(base):
        for v in range(args.views):
            photos.append((sid, _jpeg(photograph(img, sid * 100 + v), int(rng.integers(70, 92)))))
    for d in range(args.distractors):
        photos.append((-1 - d, _jpeg(photograph(make_room(50_000 + d), d), 85)))
    ext = scene.default_extractor()
    t0 = time.perf_counter()
    feats = [ext.extract(np.asarray(img)) for _, img in photos]
    t_feat = time.perf_counter() - t0
    sample = np.concatenate([f.descriptors for f in feats])
    sample = sample[rng.permutation(len(sample))[:100_000]]
    t0 = time.perf_counter()
    vocab = scene.Vocabulary.train(sample)
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    vectors = np.stack([vocab.encode(f.descriptors) for f in feats])
    t_enc = time.perf_counter() - t0
    pdqs = [pdq_from_image(img).hex for _, img in photos]

    queries = [i for i, (sid, _) in enumerate(photos) if sid >= 0 and i % args.views == 0]
    db = [i for i in range(len(photos)) if i not in set(queries)]
    index = scene.SceneIndex.build(np.array(db), vectors[db])
    results = {"scene (VLAD only)": [], "scene (VLAD + RANSAC)": [], "PDQ distance": []}
    latencies = []
    for q in queries:
        relevant = {i for i in db if photos[i][0] == photos[q][0]}
        t0 = time.perf_counter()
        hits = scene.rank(feats[q], vocab, index, lambda i: feats[i], shortlist=len(db), verify_top=args.verify)
        latencies.append(time.perf_counter() - t0)
        ranked = [h.media_id for h in hits]
        by_vlad = [h.media_id for h in sorted(hits, key=lambda h: -h.similarity)]
        by_pdq = sorted(db, key=lambda i: hamming(pdqs[q], pdqs[i]))
        for name, r in (("scene (VLAD + RANSAC)", ranked), ("scene (VLAD only)", by_vlad), ("PDQ distance", by_pdq)):
            results[name].append((average_precision(r, relevant), len(set(r[:10]) & relevant) / len(relevant)))
    print(f"scenes {len(base)} ({len(_SKIMAGE)} skimage + {args.rooms} rooms), {args.views} photos each, "
          f"{args.distractors} distractors; queries {len(queries)}, database {len(db)}")
    print(f"{'method':24} {'mAP':>6} {'recall@10':>10}")
    for name, vals in results.items():
        a = np.array(vals)
        print(f"{name:24} {a[:, 0].mean():6.3f} {a[:, 1].mean():10.3f}")
    n = len(photos)
    print(f"feature extraction {n / t_feat:.1f} images/s (RootSIFT, 1 core, decoded 800 px photos); "
          f"VLAD encoding {n / t_enc:.0f}/s; vocabulary training {t_train:.1f} s")
    lat = np.array(latencies) * 1000
    print(f"query (shortlist + RANSAC on top {args.verify}) median {np.median(lat):.0f} ms, p95 {np.percentile(lat, 95):.0f} ms")


def latency(n: int) -> None:
    rng = np.random.default_rng(1)
    vecs = rng.standard_normal((n, scene.GLOBAL_DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    t0 = time.perf_counter()
    index = scene.SceneIndex.build(np.arange(n), vecs)
    t_build = time.perf_counter() - t0
    qs = vecs[rng.integers(0, n, 50)] + 0.05 * rng.standard_normal((50, scene.GLOBAL_DIM)).astype(np.float32)
    times = []
    for q in qs:
        t0 = time.perf_counter()
        index.search(q / np.linalg.norm(q), 100)
        times.append(time.perf_counter() - t0)
    t = np.array(times) * 1000
    kind = type(index._index).__name__
    print(f"{n} synthetic {scene.GLOBAL_DIM}-d vectors ({kind}): build {t_build:.1f} s, "
          f"shortlist query median {np.median(t):.1f} ms, p95 {np.percentile(t, 95):.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rooms", type=int, default=24)
    ap.add_argument("--views", type=int, default=5)
    ap.add_argument("--distractors", type=int, default=60)
    ap.add_argument("--verify", type=int, default=50)
    ap.add_argument("--large", type=int, nargs="*", default=[100_000], help="synthetic index sizes (0: skip)")
    args = ap.parse_args()
    quality(args)
    for n in args.large:
        if n:
            latency(n)


if __name__ == "__main__":
    main()
