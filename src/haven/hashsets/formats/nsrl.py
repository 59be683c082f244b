"""NIST NSRL RDS v3 (SQLite): a known-good list of software files.

Reads the distinct (sha256, sha1, md5) triples, from the DISTINCT_HASH view when the file has
it, else from FILE. Hashes in RDS files are upper-case hex. The database is opened read-only
and immutable so reading never writes a journal beside it.

A full RDS holds hundreds of millions of rows; this reader still builds one list in memory.
Streaming entries into the case store is future work.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from haven.errors import HashSetFormatError
from haven.hashsets.formats import fields
from haven.hashsets.formats.registry import register
from haven.hashsets.model import HashEntry, ImportResult, Malformed

SQLITE_MAGIC = b"SQLite format 3\x00"


def _connect(path: Path) -> sqlite3.Connection:
    uri = path.resolve().as_uri() + "?mode=ro&immutable=1"
    return sqlite3.connect(uri, uri=True)


def _objects(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT upper(name) FROM sqlite_master WHERE type IN ('table', 'view')")
    return {name for (name,) in rows}


@register
class NsrlReader:
    name = "nsrl"
    priority = 10
    binary = True  # an SQLite database, not text

    def sniff(self, path: Path, head: bytes) -> bool:
        if not head.startswith(SQLITE_MAGIC):
            return False
        try:
            conn = _connect(path)
            try:
                return "FILE" in _objects(conn)
            finally:
                conn.close()
        except sqlite3.Error:
            return False

    def read(self, path: Path, *, scheme: str | None = None) -> ImportResult:
        result = ImportResult(format=self.name, scheme=scheme, known_good_hint=True)
        try:
            conn = _connect(path)
            try:
                objects = _objects(conn)
                if "FILE" not in objects:
                    raise HashSetFormatError(f"{path.name}: not an NSRL RDS v3 database (no FILE table)")
                source = "DISTINCT_HASH" if "DISTINCT_HASH" in objects else "FILE"
                rows = conn.execute(f"SELECT DISTINCT sha256, sha1, md5 FROM {source}")
                # "line" is the result row: DISTINCT_HASH has no row ids of its own
                for number, (sha256, sha1, md5) in enumerate(rows, start=1):
                    try:
                        entry = HashEntry(
                            md5=fields.hex_digest(md5, "md5"),
                            sha1=fields.hex_digest(sha1, "sha1"),
                            sha256=fields.hex_digest(sha256, "sha256"),
                            scheme=scheme,
                            line=number,
                        )
                    except ValueError as exc:
                        result.malformed.append(Malformed(number, str(exc)))
                        continue
                    result.entries.append(entry)
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise HashSetFormatError(f"{path.name}: cannot read as an NSRL SQLite database ({exc})") from exc
        return result
