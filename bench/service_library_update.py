"""Hash-set updates reaching a serving lookup library: in place vs a full rebuild, same run.

    .venv/bin/python bench/service_library_update.py --hashes 1000000 --feed 1000

A service database (SQLite, a temporary data folder) holds `--hashes` random PDQ hashes in one
set; a `LookupLibrary` (what every `haven serve` worker holds) is built from it. Then a feed
appends `--feed` entries (PDQ + MD5) to a second set, and the time for the library to take it
in (`sync`, the call each worker's `LibrarySync` makes every few seconds, and the importing
worker right after the upload) is measured, with a check that the new hashes answer; then a
feed deleting those entries again (tombstones); then a feed appended to the big set itself;
then, as the baseline, the full rebuild
(`reload`) that every change cost before. Timings exclude writing the tables.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hashes", type=int, default=1_000_000)
    ap.add_argument("--feed", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()

    from haven.hashsets.model import HashEntry, ImportResult
    from haven.service.db import make_engine, session_factory, upgrade
    from haven.service.lookup import LookupLibrary, store_hashset
    from haven.service.settings import Settings

    data = Path(tempfile.mkdtemp(prefix="haven-libupdate-"))
    rng = random.Random(args.seed)
    print(f"load: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {args.hashes:,} hashes, "
          f"feed of {args.feed:,}", flush=True)
    try:
        settings = Settings(data_dir=data)
        settings.prepare()
        engine = make_engine(settings.url)
        upgrade(engine)
        sessions = session_factory(engine)

        def store(name, entries, **kw):
            with sessions() as s:
                store_hashset(s, ImportResult(format="bench", entries=entries), name=name,
                              source_sha256=None, **kw)
                s.commit()

        t = time.perf_counter()
        store("national", [HashEntry(pdq=f"{rng.getrandbits(256):064x}", category="1")
                           for _ in range(args.hashes)])
        print(f"tables written in {time.perf_counter() - t:.1f} s", flush=True)
        lib = LookupLibrary()
        with sessions() as s:
            t = time.perf_counter()
            lib.reload(s)
            first = time.perf_counter() - t
        print(f"first build: {first:.2f} s ({len(lib):,} entries)", flush=True)

        feed = [(f"{rng.getrandbits(256):064x}", f"{rng.getrandbits(128):032x}", f"n{i}")
                for i in range(args.feed)]
        store("feed", [HashEntry(pdq=p, md5=m, extra={"id": i}) for p, m, i in feed], append=True)
        near = lib._index.near
        with sessions() as s:
            t = time.perf_counter()
            lib.sync(s)
            t_add = time.perf_counter() - t
        assert lib._index.near is near, "the feed caused a rebuild"
        assert all(lib.match("md5", m) for _p, m, _i in feed[:100])
        assert all(lib.match("pdq", p) for p, _m, _i in feed[:100])
        print(f"in place: {args.feed:,} new entries answer after sync {t_add * 1e3:.0f} ms",
              flush=True)

        store("feed", [], append=True, tombstones=[i for _p, _m, i in feed])
        with sessions() as s:
            t = time.perf_counter()
            lib.sync(s)
            t_del = time.perf_counter() - t
        assert lib._index.near is near and not lib.match("md5", feed[0][1])
        print(f"in place: {args.feed:,} tombstoned entries stop answering after sync "
              f"{t_del * 1e3:.0f} ms", flush=True)

        more = [(f"{rng.getrandbits(256):064x}", f"m{i}") for i in range(args.feed)]
        store("national", [HashEntry(pdq=p, extra={"id": i}) for p, i in more], append=True)
        with sessions() as s:
            t = time.perf_counter()
            lib.sync(s)
            t_big = time.perf_counter() - t
        assert lib._index.near is near and all(lib.match("pdq", p) for p, _i in more[:100])
        print(f"in place: {args.feed:,} entries appended to the {args.hashes:,}-entry set itself "
              f"(an NCMEC-style feed) answer after sync {t_big * 1e3:.0f} ms", flush=True)

        with sessions() as s:
            t = time.perf_counter()
            lib.reload(s)
            t_full = time.perf_counter() - t
        print(f"baseline, full rebuild (what every change cost before): {t_full:.2f} s  -> "
              f"in place {t_full / t_add:.0f}x (add), {t_full / t_del:.0f}x (delete), "
              f"{t_full / t_big:.0f}x (append to the big set) faster", flush=True)
        engine.dispose()
    finally:
        shutil.rmtree(data, ignore_errors=True)
    print(f"load: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    sys.exit(main())
