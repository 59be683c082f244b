"""Victim-identification speed: indexing rate per part, and query latency at scale.

    .venv/bin/python bench/victimid_speed.py                        # defaults below
    .venv/bin/python bench/victimid_speed.py --images 100 --sizes 100000 --db-size 20000

    .venv/bin/python bench/victimid_speed.py --images 0 --sizes --db-size 0 \
        --scale 1000 10000 100000 --scale-photos PHOTOS --workdir /var/tmp   # section 5 only

1. Indexing: `--images` benign generated photos (bench/imagegen.py, 1024x768 JPEG, some with
   the astronaut portrait pasted in so the face detector has work) indexed by `Indexer`
   with parts metadata, scene, faces and thumbs, once per `--workers` value (default: one
   process, then every core), each into a new case; wall, CPU of all processes, and items/s
   per part from `IndexStats.seconds`.
2. Scene shortlist: `--sizes` synthetic unit 512-d vectors (random, not image-derived: this
   measures the index, not retrieval quality); exact inner product (FAISS flat) and the IVF
   index `SceneIndex.build` uses from `IVF_FROM` vectors, latency per query, recall@10 of
   IVF against exact, the planted near-duplicate found at rank 1, and cache save/load.
3. Faces: `--sizes` synthetic 128-d embeddings; `FaceIndex` (exact FAISS flat) beside the
   numpy brute force of the earlier code, same queries.
4. Case database at `--db-size` items: the earlier per-query path (read every vector from
   SQLite, build, search) beside the cached index (first query builds and writes the cache,
   later queries load it), and `haven victimid faces find --face N --json` run as a
   subprocess (the whole command: start-up, store, cache, search).
5. Scene query latency against the case size (`--scale`): a case filled to each size with
   real RootSIFT features (of generated photos, of the real benign photos in
   `--scale-photos`, and two views of each generated room) and, beyond those, perturbed
   copies of the photos' features (see `query_scale`); a third view of each room is the
   query. The first query after each growth (it builds the search cache), queries from a new
   `SceneSearch` each, and `haven victimid scene` run as a subprocess.
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


def indexing(n: int, workdir: Path, workers: list[int]) -> None:
    import resource

    import skimage.data as data
    from PIL import Image

    from imagegen import make_photo
    from haven.victimid.indexer import Indexer, IndexOptions, worker_count
    from haven.victimid.store import VictimStore

    ev = workdir / "photos"
    ev.mkdir()
    face = Image.fromarray(data.astronaut()).resize((256, 256))
    for i in range(n):
        img = make_photo(i, 1024, 768)
        if i % 4 == 0:  # a face to detect and embed in every fourth photo
            img.paste(face, (int(100 + i % 500), 200))
        img.save(ev / f"p{i:04d}.jpg", quality=90)
    parts = ("metadata", "scene", "faces", "thumbs")
    print(f"## indexing {n} generated photos 1024x768, parts {','.join(parts)} ({load()})")
    print("| workers | wall | items/s | CPU s, all processes | " + " | ".join(f"{p} items/s" for p in ("read", *parts))
          + " | load |")
    print("|---|---|---|---|" + "---|" * (len(parts) + 2))
    for w in workers:
        vs = VictimStore(workdir / f"case-w{w}", create=True)
        self_before = resource.getrusage(resource.RUSAGE_SELF)
        kids_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        stats = Indexer(vs, IndexOptions(parts=parts, workers=w)).run([str(ev)])
        wall = time.perf_counter() - t0
        cpu = sum(getattr(after, f) - getattr(before, f)
                  for after, before in ((resource.getrusage(resource.RUSAGE_SELF), self_before),
                                        (resource.getrusage(resource.RUSAGE_CHILDREN), kids_before))
                  for f in ("ru_utime", "ru_stime"))
        sec = stats.seconds
        rates = " | ".join(f"{stats.indexed / sec[p]:.1f}" if sec.get(p) else "-" for p in ("read", *parts))
        print(f"| {worker_count(w)} | {wall:.1f} s | {stats.indexed / wall:.2f} | {cpu:.1f} | {rates} | {load()} |",
              flush=True)
        assert stats.indexed == n and stats.faces >= n // 4 * 0.8, (stats.indexed, stats.faces)
        vs.close()
    print("(items/s per part: items over the CPU seconds of that part, summed over the workers: what one "
          "core does; the CPU column adds start-up, the case database, vocabulary training and VLAD encoding)")


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
    runs = [_cli_run(["victimid", "faces", "find", "--case", str(workdir / "bigcase"), "--face", str(i + 1),
                      "--max-distance", "2", "--json"]) for i in range(min(queries, 5))]
    assert all(len(r[2]) == 20 and i + 1 not in {h["face_id"] for h in r[2]} for i, r in enumerate(runs))
    print(f"faces, `haven victimid faces find --face N --json` as a new process, {len(runs)} runs: "
          f"median {1000 * float(np.median([r[0] for r in runs])):.0f} ms wall "
          f"(max {1000 * max(r[0] for r in runs):.0f}), median {1000 * float(np.median([r[1] for r in runs])):.0f} ms CPU")


# -- 5. query latency against the index size -------------------------------------------------


def _real_images(folder: Path | None, limit: int) -> list[Path]:
    if folder is None:
        return []
    ext = {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".tif", ".tiff", ".webp"}
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in ext)[:limit]


def _perturbed(f: scene.Features, rng, with_keep: bool = False):
    """A synthetic index entry from real features: 70-95 % of the keypoints kept, moved by a
    random similarity transform (another framing), every descriptor value jittered by up
    to +-6 (of 0-255). Same size and kind of data as an indexed photo, verified the same way."""
    keep = rng.random(len(f.descriptors)) < rng.uniform(0.7, 0.95)
    th, sc = rng.uniform(-0.2, 0.2), rng.uniform(0.8, 1.25)
    rot = sc * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]], np.float32)
    kp = (f.keypoints[keep] @ rot.T + rng.uniform(-60, 60, 2)).astype(np.float32)
    d = f.descriptors[keep].astype(np.int16) + rng.integers(-6, 7, (int(keep.sum()), f.descriptors.shape[1]))
    out = scene.Features(f.extractor, kp, np.clip(d, 0, 255).astype(np.uint8))
    return (out, keep) if with_keep else out


def _cli(case: Path, image: Path) -> tuple[float, float, list]:
    """(wall s, CPU s of the child, hits) of `haven victimid scene --json` as a new process."""
    return _cli_run(["victimid", "scene", "--case", str(case), str(image), "--json"])


def _cli_run(args: list[str]) -> tuple[float, float, list]:
    """(wall s, CPU s of the child, parsed JSON output) of `haven ARGS` as a new process."""
    import json
    import resource
    import subprocess

    exe = Path(sys.executable).parent / "haven"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "from haven.cli import app; app()"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run([*cmd, *args], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, json.loads(out.stdout)


def query_scale(sizes: list[int], base_images: int, photos: Path | None, rooms: int, cli_queries: int,
                workdir: Path) -> None:
    """Scene query latency as the case grows to each of `sizes` indexed images.

    Real features (RootSIFT, as `haven index` extracts them) of `base_images` generated photos
    (bench/imagegen.py) and of the photos in `photos` (a folder of real benign photographs,
    optional), plus two views each of `rooms` generated rooms (haven.victimid.synth). Every
    entry beyond those is a perturbed copy (`_perturbed`) of a generated or real photo's
    features: not of a room view, so the rooms' true views stay the only right answers.
    Queries: a third, unindexed view of each room. Per size: the first query after the
    change (builds the search cache), then queries each from a new `SceneSearch` as a CLI
    call makes one (in-process wall and CPU), then `haven victimid scene` as a subprocess."""
    from sqlalchemy import func, insert, select

    from imagegen import make_photo
    from haven.store.case import utcnow
    from haven.victimid.indexer import _decode
    from haven.victimid.models import MediaRow, SceneRow, SceneWordsRow, VocabularyRow, WordVocabularyRow
    from haven.victimid.search import SceneSearch, image_pixels
    from haven.victimid.store import VictimStore
    from haven.victimid.synth import make_room, photograph

    ext = scene.default_extractor()
    t0, c0 = time.perf_counter(), time.process_time()
    base = [ext.extract(np.asarray(make_photo(i, 1024, 768))) for i in range(base_images)]
    real = _real_images(photos, 2000)
    for p in real:
        try:
            base.append(ext.extract(_decode(p.read_bytes())[1]))
        except Exception as exc:  # noqa: BLE001 - a bench: skip what does not decode
            print(f"  skipped {p}: {exc}")
    room_views, queries = [], []
    qdir = workdir / "queries"
    qdir.mkdir()
    for r in range(rooms):
        room = make_room(1000 + r)
        room_views += [(r, ext.extract(np.asarray(photograph(room, 10 * r + k).convert("RGB")))) for k in (1, 2)]
        qpath = qdir / f"room{r:03d}.jpg"
        photograph(room, 10 * r + 3).convert("RGB").save(qpath, quality=90)
        queries.append((r, qpath))
    print(f"## scene query against the index size ({load()})")
    print(f"real features: {base_images} generated photos, {len(real)} real photos from {photos}, "
          f"{2 * rooms} room views; extracted in {time.perf_counter() - t0:.0f} s "
          f"({time.process_time() - c0:.0f} s CPU); mean {np.mean([len(f.descriptors) for f in base]):.0f} "
          f"features per photo")
    vs = VictimStore(workdir / "scalecase", create=True)
    desc = np.concatenate([f.descriptors for f in base + [f for _r, f in room_views]])
    rng = np.random.default_rng(0)
    vocab = scene.Vocabulary.train(desc[rng.permutation(len(desc))[:200_000]])
    vocab = scene.Vocabulary(vocab.centroids, vs.cache_dir)
    now = utcnow()
    # The visual words of the inverted file, trained as `haven index` trains them.
    words = scene.WordVocabulary.train(desc[rng.permutation(len(desc))[:scene.WORDS_SAMPLE]])
    with vs.session() as s, s.begin():
        s.add(VocabularyRow(extractor=ext.name, centroids=vocab.centroids.tobytes(), k=vocab.k,
                            trained_on=min(len(desc), 200_000), created_at=now))
        wrow = WordVocabularyRow(extractor=ext.name, top=words.top.tobytes(), leaves=words.leaves.tobytes(),
                                 offsets=words.offsets.tobytes(), words=words.words,
                                 trained_on=min(len(desc), scene.WORDS_SAMPLE), created_at=now)
        s.add(wrow)
        s.flush()
        words_id = wrow.id
    base_words = words.assign_many(base)
    room_of: dict[int, int] = {}
    entries = ([(r, f, w) for (r, f), w in zip(room_views, words.assign_many([f for _r, f in room_views]))]
               + [(None, f, w) for f, w in zip(base, base_words)])
    count = 0
    print("| indexed images | case.db | fill | first query (builds cache) | query in-process median (p95), wall / CPU | "
          "`haven victimid scene` median, wall / CPU | rooms' true view in top 5 |")
    print("|---|---|---|---|---|---|---|")
    for size in sizes:
        t0 = time.perf_counter()
        while count < size:
            n = min(2000, size - count)
            feats, rooms_of, wlists = [], [], []
            for i in range(count, count + n):
                if i < len(entries):
                    r, f, w = entries[i]
                else:
                    # A perturbed copy keeps its source's words for the features it keeps
                    # (assigning 100,000 images' words would cost ~8 min of CPU more here).
                    b = int(rng.integers(len(base)))
                    f, keep = _perturbed(base[b], rng, with_keep=True)
                    r, w = None, base_words[b][keep]
                feats.append(f)
                rooms_of.append(r)
                wlists.append(w)
            vecs = vocab.encode_many(feats)
            with vs.session() as s, s.begin():
                s.execute(insert(MediaRow), [dict(id=count + k + 1, path=f"synthetic/img{count + k:07d}.jpg",
                                                  sha256=f"{count + k:064x}", md5="0" * 32, sha1="0" * 40, size=1,
                                                  media="image", meta={}, parts={"scene": True}, errors={},
                                                  indexed_at=now) for k in range(n)])
                s.execute(insert(SceneRow), [dict(media_id=count + k + 1, extractor=f.extractor,
                                                  keypoints=f.to_blobs()[0], descriptors=f.to_blobs()[1],
                                                  vector=v.tobytes()) for k, (f, v) in enumerate(zip(feats, vecs))])
                s.execute(insert(SceneWordsRow), [dict(media_id=count + k + 1, vocabulary_id=words_id,
                                                       words=np.asarray(w, np.uint16).tobytes())
                                                  for k, w in enumerate(wlists)])
            for k, r in enumerate(rooms_of):
                if r is not None:
                    room_of[count + k + 1] = r
            count += n
        fill = time.perf_counter() - t0
        with vs.session() as s:
            assert s.scalar(select(func.count()).select_from(SceneRow)) == count
        db_gb = (vs.dir / "case.db").stat().st_size / 1e9
        t0, c0 = time.perf_counter(), time.process_time()
        opened = SceneSearch(vs)
        first, first_cpu = time.perf_counter() - t0, time.process_time() - c0
        inv = opened.case.inverted
        inv_mb = inv.nbytes / 1e6 if inv is not None else 0.0
        inv_files = sum(p.stat().st_size for p in vs.cache_dir.glob("scene-words*")) / 1e6
        lw, lc = [], []
        for _r, qpath in queries:  # the inverted file's part of a query: words + posting lists
            qf = ext.extract(image_pixels(qpath.read_bytes()))
            t1, c1 = time.perf_counter(), time.process_time()
            opened.case.local(qf, 2 * scene.LOCAL_TOP)
            lw.append(time.perf_counter() - t1)
            lc.append(time.process_time() - c1)
        print(f"  inverted file at {count:,}: {len(inv) if inv is not None else 0:,} images, "
              f"{len(inv.rows) if inv is not None else 0:,} postings, {inv_mb:.0f} MB in memory arrays "
              f"({inv_files:.0f} MB of cache files, memory-mapped); local search median "
              f"{np.median(lw) * 1000:.1f} ms wall / {np.median(lc) * 1000:.1f} ms CPU", flush=True)
        walls, cpus, found = [], [], 0
        for r, qpath in queries:
            rgb = image_pixels(qpath.read_bytes())
            t0, c0 = time.perf_counter(), time.process_time()
            hits = SceneSearch(vs).find(rgb, top=20)
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
            found += any(room_of.get(h.media_id) == r for h in hits[:5])
        cw, cc = [], []
        for r, qpath in queries[:cli_queries]:
            w, c, hits = _cli(vs.dir, qpath)
            cw.append(w)
            cc.append(c)
        w, c = np.array(walls) * 1000, np.array(cpus) * 1000
        cli = f"{np.median(cw) * 1000:.0f} / {np.median(cc) * 1000:.0f} ms" if cw else "-"
        print(f"| {count:,} | {db_gb:.1f} GB | {fill:.0f} s | {first:.1f} s ({first_cpu:.1f} s CPU) | "
              f"{np.median(w):.0f} ({np.percentile(w, 95):.0f}) / {np.median(c):.0f} ({np.percentile(c, 95):.0f}) ms | "
              f"{cli} | {found}/{len(queries)} |  ({load()})", flush=True)
    vs.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=200, help="photos to index (0: skip)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 0],
                    help="`haven index --workers` values to index the photos with, each into a new case (0: every core)")
    ap.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    ap.add_argument("--db-size", type=int, default=100_000, help="items in the case database test (0: skip)")
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--scale", type=int, nargs="*", default=[],
                    help="scene query latency at these case sizes, e.g. 1000 10000 100000 (section 5)")
    ap.add_argument("--scale-photos", type=Path, help="folder of real benign photos among the section 5 entries")
    ap.add_argument("--scale-generated", type=int, default=150, help="generated photos among the section 5 entries")
    ap.add_argument("--scale-rooms", type=int, default=12, help="generated rooms queried in section 5")
    ap.add_argument("--scale-cli", type=int, default=5, help="queries of section 5 also run as `haven victimid scene`")
    ap.add_argument("--workdir", type=Path, help="where section 5's case is built (default: a temporary directory; "
                    "~170 KB per entry)")
    args = ap.parse_args()
    print(f"cores {os.cpu_count()}; FAISS threads {__import__('faiss').omp_get_max_threads()}; "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '-')}; {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.images:
            indexing(args.images, tmp, args.workers)
        for n in args.sizes:
            scene_shortlist(n, args.queries, tmp)
        for n in args.sizes:
            faces_find(n, args.queries)
        if args.db_size:
            case_database(args.db_size, args.queries, tmp)
        if args.scale:
            work = Path(tempfile.mkdtemp(dir=args.workdir)) if args.workdir else tmp
            try:
                query_scale(sorted(args.scale), args.scale_generated, args.scale_photos, args.scale_rooms,
                            args.scale_cli, work)
            finally:
                if args.workdir:
                    import shutil

                    shutil.rmtree(work, ignore_errors=True)
    print(f"done ({load()})")


if __name__ == "__main__":
    main()
