"""Record-file readers: one module per format, one registry, detection by content."""

from __future__ import annotations

from pathlib import Path

from haven.intel.errors import RecordFileError
from haven.intel.readers.base import RawRow, RecordReader, RowProblem, Table
from haven.intel.readers.csv_reader import CsvReader
from haven.intel.readers.json_reader import JsonReader
from haven.intel.readers.sqldump import SqlDumpReader
from haven.intel.readers.sqlite import SqliteReader
from haven.intel.readers.text import binary_reason
from haven.intel.readers.xlsx import XlsxReader
from haven.sniff import signature_for

#: Tried in order; CSV accepts any text, so it comes last.
READERS: tuple[RecordReader, ...] = (SqliteReader(), XlsxReader(), SqlDumpReader(), JsonReader(),
                                     CsvReader())
#: Readers of binary formats; every other reader reads text, and refuses binary content.
_BINARY_READERS = (SqliteReader, XlsxReader)
#: Readers of files that can hold several tables; they take `table=` to choose one.
_MULTI_TABLE = (SqliteReader, SqlDumpReader)

_REFUSED = {
    b"\xd0\xcf\x11\xe0": "an old binary Office file (.xls); save it as .xlsx or .csv",
    b"%PDF": "a PDF; extract the table to CSV first",
    b"\x1f\x8b": "gzip-compressed; decompress it first",
}


def reader_for(path: Path) -> RecordReader:
    """The reader for a file, chosen from its first bytes, not its name."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise RecordFileError(f"cannot open {path}: {exc.strerror or exc}") from exc
    if not head:
        raise RecordFileError(f"{path}: file is empty")
    for magic, why in _REFUSED.items():
        if head.startswith(magic):
            raise RecordFileError(f"{path}: {why}")
    if head.startswith(b"PK\x03\x04") and not READERS[1].sniff(head, path):
        raise RecordFileError(f"{path}: a ZIP archive that is not an XLSX workbook; unpack it")
    for reader in READERS:
        if isinstance(reader, _BINARY_READERS) and reader.sniff(head, path):
            return reader
    _refuse_binary(path, head)
    for reader in READERS:
        if not isinstance(reader, _BINARY_READERS) and reader.sniff(head, path):
            return reader
    raise RecordFileError(f"{path}: format not recognised")  # pragma: no cover


def _refuse_binary(path: Path, head: bytes) -> None:
    """A known binary type (JPEG, MP4, 7z, EXE …) or binary bytes are not a table: say so."""
    sig = signature_for(head)
    why = binary_reason(head)
    # A two- or three-byte magic ("MZ", "BZh") can begin a text header: binary bytes decide.
    if sig is not None and (why or len(sig.magic) >= 4):
        kind = sig.extensions[0].upper() if sig.extensions and sig.extensions[0] else sig.mime
        raise RecordFileError(f"{path}: a {kind} file ({sig.mime}), not a table of records; "
                              "load CSV, XLSX, JSON, SQLite or SQL dump files")
    if why:
        raise RecordFileError(f"{path}: {why}, not a table of records; load CSV, XLSX, JSON, "
                              "SQLite or SQL dump files")


def read_table(path: Path, table: str | None = None) -> Table:
    """Open a record file of any supported format; `table` chooses one in an SQLite file or dump.

    Files that hold one table only (CSV, XLSX, JSON) ignore `table`.
    """
    reader = reader_for(path)
    if isinstance(reader, _MULTI_TABLE):
        return reader.read(path, table=table)
    return reader.read(path)


__all__ = ["RawRow", "RowProblem", "Table", "RecordReader", "READERS", "reader_for", "read_table"]
