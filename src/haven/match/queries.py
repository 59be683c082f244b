"""The PDQ hashes each item of a case is searched with, and an index over them.

A scan keeps every item's query hashes (`item_queries`: an image's dihedral and window hashes,
a video's trusted frame hashes). When known material changes, re-matching must find the items
near a few new known hashes. Searching every item again costs a scan's matching; searching the
new hashes in an index of the items' hashes costs what changed. `QueryIndex` is that index:
`CASE_DIR/queries/`, PDQ segments (`haven.match.segments.PdqSegment`, multi-index tables
saved on disk) whose row ids are item ids, and a checksummed manifest saying up to which
`item_queries` row it has taken in. It is derived data: a damaged one is rebuilt.

Hamming distance is symmetric, so an item is found here exactly when a scan of it would have
found the new hash in the library; found items are then matched with the scan's own code
(`MatchLibrary.match`), so the index only chooses candidates, never decides.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from haven.durable import FORMAT_VERSION, read_manifest, write_manifest
from haven.errors import LibraryError
from haven.signals import MIN_TRUSTED_QUALITY

HASH_BYTES = 32
#: most codes one segment is built from (bounds the memory of a build)
SEGMENT_CODES = 8_000_000
#: small segments are merged once there are more than this many
MAX_SMALL_SEGMENTS = 4


def item_query_codes(query_hexes: list[str] | None, pdq: str | None, pdq_quality: int | None,
                     vpdq: list | None) -> tuple[bytes | None, str | None]:
    """(packed codes, source) an item is searched with: its query hashes when the scan made
    them, else a video's trusted frames, else a trusted stored PDQ; (None, None) if none."""
    if query_hexes:
        return bytes.fromhex("".join(query_hexes)), "query"
    if vpdq:
        frames = [row[2] for row in vpdq if row[1] >= MIN_TRUSTED_QUALITY and row[2]]
        return (bytes.fromhex("".join(frames)), "frames") if frames else (None, None)
    if pdq and (pdq_quality or 0) >= MIN_TRUSTED_QUALITY:
        return bytes.fromhex(pdq), "pdq"
    return None, None


def codes_to_hexes(codes: bytes) -> list[str]:
    """Packed 32-byte codes back to 64-hex PDQ hashes."""
    return [codes[i:i + HASH_BYTES].hex() for i in range(0, len(codes), HASH_BYTES)]


class QueryIndex:
    """The items' query hashes of one case, searchable by Hamming distance (module docstring)."""

    def __init__(self, case_dir: str | Path) -> None:
        self.root = Path(case_dir) / "queries"
        self.segments: list = []
        self.indexed_to = 0
        self._next = 1
        if self.root.is_dir():
            try:
                body = read_manifest(self.root)
                self.indexed_to, self._next = int(body["indexed_to"]), int(body["next"])
                self.segments = [self._open(name) for name in body["segments"]]
            except (LibraryError, KeyError, ValueError, TypeError):
                self._reset()  # derived data: rebuilt from item_queries by the next update

    def _open(self, name: str):
        from haven.match.segments import PdqSegment

        # memory-mapped: a feed touches a few pages (reading 3.3 GB for 1M images took 23 s
        # against 6 s for the whole 1,000-hash search); the search of a batch of new hashes
        # is split over the cores
        seg = PdqSegment(self.root / name, verify=False, in_memory=False)
        if seg.index is not None:
            seg.index.threads = os.cpu_count() or 1
        return seg

    def _reset(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        self.segments, self.indexed_to, self._next = [], 0, 1

    def __len__(self) -> int:
        return sum(seg.n for seg in self.segments)

    def _save(self) -> None:
        write_manifest(self.root, {"format": FORMAT_VERSION, "indexed_to": self.indexed_to,
                                   "next": self._next,
                                   "segments": [seg.path.name for seg in self.segments]})

    def _write(self, codes: np.ndarray, ids: np.ndarray):
        from haven.match.segments import PdqSegment

        name = f"seg-{self._next:06d}"
        self._next += 1
        PdqSegment.write(self.root / name, codes, ids)
        return self._open(name)

    def update(self, store) -> int:
        """Take in the `item_queries` rows added since the last update; returns codes added."""
        top = store.db.execute("SELECT max(id) FROM item_queries").fetchone()[0] or 0
        if top < self.indexed_to:  # the store was replaced underneath: start again
            self._reset()
        if top == self.indexed_to:
            return 0
        self.root.mkdir(parents=True, exist_ok=True)
        added = 0
        blobs: list[bytes] = []
        ids: list[np.ndarray] = []
        pending = 0
        last = self.indexed_to

        def flush() -> None:
            nonlocal blobs, ids, pending
            if pending:
                codes = np.frombuffer(b"".join(blobs), np.uint8).reshape(-1, HASH_BYTES)
                self.segments.append(self._write(codes, np.concatenate(ids)))
            blobs, ids, pending = [], [], 0

        # read row by row on a cursor of its own, holding the connection meanwhile
        with store.db.lock:
            rows = store.db.conn.cursor()
            try:
                rows.execute("SELECT id, item_id, codes FROM item_queries "
                             "WHERE id > ? AND id <= ? ORDER BY id", (self.indexed_to, top))
                rows.arraysize = 20_000
                for row_id, item_id, codes in rows:
                    n = len(codes) // HASH_BYTES
                    if n:
                        blobs.append(codes)
                        ids.append(np.full(n, item_id, dtype=np.int64))
                        pending += n
                        added += n
                    last = row_id
                    if pending >= SEGMENT_CODES:
                        flush()
            finally:
                rows.close()
        flush()
        self.indexed_to = max(last, top)
        self._merge_small()
        self._save()
        return added

    def _merge_small(self) -> None:
        small = [seg for seg in self.segments if seg.n < SEGMENT_CODES // 4]
        if len(small) <= MAX_SMALL_SEGMENTS:
            return
        codes = np.concatenate([np.asarray(seg.codes).view(np.uint8).reshape(-1, HASH_BYTES)
                                for seg in small])
        ids = np.concatenate([np.asarray(seg.ids) for seg in small])
        merged = self._write(codes, ids)
        self.segments = [seg for seg in self.segments if seg not in small] + [merged]
        self._save()
        for seg in small:
            shutil.rmtree(seg.path, ignore_errors=True)

    def search(self, codes: np.ndarray, threshold: int) -> set[int]:
        """Item ids with a query hash within `threshold` bits of any of `codes` ((n, 32) uint8)."""
        found: set[int] = set()
        if not len(codes):
            return found
        codes = np.ascontiguousarray(codes, dtype=np.uint8).reshape(-1, HASH_BYTES)
        for seg in self.segments:
            ids, _d = seg.search(codes, threshold)
            found.update(np.unique(ids).tolist())
        return found
