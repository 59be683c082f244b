"""One registry of record-file readers: chosen by a file's first bytes, never by its name.

A reader is a small class decorated with `@register` in its own module of this package (see
`base.RecordReader` for what it declares); every module here is imported on first use, so a
new format is one new module and nothing else changes. Binary formats are tried first; then
binary content is refused with a reason (a JPEG, a PDF, NUL bytes are not tables); then the
text formats, in priority order.
"""

from __future__ import annotations

from pathlib import Path

from haven.intel.errors import RecordFileError
from haven.intel.readers.base import RecordReader, Table
from haven.intel.readers.text import binary_reason
from haven.plugins import claim, discover
from haven.sniff import signature_for

_PACKAGE = "haven.intel.readers"
_READERS: dict[str, RecordReader] = {}

_REFUSED = {
    b"\xd0\xcf\x11\xe0": "an old binary Office file (.xls); save it as .xlsx or .csv",
    b"%PDF": "a PDF; extract the table to CSV first",
    b"\x1f\x8b": "gzip-compressed; decompress it first",
}


def register(cls: type) -> type:
    """Class decorator: instantiate a reader and add it to the registry under its `name`."""
    reader = cls()
    if not isinstance(reader, RecordReader):
        raise TypeError(f"{cls.__name__} lacks name/priority/binary/tables/sniff/read")
    claim(_READERS, reader.name, reader, "record readers")
    return cls


def _discover() -> None:
    discover(_PACKAGE)  # importing every module of the package runs its @register


def readers() -> list[RecordReader]:
    """Every registered reader, in the order they are tried (priority, then name)."""
    _discover()
    return sorted(_READERS.values(), key=lambda r: (r.priority, r.name))


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
    tried = readers()
    for reader in tried:
        if reader.binary and reader.sniff(head, path):
            return reader
    if head.startswith(b"PK\x03\x04"):
        raise RecordFileError(f"{path}: a ZIP archive that is not an XLSX workbook; unpack it")
    _refuse_binary(path, head)
    for reader in tried:
        if not reader.binary and reader.sniff(head, path):
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
    return reader_for(path).read(path, table=table)
