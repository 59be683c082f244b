"""PDQ near search at library scale: haven's multi-index beside FAISS IndexBinaryFlat, same run.

    .venv/bin/python bench/library_pdq.py                          # 1M, uniform + realistic
    .venv/bin/python bench/library_pdq.py --sizes 1000000,10000000 --queries 100
    .venv/bin/python bench/library_pdq.py --sizes 10000000 --dists realistic --chunks 11,12

Distributions:
- uniform: independent random 256-bit codes;
- realistic: real PDQ hashes of generated images (bench/imagegen.py `make_photo`, small
  size) and of near-blank images (flat grey with faint gradient and grain, low PDQ quality),
  grown to millions by bit flips: each "distinct image" is a real photo hash with 48-96 random
  bits flipped (it keeps the photo's bit correlations, and is > 31 bits from its parent), and
  carries a cluster of 0-7 near-duplicates (2-24 bits off it); 5 % of all rows are near-blank
  variants (0-12 bits off one of 40 near-blank hashes, a quarter of them perfectly flat
  images, which all share one structured hash), which crowd a few buckets.

Queries (each one an item as the scan sees it, 8 dihedral hashes): a third near a library row
(one hash is the row with 0-40 bits flipped, so both sides of the threshold are hit; the
other seven are dihedral hashes of an unrelated image), a third fresh generated images (their
8 real dihedral hashes, no match expected), a sixth near-blank images, a sixth hashes of
library rows exactly. Reported per query: 1 hash (the first of the 8) and all 8.

Exactness: every (query hash, row) pair within 31 bits that FAISS's flat scan finds must be
found by haven, and nothing else (the script exits non-zero otherwise). Both sides run on one
thread (`faiss.omp_set_num_threads(1)`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import faiss
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from imagegen import make_photo  # noqa: E402

from haven.match.multiindex import MultiIndex, choose_chunks  # noqa: E402
from haven.match.near import NearIndex  # noqa: E402
from haven.signals import pdq  # noqa: E402

THRESHOLD = 31
THREADS = [1]


def _codes(hexes: list[str]) -> np.ndarray:
    return np.frombuffer(bytes.fromhex("".join(hexes)), np.uint8).reshape(len(hexes), 32)


def _flip(rng: np.random.Generator, codes: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Each row with about k in [lo, hi] random bits flipped (positions drawn with replacement,
    so a few rows get one or two fewer)."""
    out = np.empty_like(codes)
    for a in range(0, len(codes), 1 << 18):
        part = codes[a:a + (1 << 18)]
        n = len(part)
        k = rng.integers(lo, hi + 1, n)
        pos = rng.integers(0, 256, (n, max(hi, 1)))
        take = np.arange(max(hi, 1))[None, :] < k[:, None]
        mask = np.zeros((n, 256), dtype=bool)
        rows = np.broadcast_to(np.arange(n)[:, None], pos.shape)
        mask[rows[take], pos[take]] = True
        out[a:a + n] = part ^ np.packbits(mask, axis=1)
    return out


def _near_blank(seed: int) -> Image.Image:
    rng = np.random.default_rng([seed, 0xB1A])
    y, x = np.mgrid[0:96, 0:128].astype(np.float32)
    base = rng.uniform(40, 220)
    g = base + rng.uniform(-3, 3) * x / 128 + rng.uniform(-3, 3) * y / 96
    if seed % 4:  # a quarter stay perfectly flat: they share one structured hash
        g += rng.normal(0, rng.uniform(0.3, 2.0), g.shape)
    return Image.fromarray(np.clip(g, 0, 255).astype(np.uint8)).convert("RGB")


def real_hashes(n_photos: int, n_blank: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list]:
    """(photo PDQ codes, near-blank PDQ codes, [8-hash dihedral sets of fresh photos...])."""
    photos = _codes([pdq.pdq_from_image(make_photo(seed * 100003 + s, 128, 96)).hex
                     for s in range(n_photos)])
    blanks = _codes([pdq.pdq_from_image(_near_blank(seed * 7 + s)).hex for s in range(n_blank)])
    return photos, blanks


