"""What keeping the hash-only hypotheses' data per image costs a scan, and what re-matching
a hash-only list imported after the scan then costs (issue 17's re-matching).

    nice .venv/bin/python bench/rematch_hypotheses.py [--photos DIR ...] [--generated 60]
        [--rows 1000,10000,50000]

1. Per image (`haven.scan.analyse.analyse`, the worker's whole analysis, one process):
   CPU time with the hypothesis data (`framing=True`: `Item.from_pixels` + `Item.pack`, what
   every scan now computes) against without it (`framing=False`, what a scan of a case
   without hash-only PDQs computed before), in the same run; the bytes kept per image
   (`Item.pack`) beside the worker's uncompressed form (`to_bytes`); how many images carry
   their luma (PDQ-unstable ones).
   Storage: the images' records written into a `hypotheses.db` sidecar (`HypothesisStore`,
   batches of 256 as the scan's writer), its size on disk per 1,000 images and the writer's
   CPU per 1,000.
3. Re-matching: the images are scanned into a case without any list (2 workers), then a
   hash-only list of R PDQ rows (the PDQ of one known picture whose crop is in the
   evidence, plus R-1 random codes) is stored and `rematch()` is timed (what `hashsets
   import` runs), and apart the hypothesis pass over the kept items (the rest is the
   existing re-match: digests, the query index's flat search of the new PDQs among the items'
   query hashes, which dominates at these sizes); baseline in the same run: scanning the same evidence into a case that
   already holds the list (a rescan analyses every item again). Per 1,000 images. The
   crop's finding is checked to be the rescan's.

Photo folders are read as they are (their images must have been looked at: see the brief);
generated pictures come from `haven.demo.make_image` (1600x1200 JPEG q85). CPU is
`time.process_time()` of this process (workers' CPU for the scans: `resource` children).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from haven.demo import jpeg_bytes, make_image
from haven.hashsets.model import HashEntry, ImportResult
from haven.match.framing import Item
from haven.match.rematch import rematch
from haven.scan.analyse import analyse
from haven.scan.pipeline import ScanOptions, scan
from haven.signals import pdq
from haven.store.case import CaseStore
from haven.store.hypotheses import FILE_NAME, HypothesisStore

IMAGES = (".jpg", ".jpeg", ".png")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def per_image(paths: list[Path]) -> dict:
    """Analysis CPU with and without the hypothesis data, and its size, over `paths`."""
    cpu_with = cpu_without = 0.0
    packed = raw = luma = n = 0
    records = []
    for p in paths:
        for framing in (False, True):  # alternated, so load drifts hit both alike
            c = time.process_time()
            a = analyse(p.name, fs_path=str(p), framing=framing)
            spent = time.process_time() - c
            if framing:
                cpu_with += spent
            else:
                cpu_without += spent
        if a.framing is None:
            continue
        n += 1
        item = Item.unpack(a.framing)
        packed += len(a.framing)
        raw += len(item.to_bytes())
        luma += item.luma is not None
        records.append(a.framing)
    return {"images": len(paths), "kept": n, "cpu_without": cpu_without, "cpu_with": cpu_with,
            "packed": packed, "raw": raw, "luma": luma, "records": records}


def storage(records: list[bytes], work: Path) -> tuple[float, float]:
    """(bytes on disk, writer CPU seconds) of the records in a fresh sidecar."""
    case = work / "sidecar"
    case.mkdir()
    c = time.process_time()
    with HypothesisStore(case) as kept:
        for start in range(0, len(records), 256):
            kept.put((start + k + 1, data) for k, data in enumerate(records[start:start + 256]))
    cpu = time.process_time() - c
    size = sum(f.stat().st_size for f in case.iterdir() if f.name.startswith(FILE_NAME))
    shutil.rmtree(case)
    return size, cpu


def _evidence(paths: list[Path], work: Path) -> tuple[Path, str]:
    """The images (copied: a scan does not follow links) plus a generated crop; the PDQ of
    the crop's original."""
    ev = work / "ev"
    ev.mkdir()
    for k, p in enumerate(paths):
        shutil.copyfile(p.resolve(), ev / f"{k:05d}{p.suffix.lower()}")
    w, h = 800, 600
    original = make_image(700, (w, h))
    crop = original.crop((int(0.06 * w), int(0.04 * h), int(0.95 * w), int(0.93 * h)))
    (ev / "crop.jpg").write_bytes(jpeg_bytes(crop, 85))
    return ev, pdq.pdq_from_bytes(jpeg_bytes(original, 92)).hex


def _listing(known: str, rows: int, rng) -> ImportResult:
    codes = [bytes(r).hex() for r in rng.integers(0, 256, (rows - 1, 32), dtype=np.uint8)]
    return ImportResult("csv", [HashEntry(pdq=known, category="1")]
                        + [HashEntry(pdq=c, category="1") for c in codes])


def _crop_match(store: CaseStore) -> tuple | None:
    row = store.db.execute(
        "SELECT m.matched_signal, m.distance FROM matches m JOIN items i ON i.id = m.item_id "
        "WHERE i.path LIKE '%/crop.jpg'").fetchone()
    return tuple(row) if row else None


def warm_up() -> tuple[float, float]:
    """(CPU, wall) of the first hypothesis search in a process: numba's import and its cached
    compilation, paid once per re-match (and once per scan worker), not per item."""
    from haven.match.framing import FramingIndex

    c, t = time.process_time(), time.perf_counter()
    item = Item.from_pixels(np.asarray(make_image(1, (320, 240))))
    FramingIndex(np.zeros((10, 32), np.uint8)).search(item)
    return time.process_time() - c, time.perf_counter() - t


