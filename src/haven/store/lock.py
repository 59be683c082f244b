"""One writer at a time: a case being scanned or indexed is locked against a second run.

The lock is `flock` on CASE/case.lock, so it is released when the process ends, however it
ends; the file holds the holder's process id and what it is doing, for the message the second
run prints.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from haven.errors import CaseBusyError, ReadOnlyCaseError

LOCK_NAME = "case.lock"


@contextmanager
def case_lock(case_dir: str | os.PathLike, doing: str = "scanned") -> Iterator[None]:
    """Hold the case's lock while the block runs; `CaseBusyError` if another process has it."""
    path = Path(case_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ReadOnlyCaseError(f"case {case_dir} cannot be locked for writing ({exc.strerror}): "
                                "is it on read-only storage?") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").split()
            pid = holder[0] if holder else "?"
            what = holder[1] if len(holder) > 1 else "used"
            raise CaseBusyError(f"case {case_dir} is being {what} by process {pid}; wait for it "
                                "to finish (or stop it) and run the command again") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {doing}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
