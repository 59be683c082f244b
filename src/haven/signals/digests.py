"""The exact digests of an item (MD5, SHA-1, SHA-256: the scanned digest types) in one read.

hashlib releases the GIL on large buffers, so for big items the digests are fed from one read
loop into two threads (the first type, MD5, alone; the others together): the slowest digest,
MD5, then sets the pace instead of the sum of all of them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from queue import Queue
from typing import BinaryIO, Iterable

from haven import signals

CHUNK = 1024 * 1024
THREADED_ABOVE = 8 * 1024 * 1024  # smaller items: thread hand-off costs more than it saves


@dataclass(frozen=True)
class Digests:
    """{signal type: hex} of one content, and its size; `d.md5` reads one value."""

    values: dict[str, str]
    size: int

    def __getattr__(self, name: str) -> str:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None


def _types(kinds: Iterable[str] | None) -> list:
    if kinds is None:
        return signals.scanned_digests()
    return [signals.get(k) for k in kinds]


def digest_bytes(data: bytes, kinds: Iterable[str] | None = None) -> Digests:
    """Digests of content already in memory (the scanned digest types unless `kinds`)."""
    return Digests({t.name: t.compute(data) for t in _types(kinds)}, len(data))


def _worker(q: Queue, hashers: list) -> None:
    while True:
        chunk = q.get()
        if chunk is None:
            return
        for h in hashers:
            h.update(chunk)


def digest_stream(fh: BinaryIO, size_hint: int | None = None, head: bytes = b"",
                  kinds: Iterable[str] | None = None) -> Digests:
    """Digests of a binary stream read once in 1 MiB chunks.

    `head` is content already read from the stream (it is hashed first), so a caller that
    sniffed the first bytes need not seek back.
    """
    types = _types(kinds)
    hashers = [t.hasher() for t in types]
    size = 0
    if size_hint is None or size_hint < THREADED_ABOVE or len(hashers) < 2:
        if head:
            for h in hashers:
                h.update(head)
            size += len(head)
        while chunk := fh.read(CHUNK):
            for h in hashers:
                h.update(chunk)
            size += len(chunk)
        return Digests({t.name: h.hexdigest() for t, h in zip(types, hashers)}, size)

    groups = [hashers[:1], hashers[1:]]
    queues = [Queue(maxsize=8), Queue(maxsize=8)]
    threads = [threading.Thread(target=_worker, args=(q, g), daemon=True)
               for q, g in zip(queues, groups)]
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
    return Digests({t.name: h.hexdigest() for t, h in zip(types, hashers)}, size)