_PASS = {"cpu": 0.0, "wall": 0.0}


def _timed_pass():
    """Wrap re-matching's hypothesis pass (`_hypothesis_candidates`) to time it apart from
    the rest of the re-match (digests, the query index's search of the new PDQs, ...)."""
    from haven.match import rematch as module

    inner = module._hypothesis_candidates

    def timed(*args, **kwargs):
        c, t = time.process_time(), time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            _PASS["cpu"] += time.process_time() - c
            _PASS["wall"] += time.perf_counter() - t

    module._hypothesis_candidates = timed


def rematching(paths: list[Path], rows_list: list[int], work: Path) -> list[dict]:
    ev, known = _evidence(paths, work)
    _timed_pass()
    out = []
    for rows in rows_list:
        rng = np.random.default_rng(rows)
        listing = _listing(known, rows, rng)
        case = work / f"case-{rows}"
        store = CaseStore(case, create=True)
        scan([str(ev)], store, ScanOptions(workers=2))
        images = store.db.execute("SELECT count(*) FROM items WHERE pdq_quality >= 50"
                                  ).fetchone()[0]
        store.import_hashset(listing, name="hash-only", source_path=str(work / "list.csv"),
                             known_good=False)
        _PASS.update(cpu=0.0, wall=0.0)
        c, t = time.process_time(), time.perf_counter()
        result = rematch(store)
        re_cpu, re_wall = time.process_time() - c, time.perf_counter() - t
        found = _crop_match(store)
        store.close()

        base = work / f"rescan-{rows}"
        store = CaseStore(base, create=True)
        store.import_hashset(listing, name="hash-only", source_path=str(work / "list.csv"),
                             known_good=False)
        c, cc, t = time.process_time(), children_cpu(), time.perf_counter()
        scan([str(ev)], store, ScanOptions(workers=2))
        sc_cpu = time.process_time() - c + children_cpu() - cc
        sc_wall = time.perf_counter() - t
        expected = _crop_match(store)
        store.close()
        out.append({"rows": rows, "images": images, "rematch_cpu": re_cpu,
                    "rematch_wall": re_wall, "pass_cpu": _PASS["cpu"], "pass_wall": _PASS["wall"],
                    "rescan_cpu": sc_cpu, "rescan_wall": sc_wall,
                    "same": found == expected and found is not None, "match": found,
                    "checked": result.items_checked, "load": load()})
        shutil.rmtree(case)
        shutil.rmtree(base)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", action="append", default=[],
                    help="A folder of photos already looked at (repeatable).")
    ap.add_argument("--generated", type=int, default=60, help="Generated 1600x1200 JPEGs.")
    ap.add_argument("--rows", default="1000,10000,50000",
                    help="Hash-only list sizes re-matched (PDQ rows; MAX_ROWS is 50,000).")
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rematch-hyp-", dir=args.dir))
    try:
        families: dict[str, list[Path]] = {}
        for folder in args.photos:
            d = Path(folder)
            families[d.name] = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGES)
        gen = work / "generated"
        gen.mkdir()
        for i in range(args.generated):
            (gen / f"g{i:04d}.jpg").write_bytes(jpeg_bytes(make_image(5000 + i, (1600, 1200)), 85))
        families["generated 1600x1200"] = sorted(gen.iterdir())

        print(f"load at start {load()}")
        print("\n1. per image: analysis CPU without / with the hypothesis data, bytes kept")
        print("family\timages\tkept\tluma\tCPU ms without\twith\t+ms\tpacked B/img\traw B/img"
              "\tsidecar MB/1000\twriter CPU ms/1000")
        everything: list[Path] = []
        for name, paths in families.items():
            r = per_image(paths)
            size, wcpu = storage(r["records"], work)
            k = max(r["kept"], 1)
            print(f"{name}\t{r['images']}\t{r['kept']}\t{r['luma']}"
                  f"\t{1000 * r['cpu_without'] / r['images']:.1f}"
                  f"\t{1000 * r['cpu_with'] / r['images']:.1f}"
                  f"\t{1000 * (r['cpu_with'] - r['cpu_without']) / r['images']:.2f}"
                  f"\t{r['packed'] / k:,.0f}\t{r['raw'] / k:,.0f}"
                  f"\t{size / k * 1000 / 1e6:.1f}\t{wcpu / k * 1e6:.0f}\t(load {load()})",
                  flush=True)
            everything += paths

        rows_list = [int(x) for x in args.rows.split(",") if x]
        cpu, wall = warm_up()
        print(f"\n2. first hypothesis search of a process (numba load, once per re-match): "
              f"{cpu:.2f} s CPU, {wall:.2f} s wall (load {load()}); not in the figures below")
        print("\n3. re-matching a hash-only list imported after the scan (per 1,000 images)")
        print("rows\timages\tre-match CPU s/1000\twall s/1000\tof which hypothesis pass CPU"
              "\twall\trescan CPU s/1000 (all procs)\twall s/1000\trescan/re-match CPU"
              "\tcrop match = rescan's\tload")
        for r in rematching(everything, rows_list, work):
            per = 1000 / r["images"]
            print(f"{r['rows']}\t{r['images']}\t{r['rematch_cpu'] * per:.2f}"
                  f"\t{r['rematch_wall'] * per:.2f}\t{r['pass_cpu'] * per:.2f}"
                  f"\t{r['pass_wall'] * per:.2f}\t{r['rescan_cpu'] * per:.2f}"
                  f"\t{r['rescan_wall'] * per:.2f}"
                  f"\t{r['rescan_cpu'] / max(r['rematch_cpu'], 1e-9):.1f}x"
                  f"\t{r['same']} {r['match']}\t{r['load']}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
