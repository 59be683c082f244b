"""Scan throughput: the local engine beside the Spark engine in local mode, same run, same evidence.

    .venv/bin/python bench/spark_scan.py [--photos 240] [--zipped 120] [--size 1600x1200]
                                         [--master local[2]] [--workers 2] [--rounds 2]

Evidence (generated, benign, cached in bench/.cache/): `--photos` JPEGs as top-level files
(executors read them by path), one zip holding `--zipped` JPEGs (members sent to executors as
bytes), 40 small text files. Both engines scan into a fresh case holding the demo hash sets,
so matching and storing are part of the figure. Rounds alternate local and Spark so drifting
load from other processes hits both alike; the best round of each is reported with every
round listed. Spark's start-up (JVM + context) is timed apart from its scans; the first
Spark round also includes the Python workers' start-up and imports.
The 1-minute load average is printed before and after: figures from a busy machine are
comparable only to each other.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"


def make_evidence(photos: int, zipped: int, size: tuple[int, int]) -> Path:
    from haven.demo import jpeg_bytes, make_image

    root = CACHE / f"spark-ev-{photos}-{zipped}-{size[0]}x{size[1]}"
    ev = root / "seizure"
    done = root / ".complete"
    if done.exists():
        return ev
    shutil.rmtree(root, ignore_errors=True)
    (ev / "Pictures").mkdir(parents=True)
    (ev / "Documents").mkdir()
    for i in range(photos):
        (ev / "Pictures" / f"photo_{i:04d}.jpg").write_bytes(jpeg_bytes(make_image(10_000 + i, size)))
    with zipfile.ZipFile(ev / "backup.zip", "w", zipfile.ZIP_STORED) as z:
        for i in range(zipped):
            z.writestr(f"camera/img_{i:04d}.jpg", jpeg_bytes(make_image(20_000 + i, size)))
    for i in range(40):
        (ev / "Documents" / f"note_{i:02d}.txt").write_text(f"Benign note number {i}.\n" * 20)
    done.touch()
    return ev


def new_case(hashsets: list) -> tuple[Path, object]:
    from typer.testing import CliRunner

    from haven.cli import app
    from haven.store.case import CaseStore

    case = Path(tempfile.mkdtemp(prefix="bench-spark-case-"))
    runner = CliRunner()
    for name, file, extra in hashsets:
        r = runner.invoke(app, ["hashsets", "import", str(file), "--name", name, "--case", str(case), *extra])
        assert r.exit_code == 0, r.output
    return case, CaseStore(case)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=240)
    ap.add_argument("--zipped", type=int, default=120)
    ap.add_argument("--size", default="1600x1200")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--workers", type=int, default=2, help="local engine worker processes")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--batch-items", type=int, default=None, help="items per Spark job (default: the engine's)")
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.split("x"))

    from haven.demo import build_demo
    from haven.report.findings import write_reports
    from haven.scan import spark as spark_engine
    from haven.scan.pipeline import ScanOptions, scan

    load_before = os.getloadavg()
    t = time.perf_counter()
    ev = make_evidence(args.photos, args.zipped, (w, h))
    gen_s = time.perf_counter() - t
    nbytes = sum(p.stat().st_size for p in ev.rglob("*") if p.is_file())
    for p in ev.rglob("*"):  # both engines read from the page cache
        if p.is_file():
            p.read_bytes()
    demo = build_demo(Path(tempfile.mkdtemp(prefix="bench-spark-demo-")) / "demo")

    t = time.perf_counter()
    sc = spark_engine.spark_context(args.master, app_name="haven-bench")
    startup_s = time.perf_counter() - t
    batch_items = args.batch_items or spark_engine.batch_size(sc)

    rounds: dict[str, list[float]] = {"local": [], "spark": []}
    items = {}
    findings = {}
    try:
        for _ in range(args.rounds):
            for engine in ("local", "spark"):
                case, store = new_case(demo["hashsets"])
                t = time.perf_counter()
                if engine == "local":
                    p = scan([str(ev)], store, ScanOptions(workers=args.workers))
                else:
                    extra = {"batch_items": args.batch_items} if args.batch_items else {}
                    p = spark_engine.scan_spark([str(ev)], store, ScanOptions(), sc=sc, **extra)
                rounds[engine].append(time.perf_counter() - t)
                items[engine] = p.items
                write_reports(store)
                findings[engine] = (case / "findings.jsonl").read_text()
                store.close()
                shutil.rmtree(case)
    finally:
        sc.stop()
        shutil.rmtree(demo["case"].parent.parent, ignore_errors=True)
    load_after = os.getloadavg()

    result = {
        "evidence": {"items": items["local"], "bytes": nbytes, "photos": args.photos,
                     "zipped": args.zipped, "size": args.size, "generated_s": round(gen_s, 1)},
        "machine": {"cpus": os.cpu_count(), "load1_before": round(load_before[0], 2),
                    "load1_after": round(load_after[0], 2)},
        "spark_startup_s": round(startup_s, 2),
        "spark_batch_items": batch_items,
        "findings_identical": findings["local"] == findings["spark"],
    }
    for engine, times in rounds.items():
        best = min(times)
        label = f"local workers={args.workers}" if engine == "local" else f"spark {args.master}"
        result[engine] = {
            "engine": label,
            "rounds_s": [round(x, 2) for x in times],
            "best_s": round(best, 2),
            "items_per_s": round(items[engine] / best, 1),
            "MB_per_s": round(nbytes / 1e6 / best, 1),
        }
    result["spark_vs_local"] = round(result["spark"]["items_per_s"] / result["local"]["items_per_s"], 2)
    return result


if __name__ == "__main__":
    out = main()
    print(json.dumps(out, indent=2))
    sys.exit(0 if out["findings_identical"] else 1)
