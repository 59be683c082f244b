"""Triage as the user runs it: the whole `haven scan` command beside the naive pipeline.

    .venv/bin/python bench/triage_command.py [--sizes 40,240] [--repeat 1] [--json out.json]
    .venv/bin/python bench/triage_command.py --photos DIR   # on photos no one here made

For each size N the bench times, in the same run and on the same benign generated 12 MP JPEGs
(4000x3000 q90, `bench/imagegen.py`, cached in bench/.cache/photos12mp, read once before
timing so every side reads from the page cache):

- **naive**, one core: full-size PIL decode + `pdqhash.compute` + three separate hashlib passes
  over the file (`throughput.naive_photo`), on `--naive-photos` photos;
- **limit**, the physical floor of the work haven cannot skip: libjpeg-turbo's DCT-scaled
  decode at the scale haven's fast path asks for (1/4 for 12 MP: 1000x750) + MD5, SHA-1 and
  SHA-256 of the bytes in memory, per photo on one core; two cores do at most twice that. No
  PDQ, no query hashes, no store, no report, no start-up: nothing a scan could do is cheaper;
- **limit + PDQ**, the floor of a scan that stores what haven stored until it decoded to luma:
  the limit plus the PDQ hashes of the decoded RGB picture by pdqhash (its 8 dihedral hashes
  and those of its 3 central windows: haven's RGB fast path `PREPROCESS_RGB_V1`, as
  re-implemented in bench/pdq_paths.py), timed in a forked child that keeps freed memory as
  haven's workers do;
- **luma limit**: the DCT-scaled decode straight to luma (libjpeg's Y plane, no chroma IDCT,
  upsampling or colour conversion) + the three digests: the part of haven's floor no PDQ code
  can change;
- **haven's floor**: the luma limit plus the PDQ hashes haven now computes from that plane
  (`haven.signals.pdq.pdq_and_query_from_bytes`, the scan's own code), timed like limit + PDQ;
  the gap between it and haven is the cost of the command around the per-photo work
  (start-up, processes, store, report);
- **haven**: `haven scan EVIDENCE --case NEW_CASE` run as a subprocess (this checkout's code),
  start-up, worker processes, matching (no hash sets), the store and the report files
  included; wall time, and CPU time over all its processes.

haven's source trees are byte-compiled first (`compileall`, into their `__pycache__`), as an
installed package is (pip compiles at install): with PYTHONDONTWRITEBYTECODE set, as on this
project's machines, every run would otherwise compile haven's ~70 modules again (~0.1 CPU-s).
`--no-compile` times without that.

It prints photos/s for each and the ratios haven/naive (targets: >= 15x at 240 photos,
>= 10x at 40) and haven/limit, each line with the load average (`uptime`) it ran under: the
machine may be shared, and a ratio is only meaningful between figures of the same run. CPU
time per photo (haven's over all its processes, via the rusage of reaped children) is printed
too: it hardly depends on the load, and with the cores haven kept busy it says what two idle
cores would give. `--other-src OLD/src` also times another checkout's `haven scan`.

Last, the cost of the main process's per-item near matching with FAISS on its default OpenMP
threads and on one (what the scan uses), while the machine is as busy as it is.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
sys.path.insert(0, str(HERE))

from throughput import make_photos, naive_photo, warm  # noqa: E402

TARGETS = {40: 10.0, 240: 15.0}
FAST_SHORT_SIDE = 512  # haven.signals.pdq.FAST_SHORT_SIDE: the decode size the fast path asks for


def load() -> str:
    """The load averages as `uptime` prints them."""
    return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _digests(data: bytes) -> None:
    """MD5, SHA-1 and SHA-256 of the bytes in memory, as the floors count them."""
    for algo in ("md5", "sha1", "sha256"):
        hashlib.new(algo, data).digest()


def _decode_scaled(data: bytes, mode: str) -> None:
    """libjpeg-turbo's DCT-scaled decode to `mode` at the scale haven's fast path asks for."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        w, h = im.size
        scale = min(1.0, FAST_SHORT_SIDE / min(w, h))
        im.draft(mode, (math.ceil(w * scale), math.ceil(h * scale)))
        im.load()


def limit_photo(path: Path) -> None:
    """The floor per photo: DCT-scaled decode + the three digests of the bytes in memory."""
    data = path.read_bytes()
    _decode_scaled(data, "RGB")
    _digests(data)


def luma_limit_photo(path: Path) -> None:
    """The floor of a luma decode: DCT-scaled decode to luma + the three digests."""
    data = path.read_bytes()
    _decode_scaled(data, "L")
    _digests(data)


