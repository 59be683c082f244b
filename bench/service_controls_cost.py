"""In-process cost of the matching controls (issue 15) on one lookup: `ServiceHashSets.hma`.

Loads N random PDQ hashes into a fresh SQLite service, builds the known hashes as a server
worker does, then times the same queries (half enrolled hashes with 8 bits flipped, half
random) with the controls off and on, alternating rounds so both see the same machine load.
Controls on: the set's own PDQ threshold (28), a negative set of N/100 random hashes
suppressing it, the flood watch (default limits). Prints µs per lookup and the ratio.

    .venv/bin/python bench/service_controls_cost.py --hashes 200000 --queries 10000 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hashes", type=int, default=200_000)
    ap.add_argument("--queries", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from service_lookup import _controls, _flip, _load

    from haven.service.db import make_engine, session_factory
    from haven.service.lookup import ServiceHashSets, serve_single_threaded
    from haven.service.quarantine import FloodWatch
    from haven.service.settings import Settings

    print(f"load: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    serve_single_threaded()
    with tempfile.TemporaryDirectory(prefix="haven-bench-") as tmp:
        off_dir, on_dir = Path(tmp) / "off", Path(tmp) / "on"
        hexes, _, _ = _load(off_dir, args.hashes, args.seed, "uniform")
        _load(on_dir, args.hashes, args.seed, "uniform")
        _controls(on_dir, args.hashes // 100, args.seed)
        rng = random.Random(args.seed + 1)
        queries = [(_flip(rng.choice(hexes), rng, 8) if i % 2 == 0
                    else f"{rng.getrandbits(256):064x}") for i in range(args.queries)]
        libs = {}
        for name, folder in (("off", off_dir), ("on", on_dir)):
            lib = ServiceHashSets(31)
            if name == "on":
                lib.flood = FloodWatch()
            engine = make_engine(Settings(data_dir=folder).url)
            with session_factory(engine)() as s:
                lib.reload(s)
            engine.dispose()
            libs[name] = lib
        best = {"off": float("inf"), "on": float("inf")}
        matched = {}
        for r in range(args.rounds):
            for name in ("off", "on") if r % 2 == 0 else ("on", "off"):
                lib = libs[name]
                t0 = time.perf_counter()
                n = sum(lib.hma("pdq", q)[3] for q in queries)
                per = (time.perf_counter() - t0) / len(queries) * 1e6
                best[name] = min(best[name], per)
                matched[name] = n
                print(f"round {r + 1} controls {name}: {per:.1f} µs per lookup ({n} matches)",
                      flush=True)
        print(f"best: off {best['off']:.1f} µs, on {best['on']:.1f} µs per lookup "
              f"(on/off {best['on'] / best['off']:.2f}); matches off {matched['off']}, on "
              f"{matched['on']}; load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
