"""PDQ 8-hash queries at national scale on a clustered library: this checkout beside another.

    .venv/bin/python bench/pdq_scale_classes.py --n 100000000 --queries 30 --other-src /tmp/base/src

One clustered library (bench/pdq_corpus.py: Zipf families of near-duplicates, a crowded
near-blank region, real PDQ hashes of generated photos) and 8-hash query items of three
classes (`nomatch`: a fresh photo's 8 dihedral hashes; `neardup`: the first hash near a
library row of a family; `crowded`: the first hash near a near-blank hash) are saved to a
temporary folder. The truth comes first, from FAISS's flat range search (single thread),
then each source tree (this one, then `--other-src` as the baseline) runs in its own
child process, one after the other (the machine holds one 100M index at a time): it builds
`MultiIndex(codes)` and times every item in passes alternating 1 and 2 threads
(`--threads 1,2,1,2`). Reported per class and over the mix (45 % nomatch, 45 % neardup,
10 % crowded): p50 / p95 wall time, the index's bytes per hash (a library segment stores
its rows in the index's order, so the row permutation is not counted), build time, the
child's peak RSS; every answer is compared with the truth.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CLASSES = ("nomatch", "neardup", "crowded")
MIX = {"nomatch": 0.45, "neardup": 0.45, "crowded": 0.10}


def _digest(q, r, d) -> str:
    order = np.lexsort((r, q))
    key = np.stack([q[order], r[order], d[order]]).astype(np.int64)
    return hashlib.sha1(key.tobytes()).hexdigest()


def _child(data: Path, threads: list[int]) -> None:
    from haven.match.multiindex import MultiIndex

    codes = np.load(data / "library.npy", mmap_mode="r")
    qs = np.load(data / "queries.npz")
    t = time.perf_counter()
    # a tree whose index keeps a sorted copy reads the mapped file once; an older one searches
    # the array it is given, so it gets the codes in memory
    index = MultiIndex(codes if hasattr(MultiIndex, "crowd_sizes") else np.array(codes))
    build = time.perf_counter() - t
    del codes
    perm = getattr(index, "rows", None)
    nbytes = index.nbytes - (0 if perm is None else perm.nbytes)
    items = {k: list(qs[k]) for k in CLASSES}
    index.search(items["nomatch"][0], 31)  # compile / warm the pool
    out = {"build_s": build, "bytes_per_hash": nbytes / index.n, "m": index.m,
           "crowds": int(len(getattr(index, "crowd_radii", ()))), "passes": []}
    for th in threads:
        index.threads = th
        res = {"threads": th, "classes": {}}
        for kind in CLASSES:
            wall, cpu, digests, pairs = [], [], [], []
            for q in items[kind]:
                c, t = time.process_time(), time.perf_counter()
                qn, r, d = index.search(q, 31)
                wall.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)  # all threads of this process
                digests.append(_digest(qn, r, d))
                pairs.append(int(r.size))
            res["classes"][kind] = {"wall": wall, "cpu": cpu, "digests": digests,
                                    "pairs": pairs}
        out["passes"].append(res)
    out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    print(json.dumps(out))


def _pct(xs, p) -> float:
    return float(np.percentile(np.asarray(xs) * 1e3, p))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--queries", type=int, default=30, help="8-hash items per class")
    ap.add_argument("--threads", default="1,2,1,2")
    ap.add_argument("--other-src", default=None, help="src/ of the baseline checkout")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", default=None,
                    help="folder to keep the generated library and queries in (reused if there)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    if args.child:
        _child(Path(args.child), threads)
        return 0
    import faiss

    sys.path.insert(0, str(HERE))
    from pdq_corpus import Corpus

    print(f"load: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores",
          flush=True)
    rng = np.random.default_rng(args.seed)
    t = time.perf_counter()
    kept = Path(args.data) if args.data else None
    faiss.omp_set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="haven-scale-", dir=os.environ.get("TMPDIR")) as tmp:
        if kept and (kept / "queries.npz").is_file():
            tmp = str(kept)
            lib = np.load(kept / "library.npy")
            qz = np.load(kept / "queries.npz")
            items = {k: list(qz[k]) for k in CLASSES}
            print(f"library: {len(lib):,} codes read from {kept} (made by an earlier run, seed "
                  f"{args.seed})", flush=True)
        else:
            if kept:
                kept.mkdir(parents=True, exist_ok=True)
                tmp = str(kept)
            corpus = Corpus(seed=args.seed)
            lib, fam = corpus.library(args.n, rng)
            items = {k: corpus.dihedral(k, args.queries, lib, fam, rng) for k in CLASSES}
            sizes = np.bincount(fam[fam >= 0])
            print(f"library: {args.n:,} codes, {len(sizes):,} families (largest {sizes.max():,}), "
                  f"{(fam < 0).mean():.0%} near-blank; made in {time.perf_counter() - t:.1f} s",
                  flush=True)
            del fam, sizes
            np.save(Path(tmp) / "library.npy", lib)
            np.savez(Path(tmp) / "queries.npz", **{k: np.stack(v) for k, v in items.items()})
        t = time.perf_counter()
        flat = faiss.IndexBinaryFlat(256)
        flat.add(lib)
        del lib
        truth, flat_ms = {}, []
        for kind in CLASSES:
            truth[kind] = []
            for q in items[kind]:
                t1 = time.perf_counter()
                lims, d, r = flat.range_search(q, 32)
                flat_ms.append(time.perf_counter() - t1)
                qn = np.repeat(np.arange(len(q)), np.diff(lims).astype(np.int64))
                truth[kind].append((_digest(qn, r.astype(np.int64), d.astype(np.int64)), r.size))
            print(f"  truth {kind:8s}: pairs per item median {int(np.median([x[1] for x in truth[kind]])):,} "
                  f"max {max(x[1] for x in truth[kind]):,}", flush=True)
        del flat
        print(f"baseline FAISS flat (1 thread): 8-hash item p50 {_pct(flat_ms, 50):.0f} ms; "
              f"truth in {time.perf_counter() - t:.0f} s", flush=True)
        trees = [("ours", str(HERE.parent / "src"))]
        if args.other_src:  # after ours: on a starved machine ours at least is measured
            trees = trees + [("baseline", args.other_src)]
        ok = True
        for name, src in trees:
            env = {**os.environ, "PYTHONPATH": src}
            load0 = os.getloadavg()[0]
            done = subprocess.run([sys.executable, __file__, "--child", tmp, "--threads",
                                   args.threads], env=env, capture_output=True, text=True)
            if done.returncode:
                print(f"{name}: child failed\n{done.stderr[-3000:]}")
                return 1
            r = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{name:8s} m={r['m']} crowds={r['crowds']}: build {r['build_s']:.0f} s, "
                  f"{r['bytes_per_hash']:.1f} B/hash, peak RSS {r['peak_rss_gb']:.1f} GB, load "
                  f"{load0:.2f}->{os.getloadavg()[0]:.2f}", flush=True)
            for p in r["passes"]:
                cells, mix = [], []
                for kind in CLASSES:
                    c = p["classes"][kind]
                    good = [(dg, n) for dg, n in zip(c["digests"], c["pairs"])] == truth[kind]
                    ok &= good
                    cells.append(f"{kind} {_pct(c['wall'], 50):.2f} ({_pct(c['wall'], 95):.1f})"
                                 f" cpu {_pct(c['cpu'], 50):.2f}{'' if good else ' WRONG'}")
                    take = np.random.default_rng(0).choice(len(c["wall"]),
                                                           int(round(MIX[kind] * 1000)))
                    mix += [(c["wall"][k], c["cpu"][k]) for k in take]
                w, cp = [m[0] for m in mix], [m[1] for m in mix]
                print(f"    {p['threads']} thread(s): wall p50 (p95) ms, CPU p50  " + "  ".join(cells)
                      + f"  | mix wall p50 {_pct(w, 50):.2f} p95 {_pct(w, 95):.1f}, CPU p50 "
                      f"{_pct(cp, 50):.2f}", flush=True)
    print(f"load: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; exact: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
