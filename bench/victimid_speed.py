"""Victim-identification speed: indexing rate per part, and query latency at scale.

    .venv/bin/python bench/victimid_speed.py                        # defaults below
    .venv/bin/python bench/victimid_speed.py --images 100 --sizes 100000 --db-size 20000

1. Indexing: `--images` benign generated photos (bench/imagegen.py, 1024x768 JPEG, some with
   the astronaut portrait pasted in so the face detector has work) indexed by `Indexer`
   with parts metadata, scene and faces; items/s per part from `IndexStats.seconds`.
2. Scene shortlist: `--sizes` synthetic unit 512-d vectors (random, not image-derived: this
   measures the index, not retrieval quality); exact inner product (FAISS flat) and the IVF
   index `SceneIndex.build` uses from `IVF_FROM` vectors, latency per query, recall@10 of
   IVF against exact, the planted near-duplicate found at rank 1, and cache save/load.
3. Faces: `--sizes` synthetic 128-d embeddings; `FaceIndex` (exact FAISS flat) beside the
   numpy brute force of the earlier code, same queries.
4. Case database at `--db-size` items: the earlier per-query path (read every vector from
   SQLite, build, search) beside the cached index (first query builds and writes the cache,
   later queries load it).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from haven.victimid import faces as facemod  # noqa: E402
from haven.victimid import scene  # noqa: E402


def load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def _ms(times: list[float]) -> str:
    t = np.array(times) * 1000
    return f"median {np.median(t):.1f} ms, p95 {np.percentile(t, 95):.1f} ms"


# -- 1. indexing ------------------------------------------------------------------------------


def indexing(n: int, workdir: Path) -> None:
    import skimage.data as data
    from PIL import Image

    from imagegen import make_photo
    from haven.victimid.indexer import Indexer, IndexOptions
    from haven.victimid.store import VictimStore

    ev = workdir / "photos"
    ev.mkdir()
    face = Image.fromarray(data.astronaut()).resize((256, 256))
    for i in range(n):
        img = make_photo(i, 1024, 768)
        if i % 4 == 0:  # a face to detect and embed in every fourth photo
            img.paste(face, (int(100 + i % 500), 200))
        img.save(ev / f"p{i:04d}.jpg", quality=90)
    vs = VictimStore(workdir / "case", create=True)
    t0 = time.perf_counter()
    stats = Indexer(vs, IndexOptions(parts=("metadata", "scene", "faces"))).run([str(ev)])
    wall = time.perf_counter() - t0
    sec = stats.seconds
    print(f"## indexing {stats.indexed} photos 1024x768 ({load()})")
    print(f"wall {wall:.1f} s = {stats.indexed / wall:.1f} items/s overall (one process); faces found {stats.faces}")
    for part in ("read", "metadata", "scene", "faces"):
        print(f"  {part:9} {sec[part]:6.1f} s  {stats.indexed / sec[part]:7.1f} items/s" if sec[part] else f"  {part}: -")
    print(f"  (scene vocabulary + VLAD encoding of all: {wall - sum(sec.values()):.1f} s, not in the per-part times)")
    vs.close()


# -- 2. scene shortlist ----------------------------------------------------------------------


def _unit(rng, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def scene_shortlist(n: int, queries: int, workdir: Path) -> None:
    # Clustered like real collections: n/10 "scenes" of 10 views each (a scene's unit vector
    # plus noise); a query is a new view of a random scene, its scene's views are the truth.
    rng = np.random.default_rng(n)
    views = 10
    centres = _unit(rng, n // views, scene.GLOBAL_DIM)
    vecs = np.repeat(centres, views, axis=0) + 0.04 * rng.standard_normal((n, scene.GLOBAL_DIM), dtype=np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    qscene = rng.integers(0, n // views, queries)
    qs = centres[qscene] + 0.04 * rng.standard_normal((queries, scene.GLOBAL_DIM), dtype=np.float32)
    qs /= np.linalg.norm(qs, axis=1, keepdims=True)
    ids = np.arange(n, dtype=np.int64)
    print(f"## scene shortlist, {n} synthetic {scene.GLOBAL_DIM}-d vectors ({n // views} scenes x {views} views), "
          f"top 100 ({load()})")
    t0 = time.perf_counter()
    exact = scene.SceneIndex(scene.GLOBAL_DIM)
    exact._index.add(vecs)
    exact._ids = ids
    t_exact = time.perf_counter() - t0
    t0 = time.perf_counter()
    nlist = int(np.sqrt(n))
    ivf = scene.SceneIndex.build(ids, vecs, nlist=nlist)
    t_ivf = time.perf_counter() - t0
    auto = "IVF" if n >= scene.IVF_FROM else "exact"
    ex_t, ivf_t, rec10, views_ex, views_ivf = [], [], [], [], []
    results = []
    for q, sc in zip(qs, qscene):
        t0 = time.perf_counter()
        e = exact.search(q, 100)
        ex_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        v = ivf.search(q, 100)
        ivf_t.append(time.perf_counter() - t0)
        results.append(e)
        rec10.append(len({i for i, _ in e[:10]} & {i for i, _ in v[:10]}) / 10)
        views_ex.append(sum(i // views == sc for i, _ in e[:10]) / views)
        views_ivf.append(sum(i // views == sc for i, _ in v[:10]) / views)
    print(f"exact (IndexFlatIP): build {t_exact:.1f} s; query {_ms(ex_t)}; the scene's views in the top 10: "
          f"{np.mean(views_ex):.3f}")
    print(f"IVF (nlist {nlist}, nprobe {ivf._index.nprobe}): build {t_ivf:.1f} s; query {_ms(ivf_t)}; "
          f"recall@10 vs exact {np.mean(rec10):.3f}; the scene's views in the top 10: {np.mean(views_ivf):.3f}")
    chosen = ivf._index.nprobe
    for nprobe in (nlist // 16, nlist // 2):
        ivf._index.nprobe = nprobe
        t, r = [], []
        for q, e in zip(qs, results):
            t0 = time.perf_counter()
            v = ivf.search(q, 100)
            t.append(time.perf_counter() - t0)
            r.append(len({i for i, _ in e[:10]} & {i for i, _ in v[:10]}) / 10)
        print(f"  IVF with nprobe {nprobe}: query {_ms(t)}; recall@10 vs exact {np.mean(r):.3f}")
    ivf._index.nprobe = chosen
    print(f"haven uses {auto} at this size (IVF from {scene.IVF_FROM})")
    used = ivf if auto == "IVF" else exact
    path = workdir / f"scene-{n}.index"
    t0 = time.perf_counter()
    used.save(path)
    t_save = time.perf_counter() - t0
    t0 = time.perf_counter()
    back = scene.SceneIndex.load(path)
    t_load = time.perf_counter() - t0
    assert back.search(qs[0], 5) == used.search(qs[0], 5)
    print(f"cache of the {auto} index: {path.stat().st_size / 1e9:.2f} GB, save {t_save:.1f} s, load {t_load:.1f} s")
    path.unlink()
    path.with_name(path.name + ".ids.npy").unlink()


# -- 3. faces ---------------------------------------------------------------------------------


def _embeddings(rng, n: int) -> np.ndarray:
    # dlib embeddings have norm ~1 and unrelated faces sit ~0.9-1.2 apart
    return (_unit(rng, n, 128) * 0.65).astype(np.float32)


def faces_find(n: int, queries: int) -> None:
    rng = np.random.default_rng(n + 1)
    mat = _embeddings(rng, n)
    planted = rng.integers(0, n, queries)
    qs = mat[planted] + 0.02 * rng.standard_normal((queries, 128), dtype=np.float32)
    ids = np.arange(n, dtype=np.int64)
    print(f"## find this face, {n} synthetic 128-d embeddings, top 20 ({load()})")
    t0 = time.perf_counter()
    index = facemod.FaceIndex(ids, mat)
    t_build = time.perf_counter() - t0
    ft, nt, same = [], [], 0
    for q, p in zip(qs, planted):
        t0 = time.perf_counter()
        hits = index.nearest(q, 20)
        ft.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        dist = np.linalg.norm(mat - q[None, :], axis=1)  # the earlier code's computation
        order = np.argsort(dist)[:20]
        nt.append(time.perf_counter() - t0)
        same += [i for i, _ in hits] == order.tolist() and hits[0][0] == p
    print(f"FaceIndex (FAISS flat, exact): build {t_build:.2f} s; query {_ms(ft)}")
    print(f"numpy brute force (norm + argsort): query {_ms(nt)}; identical top 20 with the planted face first: "
          f"{same}/{queries}")


# -- 4. case database -------------------------------------------------------------------------


def case_database(n: int, queries: int, workdir: Path) -> None:
    from sqlalchemy import insert, select

    from haven.store.case import utcnow
    from haven.victimid.models import FaceRow, MediaRow, SceneRow, VocabularyRow
    from haven.victimid.search import SceneSearch, find_face
    from haven.victimid.store import VictimStore

    rng = np.random.default_rng(7)
    vs = VictimStore(workdir / "bigcase", create=True)
    vecs = _unit(rng, n, scene.GLOBAL_DIM)
    embs = _embeddings(rng, n)
    now = utcnow()
    t0 = time.perf_counter()
    with vs.session() as s, s.begin():
        s.add(VocabularyRow(extractor=scene.default_extractor().name, k=scene.VOCAB_K, trained_on=0, created_at=now,
                            centroids=rng.random((scene.VOCAB_K, scene.DESCRIPTOR_BYTES), dtype=np.float32).tobytes()))
        for lo in range(0, n, 20_000):
            hi = min(n, lo + 20_000)
            s.execute(insert(MediaRow), [dict(id=i + 1, path=f"seizure/img{i:07d}.jpg", sha256=f"{i:064x}", md5="0" * 32,
                                              sha1="0" * 40, size=1, media="image", meta={}, parts={}, errors={},
                                              indexed_at=now) for i in range(lo, hi)])
            s.execute(insert(SceneRow), [dict(media_id=i + 1, extractor="synthetic", keypoints=b"", descriptors=b"",
                                              vector=vecs[i].tobytes()) for i in range(lo, hi)])
            s.execute(insert(FaceRow), [dict(id=i + 1, media_id=i + 1, model="synthetic", left=0, top=0, right=1,
                                             bottom=1, embedding=embs[i].tobytes()) for i in range(lo, hi)])
    print(f"## case database with {n} media, scene vectors and faces (filled in {time.perf_counter() - t0:.0f} s; {load()})")

    def earlier_scene_query(q):  # the earlier SceneSearch: every vector from SQLite, built per query
        with vs.session() as s:
            rows = s.execute(select(SceneRow.media_id, SceneRow.vector).where(SceneRow.vector.is_not(None))).all()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        mat = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
        return scene.SceneIndex.build(ids, mat).search(q, 100)

    def earlier_face_query(q):  # the earlier find_face: every FaceRow through the ORM, numpy
        with vs.session() as s:
            rows = s.execute(select(FaceRow, MediaRow.path).join(MediaRow, MediaRow.id == FaceRow.media_id)
                             .where(FaceRow.model == "synthetic")).all()
        mat = np.stack([np.frombuffer(r[0].embedding, dtype=np.float32) for r in rows])
        return np.argsort(np.linalg.norm(mat - q[None, :], axis=1))[:20]

    k = min(queries, 3)
    t = []
    for q in vecs[:k]:
        t0 = time.perf_counter()
        earlier_scene_query(q)
        t.append(time.perf_counter() - t0)
    print(f"scene, earlier path (SQLite -> index per query): {_ms(t)}")
    t0 = time.perf_counter()
    first = SceneSearch(vs)
    t_first = time.perf_counter() - t0
    t = []
    for q in vecs[:queries]:
        t0 = time.perf_counter()
        SceneSearch(vs).index.search(q, 100)  # a new search object per query, as each CLI call makes
        t.append(time.perf_counter() - t0)
    assert first.index.search(vecs[5], 1)[0][0] == 6
    print(f"scene, cached: first query builds + writes the cache {t_first:.1f} s; later queries "
          f"(open the store, load the cache, search) {_ms(t)}")
    t = []
    for q in embs[:k]:
        t0 = time.perf_counter()
        earlier_face_query(q)
        t.append(time.perf_counter() - t0)
    print(f"faces, earlier path (ORM rows + numpy per query): {_ms(t)}")
    t0 = time.perf_counter()
    find_face(vs, embedding=embs[0], model="synthetic")
    t_first = time.perf_counter() - t0
    t = []
    for q in embs[:queries]:
        t0 = time.perf_counter()
        hits = find_face(vs, embedding=q, model="synthetic", max_distance=0.5)
        t.append(time.perf_counter() - t0)
    assert hits[0].distance < 1e-3
    print(f"faces, cached find_face: first {t_first:.1f} s (builds the cache); later {_ms(t)}")
    vs.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=200, help="photos to index (0: skip)")
    ap.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    ap.add_argument("--db-size", type=int, default=100_000, help="items in the case database test (0: skip)")
    ap.add_argument("--queries", type=int, default=30)
    args = ap.parse_args()
    print(f"cores {os.cpu_count()}; FAISS threads {__import__('faiss').omp_get_max_threads()}; "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '-')}; {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.images:
            indexing(args.images, tmp)
        for n in args.sizes:
            scene_shortlist(n, args.queries, tmp)
        for n in args.sizes:
            faces_find(n, args.queries)
        if args.db_size:
            case_database(args.db_size, args.queries, tmp)
    print(f"done ({load()})")


if __name__ == "__main__":
    main()
