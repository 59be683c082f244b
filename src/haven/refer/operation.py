"""Reading an attributed operation: its subjects, their source records and its provenance.

Thin I/O edge over what `haven intel` left in OPERATION_DIR. Subjects are streamed (a
400,000-row list gives a few hundred MB of subjects.jsonl); records are fetched per package
from the DuckDB store, so memory follows the largest package, not the whole list.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa

import haven
from haven.intel.fields import FIELDS
from haven.refer.errors import ReferError

SUBJECTS_NAME = "subjects.jsonl"
ATTRIBUTION_NAME = "attribution.json"
STORE_NAME = "intel.duckdb"
RECORD_COLUMNS: tuple[str, ...] = ("file", "row", *FIELDS, "extra", "sha256", "record_id")


def require_attributed(op_dir: Path) -> None:
    if not (op_dir / SUBJECTS_NAME).is_file():
        raise ReferError(f"{op_dir} holds no {SUBJECTS_NAME}; run 'haven intel resolve --op "
                         f"{op_dir}' and 'haven intel attribute --op {op_dir}' first")


def iter_subjects(op_dir: Path) -> Iterator[dict]:
    """Every subject of subjects.jsonl, in file order; a broken line is an error naming it."""
    require_attributed(op_dir)
    with (op_dir / SUBJECTS_NAME).open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise ReferError(f"{op_dir / SUBJECTS_NAME} line {n} is not JSON ({exc.msg}); "
                                 "re-run 'haven intel attribute'") from exc


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def built_at(op_dir: Path, override: str | None = None) -> datetime:
    """The package timestamp: --timestamp, else $SOURCE_DATE_EPOCH, else subjects.jsonl's mtime.

    Never the wall clock, so building twice from the same operation gives the same bytes.
    """
    if override:
        try:
            ts = datetime.fromisoformat(override.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ReferError(f"--timestamp '{override}' is not an ISO 8601 date-time "
                             "(e.g. 2026-01-10T09:00:00Z)") from exc
        return (ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    env = os.environ.get("SOURCE_DATE_EPOCH")
    if env:
        try:
            return datetime.fromtimestamp(int(env), tz=timezone.utc)
        except ValueError as exc:
            raise ReferError(f"SOURCE_DATE_EPOCH='{env}' is not a Unix time in seconds") from exc
    require_attributed(op_dir)
    mtime = int((op_dir / SUBJECTS_NAME).stat().st_mtime)
    return datetime.fromtimestamp(mtime, tz=timezone.utc)


def provenance(op_dir: Path, timestamp: datetime) -> dict:
    """What the packages were built from: inputs, IP database, model, decisions, versions."""
    require_attributed(op_dir)
    try:
        meta = json.loads((op_dir / ATTRIBUTION_NAME).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        meta = {}
    inputs: list[dict] = []
    store = op_dir / STORE_NAME
    if store.is_file():
        con = _connect(store)
        try:
            for sha, name, fmt, rows, records, problems in con.execute(
                    "SELECT sha256, file, format, rows, records, problems FROM files "
                    "ORDER BY file, sha256").fetchall():
                inputs.append({"file": name, "sha256": sha, "format": fmt, "rows": rows,
                               "records": records, "unreadable_rows": problems})
        finally:
            con.close()

    def hashed(name: str) -> dict | None:
        path = op_dir / name
        return {"file": name, "sha256": sha256_file(path)} if path.is_file() else None

    return {
        "operation": op_dir.resolve().name,
        "built_at": timestamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "haven_version": haven.__version__,
        "inputs": inputs,
        "ip_database": meta.get("ip_database"),
        "anonymiser_lists": meta.get("anonymiser_lists") or [],
        "attribution": {"weights": meta.get("weights"), "clear_ratio": meta.get("clear_ratio"),
                        "secondary_share": meta.get("secondary_share")},
        "model": hashed("model.json"),
        "decisions": hashed("decisions.yaml"),
        "subjects": hashed(SUBJECTS_NAME),
    }


def records_by_ref(rows) -> dict[tuple[str, int], dict]:
    """Rows of `RECORD_COLUMNS` as {(file, row): record}, `extra` decoded from JSON."""
    out = {}
    for row in rows:
        rec = dict(zip(RECORD_COLUMNS, row))
        if isinstance(rec.get("extra"), str):
            try:
                rec["extra"] = json.loads(rec["extra"])
            except ValueError:
                pass
        out[(rec["file"], rec["row"])] = rec
    return out


def _connect(store: Path) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(store), read_only=True)
    except duckdb.Error as exc:
        raise ReferError(f"cannot open the operation store {store}: {exc}") from exc


class RecordSource:
    """Source records by (file, row), fetched one package at a time from the operation store."""

    def __init__(self, op_dir: Path) -> None:
        store = op_dir / STORE_NAME
        self._con = _connect(store) if store.is_file() else None

    def fetch(self, refs: list[tuple[str, int]]) -> dict[tuple[str, int], dict]:
        """The records named by `refs`; missing ones are simply absent from the result."""
        if self._con is None or not refs:
            return {}
        wanted = pa.table({"file": [f for f, _ in refs], "row": [r for _, r in refs]},
                          schema=pa.schema([("file", pa.string()), ("row", pa.int64())]))
        self._con.register("wanted", wanted)
        try:
            cols = ", ".join(f"r.{c}" for c in RECORD_COLUMNS)
            rel = self._con.execute(
                f"SELECT {cols} FROM records r JOIN (SELECT DISTINCT file, row FROM wanted) w "
                "ON r.file = w.file AND r.row = w.row")
            return records_by_ref(rel.fetchall())
        finally:
            self._con.unregister("wanted")

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
