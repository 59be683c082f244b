"""SQLite database files holding one table (a dumped customer or account table)."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from haven.intel.errors import RecordFileError
from haven.intel.readers.base import RawRow, Table, note_huge, unique_headers
from haven.intel.readers.registry import register

_MAGIC = b"SQLite format 3\x00"


@register
class SqliteReader:
    name = "sqlite"
    priority = 10
    binary = True
    tables = True

    def sniff(self, head: bytes, path: Path) -> bool:
        return head.startswith(_MAGIC)

    def read(self, path: Path, table: str | None = None) -> Table:
        warnings: Counter = Counter()
        notes: list[str] = []
        # Evidence is never written to: immutable read-only URI, no journal, no WAL.
        uri = f"file:{path.resolve()}?mode=ro&immutable=1"
        try:
            con = sqlite3.connect(uri, uri=True)
            tables = [
                r[0]
                for r in con.execute(
                    "SELECT name FROM sqlite_master WHERE type='table' "
                    "AND name NOT LIKE 'sqlite_%' ORDER BY name"
                )
            ]
        except sqlite3.DatabaseError as exc:
            raise RecordFileError(f"{path}: not a readable SQLite database ({exc})") from exc
        if not tables:
            con.close()
            raise RecordFileError(f"{path}: the SQLite database has no table")
        if table is not None:
            chosen = [t for t in tables if t.casefold() == table.casefold()]
            if not chosen:
                con.close()
                raise RecordFileError(f"{path}: the SQLite database has no table {table!r}; "
                                      f"its tables: {', '.join(tables)}")
            table = chosen[0]
        elif len(tables) != 1:
            con.close()
            raise RecordFileError(
                f"{path}: the SQLite database has {len(tables)} tables ({', '.join(tables)}); "
                "choose one with --table NAME"
            )
        else:
            table = tables[0]
        quoted = table.replace('"', '""')
        cur = con.execute(f'SELECT * FROM "{quoted}" LIMIT 0')
        headers = unique_headers([d[0] for d in cur.description], warnings, notes)
        notes.append(f"table {table!r}")
        return Table("sqlite", headers, _rows(con, quoted, headers, warnings), None, warnings,
                     notes)


def _text(value: object, warnings: Counter) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            warnings["blob_as_hex"] += 1
            return value.hex()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return text if text != "" else None


def _rows(con: sqlite3.Connection, table: str, headers: list[str], warnings: Counter
          ) -> Iterator[RawRow]:
    try:
        try:
            cur = con.execute(f'SELECT * FROM "{table}" ORDER BY rowid')
        except sqlite3.OperationalError:  # WITHOUT ROWID tables keep their stored order
            cur = con.execute(f'SELECT * FROM "{table}"')
        for i, rec in enumerate(cur, start=1):
            values = {h: _text(v, warnings) for h, v in zip(headers, rec)}
            note_huge(values, warnings)
            yield RawRow(i, None, values)
    finally:
        con.close()
