"""Generic CSV hash sets: a header naming signal columns (md5, sha1, sha256, pdq, …), labels optional.

The delimiter (comma, semicolon, tab) is sniffed from the header. Categories in a generic CSV
mean whatever its distributor says, so the caller names the scheme (`--scheme`).
"""

from __future__ import annotations

from pathlib import Path

from haven import signals
from haven.errors import HashSetFormatError
from haven.hashsets.formats import fields
from haven.hashsets.formats.registry import register
from haven.hashsets.formats.table import column_key, first_line, read_table, split_header
from haven.hashsets.model import HashEntry, ImportResult, Malformed

DEFAULT_SCHEME = "csv"


def _hash_aliases(algorithm: str, *spellings: str) -> set[str]:
    keys = set()
    for base in (algorithm, *spellings):
        keys |= {base, f"{base}hash", f"{base}sum", f"{base}digest", f"{base}value", f"hash{base}"}
    return keys


# column_key(header cell) -> HashEntry field
COLUMNS: dict[str, str] = {}
for _field, _keys in {
    **{t.name: _hash_aliases(t.name) | {f"{t.name}signal"} for t in signals.entry_types()},
    "category": {"category", "cat", "classification", "class"},
    "series": {"series", "seriesname"},
    "victim_identified": {"victimidentified", "isvictimidentified", "identifiedvictim"},
}.items():
    for _key in _keys:
        COLUMNS[_key] = _field

HASH_FIELDS = tuple(t.name for t in signals.entry_types())


def column_fields(header: list[str]) -> dict[str, str]:
    """Header cell -> HashEntry field for the cells haven understands (first one wins)."""
    mapping: dict[str, str] = {}
    for cell in header:
        field = COLUMNS.get(column_key(cell))
        if field and field not in mapping.values():
            mapping[cell] = field
    return mapping


@register
class CsvReader:
    name = "csv"
    priority = 80  # generic: after the CSV dialects with fixed headers (icse, hma)

    def sniff(self, path: Path, head: bytes) -> bool:
        if fields.looks_binary(head):
            return False
        header = split_header(first_line(fields.head_text(head)))
        return any(f in HASH_FIELDS for f in column_fields(header).values())

    def read(self, path: Path, *, scheme: str | None = None) -> ImportResult:
        scheme = scheme or DEFAULT_SCHEME
        result = ImportResult(format=self.name, scheme=scheme)
        header, rows = read_table(path)
        mapping = column_fields(header)
        if not any(f in HASH_FIELDS for f in mapping.values()):
            raise HashSetFormatError(f"{path.name}: {no_hash_column(header)}")
        for row in rows:
            if any(c.strip() for c in row.surplus):
                result.malformed.append(Malformed(
                    row.line, f"{len(header) + len(row.surplus)} values, the header has {len(header)}"
                ))
                continue
            try:
                entry = self._entry(row.values, mapping, scheme)
            except ValueError as exc:
                result.malformed.append(Malformed(row.line, str(exc)))
                continue
            entry.line = row.line
            result.entries.append(entry)
        return result

    @staticmethod
    def _entry(values: dict[str, str], mapping: dict[str, str], scheme: str) -> HashEntry:
        entry = HashEntry(scheme=scheme)
        for cell, value in values.items():
            field = mapping.get(cell)
            if field in HASH_FIELDS:
                setattr(entry, field, fields.hex_digest(value, field))
            elif field == "victim_identified":
                entry.victim_identified = fields.flag(value, cell)
            elif field in ("category", "series"):
                setattr(entry, field, fields.text(value))
            elif value.strip():
                entry.extra[cell] = value.strip()
        if not any(getattr(entry, f) for f in HASH_FIELDS):
            raise ValueError("no hash value in the row")
        return entry


def no_hash_column(header: list[str]) -> str:
    """Why a header is refused, and what to do when the first line holds hashes, not names."""
    wanted = ", ".join(HASH_FIELDS[:-1]) + f" or {HASH_FIELDS[-1]}"
    if fields.headerless_hashes(header):
        return (f"the first line holds hashes, not column names: a CSV without a header. Add a "
                f"header line naming its columns ({wanted}), e.g. "
                f"'{_example_header(header)}', then import it again")
    return f"the header names no hash column (wanted {wanted}; found {_shown_header(header)})"


def _example_header(cells: list[str]) -> str:
    # each cell named by its length (a 64-hex column could also be PDQ: the user decides)
    return ",".join(fields.algorithm_of(c.strip()) or "?" for c in cells if c.strip())


def _shown_header(header: list[str]) -> str:
    """The first columns of a header, printable and short (a binary file has no header)."""
    if not header:
        return "nothing"
    shown = ", ".join(fields.printable(c, 30) for c in header[:6])
    return shown + (f" and {len(header) - 6} more" if len(header) > 6 else "")
