"""Bytes per hash of the PDQ multi-index on uniform random codes: built, and the layout's sum.

    .venv/bin/python bench/pdq_memory.py --n 10000000 --project 100000000

Uniform codes are the worst case for memory: no crowds form (no bucket is 8x fuller than
the average), so every row is in each table but the first. The index is built at `--n` in
both layouts, plain (offsets + 4-byte postings) and packed (Elias-Fano tables,
`haven.match.packed`; the default from `PACKED_MIN_ROWS` table rows), and its arrays
measured (the row permutation is not counted: a library segment stores its rows in the
index's order; nor are the entry ids: a segment maps them and reads them only for matches).
Each layout's sum is printed for `--n` (it must equal the build: the exit status says) and
for `--project` rows, with m from `choose_chunks`:

- plain: codes 32 B + (m - 1) x 4 B postings + offsets (4 B per chunk value of every table);
- packed: codes 32 B + per table with postings (n*l + n + 2**b * G bits of low and unary
  parts, b the chunk bits, l from `low_bits_for`, G = ceil(n / 2**l)) + the first table's
  unary part (n + 2**b bits) + the sampled directories (4 B every `DIR_STEP` values).

The baseline is the 64 B/hash target of issue 18.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from haven.match.multiindex import MultiIndex, chunk_layout, choose_chunks
from haven.match.packed import DIR_STEP, low_bits_for

TARGET = 64.0


def layout_bytes(n: int) -> dict[str, float]:
    """Bytes per hash of each part of a plain index over `n` uniform codes (no crowds)."""
    m = choose_chunks(n)
    offsets = sum(2 ** length + 1 for _s, length in chunk_layout(m)) * 4
    post = 4 if n < 2 ** 32 else 8
    return {"m": m, "codes": 32.0, "tables": (m - 1) * post + offsets / n,
            "total": 32.0 + (m - 1) * post + offsets / n}


def packed_layout_bytes(n: int) -> dict[str, float]:
    """The same for the packed layout, word for word as `PackedTables.build` lays it out."""
    m = choose_chunks(n)
    words = 1  # the low array's closing word
    dir_bytes = 0
    for t, (_s, bits) in enumerate(chunk_layout(m)):
        lw = low_bits_for(n, bits) if t else 0
        groups = max(1, -(-n // 2 ** lw)) if t else 1
        words += (n + 2 ** bits * groups + 63) // 64 + 1  # unary part (+ its spare word)
        if t:
            words += (-(-n // 64) * lw + 1) if lw else 1  # low parts
        dir_bytes += (2 ** bits // DIR_STEP + 1) * (4 if n < 2 ** 32 else 8)
    words -= 1  # one array of low parts for all tables: a single closing word
    tables = (words * 8 + dir_bytes + m * 7 * 8) / n
    return {"m": m, "codes": 32.0, "tables": tables, "total": 32.0 + tables}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--project", type=int, default=100_000_000)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    print(f"load: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    codes = np.random.default_rng(args.seed).integers(0, 256, (args.n, 32), dtype=np.uint8)
    ok = True
    for packed, layout in ((False, layout_bytes), (True, packed_layout_bytes)):
        t = time.process_time()
        index = MultiIndex(codes, packed=packed)
        built = time.process_time() - t
        measured = (index.nbytes - index.rows.nbytes) / index.n
        want = layout(args.n)
        ok &= abs(measured - want["total"]) < 0.01
        name = "packed" if packed else "plain "
        print(f"{name}: built {args.n:,} uniform codes in {built:.0f} s CPU: m={index.m}, "
              f"{len(index.crowd_radii)} crowds, {measured:.2f} B/hash measured, layout sum "
              f"{want['total']:.2f} (codes {want['codes']:.0f} + tables {want['tables']:.2f})")
        far = layout(args.project)
        print(f"        layout sum at {args.project:,}: m={far['m']}, {far['total']:.2f} B/hash = "
              f"codes {far['codes']:.0f} + tables {far['tables']:.2f}; target {TARGET:.0f}: "
              f"{far['total'] / TARGET:.3f}x the target "
              f"({'met' if far['total'] <= TARGET else 'not met'})", flush=True)
        del index
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
