"""The SQLite settings every haven database connection gets (case store, service).

One helper, so the stores do not drift apart: write-ahead log, foreign keys enforced, a 10 s
wait for another writer's lock, and each store's own durability choice (`synchronous`):
NORMAL for a case store (a killed scan loses at most the batch being written, never the
file), FULL for the service (an acknowledged write, such as an audit entry, survives a power
cut). A read-only case store gets `query_only` and nothing that writes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

BUSY_TIMEOUT_MS = 10_000


def apply_pragmas(dbapi_conn, *, synchronous: str = "FULL", read_only: bool = False) -> None:
    """Set haven's pragmas on one new DB-API connection."""
    cur = dbapi_conn.cursor()
    try:
        if read_only:
            cur.execute("PRAGMA query_only=ON")
            return
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    finally:
        cur.close()


def listen(engine: Engine, *, synchronous: str = "FULL", read_only: bool = False) -> None:
    """Apply `apply_pragmas` to every connection `engine` opens (SQLite engines only)."""
    from sqlalchemy import event

    if engine.dialect.name != "sqlite":
        return
    if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
        raise ValueError(f"not a synchronous level: {synchronous}")

    def on_connect(dbapi_conn, _record) -> None:
        apply_pragmas(dbapi_conn, synchronous=synchronous, read_only=read_only)

    event.listen(engine, "connect", on_connect)
