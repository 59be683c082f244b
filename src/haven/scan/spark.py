"""The triage scan on Apache Spark: the driver walks, executors analyse, the driver matches.

Division of work (see docs/spark.md):

* **Driver** – walks the evidence exactly as the local scan does (containers are opened where
  they are, on the driver), keeps the case store, and matches + stores every result through
  the local scan's own `_Writer`, so findings are identical to a local scan. The hash library
  never leaves the driver: results (digests and PDQ) are small, matching them there is cheap.
* **Executors** – run `analyse` (type by content, MD5/SHA-1/SHA-256, PDQ, vPDQ), the
  expensive part, on:
  - top-level files, read **by path** (the evidence must be mounted at the same path on every
    executor: shared storage);
  - archive/disk-image members up to `inline_limit` bytes, sent **as bytes** inside the task;
  - larger members, extracted by the driver into a staging directory under the case directory
    (which must be on shared storage too) and read by path; deleted once analysed.

Work goes to Spark in batches; while one batch is analysed the driver walks the next one, so
walking (single-threaded, I/O bound) and hashing (parallel, CPU bound) overlap.

Resumable like the local scan: items stored with the same stamp are skipped, changed ones
analysed again (`_new_items`), results are committed in small batches by the writer.
"""

from __future__ import annotations

import glob
import os
import shutil
import sys
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from haven.errors import HavenError
from haven.evidence.base import Problem
from haven.scan.analyse import Analysis, analyse
from haven.scan.census import start_census
from haven.scan.pipeline import (
    ProgressFn,
    ScanOptions,
    ScanProgress,
    _begin_seizure,
    _end_seizure,
    _new_items,
    follow_hash_sets,
    forget_unmatched_sets,
    open_library,
    _read_member,
    _Writer,
)
from haven.store.case import CaseStore, keep_apart

INLINE_LIMIT = 8 * 1024 * 1024  # members up to this travel inside the task as bytes
# Items per Spark job: 0 means 128 per executor core (at least 256), bounded by BATCH_BYTES
# of inline member data; the driver walks the next batch while one is analysed.
BATCH_ITEMS = 0
BATCH_BYTES = 256 * 1024 * 1024  # inline bytes per Spark job
IN_FLIGHT = 2  # Spark jobs outstanding while the driver keeps walking
# Partitions of one job per executor core. Each Spark task has a fixed cost (measured here:
# four partitions per core were 2-3x slower than one), so jobs are few, large tasks.
SLICES_PER_CORE = 1


class SparkUnavailable(HavenError):
    """PySpark or Java is missing; scripts/spark-deps.sh installs both."""


@dataclass
class _Task:
    """One item for an executor: a path to read, or the item's bytes."""

    path: str
    fs_path: str | None = None
    data: bytes | None = None
    flags: dict = field(default_factory=dict)


def _analyse_partition(tasks, fast: bool, video_fps: float):
    """Executor side: analyse each task of one partition (pure, no case store)."""
    for t in tasks:
        yield analyse(t.path, fs_path=t.fs_path, data=t.data, fast=fast, flags=t.flags,
                      video_fps=video_fps)


def _is_local(master: str) -> bool:
    return master.startswith("local")


def _java_available() -> bool:
    """True when Spark can start a JVM; sets JAVA_HOME to Debian's JRE if only that is found."""
    home = os.environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
        return True
    if shutil.which("java") is not None:
        return True
    for candidate in sorted(glob.glob("/usr/lib/jvm/java-*-openjdk-*"), reverse=True):
        if os.access(os.path.join(candidate, "bin", "java"), os.X_OK):
            os.environ["JAVA_HOME"] = candidate
            return True
    return False


def spark_context(master: str = "local[2]", app_name: str = "haven-scan",
                  conf: dict[str, str] | None = None):
    """Start (or join) a SparkContext; local masters bind to 127.0.0.1 with the UI off."""
    try:
        from pyspark import SparkConf, SparkContext
    except ImportError as exc:
        raise SparkUnavailable(
            "the Spark engine needs PySpark: pip install pyspark (scripts/spark-deps.sh)"
        ) from exc
    if not _java_available():
        raise SparkUnavailable(
            "the Spark engine needs Java 17: run scripts/spark-deps.sh or set JAVA_HOME"
        )
    sc_conf = SparkConf().setMaster(master).setAppName(app_name)
    sc_conf.set("spark.ui.enabled", "false")
    sc_conf.set("spark.ui.showConsoleProgress", "false")
    # One job's results (Analysis objects, a few hundred bytes each without vPDQ rows).
    sc_conf.set("spark.driver.maxResultSize", "1g")
    if _is_local(master):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        sc_conf.set("spark.driver.host", "127.0.0.1")
        sc_conf.set("spark.driver.bindAddress", "127.0.0.1")
        # Executors run on this machine: their Python is ours, where haven is importable.
        # (PySpark reads the worker's interpreter from PYSPARK_PYTHON, not from the conf.)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    for key, value in (conf or {}).items():
        sc_conf.set(key, value)
    sc = SparkContext.getOrCreate(sc_conf)
    sc.setLogLevel("ERROR")
    return sc


