"""Manual merge/split decisions an analyst keeps in OPERATION_DIR/decisions.yaml.

Records are named `FILE:ROW` (file name and 1-based data row), so decisions survive re-runs
that renumber subjects. Each decision has an id, the time it was made and who made it; an
undone decision stays in the file (with `undone` and the time) so the trail is complete, and
`haven intel resolve` applies only the decisions in force::

    merge:                      # these records are one subject, whatever the model says
      - id: D1
        at: '2026-12-06T04:30:00Z'
        by: analyst
        records: [customers.csv:12, accounts.jsonl:40]
        note: same passport scan
    split:                      # these records are a subject of their own, apart from the rest
      - id: D2
        at: '2026-12-06T04:31:00Z'
        records: [customers.csv:77]
        undone: '2026-12-06T05:02:00Z'

A hand-written entry may be a bare list of records (`- [customers.csv:12, accounts.jsonl:40]`);
it gets the next free id the next time a decision is recorded or undone.
"""

from __future__ import annotations

import getpass
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml

from haven.intel.errors import IntelError

DECISIONS_NAME = "decisions.yaml"
KINDS = ("merge", "split")
_ID = re.compile(r"^D(\d+)$")


class DecisionsError(IntelError):
    """decisions.yaml cannot be read or names records that do not exist."""


