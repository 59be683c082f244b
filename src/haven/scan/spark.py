"""The triage scan on Apache Spark: the driver walks, executors analyse, the driver matches.

Division of work (see docs/spark.md):

* **Driver** – runs the local scan's own frame (`haven.scan.pipeline.run_scan`) with this
  module's `SparkEngine` in place of the worker processes: it walks the evidence exactly as
  the local scan does (containers are opened where they are, on the driver), keeps the case
  store, and matches + stores every result, so findings are identical to a local scan. The hash library
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
analysed again, results are committed in small batches (all of it in `run_scan`).
Starting the context is `haven.spark`'s, shared with the resolver's Spark backend.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Iterator

from haven.evidence.base import Item
from haven.scan.analyse import Analysis, analyse
from haven.scan.pipeline import ProgressFn, ScanOptions, ScanProgress, read_member, run_scan
from haven.spark import SparkUnavailable, spark_context as _spark_context
from haven.store.case import CaseStore, keep_apart

__all__ = ["SparkEngine", "SparkUnavailable", "batch_size", "scan_spark", "spark_context"]

INLINE_LIMIT = 8 * 1024 * 1024  # members up to this travel inside the task as bytes
# Items per Spark job: 0 means 128 per executor core (at least 256), bounded by BATCH_BYTES
# of inline member data; the driver walks the next batch while one is analysed.
BATCH_ITEMS = 0
BATCH_BYTES = 256 * 1024 * 1024  # inline bytes per Spark job
IN_FLIGHT = 2  # Spark jobs outstanding while the driver keeps walking
# Partitions of one job per executor core. Each Spark task has a fixed cost (measured here:
# four partitions per core were 2-3x slower than one), so jobs are few, large tasks.
SLICES_PER_CORE = 1


@dataclass
class _Task:
    """One item for an executor: a path to read, or the item's bytes."""

    path: str
    fs_path: str | None = None
    data: bytes | None = None
    flags: dict = field(default_factory=dict)


def _analyse_partition(tasks, fast: bool, video_fps: float, framing: bool = True,
                       extra_digests: tuple[str, ...] = ()):
    """Executor side: analyse each task of one partition (pure, no case store)."""
    for t in tasks:
        yield analyse(t.path, fs_path=t.fs_path, data=t.data, fast=fast, flags=t.flags,
                      video_fps=video_fps, framing=framing, extra_digests=extra_digests)


