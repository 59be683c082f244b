"""What every record-file reader returns: headers, rows with their numbers, problems, warnings."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

#: Fields longer than this are kept but counted as a warning (pasted blobs, attack payloads).
HUGE_FIELD_CHARS = 100_000


@dataclass(frozen=True)
class RawRow:
    """One input row: `row` is the 1-based data row (header excluded), `line` the text line."""

    row: int
    line: int | None
    values: dict[str, str | None]


@dataclass(frozen=True)
class RowProblem:
    """A row that could not be turned into a record; reported, never dropped silently."""

    row: int | None
    line: int | None
    kind: str
    message: str
    raw: str | None = None


@dataclass
class Table:
    """A read input: its columns and a one-pass iterator of rows and problems."""

    format: str
    headers: list[str]
    rows: Iterator[RawRow | RowProblem]
    encoding: str | None = None
    warnings: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)


@runtime_checkable
class RecordReader(Protocol):
    """One input format: says whether a file is its kind (by content) and reads it.

    A reader is one class in its own module of this package, decorated with
    `haven.intel.readers.registry.register`; the registry finds it by itself.
    """

    name: str
    # Lower is tried first; the permissive text formats (CSV accepts any text) come last.
    priority: int
    # True for binary formats; every other reader reads text, and binary content is refused
    # before any of them is asked.
    binary: bool
    # True when one file can hold several tables (`table` chooses one); the others ignore it.
    tables: bool

    def sniff(self, head: bytes, path: Path) -> bool: ...

    def read(self, path: Path, table: str | None = None) -> Table: ...


def unique_headers(raw: list[str], warnings: Counter, notes: list[str]) -> list[str]:
    """Blank headers get a column name, duplicates a suffix; both are counted as warnings."""
    seen: Counter = Counter()
    out: list[str] = []
    for i, h in enumerate(raw, start=1):
        name = (h or "").strip()
        if not name:
            name = f"column_{i}"
            warnings["blank_header"] += 1
            notes.append(f"column {i} has no header; named {name!r}")
        seen[name] += 1
        if seen[name] > 1:
            new = f"{name} ({seen[name]})"
            warnings["duplicate_header"] += 1
            notes.append(f"header {name!r} appears more than once; column {i} renamed {new!r}")
            name = new
        out.append(name)
    return out


def note_huge(values: dict[str, str | None], warnings: Counter) -> None:
    for v in values.values():
        if v is not None and len(v) > HUGE_FIELD_CHARS:
            warnings["huge_field"] += 1