def realistic(rng: np.random.Generator, n: int, photos: np.ndarray, blanks: np.ndarray) -> np.ndarray:
    n_blank = n // 20
    blank_rows = _flip(rng, blanks[rng.integers(0, len(blanks), n_blank)], 0, 12)
    out = [blank_rows]
    left = n - n_blank
    while left > 0:
        block = min(left, 1 << 20)
        # distinct images, then 0-7 near duplicates each (mean 3.5: ~1/4.5 of rows are heads)
        heads = _flip(rng, photos[rng.integers(0, len(photos), block)], 48, 96)
        dup = rng.integers(0, 8, block)
        members = _flip(rng, np.repeat(heads, dup, axis=0), 2, 24)
        rows = np.concatenate([heads, members])[:block]
        out.append(rows)
        left -= len(rows)
    codes = np.concatenate(out)[:n]
    return codes[rng.permutation(n)]


def make_queries(rng, library: np.ndarray, count: int, fresh: list[np.ndarray],
                 blank_sets: list[np.ndarray], blanks: np.ndarray) -> list[np.ndarray]:
    """`count` query items of 8 hashes each (see module docstring)."""
    qs = []
    for k in range(count):
        kind = k % 6
        if kind in (0, 1):  # near a library row
            q = fresh[k % len(fresh)].copy()
            q[0] = _flip(rng, library[rng.integers(0, len(library))][None], 0, 40)[0]
        elif kind in (2, 3):
            q = fresh[(k + 7) % len(fresh)]
        elif kind == 4:  # a near-blank image: half fresh ones, half near the library's
            q = blank_sets[k % len(blank_sets)].copy()
            if k % 12 == 4:
                q[0] = _flip(rng, blanks[rng.integers(0, len(blanks))][None], 0, 12)[0]
        else:
            q = fresh[k % len(fresh)].copy()
            q[0] = library[rng.integers(0, len(library))]
        qs.append(np.ascontiguousarray(q))
    return qs


def _pct(values: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(values) * 1e3, p))


def run(name: str, codes: np.ndarray, queries: list[np.ndarray], chunk_options: list[int | None],
        flat: bool) -> bool:
    n = len(codes)
    ok = True
    truth = None
    if flat:
        fi = faiss.IndexBinaryFlat(256)
        fi.add(codes)
        t1, t8, truth = [], [], []
        for q in queries:
            t = time.perf_counter()
            fi.range_search(q[:1], THRESHOLD + 1)
            t1.append(time.perf_counter() - t)
            t = time.perf_counter()
            lims, d, rows = fi.range_search(q, THRESHOLD + 1)
            t8.append(time.perf_counter() - t)
            qn = np.repeat(np.arange(len(q)), np.diff(lims).astype(np.int64))
            truth.append(set(zip(qn.tolist(), rows.tolist(), d.astype(int).tolist())))
        print(f"{name:9s} n={n:>11,}  faiss flat        : 1 hash p50 {_pct(t1, 50):7.2f} ms "
              f"p95 {_pct(t1, 95):7.2f} | 8 hashes p50 {_pct(t8, 50):7.2f} ms p95 {_pct(t8, 95):7.2f}"
              f"   RAM {n * 32 / n:.0f} B/hash", flush=True)
        del fi
    for m in chunk_options:
        t = time.perf_counter()
        index = MultiIndex(codes, m)
        build = time.perf_counter() - t
        for threads in THREADS:
            index.threads = threads
            ok &= _time_index(name, n, index, build, queries, truth)
        del index
    return ok