def spark_context(master: str = "local[2]", app_name: str = "haven-scan",
                  conf: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """Start (or join) a SparkContext for scanning (`haven.spark.spark_context`)."""
    return _spark_context(master, app_name=app_name, conf=conf)


def batch_size(sc, batch_items: int = BATCH_ITEMS) -> int:
    """Items per Spark job for this context."""
    return batch_items or max(256, 128 * sc.defaultParallelism)


class _Batches:
    """Groups tasks into Spark jobs and keeps at most IN_FLIGHT of them running."""

    def __init__(self, sc, options: ScanOptions, batch_items: int, batch_bytes: int):
        self.sc, self.options = sc, options
        self.framing = True  # the engine's (`SparkEngine.framing`), set by `run_scan`
        self.extra_digests: tuple[str, ...] = ()  # likewise (`SparkEngine.extra_digests`)
        self.batch_items, self.batch_bytes = batch_size(sc, batch_items), batch_bytes
        self.tasks: list[_Task] = []
        self.staged: list[str] = []
        self.inline = 0
        self.jobs: ThreadPoolExecutor = ThreadPoolExecutor(IN_FLIGHT, thread_name_prefix="spark-job")
        self.running: list[tuple[Future, list[str]]] = []

    def add(self, task: _Task, staged: str | None = None) -> Iterator[Analysis]:
        """Queue `task`; yields the results of a job it had to wait for, if any."""
        self.tasks.append(task)
        self.inline += len(task.data) if task.data is not None else 0
        if staged:
            self.staged.append(staged)
        if len(self.tasks) >= self.batch_items or self.inline >= self.batch_bytes:
            yield from self.submit()

    def _run(self, tasks: list[_Task]) -> list[Analysis]:
        fast, fps, framing = self.options.fast, self.options.video_fps, self.framing
        extra = self.extra_digests
        slices = max(1, min(len(tasks), self.sc.defaultParallelism * SLICES_PER_CORE))
        rdd = self.sc.parallelize(tasks, slices)
        return rdd.mapPartitions(lambda part: _analyse_partition(part, fast, fps, framing, extra)).collect()

    def submit(self) -> Iterator[Analysis]:
        if not self.tasks:
            return
        while len(self.running) >= IN_FLIGHT:
            yield from self._drain_one()
        self.running.append((self.jobs.submit(self._run, self.tasks), self.staged))
        self.tasks, self.staged, self.inline = [], [], 0

    def _drain_one(self) -> Iterator[Analysis]:
        fut, staged = self.running.pop(0)
        try:
            yield from fut.result()
        finally:
            for tmp in staged:
                try:
                    os.unlink(tmp)
                except FileNotFoundError:
                    pass

    def finish(self) -> Iterator[Analysis]:
        yield from self.submit()
        while self.running:
            yield from self._drain_one()

    def close(self) -> None:
        self.jobs.shutdown(wait=True, cancel_futures=True)


class SparkEngine:
    """The scan's engine on Spark (`haven.scan.pipeline.ScanEngine`): items go to executors
    in batches; members travel as bytes up to `inline_limit`, larger ones are staged in
    `workdir`, which executors must see at the same path."""

    def __init__(self, sc, options: ScanOptions, workdir: str, *, own_sc: bool = False,
                 inline_limit: int = INLINE_LIMIT, batch_items: int = BATCH_ITEMS,
                 batch_bytes: int = BATCH_BYTES):
        self.sc, self.own_sc, self.workdir = sc, own_sc, workdir
        self.inline_limit = inline_limit
        self.batches = _Batches(sc, options, batch_items, batch_bytes)

    @property
    def framing(self) -> bool:
        """Whether executors compute images' luminance grids (`ScanEngine.framing`)."""
        return self.batches.framing

    @framing.setter
    def framing(self, value: bool) -> None:
        self.batches.framing = value

    @property
    def extra_digests(self) -> tuple[str, ...]:
        """Digests executors compute beyond the scanned ones (`ScanEngine.extra_digests`)."""
        return self.batches.extra_digests

    @extra_digests.setter
    def extra_digests(self, value: tuple[str, ...]) -> None:
        self.batches.extra_digests = tuple(value)

    def submit(self, item: Item) -> Iterator[Analysis]:
        if item.fs_path is not None:
            yield from self.batches.add(_Task(item.path, fs_path=item.fs_path, flags=item.flags))
            return
        data, staged, error = read_member(item, self.workdir, self.inline_limit)
        if error:
            yield Analysis(path=item.path, size=item.size, error=error, flags=item.flags)
            return
        yield from self.batches.add(_Task(item.path, fs_path=staged, data=data, flags=item.flags),
                                    staged)

    def finish(self) -> Iterator[Analysis]:
        return self.batches.finish()

    def close(self) -> None:
        try:
            self.batches.close()
            shutil.rmtree(self.workdir, ignore_errors=True)
        finally:
            if self.own_sc:
                self.sc.stop()


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
    try:
        # Under the case directory by default: on a cluster, the shared storage executors read.
        staging = tempfile.mkdtemp(prefix="spark-staging-", dir=staging_dir or store.dir)
        engine = SparkEngine(sc, options, staging, own_sc=own_sc, inline_limit=inline_limit,
                             batch_items=batch_items, batch_bytes=batch_bytes)
    except BaseException:
        if own_sc:
            sc.stop()
        raise
    return run_scan(evidence, store, options, engine, on_progress)
