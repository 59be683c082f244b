"""Smaller scene descriptors: does same-scene search keep its recall with fewer bytes per image?

    PYTHONPATH=src .venv/bin/python bench/victimid_compact.py DATA WORK [--dims 64 32]

DATA is a real-photo evaluation folder as bench/victimid_realscene.py takes it (places/<place>/
with the query first by name, distractors/), WORK that bench's kept `--work` directory (its
case already indexed, queries left out). For each setting every query runs through
`SceneSearch.find`, the shipped path, with the descriptor matching of the verification fed
compacted descriptors instead of the stored RootSIFT: a PCA to `dims` dimensions (trained on
200,000 of the case's own RootSIFT descriptors), each value quantised to int8 (what a store
would keep: `dims` bytes a descriptor instead of 128), renormalised. The shortlist (VLAD) is
left as it is. Prints recall@5 and MRR per setting, the matching CPU per query, and the bytes
per image the descriptors and keypoints would take.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from sqlalchemy import select

from haven.victimid import scene
from haven.victimid.models import SceneRow
from haven.victimid.search import SceneSearch, image_pixels
from haven.victimid.store import VictimStore

IMAGE_EXT = {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".tif", ".tiff", ".webp"}


def images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXT)


def compactor(train: np.ndarray, dims: int):
    """RootSIFT (unit rows) -> PCA `dims` -> int8 -> float, unit rows."""
    mean = train.mean(axis=0)
    _u, _s, vt = np.linalg.svd(train - mean, full_matrices=False)
    basis = vt[:dims].T.astype(np.float32)
    scale = np.float32(127 / np.abs((train - mean) @ basis).max())

    def apply(x: np.ndarray) -> np.ndarray:
        q = np.clip(np.rint((x - mean) @ basis * scale), -127, 127).astype(np.int8)  # what is stored
        y = q.astype(np.float32)
        n = np.linalg.norm(y, axis=1, keepdims=True)
        return np.divide(y, n, out=np.zeros_like(y), where=n > 0)

    return apply


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path)
    ap.add_argument("work", type=Path)
    ap.add_argument("--dims", type=int, nargs="*", default=[64, 32])
    args = ap.parse_args()
    places = {d.name: images(d) for d in sorted((args.data / "places").iterdir()) if d.is_dir()}
    places = {k: v for k, v in places.items() if len(v) >= 2}
    vs = VictimStore(args.work / "case")
    media = {Path(m.path).as_posix(): m.id for m in vs.all_media()}
    place_of = {mid: rel.split("/")[2] for rel, mid in media.items() if rel.split("/")[1:2] == ["places"]}
    with vs.session() as s:
        blobs = [b for (b,) in s.execute(select(SceneRow.descriptors))]
    desc = np.concatenate([np.frombuffer(b, np.uint8).reshape(-1, 128) for b in blobs])
    rng = np.random.default_rng(0)
    train = scene.rootsift(desc[rng.permutation(len(desc))[:200_000]])
    per_image = len(desc) / len(blobs)
    print(f"# {args.data}: {len(places)} queries, {len(media)} indexed photos, {per_image:.0f} features per photo "
          f"on average; load average {os.getloadavg()[0]:.1f}")
    queries = {name: image_pixels(files[0].read_bytes()) for name, files in places.items()}
    search = SceneSearch(vs)
    scene.VERIFY_THREADS = 1  # one thread: the matching CPU below is summed without races
    original = scene.match_descriptors
    print("| descriptor | bytes per image (descriptors + keypoints) | recall@5 | MRR | matching CPU per query |")
    print("|---|---|---|---|---|")
    for dims in [128, *args.dims]:
        squeeze = None if dims == 128 else compactor(train, dims)
        spent = [0.0]

        def match(q, c, ratio=0.8, squeeze=squeeze):
            t0 = time.thread_time()
            if squeeze is not None:
                q, c = squeeze(q), squeeze(c)
            out = original(q, c, ratio)
            spent[0] += time.thread_time() - t0
            return out

        scene.match_descriptors = match
        firsts = []
        try:
            for name, rgb in queries.items():
                hits = search.find(rgb, top=20)
                relevant = {m for m, p in place_of.items() if p == name}
                firsts.append(next((k for k, h in enumerate(hits) if h.media_id in relevant), None))
        finally:
            scene.match_descriptors = original
        r5 = np.mean([f is not None and f < 5 for f in firsts])
        mrr = np.mean([1 / (f + 1) if f is not None else 0 for f in firsts])
        size = per_image * ((dims if dims < 128 else 128) + 8)
        what = "RootSIFT as stored (uint8 SIFT)" if dims == 128 else f"PCA-{dims} RootSIFT, int8"
        print(f"| {what} | {size / 1000:.0f} KB | {r5:.3f} | {mrr:.3f} | {spent[0] / len(queries) * 1000:.0f} ms |",
              flush=True)
    print(f"# load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
