"""Exact-digest library at scale: haven's segment store beside a Python dict and SQLite, same run.

    .venv/bin/python bench/library_exact.py                       # 10M MD5, dict 10M, SQLite 2M
    .venv/bin/python bench/library_exact.py --n 100000000 --baseline-n 10000000
    .venv/bin/python bench/library_exact.py --n 1000000 --kind sha256

Digests are random bytes (real MD5/SHA values are uniform, so this is their distribution),
entry ids 0..n-1. Queries: half stored digests, half absent. Measured:

- build: sort and write one segment (`DigestStore.add_segment`);
- open: with the full checksum pass (default) and without it (sizes and footers only);
- bytes per entry: on disk (= mapped; the OS pages in what lookups touch) and what a miss
  touches (prefix + radix sections), against the RSS growth of a dict {digest bytes: id}
  and the size of an SQLite `WITHOUT ROWID` table with the digest as primary key;
- lookups/s: batched (`lookup_many`, 100k digests a call, as a scan's hashing stage can
  send) and one by one (`lookup`), each beside dict and SQLite one-by-one lookups;
- feed updates: add 10k, delete 1k, flush, compact (compaction rewrites the kind: its time
  is the cost of a merge, which runs rarely and off the scan path).

Beyond RAM (`--n 1000000000 --segment-rows 100000000 --baseline-n 10000000 --no-sqlite`), the
digests are generated and imported one bulk segment at a time (each from its own seeded
generator, so nothing holds all of them), lookups are measured over the segments, then over
the single segment a streaming `compact` merges them into.

Files go to --dir (default a temporary directory on the same disk as /tmp), removed after.
The page cache is warm (files were just written); a cold first scan pays disk reads for
about 30 prefix pages per lookup until the radix and hot prefix pages are cached.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from haven.library import DIGEST_WIDTHS, DigestStore


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>12,.0f}/s"


def _build_in_segments(store: DigestStore, args, width: int, n_hits: int):
    """Import n rows as bulk segments generated one at a time; measure lookups over them.

    Returns (the first segment's digests, for the baselines and deletions; `n_hits` stored
    digests sampled across all segments; seconds spent sorting and writing, compaction included).
    """
    parts = -(-args.n // args.segment_rows)
    hits, first, build = [], None, 0.0
    for i in range(parts):
        lo = i * args.segment_rows
        rows = min(args.segment_rows, args.n - lo)
        rng = np.random.default_rng([args.seed, 1 + i])  # [s, 0] would repeat seed s
        chunk = rng.integers(0, 256, (rows, width), dtype=np.uint8)
        hits.append(chunk[rng.integers(0, rows, -(-n_hits // parts))])
        if first is None:
            first = chunk[:args.baseline_n or args.segment_rows].copy()
        t = time.perf_counter()
        store.add_segment(args.kind, chunk, np.arange(lo, lo + rows))
        build += time.perf_counter() - t
        del chunk
        print(f"haven  segment {i + 1}/{parts}: {lo + rows:,} rows, build so far {build:.0f} s",
              flush=True)
    hit = np.concatenate(hits)[:n_hits]
    probe = np.concatenate([hit, np.random.default_rng(args.seed + 1).integers(
        0, 256, (n_hits, width), dtype=np.uint8)])
    store.lookup_many(args.kind, probe[:1000])
    t = time.perf_counter()
    qn, _ = store.lookup_many(args.kind, probe)
    tb = time.perf_counter() - t
    assert len(set(qn.tolist()) & set(range(n_hits))) == n_hits, "missed stored digests"
    t = time.perf_counter()
    for q in probe[::40]:
        store.lookup(args.kind, bytes(q).hex())
    ts = time.perf_counter() - t
    print(f"haven  over {parts} segments, lookups batched: {_rate(len(probe), tb)}   one by one: "
          f"{_rate(len(probe[::40]), ts)}", flush=True)
    t = time.perf_counter()
    store.compact(args.kind)
    t_merge = time.perf_counter() - t
    print(f"haven  compact {parts} segments into one: {t_merge:.1f} s", flush=True)
    return first, hit, build + t_merge


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--baseline-n", type=int, default=None, help="entries for dict/SQLite (default --n)")
    ap.add_argument("--kind", default="md5", choices=sorted(DIGEST_WIDTHS))
    ap.add_argument("--dir", default=None)
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--sqlite-n", type=int, default=2_000_000,
                    help="entries for SQLite (its inserts take ~20 s a million here)")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--segment-rows", type=int, default=None,
                    help="import in bulk segments of this many rows, generated one at a time, "
                         "then compact them into one (for --n beyond RAM)")
    args = ap.parse_args()
    width = DIGEST_WIDTHS[args.kind]
    rng = np.random.default_rng(args.seed)
    base = Path(tempfile.mkdtemp(dir=args.dir, prefix="haven-libbench-"))
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} on {os.cpu_count()} cores; "
          f"{args.kind}, n={args.n:,}; files in {base}", flush=True)
    try:
        batch = 100_000
        store = DigestStore.create(base / "lib")
        if args.segment_rows and args.segment_rows < args.n:
            digests, hits, build = _build_in_segments(store, args, width, batch // 2)
        else:
            digests = rng.integers(0, 256, (args.n, width), dtype=np.uint8)
            hits = digests[rng.integers(0, args.n, batch // 2)]
            t = time.perf_counter()
            store.add_segment(args.kind, digests, np.arange(args.n))
            build = time.perf_counter() - t
        misses = rng.integers(0, 256, (batch // 2, width), dtype=np.uint8)
        queries = np.concatenate([hits, misses])[rng.permutation(batch)]
        singles = [bytes(q).hex() for q in queries[:5000]]
        store.close()
        for verify in (True, False):
            t = time.perf_counter()
            store = DigestStore.open(base / "lib", verify=verify)
            opened = time.perf_counter() - t
            print(f"haven  open verify={verify!s:5}: {opened:7.3f} s", flush=True)
        seg = store.segments[0]
        hot = seg.prefix.nbytes + seg.radix.nbytes
        print(f"haven  build (sort + write): {build:7.1f} s; {seg.nbytes / args.n:.1f} bytes/entry on "
              f"disk, {hot / args.n:.1f} bytes/entry touched by misses", flush=True)
        store.lookup_many(args.kind, queries[:1000])  # warm the radix
        t = time.perf_counter()
        qn, ids = store.lookup_many(args.kind, queries)
        tb = time.perf_counter() - t
        want = {bytes(d) for d in hits}
        assert len({bytes(queries[q]) for q in qn.tolist()}) == len(want), "missed stored digests"
        t = time.perf_counter()
        store.lookup_many(args.kind, queries[::-1])  # the same digests again: pages now cached
        tw = time.perf_counter() - t
        t = time.perf_counter()
        for s in singles:
            store.lookup(args.kind, s)
        ts = time.perf_counter() - t
        print(f"haven  lookups batched : {_rate(batch, tb)} (repeated: {_rate(batch, tw)})   "
              f"one by one: {_rate(len(singles), ts)}", flush=True)

        # feed updates on the big library
        new = rng.integers(0, 256, (10_000, width), dtype=np.uint8)
        t = time.perf_counter()
        store.add(args.kind, new, range(args.n, args.n + 10_000))
        t_add = time.perf_counter() - t
        t = time.perf_counter()
        store.delete(args.kind, digests[:1000])
        t_del = time.perf_counter() - t
        t = time.perf_counter()
        qn, _ = store.lookup_many(args.kind, queries)
        t_lookup_delta = time.perf_counter() - t
        t = time.perf_counter()
        store.flush()
        t_flush = time.perf_counter() - t
        t = time.perf_counter()
        store.compact()
        t_compact = time.perf_counter() - t
        print(f"haven  feed: add 10k {t_add:.2f} s, delete 1k {t_del:.2f} s (batched lookups with "
              f"delta+tombstones {_rate(batch, t_lookup_delta)}), flush {t_flush:.2f} s, "
              f"compact {t_compact:.1f} s -> {len(store):,} rows", flush=True)
        store.close()
        shutil.rmtree(base / "lib")

        # -- baselines -------------------------------------------------------------------------
        bn = min(args.baseline_n or args.n, args.n)
        sub = digests[:bn]
        raw = sub.tobytes()
        before = _rss()
        t = time.perf_counter()
        table = {raw[i * width:(i + 1) * width]: i for i in range(bn)}
        t_dict = time.perf_counter() - t
        dict_bytes = _rss() - before
        qbytes = [bytes(q) for q in queries]
        t = time.perf_counter()
        for q in qbytes:
            table.get(q)
        t_dq = time.perf_counter() - t
        t = time.perf_counter()
        for s in singles:
            table.get(bytes.fromhex(s))
        t_ds = time.perf_counter() - t
        print(f"dict   n={bn:,}: build {t_dict:.1f} s; {dict_bytes / bn:.1f} bytes/entry (RSS); "
              f"lookups {_rate(batch, t_dq)}   from hex one by one: {_rate(len(singles), t_ds)}",
              flush=True)
        del table
        if not args.no_sqlite:
            db = base / "digests.sqlite"
            con = sqlite3.connect(db)
            con.execute("PRAGMA journal_mode=OFF")
            con.execute("PRAGMA synchronous=OFF")
            con.execute("CREATE TABLE d (digest BLOB PRIMARY KEY, id INTEGER) WITHOUT ROWID")
            t = time.perf_counter()
            step = 1_000_000
            sn = min(bn, args.sqlite_n)
            for lo in range(0, sn, step):
                con.executemany("INSERT OR IGNORE INTO d VALUES (?, ?)",
                                ((raw[i * width:(i + 1) * width], i) for i in range(lo, min(sn, lo + step))))
            con.commit()
            t_sql = time.perf_counter() - t
            size = db.stat().st_size
            cur = con.cursor()
            t = time.perf_counter()
            for q in qbytes[:20000]:
                cur.execute("SELECT id FROM d WHERE digest = ?", (q,)).fetchall()
            t_sq = time.perf_counter() - t
            print(f"sqlite n={sn:,}: build {t_sql:.1f} s; {size / sn:.1f} bytes/entry on disk; "
                  f"lookups one by one {_rate(20000, t_sq)}", flush=True)
            con.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")


if __name__ == "__main__":
    sys.exit(main())
