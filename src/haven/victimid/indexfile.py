"""A FAISS index and the item ids of its rows, saved side by side (the victim-ID search caches)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import faiss
import numpy as np


def temp_path(path: str | os.PathLike) -> Path:
    """A name beside `path` to write it under before the rename: unique per process AND thread,
    since the service answers requests in threads of one process and two of them may cache the
    same index at once (a name per process only let one thread rename the other's half-written
    file, or fail to find its own)."""
    path = Path(path)
    return path.with_name(f"{path.name}.tmp{os.getpid()}-{threading.get_ident()}")


def save(index: faiss.Index, ids: np.ndarray, path: str | os.PathLike) -> None:
    """Write `index` to `path` and `ids` beside it (`path.ids.npy`).

    Each file is written under a temporary name and renamed, ids first: a reader that finds
    `path` also finds the ids that belong to it."""
    path = Path(path)
    ids_path = path.with_name(path.name + ".ids.npy")
    tmp = temp_path(ids_path)
    with open(tmp, "wb") as fh:
        np.save(fh, ids)
    os.replace(tmp, ids_path)
    tmp = temp_path(path)
    faiss.write_index(index, str(tmp))
    os.replace(tmp, path)


def load(path: str | os.PathLike) -> tuple[faiss.Index, np.ndarray]:
    """(index, ids) saved by `save`. The index is memory-mapped: a 1M-image index (2 GB)
    opens in milliseconds and the page cache is shared between queries instead of being
    copied into each process. Raises ValueError when the two files do not belong together."""
    path = Path(path)
    index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)
    ids = np.load(path.with_name(path.name + ".ids.npy"))
    if len(ids) != index.ntotal:
        raise ValueError(f"index cache {path} does not match its ids")
    return index, ids
