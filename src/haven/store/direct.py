"""The case database through the standard library's `sqlite3`: the reads and writes on the
path of `haven scan` and its report, without SQLAlchemy.

Importing SQLAlchemy and the models cost a scan ~0.2 CPU-s in its main process, and its ORM
~1.5 ms per item more; on 40 photos that was a tenth of the whole command's CPU. `CaseDB`
holds one plain connection to `case.db` with the same pragmas (`haven.sqlite.apply_pragmas`)
and stores values exactly as the models do (the encodings below are read off each column's
declared type: `JSON` as `json.dumps` text, where an explicit None is the text `null`;
`DATETIME` as `YYYY-MM-DD HH:MM:SS.ffffff`; `BOOLEAN` as 0/1), so every other part of haven
reads through the models what was written here, and the other way round
(tests/store/test_case_direct.py writes the same rows both ways and compares them).

A new case is created from `haven.store.schema.SCHEMA` (the statements `create_all` writes);
a case made by an older haven is upgraded by `haven.store.case.CaseStore` through SQLAlchemy.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator
from urllib.parse import quote

from haven.errors import CaseBusyError, ReadOnlyCaseError
from haven.sqlite import apply_pragmas
from haven.store.schema import SCHEMA

#: Values the models give a column when a row is made without it (`default=` in
#: haven.store.models), for the tables written here.
DEFAULTS: dict[str, dict[str, Any]] = {
    "items": {"extension_mismatch": False, "notes": [], "flags": {}},
    "matches": {"distance": 0, "known_good": False},
}

_DATETIME = "%Y-%m-%d %H:%M:%S.%f"


@lru_cache(maxsize=None)
def expected_tables() -> dict[str, tuple[dict[str, str], frozenset[str]]]:
    """Per table of `SCHEMA`: {column: declared type} and the names of its indexes."""
    mem = sqlite3.connect(":memory:")
    try:
        for statement in SCHEMA:
            mem.execute(statement)
        return _tables(mem)
    finally:
        mem.close()


def _tables(conn: sqlite3.Connection) -> dict[str, tuple[dict[str, str], frozenset[str]]]:
    out = {}
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    for name in names:
        columns = {r[1]: r[2].upper() for r in conn.execute(f'PRAGMA table_info("{name}")')}
        indexes = frozenset(r[1] for r in conn.execute(f'PRAGMA index_list("{name}")')
                            if not r[1].startswith("sqlite_autoindex"))
        out[name] = (columns, indexes)
    return out


def _kind(declared: str) -> str | None:
    return {"JSON": "json", "DATETIME": "datetime", "BOOLEAN": "bool"}.get(declared)


def encode(kind: str | None, value: Any) -> Any:
    """A Python value as the models store it in a column of `kind` (module doc)."""
    if kind == "json":
        return json.dumps(value)
    if value is None:
        return None
    if kind == "datetime":
        return value.strftime(_DATETIME)
    if kind == "bool":
        return int(bool(value))
    return value


def from_json(text: str | None) -> Any:
    """A JSON column's value as the models read it (NULL and `null` are both None)."""
    return None if text is None else json.loads(text)


def from_datetime(text: str | None) -> datetime | None:
    """A DATETIME column's value as the models read it."""
    return None if text is None else datetime.fromisoformat(text)


def from_bool(value: int | None) -> bool | None:
    return None if value is None else bool(value)


def explain_refusal(case_dir: Path, exc: BaseException) -> None:
    """Raise the clear error for a write the storage or another writer refused (a locked
    database, read-only storage); return if `exc` is something else."""
    message = str(exc).lower()
    if "database is locked" in message:
        raise CaseBusyError(f"case {case_dir} is busy: another haven process is writing to "
                            "it; run the command again when it has finished") from None
    if "readonly database" in message or "read-only" in message:
        raise ReadOnlyCaseError(
            f"case {case_dir} is read-only (write-protected storage): this command writes "
            "to the case; copy it to writable storage") from None


