"""Triage throughput: haven's scan beside naive baselines measured in the same run.

    .venv/bin/python bench/throughput.py [--photos 40] [--large-mb 1024]

Photos: 12-megapixel benign JPEGs (bench/imagegen.py). Naive baseline, one core: full-size
PIL decode + pdqhash + three separate hashlib passes per file. haven: `haven.scan.pipeline.scan`
with one worker per core, no hash sets (matching cost is measured elsewhere).
Large files: random bytes; baseline is the best bare hashlib loop (one read loop feeding all
three digests, or three separate passes, whichever is faster) on one core.
Files are read once before timing so both sides read from the page cache.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
sys.path.insert(0, str(HERE))


def make_photos(n: int) -> Path:
    from imagegen import make_photo

    d = CACHE / "photos12mp"
    d.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        p = d / f"photo_{i:04d}.jpg"
        if not p.exists():
            make_photo(i, 4000, 3000).save(p, "JPEG", quality=90)
    return d


def make_large(total_mb: int, files: int = 4) -> Path:
    d = CACHE / f"large{total_mb}"
    d.mkdir(parents=True, exist_ok=True)
    each = total_mb * 1024 * 1024 // files
    for i in range(files):
        p = d / f"blob_{i}.bin"
        if not p.exists() or p.stat().st_size != each:
            with open(p, "wb") as fh:
                left = each
                while left:
                    n = min(left, 16 * 1024 * 1024)
                    fh.write(os.urandom(n))
                    left -= n
    return d


def warm(paths: list[Path]) -> int:
    total = 0
    for p in paths:
        with open(p, "rb") as fh:
            while chunk := fh.read(8 * 1024 * 1024):
                total += len(chunk)
    return total


def naive_photo(path: Path) -> None:
    import pdqhash
    from PIL import Image

    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"))
    pdqhash.compute(arr)
    for algo in ("md5", "sha1", "sha256"):
        h = hashlib.new(algo)
        with open(path, "rb") as fh:
            while chunk := fh.read(1024 * 1024):
                h.update(chunk)
        h.hexdigest()


def bare_one_loop(path: Path) -> None:
    hs = [hashlib.md5(), hashlib.sha1(), hashlib.sha256()]
    with open(path, "rb") as fh:
        while chunk := fh.read(1024 * 1024):
            for h in hs:
                h.update(chunk)


def bare_three_passes(path: Path) -> None:
    for algo in ("md5", "sha1", "sha256"):
        h = hashlib.new(algo)
        with open(path, "rb") as fh:
            while chunk := fh.read(1024 * 1024):
                h.update(chunk)


def cpu_seconds() -> float:
    """CPU time of this process and its reaped children (the scan's worker processes)."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn, paths: list[Path]) -> float:
    t = time.perf_counter()
    for p in paths:
        fn(p)
    return time.perf_counter() - t


def haven_scan(evidence: Path, workers: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds over all processes) of a scan with no hash sets."""
    from haven.scan.pipeline import ScanOptions, scan
    from haven.store.case import CaseStore

    case = Path(tempfile.mkdtemp(prefix="bench-case-"))
    try:
        store = CaseStore(case, create=True)
        c, t = cpu_seconds(), time.perf_counter()
        result = scan([str(evidence)], store, ScanOptions(workers=workers))
        elapsed, cpu = time.perf_counter() - t, cpu_seconds() - c
        store.close()
        assert result.items == len(list(evidence.iterdir())), result
        return elapsed, cpu
    finally:
        shutil.rmtree(case)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # 120: worker start-up (~0.4 s per process) is amortised as in a real seizure
    ap.add_argument("--photos", type=int, default=120)
    ap.add_argument("--naive-photos", type=int, default=8, help="photos timed for the slow baseline")
    ap.add_argument("--large-mb", type=int, default=1024)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)

    # Other processes on the machine skew a 2-core run: the load average is printed with it.
    res: dict = {"cpus": os.cpu_count(), "workers": args.workers,
                 "loadavg_before": [round(x, 2) for x in os.getloadavg()]}
    photos_dir = make_photos(args.photos)
    photos = sorted(photos_dir.iterdir())
    mb = warm(photos) / 1e6
    c = cpu_seconds()
    t_naive = timed(naive_photo, photos[: args.naive_photos])
    naive_cpu = cpu_seconds() - c
    naive_ips = args.naive_photos / t_naive
    t_haven, cpu_haven = haven_scan(photos_dir, args.workers)
    haven_ips = len(photos) / t_haven
    res["photos"] = {
        "count": len(photos), "megabytes": round(mb, 1),
        "naive_images_per_s": round(naive_ips, 2),
        "naive_mb_per_s": round(naive_ips * mb / len(photos), 1),
        "haven_images_per_s": round(haven_ips, 2),
        "haven_mb_per_s": round(mb / t_haven, 1),
        "ratio": round(haven_ips / naive_ips, 2),
        # Per CPU-second figures do not depend on what else the machine runs.
        "naive_images_per_cpu_s": round(args.naive_photos / naive_cpu, 2),
        "haven_images_per_cpu_s": round(len(photos) / cpu_haven, 2),
        "ratio_per_core": round((len(photos) / cpu_haven) / (args.naive_photos / naive_cpu), 2),
    }

    large_dir = make_large(args.large_mb)
    large = sorted(large_dir.iterdir())
    mb = warm(large) / 1e6
    best = min(timed(bare_one_loop, large), timed(bare_three_passes, large))
    t_haven, cpu_haven = haven_scan(large_dir, args.workers)
    res["large"] = {
        "files": len(large), "megabytes": round(mb, 1),
        "bare_hashlib_mb_per_s": round(mb / best, 1),
        "haven_mb_per_s": round(mb / t_haven, 1),
        "ratio": round(best / t_haven, 2),
        "haven_mb_per_cpu_s": round(mb / cpu_haven, 1),
    }
    res["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(res, indent=2))
    p, l = res["photos"], res["large"]
    print(f"12 MP JPEG: haven {p['haven_images_per_s']} img/s vs naive {p['naive_images_per_s']} img/s "
          f"= {p['ratio']}x (target >= 15x); per CPU-second {p['haven_images_per_cpu_s']} vs "
          f"{p['naive_images_per_cpu_s']} = {p['ratio_per_core']}x per core")
    print(f"large files: haven {l['haven_mb_per_s']} MB/s vs bare hashlib {l['bare_hashlib_mb_per_s']} MB/s "
          f"= {l['ratio']}x (target >= 0.9x)")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    main()
