"""How much evidence there is, counted while the scan runs, so progress can show a total, a
percentage and a time left.

A thread walks the evidence folders (names and sizes only, no reads) and adds files and bytes
to the scan's `ScanProgress`; the scan itself adds container members as it opens containers,
so the total grows towards the truth as the scan goes.
"""

from __future__ import annotations

import os
import threading
from typing import Any


def start_census(evidence: list[str], progress: Any) -> threading.Thread:
    """Count files and bytes under `evidence` into `progress` in a daemon thread."""
    progress.counting = True

    def count() -> None:
        try:
            for ev in evidence:
                if os.path.isfile(ev):
                    progress.disk_files += 1
                    progress.disk_bytes += os.path.getsize(ev)
                    continue
                for root, _dirs, files in os.walk(ev):
                    for name in files:
                        try:
                            st = os.lstat(os.path.join(root, name))
                        except OSError:
                            continue
                        progress.disk_files += 1
                        progress.disk_bytes += st.st_size
        finally:
            progress.counting = False

    thread = threading.Thread(target=count, name="haven-census", daemon=True)
    thread.start()
    return thread


def has_files(path: str | os.PathLike) -> bool:
    """Whether `path` is a file or a folder holding at least one file (stops at the first)."""
    if os.path.isfile(path):
        return True
    for _root, _dirs, files in os.walk(path):
        if files:
            return True
    return False
