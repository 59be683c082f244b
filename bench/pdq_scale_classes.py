"""PDQ 8-hash queries at national scale on a clustered library: this checkout beside another.

    .venv/bin/python bench/pdq_scale_classes.py --n 100000000 --queries 30 --other-src /tmp/base/src

One clustered library (bench/pdq_corpus.py: Zipf families of near-duplicates, a crowded
near-blank region, real PDQ hashes of generated photos) and 8-hash query items of three
classes (`nomatch`: a fresh photo's 8 dihedral hashes; `neardup`: the first hash near a
library row of a family; `crowded`: the first hash near a near-blank hash) are saved to a
temporary folder (`--data DIR`: kept, and reused by later runs). The truth comes first, from
FAISS's flat range search (single thread; with `--data` saved as truth.json, and later runs
time FAISS again on `--flat-items` items per class as this run's baseline, checking them
against the saved truth), then each source tree (this one, then `--other-src` as the
baseline) runs in its own child process, one after the other (the machine holds one 100M
index at a time): it builds `MultiIndex(codes)` (`--index-cache DIR`: this tree's index is
written once as a library segment, `PdqSegment`, and opened from there by later runs, the
way `haven library` opens it) and times every item in passes alternating 1 and 2 threads
(`--threads 1,2,1,2`). Reported per class and over the mix (45 % nomatch, 45 % neardup,
10 % crowded): p50 / p95 wall time, CPU time of all threads, and the critical-path CPU (the
calling thread outside the kernels plus the busiest thread's kernel CPU: the wall time it
would take with a free core per thread, which a shared machine cannot show), the index's
bytes per hash (a library segment stores its rows in the index's order, so the row
permutation is not counted), build time, the child's peak RSS; every answer is compared
with the truth.

`--uniform`: a library of uniform random codes instead (the worst case for memory: no
crowds form), with two classes (`nomatch`: 8 random codes; `neardup`: the first hash 4-16
bits from a library row, 7 random; mix 50/50). `--other-index-cache DIR`: the baseline tree's
index saved as its own library segment too (written by that tree on its first run).

Quiet re-run with everything cached (the library, the items, the truth and the index
segment made by an earlier run):

    .venv/bin/python bench/pdq_scale_classes.py --n 100000000 --queries 30 \
        --data /work/data/national/clustered100m --index-cache /work/data/national/index \
        --threads 1,2,1,2 --warmup 1
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
UNIFORM_MIX = {"nomatch": 0.5, "neardup": 0.5}


def _uniform(n: int, queries: int, rng) -> tuple[np.ndarray, dict[str, list[np.ndarray]]]:
    """Uniform random codes and the two item classes of `--uniform`."""
    lib = np.empty((n, 32), dtype=np.uint8)
    for lo in range(0, n, 1 << 22):
        lib[lo:lo + (1 << 22)] = rng.integers(0, 256, (min(1 << 22, n - lo), 32), dtype=np.uint8)
    items = {"nomatch": [rng.integers(0, 256, (8, 32), dtype=np.uint8) for _ in range(queries)]}
    near = []
    for _ in range(queries):
        q = rng.integers(0, 256, (8, 32), dtype=np.uint8)
        q[0] = lib[rng.integers(0, n)]
        for b in rng.choice(256, int(rng.integers(4, 17)), replace=False):
            q[0, b // 8] ^= 1 << (b % 8)
        near.append(q)
    items["neardup"] = near
    return lib, items


def _digest(q, r, d) -> str:
    order = np.lexsort((r, q))
    key = np.stack([q[order], r[order], d[order]]).astype(np.int64)
    return hashlib.sha1(key.tobytes()).hexdigest()


class _ThreadClock:
    """CPU time each thread spends in the search kernels, per search (patched in around them).

    On a shared machine a search's wall time mostly measures the wait for a core; its CPU
    time does not. With several threads the total CPU hides the split, so this also gives
    the critical path: the calling thread's CPU outside the kernels plus the largest
    per-thread kernel CPU (what the wall time would be with a free core per thread)."""

    def __init__(self, kernels) -> None:
        import threading

        self.ident = threading.get_ident
        self.spent: dict[int, float] = {}
        for name in ("range_search", "range_search_packed", "crowd_search"):
            if hasattr(kernels, name):
                setattr(kernels, name, self._timed(getattr(kernels, name)))

    def _timed(self, fn):
        def call(*args):
            t = time.thread_time()
            try:
                return fn(*args)
            finally:
                k = self.ident()
                self.spent[k] = self.spent.get(k, 0.0) + time.thread_time() - t
        return call

    def critical(self, caller_cpu: float) -> float:
        me = self.spent.get(self.ident(), 0.0)
        return caller_cpu - me + max(self.spent.values(), default=0.0)


def _child(data: Path, threads: list[int], cache: Path | None, warmup: int,
           packed: str = "auto", chunks: int = 0) -> None:
    from haven.match import kernels, multiindex
    from haven.match.multiindex import MultiIndex

    if packed != "auto" and hasattr(multiindex, "PACKED_MIN_ROWS"):
        multiindex.PACKED_MIN_ROWS = 0 if packed == "yes" else 1 << 62
    if chunks:  # an index built here (not one opened from a saved segment) gets m = chunks
        multiindex.choose_chunks = lambda *_a, **_k: chunks

    codes = np.load(data / "library.npy", mmap_mode="r")
    qs = np.load(data / "queries.npz")
    t = time.perf_counter()
    ids, how = None, "built in memory"
    if cache is not None:  # a library segment, as `haven library import` writes it
        from haven.match.segments import PdqSegment

        seg_dir = cache / f"segment-{len(codes)}"
        if not (seg_dir / "meta.json").is_file():
            cache.mkdir(parents=True, exist_ok=True)
            PdqSegment.write(seg_dir, codes, np.arange(len(codes), dtype=np.int64))
            how = "built and saved as a library segment"
        else:
            how = "read from a saved library segment"
        del codes
        build = time.perf_counter() - t
        t = time.perf_counter()
        seg = PdqSegment(seg_dir, verify=False, in_memory=True)
        index, ids = seg.index, seg.ids
        how += f", opened in {time.perf_counter() - t:.0f} s"
    else:
        # a tree whose index keeps a sorted copy reads the mapped file once; an older one
        # searches the array it is given, so it gets the codes in memory
        index = MultiIndex(codes if hasattr(MultiIndex, "crowd_sizes") else np.array(codes))
        build = time.perf_counter() - t
        del codes
    perm = getattr(index, "rows", None)
    nbytes = index.nbytes - (0 if perm is None else perm.nbytes)
    classes = [k for k in CLASSES if k in qs.files]
    items = {k: list(qs[k]) for k in classes}
    index.search(items["nomatch"][0], 31)  # compile / warm the pool
    warm = []
    for _ in range(warmup):  # untimed passes: the first searches after opening run slower
        for kind in classes:
            for q in items[kind]:
                c = time.process_time()
                index.search(q, 31)
                warm.append(time.process_time() - c)
    clock = _ThreadClock(kernels)
    out = {"build_s": build, "how": how, "bytes_per_hash": nbytes / index.n, "m": index.m,
           "packed": bool(getattr(index, "packed", False)),
           "ids_bytes_per_hash": 0 if ids is None else ids.nbytes / index.n,
           "ids_in_memory": ids is not None and not isinstance(ids, np.memmap),
           "warmup_cpu_p50_ms": _pct(warm, 50) if warm else None,
           "crowds": int(len(getattr(index, "crowd_radii", ()))), "passes": [],
           "crowd_rows": int(index.n - getattr(index, "n_main", index.n))}
    for th in threads:
        index.threads = th
        res = {"threads": th, "classes": {}}
        for kind in classes:
            wall, cpu, crit, digests, pairs = [], [], [], [], []
            for q in items[kind]:
                clock.spent.clear()
                c, c1, t = time.process_time(), time.thread_time(), time.perf_counter()
                qn, r, d = index.search(q, 31)
                wall.append(time.perf_counter() - t)
                crit.append(clock.critical(time.thread_time() - c1))
                cpu.append(time.process_time() - c)  # all threads of this process
                if ids is not None:
                    r = ids[r]
                digests.append(_digest(qn, r, d))
                pairs.append(int(r.size))
            res["classes"][kind] = {"wall": wall, "cpu": cpu, "crit": crit, "digests": digests,
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
    ap.add_argument("--prepare-only", action="store_true",
                    help="make (or read) the library, items and truth in --data, then stop")
    ap.add_argument("--index-cache", default=None,
                    help="folder for this tree's index, saved as a library segment on the first "
                         "run and opened from there after (never for --other-src)")
    ap.add_argument("--uniform", action="store_true",
                    help="uniform random codes (no crowds) and two item classes")
    ap.add_argument("--packed", choices=("auto", "yes", "no"), default="auto",
                    help="this tree's tables: as MultiIndex decides (auto: plain by default), "
                         "always or never")
    ap.add_argument("--other-index-cache", default=None,
                    help="folder for the baseline tree's index, saved as its library segment")
    ap.add_argument("--flat-items", type=int, default=5,
                    help="with the truth read from --data: items per class FAISS flat is timed "
                         "on again in this run (the baseline)")
    ap.add_argument("--warmup", type=int, default=0,
                    help="untimed passes over every item (one thread) before the timed ones; "
                         "their CPU p50 is printed")
    ap.add_argument("--chunks", type=int, default=0,
                    help="chunk count of an index this tree builds (0: chosen from the size); "
                         "e.g. 13 at 10M rows gives buckets of 100M-like sizes (m = 11 there)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    if args.child:
        _child(Path(args.child), threads, Path(args.index_cache) if args.index_cache else None,
               args.warmup, args.packed, args.chunks)
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
            lib = np.load(kept / "library.npy", mmap_mode="r")
            qz = np.load(kept / "queries.npz")
            items = {k: list(qz[k]) for k in CLASSES if k in qz.files}
            print(f"library: {len(lib):,} codes read from {kept} (made by an earlier run, seed "
                  f"{args.seed})", flush=True)
        else:
            if kept:
                kept.mkdir(parents=True, exist_ok=True)
                tmp = str(kept)
            if args.uniform:
                lib, items = _uniform(args.n, args.queries, rng)
                print(f"library: {args.n:,} uniform random codes; made in "
                      f"{time.perf_counter() - t:.1f} s", flush=True)
            else:
                corpus = Corpus(seed=args.seed)
                lib, fam = corpus.library(args.n, rng)
                items = {k: corpus.dihedral(k, args.queries, lib, fam, rng) for k in CLASSES}
                sizes = np.bincount(fam[fam >= 0])
                print(f"library: {args.n:,} codes, {len(sizes):,} families (largest "
                      f"{sizes.max():,}), {(fam < 0).mean():.0%} near-blank; made in "
                      f"{time.perf_counter() - t:.1f} s", flush=True)
                del fam, sizes
            np.save(Path(tmp) / "library.npy", lib)
            np.savez(Path(tmp) / "queries.npz", **{k: np.stack(v) for k, v in items.items()})
        t = time.perf_counter()
        saved = Path(tmp) / "truth.json"
        if kept and saved.is_file():  # the flat scan of an earlier run over the same items
            got = json.loads(saved.read_text())
            truth = {k: [tuple(x) for x in v] for k, v in got["truth"].items()}
            print(f"truth read from {saved} (FAISS flat of an earlier run, load {got['load']}: "
                  f"8-hash item p50 {_pct(got['flat_s'], 50):.0f} ms)", flush=True)
            flat_ms = []
            if args.flat_items:  # the baseline, timed again in this run on a few items
                flat = faiss.IndexBinaryFlat(256)
                flat.add(np.ascontiguousarray(lib))
                for kind in items:
                    for q, want in list(zip(items[kind], truth[kind]))[:args.flat_items]:
                        t1 = time.perf_counter()
                        lims, d, r = flat.range_search(q, 32)
                        flat_ms.append(time.perf_counter() - t1)
                        qn = np.repeat(np.arange(len(q)), np.diff(lims).astype(np.int64))
                        if _digest(qn, r.astype(np.int64), d.astype(np.int64)) != want[0]:
                            print(f"saved truth disagrees with FAISS on a {kind} item")
                            return 1
                del flat
            del lib
        else:
            flat = faiss.IndexBinaryFlat(256)
            flat.add(lib)
            del lib
            truth, flat_ms = {}, []
            for kind in items:
                truth[kind] = []
                for q in items[kind]:
                    t1 = time.perf_counter()
                    lims, d, r = flat.range_search(q, 32)
                    flat_ms.append(time.perf_counter() - t1)
                    qn = np.repeat(np.arange(len(q)), np.diff(lims).astype(np.int64))
                    truth[kind].append((_digest(qn, r.astype(np.int64), d.astype(np.int64)),
                                        int(r.size)))
            del flat
            if kept:
                saved.write_text(json.dumps({"truth": truth, "flat_s": flat_ms, "load": " ".join(
                    f"{x:.2f}" for x in os.getloadavg())}))
        for kind in items:
            print(f"  truth {kind:8s}: pairs per item median {int(np.median([x[1] for x in truth[kind]])):,} "
                  f"max {max(x[1] for x in truth[kind]):,}", flush=True)
        if flat_ms:
            print(f"baseline FAISS flat (1 thread), this run: 8-hash item p50 "
                  f"{_pct(flat_ms, 50):.0f} ms over {len(flat_ms)} items; "
                  f"{time.perf_counter() - t:.0f} s", flush=True)
        if args.prepare_only:
            print("prepared: library, items and truth kept in", tmp)
            return 0
        mix_of = UNIFORM_MIX if set(items) == set(UNIFORM_MIX) else MIX
        trees = [("ours", str(HERE.parent / "src"))]
        if args.other_src:  # after ours: on a starved machine ours at least is measured
            trees = trees + [("baseline", args.other_src)]
        ok = True
        for name, src in trees:
            env = {**os.environ, "PYTHONPATH": src}
            load0 = os.getloadavg()[0]
            cmd = [sys.executable, __file__, "--child", tmp, "--threads", args.threads,
                   "--warmup", str(args.warmup), "--packed", args.packed if name == "ours" else "auto",
                   "--chunks", str(args.chunks)]
            if args.index_cache and name == "ours":
                cmd += ["--index-cache", args.index_cache]
            if args.other_index_cache and name == "baseline":
                cmd += ["--index-cache", args.other_index_cache]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if done.returncode:
                print(f"{name}: child failed\n{done.stderr[-3000:]}")
                return 1
            r = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{name:8s} m={r['m']} crowds={r['crowds']} ({r['crowd_rows']:,} rows): "
                  f"{r['how']} ({r['build_s']:.0f} s), {r['bytes_per_hash']:.2f} B/hash"
                  f"{' (packed tables)' if r.get('packed') else ''}"
                  + (f" + ids {r['ids_bytes_per_hash']:.0f} B/hash ("
                     f"{'in memory' if r['ids_in_memory'] else 'mapped, read on matches'})"
                     if r.get("ids_bytes_per_hash") else "") + ", peak "
                  f"RSS {r['peak_rss_gb']:.1f} GB, load {load0:.2f}->{os.getloadavg()[0]:.2f}",
                  flush=True)
            if r.get("warmup_cpu_p50_ms") is not None:
                print(f"    warm-up ({args.warmup} untimed pass(es), 1 thread): CPU p50 "
                      f"{r['warmup_cpu_p50_ms']:.2f} ms per item", flush=True)
            for p in r["passes"]:
                cells, mix = [], []
                for kind in items:
                    c = p["classes"][kind]
                    crit = c.get("crit", c["cpu"])
                    good = [(dg, n) for dg, n in zip(c["digests"], c["pairs"])] == truth[kind]
                    ok &= good
                    cells.append(f"{kind} {_pct(c['wall'], 50):.2f} ({_pct(c['wall'], 95):.1f})"
                                 f" cpu {_pct(c['cpu'], 50):.2f} crit {_pct(crit, 50):.2f}"
                                 f"{'' if good else ' WRONG'}")
                    take = np.random.default_rng(0).choice(len(c["wall"]),
                                                           int(round(mix_of[kind] * 1000)))
                    mix += [(c["wall"][k], c["cpu"][k], crit[k]) for k in take]
                w, cp, cr = ([m[i] for m in mix] for i in range(3))
                vs = (f", FAISS flat / wall {_pct(flat_ms, 50) / _pct(w, 50):.0f}x"
                      if flat_ms else "")
                print(f"    {p['threads']} thread(s), p50 (p95) ms: " + "  ".join(cells)
                      + f"\n      mix: wall p50 {_pct(w, 50):.2f} p95 {_pct(w, 95):.1f}, CPU (all "
                      f"threads) p50 {_pct(cp, 50):.2f}, critical-path CPU p50 {_pct(cr, 50):.2f}"
                      f"{vs}; load now {os.getloadavg()[0]:.2f}", flush=True)
    print(f"load: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; exact: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
