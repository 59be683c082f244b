"""Manual merge/split decisions an analyst keeps in OPERATION_DIR/decisions.yaml.

Records are named `FILE:ROW` (file name and 1-based data row), so decisions survive re-runs
that renumber subjects::

    merge:                      # these records are one subject, whatever the model says
      - [customers.csv:12, accounts.jsonl:40]
    split:                      # these records are a subject of their own, apart from the rest
      - [customers.csv:77]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from haven.intel.errors import IntelError

DECISIONS_NAME = "decisions.yaml"


class DecisionsError(IntelError):
    """decisions.yaml cannot be read or names records that do not exist."""


@dataclass
class Decisions:
    merge: list[list[tuple[str, int]]] = field(default_factory=list)
    split: list[list[tuple[str, int]]] = field(default_factory=list)


def parse_ref(text: str) -> tuple[str, int]:
    """`customers.csv:12` → ("customers.csv", 12)."""
    file, sep, row = str(text).rpartition(":")
    if not sep or not file or not row.strip().isdigit():
        raise DecisionsError(f"{text!r} is not FILE:ROW (e.g. customers.csv:12)")
    return file.strip(), int(row)


def read_decisions(op_dir: Path) -> Decisions:
    path = op_dir / DECISIONS_NAME
    if not path.exists():
        return Decisions()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DecisionsError(f"cannot read {path}: {exc}") from exc
    out = Decisions()
    for kind in ("merge", "split"):
        groups = data.get(kind) or []
        if not isinstance(groups, list):
            raise DecisionsError(f"{path}: '{kind}' must be a list of lists of FILE:ROW")
        for g in groups:
            if isinstance(g, dict):
                g = g.get("records") or []
            if isinstance(g, str):
                g = [g]
            getattr(out, kind).append([parse_ref(x) for x in g])
    return out


def add_decision(op_dir: Path, kind: str, refs: list[str], note: str | None = None) -> None:
    """Append one merge or split group to decisions.yaml (refs checked as FILE:ROW)."""
    if kind not in ("merge", "split"):
        raise DecisionsError("a decision is 'merge' or 'split'")
    for r in refs:
        parse_ref(r)
    path = op_dir / DECISIONS_NAME
    data = {}
    if path.exists():
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    entry: object = list(refs) if not note else {"records": list(refs), "note": note}
    data.setdefault(kind, []).append(entry)
    path.write_text(
        "# Manual decisions (FILE:ROW); applied by every 'haven intel resolve'.\n"
        + yaml.safe_dump({"merge": data.get("merge", []), "split": data.get("split", [])},
                         sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
