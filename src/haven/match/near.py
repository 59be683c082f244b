"""PDQ near matching: a Hamming-range index over 256-bit hashes, and the robust method on top.

`NearIndex` answers "which known entries have a hash within `threshold` bits of any of these
query hashes" (FAISS binary index, exact). Several enrolled hashes may share one entry id
(an image's PDQ plus its central-crop hashes); results come back once per id, at the best
distance.

`RobustPdq` is the matching method haven measures in bench/recall.py and the scan uses: which
hashes to enrol for a known image and which to compute for a queried item.
"""

from __future__ import annotations

import faiss
import numpy as np

from haven.errors import HavenError

HASH_BITS = 256
HASH_BYTES = HASH_BITS // 8
#: The upstream PDQ matching threshold (inclusive).
DEFAULT_THRESHOLD = 31


class NearIndexError(HavenError):
    """A PDQ hash given to the near index is not 64 hex digits."""


def hexes_to_codes(hexes: list[str]) -> np.ndarray:
    """64-hex PDQ hashes as an (n, 32) uint8 array of packed bits, as FAISS wants them."""
    codes = np.empty((len(hexes), HASH_BYTES), dtype=np.uint8)
    for row, value in enumerate(hexes):
        try:
            raw = bytes.fromhex(value)
        except (TypeError, ValueError):
            raw = b""
        if len(raw) != HASH_BYTES:
            raise NearIndexError(f"not a PDQ hash (need 64 hex digits): {value!r}")
        codes[row] = np.frombuffer(raw, dtype=np.uint8)
    return codes


class NearIndex:
    """Exact Hamming-range search over PDQ hashes, many hashes per id allowed.

    Backed by `faiss.IndexBinaryFlat` (brute force, ~1 ms per query per million hashes per
    core order of magnitude); `_make_index` is the one place to swap in a faster FAISS index
    (IVF / multi-hash) for national-scale libraries, as long as it supports `range_search`.
    """

    def __init__(self) -> None:
        self._index = self._make_index()
        self._ids = np.empty(0, dtype=np.int64)
        self._tags: list[str | None] = []

    @staticmethod
    def _make_index() -> faiss.IndexBinary:
        return faiss.IndexBinaryFlat(HASH_BITS)

    def add(self, hexes: list[str], ids: list[int], tags: list[str] | None = None) -> None:
        """Enrol `hexes[k]` under `ids[k]`; `tags` optionally names each hash (e.g. `pdq-c88`)."""
        if len(hexes) != len(ids) or (tags is not None and len(tags) != len(hexes)):
            raise ValueError("hexes, ids (and tags) must have the same length")
        if not hexes:
            return
        self._index.add(hexes_to_codes(hexes))
        self._ids = np.concatenate([self._ids, np.asarray(ids, dtype=np.int64)])
        self._tags.extend(tags if tags is not None else [None] * len(hexes))

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def search_rows(self, query_hexes: list[str], threshold: int = DEFAULT_THRESHOLD
                    ) -> list[tuple[int, int, str | None]]:
        """Every enrolled hash within `threshold` (inclusive) of any query hash.

        Returns (id, distance, tag) per enrolled row at its best distance, sorted by distance.
        """
        if not query_hexes or len(self) == 0:
            return []
        # FAISS range search keeps distances strictly below the radius
        lims, dists, rows = self._index.range_search(hexes_to_codes(query_hexes), int(threshold) + 1)
        best: dict[int, int] = {}
        for row, dist in zip(rows.tolist(), dists.tolist()):
            d = int(dist)
            if row not in best or d < best[row]:
                best[row] = d
        out = [(int(self._ids[row]), d, self._tags[row]) for row, d in best.items()]
        out.sort(key=lambda t: (t[1], t[0]))
        return out

    def search(self, query_hexes: list[str], threshold: int = DEFAULT_THRESHOLD) -> list[tuple[int, int]]:
        """(id, distance) of each id with a hash within `threshold` of any query hash.

        `query_hexes` are usually the 8 dihedral hashes of one item; an id's distance is the
        minimum over all its enrolled hashes and all query hashes. Sorted by distance, then id.
        """
        best: dict[int, int] = {}
        for ident, d, _tag in self.search_rows(query_hexes, threshold):
            if ident not in best:
                best[ident] = d
        return sorted(best.items(), key=lambda t: (t[1], t[0]))


class RobustPdq:
    """haven's near-duplicate method: PDQ plus crop windows, threshold 31 throughout.

    - Known side (`enrolment_hexes`): the image's PDQ, its central 84 % window and a grid of
      225 crop windows (sizes 85/89/93 % per axis, centre shifts 0/±1/±2 %), all under the
      entry's id. Needs the known image itself; hash-only sets enrol their one PDQ hash.
    - Query side (`query_hexes`): 32 hashes, the 8 dihedral PDQ hashes of the item and of
      its central 84, 89 and 93 % windows.
    - Match: any query hash within `threshold` bits of any enrolled hash of an entry.

    bench/recall.py measures exactly this; the scan reaches it through
    `haven.signals.pdq.enrolment_hexes` / `query_hexes` and `NearIndex.search`.
    """

    def __init__(self, threshold: int = DEFAULT_THRESHOLD, *, fast: bool = True) -> None:
        self.threshold = threshold
        self.fast = fast

    def prepare_bytes(self, data: bytes):
        """Decode once; every other method accepts the result (or bytes, an image, a path)."""
        from haven.signals import pdq

        return pdq._prepared(data, self.fast)

    def enrolment_hexes(self, source) -> dict[str, str]:
        from haven.signals import pdq

        return pdq.enrolment_hexes(source, fast=self.fast)

    def query_hexes(self, source) -> list[str]:
        from haven.signals import pdq

        return pdq.query_hexes(source, fast=self.fast)

    def enrol(self, index: NearIndex, source, entry_id: int) -> int:
        """Add one known image's hashes to `index`; returns how many were added."""
        hexes = self.enrolment_hexes(source)
        index.add(list(hexes.values()), [entry_id] * len(hexes), list(hexes))
        return len(hexes)

    def search(self, index: NearIndex, source) -> list[tuple[int, int]]:
        """(id, distance) of the known entries matching one item, best first."""
        return index.search(self.query_hexes(source), self.threshold)
