"""A head start for the scan of a new case: the first files go to the workers before the case
store is even opened.

`haven scan` spends its first moments in the main process importing SQLAlchemy, creating the
case database and loading the hash sets, and the scan's walk (so the workers' first item)
waits for all of it: with 40 photos that was a third of the run with both workers idle. For
a new case nothing is stored yet, so every file the walk will meet is to be analysed.
`HeadStart` walks the first evidence path itself right after the workers are started and
hands them its first files, by path. When the scan's own walk reaches one of them with the
same stamp, flags, path and options, the engine takes the running analysis instead of
submitting the file again (`take`); whatever the scan does not claim is cancelled.

Nothing changes in what a scan finds: an analysis is a pure function of the file, its flags
and the options, and a file changed in between has another stamp and is analysed again. The
head start stops at the first container (its members are the walk's business, read while it
is open), and is not taken for a case that already has a database (a rescan would skip most
files; the head start would be wasted work).
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from haven.evidence.base import Item, stamp_text
from haven.evidence.registry import HEAD_SIZE, TAIL_SIZE, find_container
from haven.evidence.walk import walk
from haven.scan.analyse import analyse

#: Files per worker the head start hands over: enough to keep the workers busy while the main
#: process imports SQLAlchemy, creates the case and loads the hash sets (~0.4 CPU-s, which it
#: does beside two busy workers on two cores); four (the scan's own window) ran out first, a
#: 12 MP photo being ~45 ms of a worker's CPU.
FILES_PER_WORKER = 16

# Where a case keeps its database (haven.store.case.DB_NAME; that module is what the head
# start runs ahead of, so it is not imported here).
_CASE_DB = "case.db"


class HeadStart:
    """Up to `limit` files of `evidence[0]` submitted to `pool` (see the module docstring)."""

    def __init__(self, pool: ProcessPoolExecutor, evidence: list[str], *, fast: bool,
                 video_fps: float, limit: int, framing: bool = True):
        self.fast, self.video_fps = fast, video_fps
        # A new case holds no hash sets: what the framing hypotheses need is computed only to
        # be kept for re-matching (`ScanOptions.keep_hypotheses`), as the scan will ask.
        self.framing = framing
        self.running: dict[str, tuple[str, str | None, dict, Future]] = {}
        if not evidence or limit <= 0:
            return
        entries = None
        try:
            entries = walk([evidence[0]])
            self._submit(pool, entries, limit)
        except Exception:  # noqa: BLE001 - only a head start: the scan's own walk reports it
            pass
        finally:
            if entries is not None:
                entries.close()

    def _submit(self, pool: ProcessPoolExecutor, entries, limit: int) -> None:
        fast, video_fps = self.fast, self.video_fps
        for entry in entries:
            if not isinstance(entry, Item):
                continue
            if entry.fs_path is None:
                break  # a container's member: the walk opened one (not expected: see below)
            future = pool.submit(analyse, entry.path, fs_path=entry.fs_path, flags=entry.flags,
                                 fast=fast, video_fps=video_fps, framing=self.framing)
            self.running[entry.fs_path] = (entry.path, stamp_text(entry.stamp),
                                           dict(entry.flags), future)
            if len(self.running) >= limit or _is_container(entry.fs_path, entry.size):
                break  # asking for the next entry would open the container here

    def take(self, item: Item, fast: bool, video_fps: float, framing: bool = False
             ) -> Future | None:
        """The analysis already running for `item`, if it is the same file, flags and options."""
        claimed = self.running.pop(item.fs_path, None) if item.fs_path is not None else None
        if claimed is None:
            return None
        path, stamp, flags, future = claimed
        if (path, stamp, flags, self.fast, self.video_fps, self.framing) != (
                item.path, stamp_text(item.stamp), item.flags, fast, video_fps, framing):
            future.cancel()
            return None
        return future

    def close(self) -> None:
        """Cancel what the scan did not claim (a running analysis just finishes unseen)."""
        for *_, future in self.running.values():
            future.cancel()
        self.running.clear()


def head_start(pool: ProcessPoolExecutor | None, evidence: list[str], case_dir: str | os.PathLike,
               *, fast: bool, video_fps: float, framing: bool = True) -> HeadStart | None:
    """A `HeadStart` for a new case scanned with worker processes, else None; up to
    `FILES_PER_WORKER` files per worker. `framing`: the scan's `keep_hypotheses` (a new case
    has no lists, so the scan computes the hypotheses' data only to keep it)."""
    if pool is None or not evidence or (Path(case_dir) / _CASE_DB).exists():
        return None
    # Resolved, as the scan walks it: the same paths and names, or nothing would be taken.
    return HeadStart(pool, [str(Path(evidence[0]).resolve())], fast=fast, video_fps=video_fps,
                     limit=FILES_PER_WORKER * pool._max_workers, framing=framing)


def _is_container(fs_path: str, size: int | None) -> bool:
    """As the walker decides it for a file on disk: its head, and its tail (a DMG's trailer)."""
    try:
        with open(fs_path, "rb") as fh:
            head = fh.read(HEAD_SIZE)
            tail = None
            if size is not None and size >= TAIL_SIZE:
                fh.seek(size - TAIL_SIZE)
                tail = fh.read(TAIL_SIZE)
    except OSError:
        return True  # unknown: stop the head start here rather than risk opening it
    return find_container(head, size, tail) is not None