class CaseDB:
    """One `sqlite3` connection to a case database (module doc). Statements outside
    `transaction()` run each in its own (autocommit); the connection may be used from any
    thread, one statement or transaction at a time."""

    def __init__(self, path: str | Path, *, read_only: bool = False):
        self.path = Path(path)
        self.read_only = read_only
        if read_only:
            # as `haven.store.case._read_only_url`: immutable when no log is pending
            wal = self.path.with_name(self.path.name + "-wal")
            pending = wal.exists() and wal.stat().st_size > 0
            flags = "mode=ro" if pending else "mode=ro&immutable=1"
            target, uri = f"file:{quote(str(self.path.resolve()))}?{flags}", True
        else:
            target, uri = str(self.path), False
        self.conn = sqlite3.connect(target, uri=uri, isolation_level=None,
                                    check_same_thread=False)
        apply_pragmas(self.conn, synchronous="NORMAL", read_only=read_only)
        self.lock = threading.RLock()
        self._kinds: dict[str, dict[str, str | None]] = {}

    def close(self) -> None:
        self.conn.close()

    # -- schema ---------------------------------------------------------------------------

    def tables(self) -> dict[str, tuple[dict[str, str], frozenset[str]]]:
        """Per table in the database: {column: declared type} and its index names."""
        with self.lock:
            return _tables(self.conn)

    def is_empty(self) -> bool:
        with self.lock:
            return self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0

    def is_current(self) -> bool:
        """Every table, column and index of `SCHEMA` is there (a case of this version)."""
        have = self.tables()
        for name, (columns, indexes) in expected_tables().items():
            if name not in have or not (columns.keys() <= have[name][0].keys()
                                        and indexes <= have[name][1]):
                return False
        return True

    def create(self) -> None:
        """Make the tables of an empty database (`SCHEMA`)."""
        with self.transaction() as conn:
            for statement in SCHEMA:
                conn.execute(statement)

    # -- reading and writing --------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (taken at once, as another writer's lock allows); a refused
        write raises `CaseBusyError` or `ReadOnlyCaseError` (`explain_refusal`)."""
        with self.lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self.conn
                except BaseException:
                    if self.conn.in_transaction:
                        self.conn.execute("ROLLBACK")
                    raise
                self.conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                explain_refusal(self.path.parent, exc)
                raise

    def execute(self, sql: str, params: Iterable = ()) -> sqlite3.Cursor:
        with self.lock:
            return self.conn.execute(sql, tuple(params))

    def kinds(self, table: str) -> dict[str, str | None]:
        """{column: "json" | "datetime" | "bool" | None} of `table` (as declared)."""
        kinds = self._kinds.get(table)
        if kinds is None:
            with self.lock:
                kinds = {r[1]: _kind(r[2].upper()) for r in
                         self.conn.execute(f'PRAGMA table_info("{table}")')}
            self._kinds[table] = kinds
        return kinds

    def insert(self, table: str, values: dict[str, Any]) -> int:
        """Add one row (columns not given take the models' defaults); returns its id."""
        kinds = self.kinds(table)
        row = {**DEFAULTS.get(table, {}), **values}
        names = list(row)
        cur = self.conn.execute(
            f'INSERT INTO "{table}" ({", ".join(names)}) VALUES ({", ".join("?" * len(names))})',
            [encode(kinds[n], row[n]) for n in names])
        return cur.lastrowid

    def update(self, table: str, row_id: int, values: dict[str, Any], key: str = "id") -> None:
        """Set `values` on the row whose `key` is `row_id`."""
        kinds = self.kinds(table)
        names = list(values)
        self.conn.execute(
            f'UPDATE "{table}" SET {", ".join(f"{n} = ?" for n in names)} WHERE {key} = ?',
            [*(encode(kinds[n], values[n]) for n in names), row_id])
