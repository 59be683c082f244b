"""The operation store: one DuckDB file inside OPERATION_DIR holding records and results.

Thin I/O edge: the pipeline steps read and write tables here; nothing else touches the file.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from haven.intel.errors import OperationError
from haven.intel.fields import FIELDS

STORE_NAME = "intel.duckdb"

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS files (
        sha256 VARCHAR PRIMARY KEY, file VARCHAR, path VARCHAR, format VARCHAR,
        encoding VARCHAR, rows BIGINT, records BIGINT, problems BIGINT,
        warnings JSON, notes JSON, mapping JSON)""",
    "CREATE TABLE IF NOT EXISTS records (record_id VARCHAR PRIMARY KEY, sha256 VARCHAR, "
    "file VARCHAR, row BIGINT, line BIGINT, "
    + ", ".join(f"{f} VARCHAR" for f in FIELDS)
    + ", extra JSON)",
    """CREATE TABLE IF NOT EXISTS problems (
        sha256 VARCHAR, file VARCHAR, row BIGINT, line BIGINT, level VARCHAR,
        kind VARCHAR, message VARCHAR, raw VARCHAR)""",
]


def store_path(op_dir: Path) -> Path:
    return op_dir / STORE_NAME


def open_store(op_dir: Path, create: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the operation's store; `create` makes the directory and schema when missing."""
    path = store_path(op_dir)
    if not path.exists():
        if not create:
            raise OperationError(
                f"{op_dir} holds no loaded records; run 'haven intel load FILE... --op {op_dir}' "
                "first"
            )
        op_dir.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path))
    except duckdb.Error as exc:
        raise OperationError(f"cannot open the operation store {path}: {exc}") from exc
    for stmt in _SCHEMA:
        con.execute(stmt)
    return con


def require_table(con: duckdb.DuckDBPyConnection, table: str, step: str, op_dir: Path) -> None:
    """Raise `OperationError` naming the step to run when `table` is missing."""
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]
    ).fetchall()
    if not found or not found[0][0]:
        raise OperationError(f"{op_dir}: run 'haven intel {step} --op {op_dir}' first")
