"""Cost of hash-only hypotheses per item against known lists of 10k to 100M PDQ hashes.

    nice .venv/bin/python bench/hypothesis_scale.py --sizes 10000,100000,1000000
    nice .venv/bin/python bench/hypothesis_scale.py --library /work/data/national/clustered100m/library.npy \
        --sizes 10000000,100000000 --items 3 --threads 1,2

Known rows: bench/pdq_corpus.py's clustered generator (`--library FILE.npy`: an (n, 32) uint8
array, memory-mapped, e.g. the 100M library bench/pdq_scale_classes.py saves). Items:
generated 640x480 photos (bench/imagegen.py), JPEG q90. Per item and size: CPU and wall time
of the first-round search (`haven.match.hypothesis_search.first_round`, compiled; the numpy
matrix beside it up to `--numpy-max`), the hypotheses themselves (grid -> codes), and today's
PDQ hashing of the same bytes (decode + the 8 dihedral query hashes and their windows) as the
baseline measured in the same run. The plain near search at these sizes is in
docs/library.md (~1-4 ms per item at 1M-100M) and not repeated here.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import recall  # noqa: E402
from imagegen import make_photo  # noqa: E402

from haven.match import framing  # noqa: E402
from haven.match.hypothesis_search import first_round, first_round_numpy  # noqa: E402
from haven.signals import pdq  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--library", type=Path, default=None,
                    help="an (n, 32) uint8 .npy of known PDQ codes (memory-mapped)")
    ap.add_argument("--items", type=int, default=10)
    ap.add_argument("--threads", default="1", help="comma-separated thread counts to time")
    ap.add_argument("--numpy-max", type=int, default=100_000,
                    help="also time the numpy matrix up to this many known rows")
    args = ap.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.library:
        lib = np.load(args.library, mmap_mode="r")
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import recall_hashonly

        lib = recall_hashonly.padding(max(sizes))
    known = lib.view(np.uint64).reshape(-1, 4)
    framing._one_blas_thread()
    items, t_plain, t_hyp = [], [], []
    for s in range(args.items):
        data = recall._jpeg(make_photo(8_000_000 + s, 640, 480), 90)
        t = time.process_time()
        pdq.pdq_and_query_from_bytes(data)
        t_plain.append(time.process_time() - t)
        t = time.process_time()
        item = framing.Item.from_pixels(pdq._prepared(data, True).pixels)
        hyp = framing.hypotheses(item)
        t_hyp.append(time.process_time() - t)
        items.append(hyp)
    first_round(items[0][2], items[0][3], len(items[0][1]), known[:1000], 52, 36)  # compile
    base = float(np.median(t_plain))
    print(f"{args.items} items 640x480; today's PDQ hashing {base * 1e3:.2f} ms CPU per item, "
          f"grid + hypotheses {np.median(t_hyp) * 1e3:.2f} ms (medians); load "
          f"{os.getloadavg()[0]:.1f}")
    print(f"{'known':>12} {'threads':>7} {'search CPU ms':>14} {'wall ms':>9} {'numpy CPU ms':>13}"
          f" {'(hyp+search)/today':>19}  rows within")
    for n in sizes:
        k = known[:n]
        np.asarray(k[::4096, 0]).sum()  # fault the mapping in before timing
        for threads in (int(v) for v in args.threads.split(",")):
            cpu, wall, within = [], [], 0
            for tags, frames, codes, masks in items:
                t, w = time.process_time(), time.perf_counter()
                near = first_round(codes, masks, len(frames), k, framing.CANDIDATE,
                                   max(framing.FAMILIES.values()), threads)
                cpu.append(time.process_time() - t)
                wall.append(time.perf_counter() - w)
                within += len(near.rows)
            np_ms = "-"
            if n <= args.numpy_max and threads == 1:
                t = time.process_time()
                for tags, frames, codes, masks in items[:3]:
                    first_round_numpy(codes, masks, len(frames), np.ascontiguousarray(k),
                                      framing.CANDIDATE, max(framing.FAMILIES.values()))
                np_ms = f"{(time.process_time() - t) / min(3, len(items)) * 1e3:.1f}"
            c = float(np.median(cpu))
            print(f"{n:>12,} {threads:>7} {c * 1e3:>14.2f} {np.median(wall) * 1e3:>9.1f} "
                  f"{np_ms:>13} {(base + float(np.median(t_hyp)) + c) / base:>19.2f}  {within}"
                  f"  (load {os.getloadavg()[0]:.1f})", flush=True)


if __name__ == "__main__":
    main()
