"""A national library on disk (`haven library`): import, open and query, beside rebuilding.

    .venv/bin/python bench/library_national.py --pdq 10000000 --md5 10000000 --queries 100

Builds a library of N random PDQ hashes and M random MD5 digests through
`HashLibrary.import_result` (the path `haven library import` takes after reading the file),
then measures:
- open: `HashLibrary(dir)` with every checksum verified, and with sizes only (`verify=False`),
  beside the baseline a scan had before libraries existed: building the multi-index from
  the codes in memory (what `MatchLibrary` does for sets in a case store);
- PDQ query, one item = 8 hashes at threshold 31: p50/p95 through the mapped segment, beside
  the flat scan (numpy brute force over the same codes) measured in the same run, with the
  answers compared (exactness);
- MD5 lookups one by one through `HashLibrary.lookup` (label read included for hits).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from haven.hashsets.model import HashEntry, ImportResult
from haven.library.national import HashLibrary
from haven.match.multiindex import MultiIndex, flat_search


def _pct(xs, p):
    return float(np.percentile(np.asarray(xs) * 1e3, p))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pdq", type=int, default=1_000_000)
    ap.add_argument("--md5", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--dir", default=None, help="Where to build (default: a temporary dir, removed at the end).")
    args = ap.parse_args()
    print(f"load: {' '.join(f'{x:.2f}' for x in os.getloadavg()[:2])} on {os.cpu_count()} cores")
    rng = np.random.default_rng(11)
    root = Path(args.dir or tempfile.mkdtemp(prefix="haven-natlib-")) / "lib"
    codes = rng.integers(0, 256, (args.pdq, 32), dtype=np.uint8)
    md5 = rng.integers(0, 256, (args.md5, 16), dtype=np.uint8)
    t = time.perf_counter()
    entries = [HashEntry(pdq=bytes(c).hex(), category="1") for c in codes]
    entries += [HashEntry(md5=bytes(m).hex(), category="2") for m in md5]
    t_entries = time.perf_counter() - t
    lib = HashLibrary.create(root)
    t = time.perf_counter()
    lib.import_result(ImportResult("bench", entries), name="national")
    t_import = time.perf_counter() - t
    lib.close()
    del entries
    print(f"import: {args.pdq:,} PDQ + {args.md5:,} MD5 in {t_import:.1f} s "
          f"(+ {t_entries:.1f} s making entry objects)")
    disk = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    print(f"disk: {disk / (args.pdq + args.md5):.1f} B/entry")

    t = time.perf_counter()
    lib = HashLibrary(root, verify=True)
    t_open_v = time.perf_counter() - t
    lib.close()
    t = time.perf_counter()
    lib = HashLibrary(root, verify=False)
    t_open_q = time.perf_counter() - t
    t = time.perf_counter()
    MultiIndex(codes)
    t_build = time.perf_counter() - t
    print(f"open: verified {t_open_v:.2f} s, sizes only {t_open_q:.3f} s | baseline: building "
          f"the index in memory {t_build:.1f} s")

    c64 = codes.view(np.uint64).reshape(-1, 4)
    qs = []
    for k in range(args.queries):
        q = rng.integers(0, 256, (8, 32), dtype=np.uint8)
        if k % 2 == 0:  # half the items carry a hash 10-40 bits from a library row
            q[0] = codes[rng.integers(0, len(codes))]
            for b in rng.choice(256, int(rng.integers(10, 41)), replace=False):
                q[0, b // 8] ^= 1 << (b % 8)
        qs.append(q)
    mapped = HashLibrary(root, verify=False, in_memory=False)
    lib.search_pdq([bytes(x).hex() for x in qs[0]], 31)  # compile / warm
    mapped.search_pdq([bytes(x).hex() for x in qs[0]], 31)
    # one loop per method: a flat scan between two queries would evict the index's tables
    # from the caches and charge that to the next query
    ours, via_map, flat, exact = [], [], [], 0
    got, got_m = [], []
    for q in qs:
        hexes = [bytes(x).hex() for x in q]
        t = time.perf_counter()
        ids, _d = lib.search_pdq(hexes, 31)
        ours.append(time.perf_counter() - t)
        got.append(set(ids.tolist()))
    for q in qs:
        hexes = [bytes(x).hex() for x in q]
        t = time.perf_counter()
        ids_m, _d = mapped.search_pdq(hexes, 31)
        via_map.append(time.perf_counter() - t)
        got_m.append(set(ids_m.tolist()))
    for k, q in enumerate(qs):
        t = time.perf_counter()
        _q, rows, _dd = flat_search(c64, q, 31)
        flat.append(time.perf_counter() - t)
        want = set((rows + 1).tolist())
        exact += got[k] == want and got_m[k] == want
    mapped.close()
    print(f"PDQ 8-hash query: library p50 {_pct(ours, 50):.2f} ms p95 {_pct(ours, 95):.2f} "
          f"(memory-mapped instead: p50 {_pct(via_map, 50):.2f} ms) | flat scan p50 "
          f"{_pct(flat, 50):.1f} ms | exact {exact}/{len(qs)}")

    hexes = [bytes(m).hex() for m in md5[rng.integers(0, len(md5), 2000)]]
    hexes += [hashlib.md5(str(i).encode()).hexdigest() for i in range(18000)]
    t = time.perf_counter()
    hits = sum(1 for h in hexes if lib.lookup("md5", h))
    dt = time.perf_counter() - t
    print(f"MD5 lookups one by one (labels on hits): {len(hexes) / dt:,.0f}/s, {hits} hits")
    lib.close()
    if not args.dir:
        shutil.rmtree(root.parent, ignore_errors=True)
    print(f"load: {' '.join(f'{x:.2f}' for x in os.getloadavg()[:2])}")
    return 0 if exact == len(qs) else 1


if __name__ == "__main__":
    sys.exit(main())
