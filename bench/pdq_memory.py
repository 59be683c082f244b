"""Bytes per hash of the PDQ multi-index on uniform random codes: built, and the layout's sum.

    .venv/bin/python bench/pdq_memory.py --n 10000000 --project 100000000

Uniform codes are the worst case for memory: no crowds form (no bucket is 8x fuller than
the average), so every row has a posting in each table but the first. The index is built
at `--n` and its arrays measured (the row permutation is not counted: a library segment
stores its rows in the index's order); the same layout's sum is printed for `--n` (it must
equal the build) and for `--project` rows: codes 32 B + (m - 1) x 4 B postings + offsets,
with m from `choose_chunks`. The baseline is the 64 B/hash target of issue 18.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from haven.match.multiindex import MultiIndex, chunk_layout, choose_chunks

TARGET = 64.0


def layout_bytes(n: int) -> dict[str, float]:
    """Bytes per hash of each part of an index over `n` uniform codes (no crowds)."""
    m = choose_chunks(n)
    offsets = sum(2 ** length + 1 for _s, length in chunk_layout(m)) * 4
    post = 4 if n < 2 ** 32 else 8
    return {"m": m, "codes": 32.0, "postings": (m - 1) * post, "offsets": offsets / n,
            "total": 32.0 + (m - 1) * post + offsets / n}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--project", type=int, default=100_000_000)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    print(f"load: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    codes = np.random.default_rng(args.seed).integers(0, 256, (args.n, 32), dtype=np.uint8)
    t = time.perf_counter()
    index = MultiIndex(codes)
    built = time.perf_counter() - t
    measured = (index.nbytes - index.rows.nbytes) / index.n
    want = layout_bytes(args.n)
    print(f"built {args.n:,} uniform codes in {built:.0f} s: m={index.m}, "
          f"{len(index.crowd_radii)} crowds, {measured:.2f} B/hash measured, layout sum "
          f"{want['total']:.2f} (codes {want['codes']:.0f} + postings {want['postings']:.0f} "
          f"+ offsets {want['offsets']:.2f})")
    far = layout_bytes(args.project)
    print(f"layout sum at {args.project:,}: m={far['m']}, {far['total']:.2f} B/hash = codes "
          f"{far['codes']:.0f} + postings {far['postings']:.0f} + offsets {far['offsets']:.2f}; "
          f"target {TARGET:.0f}: {far['total'] / TARGET:.2f}x the target "
          f"({'met' if far['total'] <= TARGET else 'not met'})")
    return 0 if abs(measured - want["total"]) < 0.01 else 1


if __name__ == "__main__":
    raise SystemExit(main())
