"""A rescan of unchanged evidence beside the first scan of it: resumption must stay cheap.

    .venv/bin/python bench/rescan.py --files 2000 --members 2000

Generates benign evidence in a temp directory: N JPEG files (640x480 coloured noise, each
distinct) and a zip of M small JPEG members, then times with `haven.scan.pipeline.scan`
(2 workers, no hash sets):

1. the first scan (baseline: every item read, hashed and stored);
2. a rescan of the unchanged evidence (each item's stamp compared, nothing analysed);
3. a rescan after 1 % of the files were overwritten (those analysed again, their earlier
   findings kept in history);
4. `--rehash` (everything analysed again).

Each figure is printed with its ratio to the first scan. Checks: the unchanged rescan
analyses 0 items, the 1 % rescan exactly the changed files, --rehash all of them.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from haven.demo import jpeg_bytes, make_image
from haven.scan.pipeline import ScanOptions, scan
from haven.store.case import CaseStore


def build(root: Path, files: int, members: int) -> Path:
    ev = root / "evidence"
    ev.mkdir()
    for i in range(files):
        (ev / f"img_{i:05d}.jpg").write_bytes(jpeg_bytes(make_image(i, (640, 480)), 85))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:
        for i in range(members):
            z.writestr(f"m/{i:05d}.jpg", jpeg_bytes(make_image(100_000 + i, (160, 120)), 80))
    (ev / "pack.zip").write_bytes(buffer.getvalue())
    return ev


def timed(label: str, evidence: Path, store: CaseStore, options: ScanOptions,
          baseline: float | None):
    start = time.perf_counter()
    progress = scan([str(evidence)], store, options)
    seconds = time.perf_counter() - start
    ratio = f"{seconds / baseline:6.3f} of the first scan" if baseline else "baseline"
    print(f"{label:<28} {seconds:8.2f} s  analysed {progress.items:6d}  skipped "
          f"{progress.skipped:6d}  changed {progress.changed:6d}  ({ratio})")
    return seconds, progress


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-rescan-"))
    try:
        ev = build(root, args.files, args.members)
        total = args.files + args.members + 1
        size = sum(p.stat().st_size for p in ev.rglob("*") if p.is_file())
        print(f"evidence: {args.files} files + a zip of {args.members} members "
              f"({total} items, {size / 1e6:.0f} MB); workers {args.workers}, cores {os.cpu_count()}")
        store = CaseStore(root / "case", create=True)
        options = ScanOptions(workers=args.workers)
        first, p = timed("first scan", ev, store, options, None)
        assert p.items == total, p
        _, p = timed("rescan, unchanged", ev, store, options, first)
        assert (p.items, p.skipped) == (0, total), p
        changed = max(1, args.files // 100)
        for i in range(changed):
            (ev / f"img_{i:05d}.jpg").write_bytes(jpeg_bytes(make_image(900_000 + i, (640, 480)), 85))
        _, p = timed(f"rescan, {changed} files changed", ev, store, options, first)
        assert p.items == p.changed == changed, p
        _, p = timed("rescan --rehash", ev, store, ScanOptions(workers=args.workers, rehash=True),
                     first)
        assert p.items == p.changed == total, p
        store.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
