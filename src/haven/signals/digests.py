"""MD5, SHA-1 and SHA-256 of an item in one streaming read.

hashlib releases the GIL on large buffers, so for big items the three digests are fed from
one read loop into two threads (MD5 alone, SHA-1 + SHA-256 together): the slowest digest,
MD5, then sets the pace instead of the sum of all three.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from queue import Queue
from typing import BinaryIO

CHUNK = 1024 * 1024
THREADED_ABOVE = 8 * 1024 * 1024  # smaller items: thread hand-off costs more than it saves


@dataclass(frozen=True)
class Digests:
    md5: str
    sha1: str
    sha256: str
    size: int


def digest_bytes(data: bytes) -> Digests:
    """Digests of content already in memory."""
    return Digests(
        hashlib.md5(data).hexdigest(),
        hashlib.sha1(data).hexdigest(),
        hashlib.sha256(data).hexdigest(),
        len(data),
    )


def _worker(q: Queue, hashers: list) -> None:
    while True:
        chunk = q.get()
        if chunk is None:
            return
        for h in hashers:
            h.update(chunk)


def digest_stream(fh: BinaryIO, size_hint: int | None = None, head: bytes = b"") -> Digests:
    """Digests of a binary stream read once in 1 MiB chunks.

    `head` is content already read from the stream (it is hashed first), so a caller that
    sniffed the first bytes need not seek back.
    """
    md5, sha1, sha256 = hashlib.md5(), hashlib.sha1(), hashlib.sha256()
    size = 0
    if size_hint is None or size_hint < THREADED_ABOVE:
        if head:
            md5.update(head), sha1.update(head), sha256.update(head)
            size += len(head)
        while chunk := fh.read(CHUNK):
            md5.update(chunk), sha1.update(chunk), sha256.update(chunk)
            size += len(chunk)
        return Digests(md5.hexdigest(), sha1.hexdigest(), sha256.hexdigest(), size)

    queues = [Queue(maxsize=8), Queue(maxsize=8)]
    threads = [
        threading.Thread(target=_worker, args=(queues[0], [md5]), daemon=True),
        threading.Thread(target=_worker, args=(queues[1], [sha1, sha256]), daemon=True),
    ]
    for t in threads:
        t.start()
    try:
        if head:
            for q in queues:
                q.put(head)
            size += len(head)
        while chunk := fh.read(CHUNK):
            for q in queues:
                q.put(chunk)
            size += len(chunk)
    finally:
        for q in queues:
            q.put(None)
        for t in threads:
            t.join()
    return Digests(md5.hexdigest(), sha1.hexdigest(), sha256.hexdigest(), size)
