"""What the hash-only hypotheses need per image item, kept beside the case for re-matching.

`haven scan` sends, for every image PDQ trusts, what the framing hypotheses search with
(`haven.match.framing.Item`: the 128 x 128 luminance grid, the item's own 64 x 64 PDQ samples
and, for items that look PDQ-unstable, their luma at their own resolution), in `Item.pack`'s
lossless form. This module keeps those bytes per item id, so a hash-only list imported after
the scan (`haven.match.rematch`) gets the same crop/band/logo/caption hypotheses a rescan would
run, without reading the evidence.

They live in a sidecar SQLite file, `hypotheses.db` in the case directory, not in `case.db`:
they are 14-40 KB per image on our data (15-41 GB for a case of a million images;
docs/hash-only.md), where everything else a scan stores is ~1-2 KB, so the case database stays
as small and as quick to copy as before, and the file can be left out (or deleted) without harm: items without a record
are re-matched with their plain query hashes, as in cases scanned before this file existed.
A batch is written after the case database's own transaction, so a crash in between leaves
items without a record (counted as such by re-matching), never a record without its item.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Iterable, Iterator

from haven.sqlite import apply_pragmas

FILE_NAME = "hypotheses.db"
_SCHEMA = ("CREATE TABLE IF NOT EXISTS item_hypotheses ("
           "item_id INTEGER PRIMARY KEY, data BLOB NOT NULL)")


class HypothesisStore:
    """The sidecar of one case (module doc). Opened for writing it is created when missing;
    opened to read (`create=False`) a missing file reads as empty."""

    def __init__(self, case_dir: str | Path, *, create: bool = True):
        self.path = Path(case_dir) / FILE_NAME
        self.conn: sqlite3.Connection | None = None
        if create or self.path.is_file():
            self.conn = sqlite3.connect(str(self.path), isolation_level=None,
                                        check_same_thread=False)
            apply_pragmas(self.conn, synchronous="NORMAL")
            self.conn.execute(_SCHEMA)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def __enter__(self) -> HypothesisStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def put(self, rows: Iterable[tuple[int, bytes | None]]) -> None:
        """Keep each (item id, `Item.pack` bytes) in one transaction; None drops the item's
        record (an item analysed again that no longer has one)."""
        rows = list(rows)
        if not rows or self.conn is None:
            return
        keep = [(i, d) for i, d in rows if d is not None]
        drop = [(i,) for i, d in rows if d is None]
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            if keep:
                self.conn.executemany(
                    "INSERT OR REPLACE INTO item_hypotheses (item_id, data) VALUES (?, ?)", keep)
            if drop:
                self.conn.executemany("DELETE FROM item_hypotheses WHERE item_id = ?", drop)
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def get(self, item_ids: list[int]) -> dict[int, bytes]:
        """The records of these items that exist."""
        out: dict[int, bytes] = {}
        if self.conn is None:
            return out
        for start in range(0, len(item_ids), 900):
            part = item_ids[start:start + 900]
            out.update(self.conn.execute(
                "SELECT item_id, data FROM item_hypotheses WHERE item_id IN "
                f"({','.join('?' * len(part))})", part))
        return out

    def scan(self, batch: int = 500) -> Iterator[list[tuple[int, bytes]]]:
        """Every record, in item-id order, `batch` at a time (memory stays ~batch x 40 KB)."""
        if self.conn is None:
            return
        last = -1
        while True:
            rows = self.conn.execute(
                "SELECT item_id, data FROM item_hypotheses WHERE item_id > ? ORDER BY item_id "
                "LIMIT ?", (last, batch)).fetchall()
            if not rows:
                return
            yield rows
            last = rows[-1][0]

    def __len__(self) -> int:
        if self.conn is None:
            return 0
        return self.conn.execute("SELECT count(*) FROM item_hypotheses").fetchone()[0]

    def bytes(self) -> int:
        """Bytes of the records (their data, without SQLite's own overhead)."""
        if self.conn is None:
            return 0
        return self.conn.execute(
            "SELECT COALESCE(sum(length(data)), 0) FROM item_hypotheses").fetchone()[0]
