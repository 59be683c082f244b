"""CSV and other delimited text (comma, semicolon, tab, pipe), any common encoding."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from haven.intel.readers.base import RawRow, RowProblem, Table, note_huge, unique_headers
from haven.intel.readers.registry import register
from haven.intel.readers.text import detect_encoding

#: Largest field the CSV parser accepts; larger ones make the row a problem, not a crash.
MAX_FIELD_CHARS = 16 * 1024 * 1024
_DELIMITERS = ",;\t|"


@register
class CsvReader:
    name = "csv"
    priority = 90  # accepts any text: tried last
    binary = False
    tables = False

    def sniff(self, head: bytes, path: Path) -> bool:
        # The fallback format: anything that is text and not JSON.
        return True

    def read(self, path: Path, table: str | None = None) -> Table:
        warnings: Counter = Counter()
        notes: list[str] = []
        encoding = detect_encoding(path, warnings, notes)
        with path.open(encoding=encoding, newline="") as fh:
            sample = fh.read(64 * 1024)
        dialect = _dialect(sample)
        with path.open(encoding=encoding, newline="") as fh:
            reader = csv.reader(fh, dialect)
            header: list[str] = []
            for header in reader:
                if any(c.strip() for c in header):
                    break
            headers = unique_headers(header, warnings, notes)
        return Table(
            format="csv",
            headers=headers,
            rows=_rows(path, encoding, dialect, headers, warnings),
            encoding=encoding,
            warnings=warnings,
            notes=notes,
        )


def _dialect(sample: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS)
    except csv.Error:
        first = sample.splitlines()[0] if sample else ""
        best = max(_DELIMITERS, key=first.count)
        if first.count(best) == 0:
            return csv.excel

        class Guessed(csv.excel):
            delimiter = best

        return Guessed


class _Lines:
    """Physical lines for csv.reader, numbered, with push-back for re-reading after a bad row."""

    def __init__(self, fh) -> None:  # type: ignore[no-untyped-def]
        self._fh = fh
        self._back: list[tuple[int, str]] = []
        self._n = 0
        self.taken: list[tuple[int, str]] = []

    def __iter__(self) -> "_Lines":
        return self

    def __next__(self) -> str:
        if self._back:
            item = self._back.pop()
        else:
            line = self._fh.readline()
            if not line:
                raise StopIteration
            self._n += 1
            item = (self._n, line)
        self.taken.append(item)
        return item[1]

    def push_back(self, items: list[tuple[int, str]]) -> None:
        self._back.extend(reversed(items))


def _rows(
    path: Path, encoding: str, dialect, headers: list[str], warnings: Counter
) -> Iterator[RawRow | RowProblem]:
    old_limit = csv.field_size_limit(MAX_FIELD_CHARS)
    try:
        with path.open(encoding=encoding, newline="") as fh:
            lines = _Lines(fh)
            reader = csv.reader(lines, dialect)
            # Skip to the header row (leading blank lines are not data).
            for first in reader:
                if any(c.strip() for c in first):
                    break
            n = len(headers)
            row = 0
            while True:
                lines.taken = []
                try:
                    fields = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    row += 1
                    start = lines.taken[0][0] if lines.taken else None
                    raw = "".join(t[1] for t in lines.taken[:1])
                    lines.push_back(lines.taken[1:])
                    yield RowProblem(row, start, "csv_error", f"unparseable CSV row: {exc}",
                                     raw=raw)
                    continue
                row += 1
                start = lines.taken[0][0] if lines.taken else None
                if not any(f.strip() for f in fields):
                    warnings["blank_row"] += 1
                    continue
                if len(fields) != n:
                    if len(fields) > n and not any(f.strip() for f in fields[n:]):
                        fields = fields[:n]
                        warnings["trailing_empty_fields"] += 1
                    else:
                        # A stray quote can swallow the lines after it: report the first
                        # line alone and read the rest again as rows of their own.
                        raw = lines.taken[0][1] if lines.taken else ""
                        lines.push_back(lines.taken[1:])
                        yield RowProblem(
                            row,
                            start,
                            "field_count",
                            f"row has {len(fields)} fields, header has {n}",
                            raw=raw.rstrip("\r\n"),
                        )
                        continue
                values = {h: (v if v != "" else None) for h, v in zip(headers, fields)}
                note_huge(values, warnings)
                yield RawRow(row, start, values)
    finally:
        csv.field_size_limit(old_limit)
