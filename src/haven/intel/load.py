"""`intel load`: record files → records in the operation store, with provenance and problems."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from haven.intel.fields import (
    FIELDS,
    Columns,
    check_mapping,
    guess_mapping,
    mapped_columns,
    mapping_for,
    read_mapping_file,
    write_mapping_file,
)
from haven.intel.errors import RecordFileError
from haven.intel.readers import RawRow, RowProblem, read_table
from haven.intel.payment import operation_key, protect_card, redact_pans
from haven.intel.store import open_store

MAPPING_NAME = "mapping.yaml"
PROBLEMS_NAME = "load_problems.jsonl"
_BATCH = 20_000


@dataclass
class FileLoad:
    """What loading one file did."""

    file: str
    path: str
    sha256: str
    format: str
    encoding: str | None
    rows: int
    records: int
    problems: int
    warnings: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    mapping: dict[str, Columns] = field(default_factory=dict)
    replaced: bool = False
    #: Input columns no field maps to, in file order (kept in each record's `extra`).
    unmapped: list[str] = field(default_factory=list)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def record_id(sha256: str, row: int) -> str:
    """Stable id of a record: which file content, which data row."""
    return f"{sha256[:16]}-{row}"


def load_files(
    paths: Iterable[Path],
    op_dir: Path,
    mapping_path: Path | None = None,
    on_rows: Callable[[str, int], None] | None = None,
    table: str | None = None,
) -> list[FileLoad]:
    """Load record files into `op_dir`; loading the same file again replaces its records.

    `table` chooses the table of an SQLite file or SQL dump that holds several.

    The mapping for each file is, in order: its entry in `mapping_path`, its entry in the
    operation's own mapping.yaml (which the analyst may have edited), a guess from headers.
    """
    op_dir.mkdir(parents=True, exist_ok=True)
    given = read_mapping_file(mapping_path) if mapping_path else {"files": {}, "default": {}}
    op_mapping_path = op_dir / MAPPING_NAME
    kept = read_mapping_file(op_mapping_path) if op_mapping_path.exists() else {"files": {}}
    kept_files = dict(kept.get("files", {}))
    results: list[FileLoad] = []
    con = open_store(op_dir, create=True)
    key = operation_key(op_dir)
    try:
        _add_new_fields(con)
        for path in paths:
            path = Path(path)
            digest = sha256_of(path)
            table_read = read_table(path, table)
            name = path.name
            mapping = mapping_for(given, name)
            if mapping is None:
                mapping = mapping_for({"files": kept_files}, name)
            if mapping is None:
                mapping = guess_mapping(table_read.headers)
            check_mapping(mapping, table_read.headers, name)
            _refuse_non_table(path, table_read, mapping)
            kept_files[name] = mapping
            replaced = bool(
                con.execute("SELECT count(*) FROM files WHERE sha256 = ?", [digest]).fetchall()[0][0]
            )
            con.execute("BEGIN")
            for t in ("records", "problems", "files"):
                con.execute(f"DELETE FROM {t} WHERE sha256 = ?", [digest])
            result = _insert(con, table_read, name, digest, mapping, on_rows, key)
            result.path = str(path.resolve())
            used = set(mapped_columns(mapping))
            result.unmapped = [h for h in table_read.headers if h not in used]
            result.replaced = replaced
            problems_rows = [
                (digest, name, None, None, "warning", kind, _warning_text(kind, n), None)
                for kind, n in sorted(result.warnings.items())
            ]
            if problems_rows:
                con.executemany("INSERT INTO problems VALUES (?,?,?,?,?,?,?,?)", problems_rows)
            con.execute(
                "INSERT INTO files VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [digest, name, result.path, result.format, result.encoding, result.rows,
                 result.records, result.problems, json.dumps(result.warnings, sort_keys=True),
                 json.dumps(result.notes), json.dumps(mapping, sort_keys=True)],
            )
            con.execute("COMMIT")
            results.append(result)
        write_mapping_file(op_mapping_path, {"files": kept_files, "default": given.get("default", {})})
        _write_problems(con, op_dir / PROBLEMS_NAME)
    finally:
        con.close()
    return results


def _refuse_non_table(path: Path, table, mapping: dict) -> None:  # type: ignore[no-untyped-def]
    """Delimited text with one column whose header names no field is prose, not a list."""
    if table.format == "csv" and len(table.headers) <= 1 and not mapping:
        first = (table.headers or [""])[0]
        raise RecordFileError(
            f"{path}: not a table: no delimiter (, ; tab |) found and the first line "
            f"({first[:60]!r}) names no field; give a mapping with --mapping if it is a "
            "one-column list"
        )


def _add_new_fields(con) -> None:  # type: ignore[no-untyped-def]
    """A store made by an older haven gets the fields added since (e.g. national_id)."""
    have = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'records'"
    ).fetchall()}
    for f in FIELDS:
        if f not in have:
            con.execute(f"ALTER TABLE records ADD COLUMN {f} VARCHAR")


def _warning_text(kind: str, n: int) -> str:
    return f"{n} × {kind.replace('_', ' ')}"


def _insert(con, table, name: str, digest: str, mapping: dict[str, Columns], on_rows,  # type: ignore[no-untyped-def]
            key: bytes) -> FileLoad:
    """Rows → records. Card columns become one protected card text (no full PAN in clear);
    card numbers anywhere else (unmapped columns, unreadable rows) are masked."""
    mapped_cols = set(mapped_columns(mapping))
    card_cols = mapping.get("card")
    card_cols = [card_cols] if isinstance(card_cols, str) else (card_cols or [])
    columns: dict[str, list] = {k: [] for k in ("record_id", "sha256", "file", "row", "line")}
    for f in FIELDS:
        columns[f] = []
    columns["extra"] = []
    problems: list[tuple] = []
    rows = records = 0
    hidden: Counter = Counter()   # card numbers kept only hashed or masked, for the notes

    def flush() -> None:
        if not columns["record_id"]:
            return
        batch = pa.table({k: pa.array(v, type=pa.int64() if k in ("row", "line") else pa.string())
                          for k, v in columns.items()})
        con.register("_haven_batch", batch)
        con.execute("INSERT INTO records BY NAME SELECT * FROM _haven_batch")
        con.unregister("_haven_batch")
        for v in columns.values():
            v.clear()

    for item in table.rows:
        if isinstance(item, RowProblem):
            problems.append((digest, name, item.row, item.line, "error", item.kind,
                             redact_pans(item.message), redact_pans(item.raw)))
            rows = max(rows, item.row or 0)
            continue
        assert isinstance(item, RawRow)
        rows = max(rows, item.row)
        records += 1
        v = item.values
        columns["record_id"].append(record_id(digest, item.row))
        columns["sha256"].append(digest)
        columns["file"].append(name)
        columns["row"].append(item.row)
        columns["line"].append(item.line)
        for f in FIELDS:
            col = mapping.get(f)
            if f == "card":
                val = protect_card([(c, v.get(c)) for c in card_cols], key) if card_cols else None
                if val and "_hmac=" in val:
                    hidden["pan" if "pan_hmac=" in val else "account"] += 1
            elif isinstance(col, list):
                val = " ".join(x.strip() for x in (v.get(c) for c in col)
                               if isinstance(x, str) and x.strip()) or None
            else:
                val = v.get(col) if col else None
            columns[f].append(val.strip() if isinstance(val, str) else val)
        extra = {k: redact_pans(x) if isinstance(x, str) else x
                 for k, x in v.items() if k not in mapped_cols and x is not None}
        hidden["masked"] += sum(1 for k, x in extra.items() if x is not v[k])
        columns["extra"].append(json.dumps(extra, ensure_ascii=False) if extra else None)
        if len(columns["record_id"]) >= _BATCH:
            flush()
            if on_rows:
                on_rows(name, records)
    flush()
    if on_rows:
        on_rows(name, records)
    if problems:
        con.executemany("INSERT INTO problems VALUES (?,?,?,?,?,?,?,?)", problems)
    return FileLoad(
        file=name, path="", sha256=digest, format=table.format, encoding=table.encoding,
        rows=rows, records=records, problems=len(problems),
        warnings=dict(sorted(table.warnings.items())), notes=list(table.notes) + _card_notes(hidden),
        mapping=mapping,
    )


def _card_notes(hidden: Counter) -> list[str]:
    notes = []
    if hidden["pan"]:
        notes.append(f"{hidden['pan']} full card number(s) kept only as BIN + last 4 and a "
                     "keyed hash (payment.key)")
    if hidden["account"]:
        notes.append(f"{hidden['account']} long card/account number(s) failing the Luhn check "
                     "kept only as last 4 and a keyed hash")
    if hidden["masked"]:
        notes.append(f"{hidden['masked']} value(s) in unmapped columns held a card number, "
                     "masked to BIN + last 4")
    return notes


def _write_problems(con, path: Path) -> None:  # type: ignore[no-untyped-def]
    rows = con.execute(
        "SELECT file, sha256, row, line, level, kind, message, raw FROM problems "
        "ORDER BY file, sha256, level, row NULLS FIRST, kind"
    ).fetchall()
    with path.open("w", encoding="utf-8") as fh:
        for file, sha, row, line, level, kind, message, raw in rows:
            obj = {"file": file, "sha256": sha, "row": row, "line": line, "level": level,
                   "kind": kind, "message": message}
            if raw is not None:
                obj["raw"] = raw
            fh.write(json.dumps(obj, ensure_ascii=False) + "\n")


def problem_counts(results: Iterable[FileLoad]) -> Counter:
    c: Counter = Counter()
    for r in results:
        c["problems"] += r.problems
        c["warnings"] += sum(r.warnings.values())
    return c