def batch_size(sc, batch_items: int = BATCH_ITEMS) -> int:
    """Items per Spark job for this context."""
    return batch_items or max(256, 128 * sc.defaultParallelism)


class _Batches:
    """Groups tasks into Spark jobs and keeps at most IN_FLIGHT of them running."""

    def __init__(self, sc, writer: _Writer, options: ScanOptions, batch_items: int,
                 batch_bytes: int):
        self.sc, self.writer, self.options = sc, writer, options
        self.batch_items, self.batch_bytes = batch_size(sc, batch_items), batch_bytes
        self.tasks: list[_Task] = []
        self.staged: list[str] = []
        self.inline = 0
        self.jobs: ThreadPoolExecutor = ThreadPoolExecutor(IN_FLIGHT, thread_name_prefix="spark-job")
        self.running: list[tuple[Future, list[str]]] = []

    def add(self, task: _Task, staged: str | None = None) -> None:
        self.tasks.append(task)
        self.inline += len(task.data) if task.data is not None else 0
        if staged:
            self.staged.append(staged)
        if len(self.tasks) >= self.batch_items or self.inline >= self.batch_bytes:
            self.submit()

    def _run(self, tasks: list[_Task]) -> list[Analysis]:
        fast, fps = self.options.fast, self.options.video_fps
        slices = max(1, min(len(tasks), self.sc.defaultParallelism * SLICES_PER_CORE))
        rdd = self.sc.parallelize(tasks, slices)
        return rdd.mapPartitions(lambda part: _analyse_partition(part, fast, fps)).collect()

    def submit(self) -> None:
        if not self.tasks:
            return
        while len(self.running) >= IN_FLIGHT:
            self._drain_one()
        self.running.append((self.jobs.submit(self._run, self.tasks), self.staged))
        self.tasks, self.staged, self.inline = [], [], 0

    def _drain_one(self) -> None:
        fut, staged = self.running.pop(0)
        try:
            for a in fut.result():
                self.writer.add(a)
        finally:
            for tmp in staged:
                try:
                    os.unlink(tmp)
                except FileNotFoundError:
                    pass

    def finish(self) -> None:
        self.submit()
        while self.running:
            self._drain_one()

    def close(self) -> None:
        self.jobs.shutdown(wait=True, cancel_futures=True)


def scan_spark(evidence: list[str], store: CaseStore, options: ScanOptions | None = None,
               master: str = "local[2]", on_progress: ProgressFn | None = None, *,
               sc: Any = None, conf: dict[str, str] | None = None,
               inline_limit: int = INLINE_LIMIT, batch_items: int = BATCH_ITEMS,
               batch_bytes: int = BATCH_BYTES, staging_dir: str | None = None) -> ScanProgress:
    """Scan every evidence path into the case store with Spark; returns the final counters.

    `sc`: an existing SparkContext to use (left running); otherwise one is started on
    `master` with `conf` and stopped at the end. `options.workers` is ignored: Spark's
    executors and cores decide the parallelism. `staging_dir`: where large archive members
    are extracted for executors (default: the case directory); it must be on storage every
    executor mounts at the same path.
    """
    options = options or ScanOptions()
    keep_apart(store.dir, evidence)
    if staging_dir is not None:
        keep_apart(staging_dir, evidence)
    own_sc = sc is None
    if own_sc:
        sc = spark_context(master, conf=conf)
    library = open_library(store, options)
    progress = ScanProgress()
    follow_hash_sets(store, library, options, progress)
    writer = _Writer(store, library, progress, on_progress)
    # Both under the case directory: on a cluster it is the shared storage executors can read.
    staging = tempfile.mkdtemp(prefix="spark-staging-", dir=staging_dir or store.dir)
    batches = _Batches(sc, writer, options, batch_items, batch_bytes)
    start_census(evidence, progress)
    try:
        for ev in evidence:
            _scan_seizure(Path(ev).resolve(), store, options, writer, batches, staging, inline_limit)
    except KeyboardInterrupt:
        writer.flush_on_interrupt()
        raise
    finally:
        batches.close()
        shutil.rmtree(staging, ignore_errors=True)
        if own_sc:
            sc.stop()
    follow_hash_sets(store, library, options, progress)
    forget_unmatched_sets(store, options, progress)
    return progress


def _scan_seizure(source: Path, store: CaseStore, options: ScanOptions, writer: _Writer,
                  batches: _Batches, staging: str, inline_limit: int) -> None:
    name, stored = _begin_seizure(store, source, writer, options.rehash)
    problems: list[Problem] = []
    for entry in _new_items(source, name, stored, options, staging, writer, problems):
        if entry.fs_path is not None:
            batches.add(_Task(entry.path, fs_path=entry.fs_path, flags=entry.flags))
            continue
        data, staged, error = _read_member(entry, staging, inline_limit)
        if error:
            writer.add(Analysis(path=entry.path, size=entry.size, error=error, flags=entry.flags))
            continue
        batches.add(_Task(entry.path, fs_path=staged, data=data, flags=entry.flags), staged)
    batches.finish()  # every item of this seizure stored before its problems are applied
    _end_seizure(store, writer, problems, stored)