def with_rgb_pdq_photo(path: Path) -> None:
    """The limit plus the PDQ hashes of the RGB fast path (pdqhash) from the same decode."""
    from pdq_paths import rgb_v1_query

    data = path.read_bytes()
    _digests(data)
    rgb_v1_query(data)


def with_pdq_photo(path: Path) -> None:
    """haven's floor: the digests plus the PDQ hashes a scan computes, from haven's own decode."""
    from haven.signals.pdq import pdq_and_query_from_bytes

    data = path.read_bytes()
    _digests(data)
    pdq_and_query_from_bytes(data)


def _in_worker_like_child(fn, paths: list[Path]) -> tuple[float, float]:
    from haven.scan.workers import keep_freed_memory

    keep_freed_memory()
    return per_photo(fn, paths)


def per_photo_in_worker(fn, paths: list[Path], src: Path = SRC) -> tuple[float, float]:
    """(wall s, CPU s) per photo of `fn` in a forked child set up as a worker."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    if str(src) not in sys.path:
        sys.path.insert(0, str(src))
    with ProcessPoolExecutor(1, mp_context=get_context("fork")) as pool:
        return pool.submit(_in_worker_like_child, fn, paths).result()


def per_photo_with_pdq(paths: list[Path], src: Path = SRC) -> tuple[float, float]:
    """(wall s, CPU s) per photo of haven's floor (`with_pdq_photo`) in a worker-like child."""
    return per_photo_in_worker(with_pdq_photo, paths, src)


def per_photo(fn, paths: list[Path]) -> tuple[float, float]:
    """(wall s, CPU s) per photo of `fn` on one core (one warm-up call first)."""
    fn(paths[0])
    t, c = time.perf_counter(), time.process_time()
    for p in paths:
        fn(p)
    return (time.perf_counter() - t) / len(paths), (time.process_time() - c) / len(paths)


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def haven_command() -> list[str]:
    """`haven` as installed beside this interpreter, else `python -m haven.cli`."""
    script = Path(sys.executable).with_name("haven")
    return [str(script)] if script.exists() else [sys.executable, "-m", "haven.cli"]


def byte_compile(src: Path) -> None:
    """Byte-compile the source tree `src` (as pip does when it installs a package)."""
    import compileall

    compileall.compile_dir(str(src), quiet=1)


def run_haven(evidence: Path, n: int, src: Path = SRC) -> tuple[float, float]:
    """(wall s, CPU s over all its processes) of `haven scan` on `evidence` into a new case,
    running the code under `src`."""
    case = Path(tempfile.mkdtemp(prefix="bench-case-")) / "case"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(src), *filter(None, [os.environ.get("PYTHONPATH")])])}
    try:
        c, t = children_cpu(), time.perf_counter()
        done = subprocess.run([*haven_command(), "scan", str(evidence), "--case", str(case),
                               "--json"], env=env, capture_output=True, text=True)
        wall, cpu = time.perf_counter() - t, children_cpu() - c
        if done.returncode:
            raise SystemExit(f"haven scan failed ({done.returncode}):\n{done.stderr[-2000:]}")
        items = json.loads(done.stdout)["scan"]["items"]
        if items != n:
            raise SystemExit(f"haven scan analysed {items} items, expected {n}")
        return wall, cpu
    finally:
        shutil.rmtree(case.parent, ignore_errors=True)


def real_photos(folder: Path, n: int) -> list[Path]:
    """`n` distinct files made from the JPEGs under `folder` (photos no one here made, e.g.
    a public benchmark's camera pictures; look at them first), cycled: each copy after the
    first of a picture carries a few bytes after its end-of-image marker, which decoders
    ignore, so its digests differ (a seizure's bursts are near-duplicates too, never the same
    file). Cached under bench/.cache, never committed."""
    sources = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    if not sources:
        raise SystemExit(f"no JPEG photos under {folder}")
    key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:12]
    d = HERE / ".cache" / f"real-{key}"
    d.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        src = sources[i % len(sources)]
        p = d / f"{i:04d}_{src.stem}.jpg"
        if not p.exists():
            data = src.read_bytes()
            p.write_bytes(data if i < len(sources) else data + b"haven-bench-copy-%d" % i)
        out.append(p)
    return out


def evidence_of(photos: list[Path], n: int, tag: str = "photos12mp") -> Path:
    """A folder holding the first `n` photos (hard links: no copy, no symlinks to skip)."""
    d = HERE / ".cache" / f"{tag}-{n}"
    if not d.is_dir() or len(list(d.iterdir())) != n:
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        for p in photos[:n]:
            os.link(p, d / p.name)
    return d


