"""`haven intel resolve` with the Spark backend (local mode) beside DuckDB, on one generated list.

    .venv/bin/python bench/intel_spark.py --rows 50000
    .venv/bin/python bench/intel_spark.py --rows 1000000 --keep /tmp/intel1m \\
        --spark-conf spark.driver.memory=6g          # the issue's size (not run here, see docs)

Generates a list with known truth (or reuses WORK/list.csv with --keep), loads it, then runs
the very command an analyst runs, `haven intel resolve --op OP --backend B`, once per backend
in a subprocess, followed by `haven intel attribute`. For each: wall time, peak RSS of the
whole process tree (Python driver, Spark's JVM and its Python workers, sampled every 0.2 s),
pairwise and B³ F1 against the truth. Then checks the two runs gave the same subjects and a
byte-identical subjects.jsonl.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb

from haven.intel.load import load_files
from haven.intel.quality import bcubed, largest_cluster_people, pairwise
from haven.intel.synth import generate, write_list

HAVEN = [sys.executable, "-m", "haven.cli"]


def _tree_rss(pid: int) -> int:
    """Resident bytes of `pid` and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(children.get(p, []))
    return total


def _run(cmd: list[str]) -> tuple[float, int, str]:
    """Run `cmd`; wall seconds, peak tree RSS in bytes, output."""
    t = time.time()
    env = {**os.environ, "COLUMNS": "250"}  # the summary line unwrapped
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = proc.communicate()
    done.set()
    sampler.join()
    wall = time.time() - t
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{output}")
    return wall, peak, output


def _assignment(op: Path) -> dict[str, str]:
    con = duckdb.connect(str(op / "intel.duckdb"), read_only=True)
    out = dict(con.sql("SELECT r.file || ':' || r.row, s.subject_id FROM subject_records s "
                       "JOIN records r USING (record_id)").fetchall())
    con.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=50000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--spark-conf", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--backends", default="duckdb,spark", help="comma-separated, in run order")
    ap.add_argument("--keep", type=Path, help="work directory to keep and reuse (list.csv)")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="intel_spark_"))
    work.mkdir(parents=True, exist_ok=True)
    listed, truth_csv = work / "list.csv", work / "truth.csv"
    t = time.time()
    if not (listed.exists() and truth_csv.exists()):
        write_list(generate(args.rows, seed=args.seed), listed, truth_csv)
    t_gen = time.time() - t
    truth = {f"{r['file']}:{r['row']}": r["person_id"] for r in csv.DictReader(truth_csv.open())}
    op = work / "op"
    if op.exists():
        shutil.rmtree(op)
    t = time.time()
    load_files([listed], op)
    t_load = time.time() - t
    with open("/proc/loadavg") as fh:
        load_before = fh.read().split()[:3]
    print(f"rows {len(truth)}  people {len(set(truth.values()))}  generate {t_gen:.1f}s  "
          f"load {t_load:.1f}s  load average before {' '.join(load_before)}")

    results = {}
    for backend in args.backends.split(","):
        cmd = [*HAVEN, "intel", "resolve", "--op", str(op), "--backend", backend]
        if backend == "spark":
            cmd += ["--master", args.master]
            for kv in args.spark_conf:
                cmd += ["--spark-conf", kv]
        wall, peak, output = _run(cmd)
        a_wall, a_peak, _ = _run([*HAVEN, "intel", "attribute", "--op", str(op)])
        pred = _assignment(op)
        digest = hashlib.sha256((op / "subjects.jsonl").read_bytes()).hexdigest()
        results[backend] = (pred, digest)
        size, ppl = largest_cluster_people(pred, truth)
        pw, b3 = pairwise(pred, truth), bcubed(pred, truth)
        with open("/proc/loadavg") as fh:
            load_now = " ".join(fh.read().split()[:3])
        print(f"{backend:6s} resolve {wall:7.1f}s  peak RSS {peak / 2**20:6.0f} MB  "
              f"attribute {a_wall:5.1f}s  pairwise F1 {pw.f1:.4f} (P {pw.precision:.4f} "
              f"R {pw.recall:.4f})  B3 F1 {b3.f1:.4f}  subjects {len(set(pred.values()))}  "
              f"largest {size} rows / {ppl} people  load average {load_now}")
        print("       " + output.strip().splitlines()[-1])
    if len(results) > 1:
        (p1, d1), (p2, d2) = list(results.values())[:2]
        print(f"same subjects: {p1 == p2}  identical subjects.jsonl: {d1 == d2}")
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
