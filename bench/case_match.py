"""Per-item matching cost of a case's known hashes (`CaseHashSets.match`), CPU time.

    .venv/bin/python bench/case_match.py [--entries 250000] [--pdq 20000] [--items 20000]

A case store gets one generated hash set: `--entries` rows with MD5, SHA-1 and SHA-256 of
random bytes (above 200,000 a digest type is served from the sorted `DigestTable`) and
`--pdq` rows with a random PDQ hash. Items: half carry digests of a known entry, half
unknown digests; a tenth of them also search 8 PDQ query hashes (one 12 bits from a known
hash, seven random). Measured with `time.process_time` (CPU of this process, so a busy
machine moves it less than wall time): per item, exact digests only and with PDQ. Baseline
in the same run: the three digests looked up in plain Python dicts (the floor for exact).
`--src DIR` runs another checkout's haven (its `src/`) for a before/after comparison.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--entries", type=int, default=250_000)
    ap.add_argument("--pdq", type=int, default=20_000)
    ap.add_argument("--items", type=int, default=20_000)
    ap.add_argument("--src", type=Path, help="haven checkout whose src/ to time")
    ap.add_argument("--seed", type=int, default=20)
    args = ap.parse_args()
    if args.src:
        sys.path.insert(0, str(args.src.resolve() / "src"))
    import numpy as np

    from haven.hashsets.model import HashEntry, ImportResult
    from haven.match.library import MatchLibrary  # the name both before and after issue 20
    from haven.store.case import CaseStore

    print(f"load: {_load()} on {os.cpu_count()} cores; "
          f"haven from {Path(sys.modules['haven'].__file__).parents[1]}")
    rng = np.random.default_rng(args.seed)
    raw = rng.integers(0, 256, (args.entries, 16), dtype=np.uint8)
    known = [bytes(r) for r in raw]
    digests = [{"md5": hashlib.md5(b).hexdigest(), "sha1": hashlib.sha1(b).hexdigest(),
                "sha256": hashlib.sha256(b).hexdigest()} for b in known]
    pdqs = [bytes(r).hex() for r in rng.integers(0, 256, (args.pdq, 32), dtype=np.uint8)]
    entries = [HashEntry(**d) for d in digests] + [HashEntry(pdq=p) for p in pdqs]
    with tempfile.TemporaryDirectory() as tmp:
        store = CaseStore(Path(tmp) / "case", create=True)
        src = Path(tmp) / "set.csv"
        src.write_text("x\n")
        t = time.perf_counter()
        store.import_hashset(ImportResult("csv", entries), name="known", source_path=str(src),
                             known_good=False)
        t_import = time.perf_counter() - t
        c = time.process_time()
        lib = MatchLibrary(store)
        t_load = time.process_time() - c
        items = []
        for k in range(args.items):
            if k % 2:
                d = digests[int(rng.integers(0, args.entries))]
            else:
                b = bytes(rng.integers(0, 256, 16, dtype=np.uint8))
                d = {"md5": hashlib.md5(b).hexdigest(), "sha1": hashlib.sha1(b).hexdigest(),
                     "sha256": hashlib.sha256(b).hexdigest()}
            q = []
            if k % 10 == 0:
                near = int(pdqs[int(rng.integers(0, args.pdq))], 16) ^ ((1 << 12) - 1)
                q = [f"{near:064x}"] + [bytes(r).hex() for r in
                                         rng.integers(0, 256, (7, 32), dtype=np.uint8)]
            items.append((d, q))
        with lib.searching_on_one_thread():
            lib.match(items[0][0], items[0][1] or [pdqs[0]])  # warm (FAISS, numba)
            c = time.process_time()
            hits = sum(bool(lib.match(d, [])) for d, _ in items)
            t_exact = time.process_time() - c
            with_q = [(d, q) for d, q in items if q]
            c = time.process_time()
            near_hits = sum(any(m.signal_type == "pdq" for m in lib.match(d, q)) for d, q in with_q)
            t_near = time.process_time() - c
        tables = {name: {d[name]: [k] for k, d in enumerate(digests)} for name in digests[0]}
        c = time.process_time()
        floor_hits = sum(any(tables[n].get(d[n]) for n in tables) for d, _ in items)
        t_dict = time.process_time() - c
        store.close()
    n = len(items)
    print(f"set: {args.entries:,} digest rows x3 + {args.pdq:,} PDQ; import {t_import:.1f} s, "
          f"load (CPU) {t_load:.2f} s")
    print(f"exact only : {t_exact / n * 1e6:8.1f} us CPU/item ({hits:,} of {n:,} items matched)"
          f"   plain dicts: {t_dict / n * 1e6:6.1f} us/item ({floor_hits:,} matched)"
          f"   ratio {t_exact / max(t_dict, 1e-9):.1f}x")
    print(f"with PDQ   : {t_near / len(with_q) * 1e6:8.1f} us CPU/item over {len(with_q):,} items"
          f" with 8 query hashes ({near_hits:,} near matches)")
    print(f"load: {_load()}")
    return 0 if hits == floor_hits == n // 2 and near_hits == len(with_q) else 1


if __name__ == "__main__":
    sys.exit(main())