def matching_cost(rows: int = 500, items: int = 300) -> dict:
    """Per-item near matching as the scan's main process does it (an item's 32 query hashes
    against a case's PDQ hashes), FAISS on its default OpenMP threads vs one thread."""
    import faiss
    import numpy as np

    sys.path.insert(0, str(SRC))
    from haven.match.near import NearIndex

    rng = np.random.default_rng(1)
    index = NearIndex()
    index.add([rng.bytes(32).hex() for _ in range(rows)], list(range(rows)))
    index.compact()
    queries = [[rng.bytes(32).hex() for _ in range(32)] for _ in range(items)]
    default = faiss.omp_get_max_threads()
    out = {"rows": rows, "hashes_per_item": 32}
    try:
        for threads in (default, 1):
            faiss.omp_set_num_threads(threads)
            t = time.perf_counter()
            for q in queries:
                index.search_rows(q, 31)
            out[f"ms_per_item_{threads}_threads"] = round((time.perf_counter() - t) / items * 1e3, 3)
    finally:
        faiss.omp_set_num_threads(default)
    out["load"] = load()
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="40,240", help="photo counts, comma-separated")
    ap.add_argument("--naive-photos", type=int, default=8, help="photos timed for the naive side")
    ap.add_argument("--limit-photos", type=int, default=24, help="photos timed for the limit")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each size")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--no-compile", action="store_true",
                    help="do not byte-compile haven's source first (see above)")
    ap.add_argument("--photos", type=Path,
                    help="time on the JPEGs under this folder (cycled to each size) instead of "
                    "the generated 12 MP photos")
    ap.add_argument("--other-src", type=Path,
                    help="also time `haven scan` from this source tree (e.g. an older checkout's "
                    "src/) in the same run")
    args = ap.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",")]
    cpus = os.cpu_count() or 1
    if args.photos:
        photos = real_photos(args.photos, max(sizes))
        tag = photos[0].parent.name
    else:
        photos = sorted(make_photos(max(sizes)).iterdir())[: max(sizes)]
        tag = "photos12mp"
    warm(photos)
    print(f"photos: {args.photos or 'generated 12 MP JPEGs (bench/imagegen.py)'}, "
          f"{len({p.name.split('_', 1)[-1] for p in photos})} distinct, mean "
          f"{sum(p.stat().st_size for p in photos) / len(photos) / 1e6:.2f} MB", flush=True)
    out: dict = {"cpus": cpus, "command": haven_command(), "runs": [],
                 "byte_compiled": not args.no_compile}
    if not args.no_compile:
        for src in (SRC, *filter(None, [args.other_src])):
            byte_compile(src)
    print(f"{cpus} CPUs; haven command: {' '.join(haven_command())}; "
          f"{'byte-compiled first' if out['byte_compiled'] else 'not byte-compiled'}; {load()}",
          flush=True)
    for _ in range(args.repeat):
        for n in sizes:
            evidence = evidence_of(photos, n, tag)
            warm(sorted(evidence.iterdir()))
            naive, naive_cpu = per_photo(naive_photo, photos[: args.naive_photos])
            load_naive = load()
            floor, floor_cpu = per_photo(limit_photo, photos[: args.limit_photos])
            load_limit = load()
            _pdq_wall, pdq_cpu = per_photo_in_worker(with_rgb_pdq_photo,
                                                     photos[: args.limit_photos])
            load_pdq = load()
            _luma_wall, luma_cpu = per_photo(luma_limit_photo, photos[: args.limit_photos])
            _floor_wall, floor_pdq_cpu = per_photo_with_pdq(photos[: args.limit_photos])
            load_floor = load()
            if args.other_src:
                o_wall, o_cpu = run_haven(evidence, n, args.other_src)
                print(f"{n} photos: haven scan from {args.other_src}: {o_wall:.2f} s = "
                      f"{n / o_wall:.2f} photos/s = {naive * n / o_wall:.2f}x naive "
                      f"({o_cpu / n * 1e3:.1f} ms CPU/photo; {load()})", flush=True)
            wall, cpu = run_haven(evidence, n)
            load_haven = load()
            naive_ips, haven_ips = 1 / naive, n / wall
            limit_ips = min(cpus, 2) / floor  # two cores, as the target machine
            run = {
                "photos": n,
                "naive_photos_per_s": round(naive_ips, 3), "naive_load": load_naive,
                "limit_photos_per_s_2cores": round(limit_ips, 2),
                "limit_ms_per_photo_1core": round(floor * 1e3, 1), "limit_load": load_limit,
                "haven_seconds": round(wall, 2), "haven_photos_per_s": round(haven_ips, 2),
                "haven_cpu_ms_per_photo": round(cpu / n * 1e3, 1), "haven_load": load_haven,
                "ratio_to_naive": round(haven_ips / naive_ips, 2),
                "ratio_to_limit": round(haven_ips / limit_ips, 3),
                "target": TARGETS.get(n),
                # CPU time does not depend on what else the machine runs: the ratios two idle
                # cores would give if haven kept both busy, and the share of them it got
                "naive_cpu_ms_per_photo": round(naive_cpu * 1e3, 1),
                "limit_cpu_ms_per_photo": round(floor_cpu * 1e3, 1),
                "cpu_ratio_to_naive_2cores": round(2 * naive_cpu / (cpu / n), 2),
                "cpu_ratio_to_limit": round(floor_cpu / (cpu / n), 3),
                "limit_pdq_cpu_ms_per_photo": round(pdq_cpu * 1e3, 1), "limit_pdq_load": load_pdq,
                "cpu_ratio_to_limit_pdq": round(pdq_cpu / (cpu / n), 3),
                "luma_limit_cpu_ms_per_photo": round(luma_cpu * 1e3, 1),
                "haven_floor_cpu_ms_per_photo": round(floor_pdq_cpu * 1e3, 1),
                "haven_floor_load": load_floor,
                "cpu_ratio_to_haven_floor": round(floor_pdq_cpu / (cpu / n), 3),
                "haven_floor_cpu_ratio_to_naive_2cores": round(2 * naive_cpu / floor_pdq_cpu, 2),
                "haven_cores_used": round(cpu / wall, 2),
            }
            out["runs"].append(run)
            target = f" (target >= {TARGETS[n]:g}x)" if n in TARGETS else ""
            print(f"{n} photos: haven scan {wall:.2f} s = {haven_ips:.2f} photos/s "
                  f"({run['haven_cpu_ms_per_photo']} ms CPU/photo over all processes; "
                  f"{load_haven})\n"
                  f"  naive, 1 core: {naive_ips:.3f} photos/s ({load_naive})\n"
                  f"  limit, 2 cores (DCT-scaled decode + 3 digests): {limit_ips:.1f} photos/s, "
                  f"{floor * 1e3:.1f} ms/photo on 1 core ({load_limit})\n"
                  f"  haven / naive = {run['ratio_to_naive']}x{target}; "
                  f"haven / limit = {run['ratio_to_limit']:.0%} of the physical limit\n"
                  f"  CPU per photo: haven {run['haven_cpu_ms_per_photo']} ms (all processes, "
                  f"{run['haven_cores_used']} cores busy on average), naive "
                  f"{run['naive_cpu_ms_per_photo']} ms, limit {run['limit_cpu_ms_per_photo']} ms: "
                  f"on two idle cores kept busy haven would be "
                  f"{run['cpu_ratio_to_naive_2cores']}x naive, "
                  f"{run['cpu_ratio_to_limit']:.0%} of the limit\n"
                  f"  limit + PDQ (RGB decode + pdqhash's 32 hashes, the old fast path), 1 core: "
                  f"{run['limit_pdq_cpu_ms_per_photo']} ms CPU/photo ({load_pdq}): haven's CPU "
                  f"per photo is {run['cpu_ratio_to_limit_pdq']:.0%} of its rate\n"
                  f"  haven's floor (luma decode + 3 digests + haven's 32 PDQ hashes), 1 core: "
                  f"{run['haven_floor_cpu_ms_per_photo']} ms CPU/photo, of which luma decode + "
                  f"digests {run['luma_limit_cpu_ms_per_photo']} ms ({load_floor}): haven's CPU "
                  f"per photo is {run['cpu_ratio_to_haven_floor']:.0%} of its rate; two cores "
                  f"at that floor would be {run['haven_floor_cpu_ratio_to_naive_2cores']}x naive",
                  flush=True)
    m = out["matching"] = matching_cost()
    print(f"near matching per item ({m['hashes_per_item']} hashes vs {m['rows']} known): "
          + ", ".join(f"{k.removeprefix('ms_per_item_').replace('_', ' ')} {v} ms"
                      for k, v in m.items() if k.startswith("ms_"))
          + f" (the scan uses one; {m['load']})", flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
