"""The worker processes that analyse a scan's items, started before the scan needs them.

`start_workers` is called first thing by `haven scan`, before the case store is opened: the
workers analyse while the main process opens the store, loads the hash sets and begins the
walk, so both cores have work from the first file on.

Workers are forked when that is safe: on Linux, from a process that runs one thread (no
progress display, census or executor thread yet, whose locks a child could inherit held). The
analysis code (numpy, PIL, pdqhash: ~0.12 s of CPU to import) is then imported once, here,
just before the fork, and every worker inherits it: importing it in each worker instead cost
that much per worker, and the main process needs numpy itself anyway (the match indexes).
A forked worker starts in milliseconds; otherwise they are spawned (a fresh interpreter each,
~0.4 s of start-up, importing the analysis code itself). The workers only ever analyse: they
never touch the case store, so an open SQLite connection in the parent is not shared with
them in any way that matters (and `haven scan` starts them before opening one).

Each process that analyses keeps the memory it frees for the next item (`keep_freed_memory`):
with glibc's default, the ~6 MB arrays of every photo (the decoded pixels, PDQ's luminance)
went back to the kernel when freed and came back as fresh pages at the next photo, ~1,800
page faults per 12 MP photo, 5-15 ms of its ~50 ms of CPU (more the busier the machine).
"""

from __future__ import annotations

import ctypes
import gc
import os
import signal
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_all_start_methods, get_context

#: `HAVEN_WORKER_START=spawn` forces spawned workers (tests compare both start methods)
START_ENV = "HAVEN_WORKER_START"


def worker_count(requested: int) -> int:
    """Worker processes for `--workers requested` (0: one per CPU)."""
    return requested or os.cpu_count() or 1


def start_method() -> str:
    """"fork" when this process may fork safely now, else "spawn" (module doc)."""
    forced = os.environ.get(START_ENV)
    if forced in ("fork", "spawn"):
        return forced
    if (sys.platform.startswith("linux") and "fork" in get_all_start_methods()
            and threading.active_count() == 1):
        return "fork"
    return "spawn"


def start_workers(requested: int) -> ProcessPoolExecutor | None:
    """The analysis pool for `--workers requested`, its processes already started; None when
    one worker is asked for (items are then analysed in this process)."""
    n = worker_count(requested)
    if n <= 1:
        keep_freed_memory()  # items are analysed here
        return None
    method = start_method()
    if method == "fork":
        _import_analysis_code()  # once, shared by every forked worker
        if not gc.isenabled():
            # The caller holds collection during its start-up (`haven scan`): what it loaded
            # is frozen before the fork, so a worker's collections never touch (and copy)
            # the pages it shares with this process.
            gc.freeze()
    pool = ProcessPoolExecutor(n, mp_context=get_context(method), initializer=_worker_ready)
    # Start every process now, not at the first item: a forked pool forks all of them at its
    # first submit (before its own manager thread starts), a spawned one one per submit.
    for _ in range(n):
        pool.submit(int)
    return pool


def _worker_ready() -> None:
    """Worker start: Ctrl-C is the parent's to handle (it stores what is analysed and stops
    the workers); the analysis code is imported before the first item arrives (a forked
    worker has it already)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.enable()  # forked from a start-up that held collection (`haven scan`)
    keep_freed_memory()
    _import_analysis_code()


#: glibc `mallopt` parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: Blocks below this come from the heap and are reused once freed (larger ones are mapped and
#: unmapped as before: a 100 MP decode is not kept around).
MMAP_THRESHOLD = 64 * 1024 * 1024
#: The heap gives memory back to the kernel only when this much is free at its top.
TRIM_THRESHOLD = 128 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Have this process's allocator keep freed blocks under `MMAP_THRESHOLD` for reuse,
    holding back at most `TRIM_THRESHOLD` of free heap (see the module docstring). Only on
    glibc (`mallopt`); elsewhere nothing changes. True if it was applied. Results are the same
    either way: only where memory comes from changes."""
    if not sys.platform.startswith("linux") or not _is_glibc():
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def _is_glibc() -> bool:
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError, AttributeError):  # no such name on this system
        return False


def _import_analysis_code() -> None:
    import haven.scan.analyse  # noqa: F401
    import haven.signals.pdq  # noqa: F401 - PIL, pdqhash, numpy: most photos need them
    from PIL import Image

    Image.init()  # every image plugin, as the first image decoded would load them
