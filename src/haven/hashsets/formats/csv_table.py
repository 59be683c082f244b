"""Generic CSV hash sets: a header naming signal columns (md5, sha1, sha256, pdq, …), labels optional.

A column named only `hash` (`Hash Value`, `digest`, `checksum`, as forensic suites export
hash sets) holds exact digests told by their length, as in a plain list (64 hex = SHA-256,
never PDQ; the import says how many it read so).

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
    "hash": {"hash", "hashvalue", "digest", "checksum", "hashsum"},  # GENERIC
    "category": {"category", "cat", "classification", "class"},
    "series": {"series", "seriesname"},
    "victim_identified": {"victimidentified", "isvictimidentified", "identifiedvictim"},
}.items():
    for _key in _keys:
        COLUMNS[_key] = _field

HASH_FIELDS = tuple(t.name for t in signals.entry_types())
#: a column of digests of any length (`hash`): each value's algorithm told by its length
GENERIC = "hash"


def _has_hash_column(mapping: dict[str, str]) -> bool:
    return any(f in HASH_FIELDS or f == GENERIC for f in mapping.values())


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
        return _has_hash_column(column_fields(header))

    def read(self, path: Path, *, scheme: str | None = None) -> ImportResult:
        scheme = scheme or DEFAULT_SCHEME
        result = ImportResult(format=self.name, scheme=scheme)
        header, rows = read_table(path)
        mapping = column_fields(header)
        if not _has_hash_column(mapping):
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
        if GENERIC in mapping.values():
            told = sum(1 for e in result.entries if e.extra.pop("_generic_sha256", False))
            if told:
                result.notes.append(
                    f"{told} value(s) of 64 hex digits in the hash column read as SHA-256; if "
                    "they are PDQ hashes, name the column `pdq` and import the file again")
        return result

    @staticmethod
    def _entry(values: dict[str, str], mapping: dict[str, str], scheme: str) -> HashEntry:
        entry = HashEntry(scheme=scheme)
        for cell, value in values.items():
            field = mapping.get(cell)
            if field in HASH_FIELDS:
                digest = fields.hex_digest(value, field)
                if digest is not None:  # an empty cell leaves what a `hash` column filled
                    setattr(entry, field, digest)
                    if field == "sha256":  # a named SHA-256 column: no guess to report
                        entry.extra.pop("_generic_sha256", None)
            elif field == GENERIC:
                _generic_digest(entry, cell, value)
            elif field == "victim_identified":
                entry.victim_identified = fields.flag(value, cell)
            elif field in ("category", "series"):
                setattr(entry, field, fields.text(value))
            elif value.strip():
                entry.extra[cell] = value.strip()
        if not any(getattr(entry, f) for f in HASH_FIELDS):
            raise ValueError("no hash value in the row")
        return entry


def _generic_digest(entry: HashEntry, cell: str, value: str) -> None:
    """Fill the digest a `hash` column's value is by its length (a named column wins)."""
    text = value.strip()
    if not text:
        return
    algorithm = fields.algorithm_of(text)
    if algorithm is None:
        raise ValueError(f"{cell} '{fields.printable(text)}' is not a hex digest of "
                         f"{fields.digest_lengths()} characters")
    if getattr(entry, algorithm) is None:
        setattr(entry, algorithm, text.lower())
        if algorithm == "sha256":
            entry.extra["_generic_sha256"] = True


def no_hash_column(header: list[str]) -> str:
    """Why a header is refused, and what to do when the first line holds hashes, not names."""
    wanted = ", ".join(HASH_FIELDS) + " or hash"
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
