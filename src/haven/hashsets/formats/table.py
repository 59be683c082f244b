"""Delimited text tables (CSV, semicolon, tab): delimiter, header and rows with line numbers."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from haven.errors import HashSetFormatError
from haven.hashsets.formats.fields import open_text

DELIMITERS = (",", ";", "\t")

# The csv module refuses fields over 128 KiB by default; a PhotoDNA or tag list never gets near,
# but a corrupt file should become a malformed row, not a crash, so allow more and check later.
csv.field_size_limit(16 * 1024 * 1024)


def column_key(name: str) -> str:
    """A header cell reduced to lower-case letters and digits ("MD5 Hash" -> "md5hash")."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def first_line(text: str) -> str:
    """The first non-blank line of sniffed text."""
    for line in text.splitlines():
        if line.strip():
            return line
    return ""


def delimiter_of(header_line: str) -> str:
    """The delimiter used most in the header line (comma when the header has a single column)."""
    counts = {d: header_line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def split_header(header_line: str) -> list[str]:
    """Header cells of one line, quotes honoured."""
    return next(csv.reader([header_line], delimiter=delimiter_of(header_line)), [])


@dataclass
class Row:
    line: int  # physical line where the record starts, header = 1
    values: dict[str, str]  # header cell -> value (missing trailing cells are absent)
    surplus: list[str]  # cells beyond the header


def read_table(path: Path, delimiter: str | None = None) -> tuple[list[str], Iterator[Row]]:
    """Header and a lazy row iterator of a delimited file; blank lines are skipped.

    The delimiter, unless given, is sniffed from the header line. The file stays open until
    the iterator is exhausted or closed.
    """
    fh = open_text(path)
    try:
        if delimiter is None:
            delimiter = delimiter_of(first_line(fh.read(64 * 1024)))
            fh.seek(0)
        reader = csv.reader(fh, delimiter=delimiter)
        header: list[str] | None = None
        for cells in reader:
            if any(c.strip() for c in cells):
                header = [c.strip() for c in cells]
                break
        if header is None:
            raise HashSetFormatError(f"{path.name}: no header line")
    except BaseException:
        fh.close()
        raise
    return header, _rows(fh, reader, header, reader.line_num + 1)


def _rows(fh, reader, header: list[str], start: int) -> Iterator[Row]:
    with fh:
        try:
            for cells in reader:
                line, start = start, reader.line_num + 1
                if not any(c.strip() for c in cells):
                    continue
                yield Row(line, dict(zip(header, cells)), cells[len(header):])
        except csv.Error as exc:
            raise HashSetFormatError(f"line {reader.line_num}: unreadable CSV ({exc})") from exc