def _time_index(name, n, index, build, queries, truth) -> bool:
    """Time one index (at its `threads`) on the queries; False if any answer differs from flat."""
    ok = True
    t1, t8, found = [], [], 0
    index.search(queries[0], THRESHOLD)  # compile / warm the thread pool
    for k, q in enumerate(queries):
        t = time.perf_counter()
        index.search(q[:1], THRESHOLD)
        t1.append(time.perf_counter() - t)
        t = time.perf_counter()
        qn, rows, d = index.search(q, THRESHOLD)
        t8.append(time.perf_counter() - t)
        got = set(zip(qn.tolist(), rows.tolist(), d.tolist()))
        found += len(got)
        if truth is not None and got != truth[k]:
            ok = False
            print(f"  MISMATCH query {k}: haven {len(got)} pairs, flat {len(truth[k])}")
    exact = "" if truth is None else (" exact=100%" if ok else " exact=FAILED")
    print(f"{name:9s} n={n:>11,}  haven mih m={index.m:2d} t={index.threads}: 1 hash p50 "
          f"{_pct(t1, 50):7.2f} ms p95 {_pct(t1, 95):7.2f} | 8 hashes p50 {_pct(t8, 50):7.2f} ms "
          f"p95 {_pct(t8, 95):7.2f}   RAM {index.nbytes / n:.1f} B/hash build {build:.1f}s "
          f"pairs={found}{exact}", flush=True)
    return ok


def updates(codes: np.ndarray) -> None:
    """Appends while serving: an added hash is found by the next search, no rebuild waited for."""
    idx = NearIndex(background=True)
    idx.add_codes(codes, np.arange(len(codes)))
    idx.compact()
    rng = np.random.default_rng(9)
    new = rng.integers(0, 256, (1000, 32), dtype=np.uint8)
    t = time.perf_counter()
    idx.add_codes(new, np.arange(len(codes), len(codes) + 1000))
    added = time.perf_counter() - t
    rows, _d = idx.search_codes(new[:1])
    t = time.perf_counter()
    for q in new[:50]:
        idx.search_codes(q[None])
    per = (time.perf_counter() - t) / 50
    print(f"updates   n={len(codes):>11,}  add 1000 hashes {added * 1e3:.1f} ms, found at once: "
          f"{len(codes) in rows.tolist()}; search with a {idx.segment_sizes[-1]}-row tail: "
          f"{per * 1e3:.2f} ms/hash; segments {idx.segment_sizes}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000000")
    ap.add_argument("--dists", default="uniform,realistic")
    ap.add_argument("--queries", type=int, default=120)
    ap.add_argument("--chunks", default="auto", help="comma list of chunk counts, or auto")
    ap.add_argument("--no-flat", action="store_true", help="skip the FAISS flat scan (and exactness check)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", default="1",
                    help="comma list: threads one query may use (its 8 hashes split among them)")
    args = ap.parse_args()
    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} on {os.cpu_count()} cores", flush=True)
    t = time.perf_counter()
    photos, blanks = real_hashes(300, 40, args.seed)
    fresh = [_codes(pdq.dihedral_hexes(make_photo(10 ** 6 + s, 128, 96))) for s in range(40)]
    blank_sets = [_codes(pdq.dihedral_hexes(_near_blank(10 ** 6 + s))) for s in range(10)]
    print(f"real PDQ hashes: {len(photos)} photos, {len(blanks)} near-blank, "
          f"{len(fresh)} + {len(blank_sets)} query images in {time.perf_counter() - t:.1f}s", flush=True)
    ok = True
    THREADS[:] = [int(t) for t in args.threads.split(",")]
    for n in [int(s) for s in args.sizes.split(",")]:
        chunk_options = [None if c == "auto" else int(c) for c in args.chunks.split(",")]
        for dist in args.dists.split(","):
            t = time.perf_counter()
            codes = (rng.integers(0, 256, (n, 32), dtype=np.uint8) if dist == "uniform"
                     else realistic(rng, n, photos, blanks))
            queries = make_queries(rng, codes, args.queries, fresh, blank_sets, blanks)
            print(f"{dist}: generated {n:,} codes in {time.perf_counter() - t:.1f}s "
                  f"(auto chunks {choose_chunks(n)})", flush=True)
            ok &= run(dist, codes, queries, chunk_options, not args.no_flat)
        if n <= 2_000_000:
            updates(codes)
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
