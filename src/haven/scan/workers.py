"""The worker processes that analyse a scan's items, started before the scan needs them.

`start_workers` is called first thing by `haven scan`, before the case store is opened: the
workers load the analysis code (PIL, pdqhash, numpy) while the main process opens the store,
loads the hash sets and begins the walk, so both cores have work from the first file on.

Workers are forked when that is safe: on Linux, from a process that runs one thread (no
progress display, census or executor thread yet, whose locks a child could inherit held). The
analysis code (numpy, PIL, pdqhash: ~0.12 s of CPU to import) is then imported once, here,
just before the fork, and every worker inherits it: importing it in each worker instead cost
that much per worker, and the main process needs numpy itself anyway (the match indexes).
A forked worker starts in milliseconds; otherwise they are spawned (a fresh interpreter each,
~0.4 s of start-up, importing the analysis code itself). The workers only ever analyse: they
never touch the case store, so an open SQLite connection in the parent is not shared with
them in any way that matters (and `haven scan` starts them before opening one).
"""

from __future__ import annotations

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
        return None
    method = start_method()
    if method == "fork":
        _import_analysis_code()  # once, shared by every forked worker
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
    _import_analysis_code()


def _import_analysis_code() -> None:
    import haven.scan.analyse  # noqa: F401
    import haven.signals.pdq  # noqa: F401 - PIL, pdqhash, numpy: most photos need them
    from PIL import Image

    Image.init()  # every image plugin, as the first image decoded would load them
