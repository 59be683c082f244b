"""This tree's multi-index search kernel beside another tree's, in one process, on one saved index.

    .venv/bin/python bench/pdq_kernel_ab.py --segment DATA/index-packed-uniform/segment-100000000 \
        --queries DATA/uniform100m/queries.npz --other-src BASE/src --rounds 6

A whole-search benchmark (`bench/pdq_scale_classes.py`) runs the two trees one after the
other in separate processes, so on a shared machine they meet different loads, and their
CPU times (which grow with the load: the other jobs evict the index from the caches) differ
by more than a kernel change. Here both kernels (`range_search_packed` for a segment with
packed tables, else `range_search`) search the same opened library segment (a
`PdqSegment` folder written by `haven library` or by `pdq_scale_classes.py --index-cache`)
for the same 8-hash items, in passes that alternate between them (ours, theirs, theirs,
ours, ...), and each pass reports the p50 of the kernel's thread CPU time per item; every
answer of the other kernel must equal ours. `--hot`: also time each item's first hash
searched six times in a row (the tables' lines then come from the caches): the kernel's
compute without the memory misses.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

import numpy as np


def _load_kernels(src: str):
    """The other tree's `haven/match/kernels.py` as a module of its own name."""
    path = Path(src) / "haven" / "match" / "kernels.py"
    spec = importlib.util.spec_from_file_location("other_haven_kernels", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--segment", required=True, help="a saved PdqSegment folder")
    ap.add_argument("--queries", required=True,
                    help="queries.npz of pdq_scale_classes.py --data (8-hash items per class)")
    ap.add_argument("--other-src", required=True, help="src/ of the baseline checkout")
    ap.add_argument("--rounds", type=int, default=6, help="passes per kernel")
    ap.add_argument("--threshold", type=int, default=31)
    ap.add_argument("--hot", action="store_true")
    args = ap.parse_args()
    from haven.match import kernels
    from haven.match.segments import PdqSegment

    print(f"load: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores",
          flush=True)
    other = _load_kernels(args.other_src)
    t = time.perf_counter()
    idx = PdqSegment(Path(args.segment), verify=False, in_memory=True).index
    packed = idx.packed
    print(f"segment: {idx.n:,} rows, m={idx.m}, {'packed' if packed else 'plain'} tables, "
          f"opened in {time.perf_counter() - t:.0f} s", flush=True)
    qz = np.load(args.queries)
    items = [q for k in qz.files for q in qz[k]]
    table, masks, radii = idx._probe_plan(args.threshold)

    def runner(mod):
        if packed:
            pk = idx._packed

            def run(values, q64):
                return mod.range_search_packed(idx.codes, pk.low, pk.high, pk.dirs, pk.params,
                                               values, q64, table, masks, args.threshold,
                                               idx._chunk_masks, radii)
        else:
            def run(values, q64):
                return mod.range_search(idx.codes, idx._offsets, idx._postings, idx._post_base,
                                        idx.n_main, idx._key_base, values, q64, table, masks,
                                        args.threshold, idx._chunk_masks, radii)
        return run

    kern = {"ours": runner(kernels), "baseline": runner(other)}
    preps = [(np.unpackbits(q, axis=1).astype(np.int64) @ idx._weights,
              np.ascontiguousarray(q).view(np.uint64).reshape(-1, 4)) for q in items]
    for v, q in preps:  # compile both, and check the baseline answers what we answer
        a = sorted(zip(*[x.tolist() for x in kern["ours"](v, q)]))
        b = sorted(zip(*[x.tolist() for x in kern["baseline"](v, q)]))
        if a != b:
            print("the two kernels disagree on an item")
            return 1
    res = {name: [] for name in kern}
    for rd in range(args.rounds):
        for name in (("ours", "baseline") if rd % 2 == 0 else ("baseline", "ours")):
            ts = []
            for v, q in preps:
                c = time.thread_time()
                kern[name](v, q)
                ts.append(time.thread_time() - c)
            res[name].append(float(np.median(ts)) * 1e3)
    for name, xs in res.items():
        print(f"{name:8s} kernel CPU p50 per {items[0].shape[0]}-hash item, by pass: "
              + " ".join(f"{x:.2f}" for x in xs)
              + f"  -> median {np.median(xs):.2f} ms (min {min(xs):.2f})", flush=True)
    print(f"ours / baseline: {np.median(res['ours']) / np.median(res['baseline']):.2f}x "
          f"({len(items)} items, answers equal)")
    if args.hot:
        for name in kern:
            hot = []
            for v, q in preps:
                v1, q1 = np.ascontiguousarray(v[:1]), np.ascontiguousarray(q[:1])
                ts = []
                for _ in range(6):
                    c = time.thread_time()
                    kern[name](v1, q1)
                    ts.append(time.thread_time() - c)
                hot.append(min(ts[1:]))
            print(f"{name:8s} hot (one hash searched again with the tables cached): p50 "
                  f"{np.median(hot) * 1e3:.3f} ms per hash", flush=True)
    print(f"load: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