@dataclass
class Decision:
    """One analyst decision: `kind` (merge/split) over `records` (FILE:ROW strings)."""

    id: str
    kind: str
    records: list[str]
    at: str | None = None
    by: str | None = None
    note: str | None = None
    undone: str | None = None

    @property
    def refs(self) -> list[tuple[str, int]]:
        return [parse_ref(r) for r in self.records]

    def as_yaml(self) -> dict:
        out: dict = {"id": self.id}
        for key in ("at", "by"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        out["records"] = list(self.records)
        for key in ("note", "undone"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out


@dataclass
class Decisions:
    """The decisions in force, as FILE:ROW tuples, grouped by kind (what resolve applies)."""

    merge: list[list[tuple[str, int]]] = field(default_factory=list)
    split: list[list[tuple[str, int]]] = field(default_factory=list)


def parse_ref(text: str) -> tuple[str, int]:
    """`customers.csv:12` → ("customers.csv", 12)."""
    file, sep, row = str(text).rpartition(":")
    if not sep or not file or not row.strip().isdigit():
        raise DecisionsError(f"{text!r} is not FILE:ROW (e.g. customers.csv:12)")
    return file.strip(), int(row)


def _ref_text(ref: tuple[str, int]) -> str:
    return f"{ref[0]}:{ref[1]}"


def list_decisions(op_dir: Path) -> list[Decision]:
    """Every decision in OP/decisions.yaml, undone ones included, in the order they were made.

    Entries without an id (written by hand, or by an older haven) get the next free ids in
    file order, so `list` and `undo` agree on them.
    """
    path = op_dir / DECISIONS_NAME
    if not path.exists():
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DecisionsError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise DecisionsError(f"{path}: expected 'merge:' and 'split:' lists of FILE:ROW groups")
    found: list[Decision] = []
    for kind in KINDS:
        entries = data.get(kind) or []
        if not isinstance(entries, list):
            raise DecisionsError(f"{path}: '{kind}' must be a list of lists of FILE:ROW")
        for entry in entries:
            meta: dict = {}
            if isinstance(entry, dict):
                meta, records = entry, entry.get("records") or []
            else:
                records = entry
            if isinstance(records, str):
                records = [records]
            if not isinstance(records, list):
                raise DecisionsError(f"{path}: a '{kind}' entry must list FILE:ROW records")
            refs = [_ref_text(parse_ref(x)) for x in records]
            found.append(Decision(
                id=str(meta.get("id") or ""), kind=kind, records=refs,
                at=_text(meta.get("at")), by=_text(meta.get("by")), note=_text(meta.get("note")),
                undone=_text(meta.get("undone")),
            ))
    seen = [int(m.group(1)) for d in found if (m := _ID.match(d.id))]
    next_n = max(seen, default=0) + 1
    ids: set[str] = set()
    for d in found:
        if not d.id:
            d.id, next_n = f"D{next_n}", next_n + 1
        if d.id in ids:
            raise DecisionsError(f"{path}: decision id {d.id} appears twice; give each its own")
        ids.add(d.id)
    # Time order; hand-written entries without a time first; same second: by id.
    return sorted(found, key=lambda d: (d.at or "", _number(d.id)))


def read_decisions(op_dir: Path) -> Decisions:
    """The decisions in force (undone ones left out), as resolve applies them."""
    out = Decisions()
    for d in list_decisions(op_dir):
        if not d.undone:
            getattr(out, d.kind).append(d.refs)
    return out


def unloaded_records(op_dir: Path, refs: list[str]) -> list[str]:
    """The FILE:ROW refs that name no record loaded into the operation (in the given order)."""
    from haven.intel.store import open_store

    parsed = [parse_ref(r) for r in refs]
    con = open_store(op_dir)
    try:
        missing = []
        for ref in parsed:
            hit = con.execute("SELECT 1 FROM records WHERE file = ? AND row = ? LIMIT 1",
                              [ref[0], ref[1]]).fetchone()
            if hit is None:
                missing.append(_ref_text(ref))
        return missing
    finally:
        con.close()


def add_decision(op_dir: Path, kind: str, refs: list[str], note: str | None = None) -> Decision:
    """Record one merge or split over loaded records; returns it with its new id.

    Raises `DecisionsError` naming every record that was never loaded (nothing is written then).
    """
    if kind not in KINDS:
        raise DecisionsError("a decision is 'merge' or 'split'")
    if not refs:
        raise DecisionsError(f"a {kind} names at least one record as FILE:ROW")
    if kind == "merge" and len(set(refs)) < 2:
        raise DecisionsError("a merge names at least two records as FILE:ROW")
    missing = unloaded_records(op_dir, refs)
    if missing:
        raise DecisionsError(
            f"never loaded into {op_dir}: {', '.join(missing)} (FILE:ROW is a loaded file's "
            "name and 1-based data row)"
        )
    existing = list_decisions(op_dir)
    numbers = [int(m.group(1)) for d in existing if (m := _ID.match(d.id))]
    decision = Decision(
        id=f"D{max(numbers, default=0) + 1}", kind=kind,
        records=[_ref_text(parse_ref(r)) for r in refs], at=_now(), by=_analyst(), note=note,
    )
    _write(op_dir, [*existing, decision])
    return decision


def undo_decision(op_dir: Path, decision_id: str) -> Decision:
    """Mark a decision undone (kept in the file for the record); resolve no longer applies it."""
    decisions = list_decisions(op_dir)
    wanted = decision_id.strip().upper()
    for d in decisions:
        if d.id.upper() == wanted:
            if d.undone:
                raise DecisionsError(f"decision {d.id} was already undone at {d.undone}")
            d.undone = _now()
            _write(op_dir, decisions)
            return d
    known = ", ".join(d.id for d in decisions if not d.undone) or "none"
    raise DecisionsError(f"no decision {decision_id!r} in {op_dir / DECISIONS_NAME} "
                         f"(decisions in force: {known}; see 'haven intel decisions list')")


def _write(op_dir: Path, decisions: list[Decision]) -> None:
    path = op_dir / DECISIONS_NAME
    body = {kind: [d.as_yaml() for d in decisions if d.kind == kind] for kind in KINDS}
    text = ("# Manual decisions (FILE:ROW); the ones not undone are applied by every "
            "'haven intel resolve'.\n"
            + yaml.safe_dump(body, sort_keys=False, allow_unicode=True))
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise DecisionsError(f"cannot write {path}: {exc}") from exc


def _text(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):  # YAML turns an unquoted timestamp into a datetime
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def _number(decision_id: str) -> int:
    m = _ID.match(decision_id)
    return int(m.group(1)) if m else 0


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _analyst() -> str | None:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers
        return None
