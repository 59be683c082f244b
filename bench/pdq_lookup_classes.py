"""PDQ lookups per query class on a clustered library: this checkout beside another, same run.

    .venv/bin/python bench/pdq_lookup_classes.py --n 1000000 --queries 300 --other-src /work/main/src

Builds one clustered library (bench/pdq_corpus.py: Zipf families of near-duplicates, a
crowded near-blank region, real PDQ hashes of generated photos) and three query classes
(`nomatch`, `neardup`, `crowded`, one hash each: what the matching API's `GET /m/lookup`
sends). Each source tree (this one, and `--other-src` as the baseline) runs in its own
child process, in turns (other, ours, other, ours), over the same saved library and
queries: it loads the codes into a `NearIndex` as the service does and times, per lookup,

- `search`: every match, the (id, distance) list the service answered with before;
- `bounded`: `search_bounded(limit=100)` (only where the tree has it): the best 100 and the
  total count, crowded entries flagged;

as thread CPU time (load-independent: what a server worker spends) and wall time. The
answers are checked against a brute-force FAISS flat range search (single thread): every
child must return exactly the brute-force set for every query.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CLASSES = ("nomatch", "neardup", "crowded")


def _child(data: Path, rounds: int) -> None:
    """Runs inside the tree under test (its src on PYTHONPATH); prints one JSON line."""
    from haven.match import near

    lib = np.load(data / "library.npy")
    qs = np.load(data / "queries.npz")
    t = time.perf_counter()
    index = near.NearIndex()
    index.add_codes(lib, np.arange(1, len(lib) + 1))
    index.compact()
    build = time.perf_counter() - t
    hexes = {k: [bytes(q).hex() for q in qs[k]] for k in CLASSES}
    index.search(hexes["nomatch"][:1])  # compile the kernels
    bounded = hasattr(index, "search_bounded")
    out = {"build_s": build, "nbytes": index.nbytes, "n": len(lib), "classes": {}}
    for kind in CLASSES:
        res = {}
        for method in ("search", "bounded") if bounded else ("search",):
            cpu, wall, answers = [], [], []
            for _ in range(rounds):
                answers = []
                for h in hexes[kind]:
                    c, w = time.thread_time(), time.perf_counter()
                    if method == "search":
                        got = index.search([h])
                        answers.append(sorted(i for i, _d in got))
                    else:
                        a = index.search_bounded([h])
                        answers.append([a.total, [m.entry_id for m in a.matches],
                                        sum(m.crowded for m in a.matches)])
                    cpu.append(time.thread_time() - c)
                    wall.append(time.perf_counter() - w)
            res[method] = {"cpu_ms_mean": 1e3 * float(np.mean(cpu)),
                           "cpu_ms_p50": 1e3 * float(np.median(cpu)),
                           "wall_ms_p50": 1e3 * float(np.median(wall)),
                           "wall_ms_p95": 1e3 * float(np.percentile(wall, 95)),
                           "answers": answers}
        out["classes"][kind] = res
    print(json.dumps(out))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=300, help="per class")
    ap.add_argument("--rounds", type=int, default=2, help="timed passes over the queries")
    ap.add_argument("--other-src", default=None, help="src/ of the baseline checkout")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(Path(args.child), args.rounds)
        return 0
    import faiss

    sys.path.insert(0, str(HERE))
    from pdq_corpus import Corpus

    print(f"load: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores",
          flush=True)
    rng = np.random.default_rng(args.seed)
    t = time.perf_counter()
    corpus = Corpus(seed=args.seed)
    lib, fam = corpus.library(args.n, rng)
    queries = {k: corpus.queries(k, args.queries, lib, fam, rng) for k in CLASSES}
    sizes = np.bincount(fam[fam >= 0])
    print(f"library: {args.n:,} codes, {len(sizes):,} families (largest {sizes.max():,}, "
          f"{(sizes == 1).mean():.0%} singletons), {(fam < 0).mean():.0%} near-blank; "
          f"made in {time.perf_counter() - t:.1f} s", flush=True)
    faiss.omp_set_num_threads(1)
    flat = faiss.IndexBinaryFlat(256)
    flat.add(lib)
    truth = {}
    for kind in CLASSES:
        lims, _d, rows = flat.range_search(queries[kind], 32)
        truth[kind] = [sorted((rows[lims[k]:lims[k + 1]] + 1).tolist())
                       for k in range(len(queries[kind]))]
        counts = np.diff(lims)
        print(f"  {kind:8s}: matches per query median {int(np.median(counts)):,}, "
              f"max {counts.max():,}, with any {np.mean(counts > 0):.0%}")
    del flat
    trees = [("ours", str(HERE.parent / "src"))]
    if args.other_src:
        trees = [("baseline", args.other_src)] + trees
    ok = True
    results: dict[str, list] = {name: [] for name, _ in trees}
    with tempfile.TemporaryDirectory(prefix="haven-lookup-") as tmp:
        np.save(Path(tmp) / "library.npy", lib)
        np.savez(Path(tmp) / "queries.npz", **queries)
        del lib
        for _turn in range(2):
            for name, src in trees:
                env = {**os.environ, "PYTHONPATH": src}
                load0 = os.getloadavg()[0]
                done = subprocess.run([sys.executable, __file__, "--child", tmp, "--rounds",
                                       str(args.rounds)], env=env, capture_output=True,
                                      text=True)
                if done.returncode:
                    print(done.stderr[-2000:])
                    return 1
                r = json.loads(done.stdout.strip().splitlines()[-1])
                r["load"] = (load0, os.getloadavg()[0])
                results[name].append(r)
                for kind in CLASSES:
                    for method, m in r["classes"][kind].items():
                        if method == "search":
                            good = m["answers"] == truth[kind]
                        else:
                            good = all(a[0] == len(t) and set(a[1]) <= set(t)
                                       for a, t in zip(m["answers"], truth[kind]))
                        ok &= good
                        m["exact"] = good
                print(f"{name:8s} turn {_turn + 1}: build {r['build_s']:.1f} s, "
                      f"{r['nbytes'] / r['n']:.0f} B/hash, load {load0:.2f}->"
                      f"{os.getloadavg()[0]:.2f}", flush=True)
                for kind in CLASSES:
                    for method, m in r["classes"][kind].items():
                        print(f"    {kind:8s} {method:8s} CPU/lookup mean {m['cpu_ms_mean']:.3f} "
                              f"ms p50 {m['cpu_ms_p50']:.3f} | wall p50 {m['wall_ms_p50']:.3f} "
                              f"p95 {m['wall_ms_p95']:.3f} ms | "
                              f"{'exact' if m['exact'] else 'WRONG'}", flush=True)
    print("summary: CPU per lookup, mean of the two turns (ms)")
    for name, runs in results.items():
        for method in ("search", "bounded"):
            if method not in runs[0]["classes"]["nomatch"]:
                continue
            cells = [np.mean([r["classes"][k][method]["cpu_ms_mean"] for r in runs])
                     for k in CLASSES]
            print(f"  {name:8s} {method:8s} " + "  ".join(f"{k} {c:.3f}" for k, c in
                                                          zip(CLASSES, cells)))
    print(f"load: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; exact: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
