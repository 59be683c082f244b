"""One registry of hash-set readers: pick one by name, or detect it from the file's content.

A reader is a small class decorated with `@register`. It names its format, says whether a file
looks like it (`sniff`, given the first bytes) and reads it into an `ImportResult`. A new format
is one new module in this package; nothing else changes.

Whatever a reader says about a file reaches the user printable and short: `read_hashset`
escapes control and undecodable characters in its errors and malformed-line reasons, and
refuses binary content (NUL bytes) for every reader that reads text (`binary = False`, the
default; the SQLite NSRL reader sets `binary = True`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol, runtime_checkable

from haven.errors import HashSetFormatError
from haven.hashsets.formats import fields
from haven.hashsets.model import ImportResult
from haven.plugins import claim, discover

HEAD_BYTES = 64 * 1024  # enough for any header, odata context or first hash lines

PathLike = str | os.PathLike


@runtime_checkable
class HashSetReader(Protocol):
    """What a format module registers."""

    name: str
    # Lower runs first under auto-detection: specific shapes (ICSE, pytx CSV) ahead of the
    # generic CSV and plain-list readers that would also accept them.
    priority: int

    def sniff(self, path: Path, head: bytes) -> bool: ...

    def read(self, path: Path, *, scheme: str | None = None) -> ImportResult: ...


_READERS: dict[str, HashSetReader] = {}


def register(cls: type) -> type:
    """Class decorator: instantiate a reader and add it to the registry under its `name`."""
    reader = cls()
    if not isinstance(reader, HashSetReader):
        raise TypeError(f"{cls.__name__} lacks name/priority/sniff/read")
    claim(_READERS, reader.name, reader, "hash-set readers")
    return cls


def _load_readers() -> None:
    discover(__package__)  # importing every module in this package runs its @register


def readers() -> list[HashSetReader]:
    """All registered readers in detection order."""
    _load_readers()
    return sorted(_READERS.values(), key=lambda r: (r.priority, r.name))


def format_names() -> list[str]:
    """Names accepted by `read_hashset(fmt=...)`, in detection order."""
    return [r.name for r in readers()]


def get_reader(fmt: str) -> HashSetReader:
    """The reader registered as `fmt`; HashSetFormatError naming the known formats otherwise."""
    _load_readers()
    try:
        return _READERS[fmt.strip().lower()]
    except KeyError:
        raise HashSetFormatError(
            f"unknown hash-set format '{fields.printable(fmt, 30)}'; known formats: "
            f"{', '.join(format_names())}"
        ) from None


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as fh:
            return fh.read(HEAD_BYTES)
    except OSError as exc:
        raise HashSetFormatError(f"cannot read hash set {path}: {exc.strerror or exc}") from exc


def detect(path: PathLike) -> HashSetReader:
    """The first reader whose sniff accepts the file (for `--format auto`)."""
    path = Path(path)
    if path.is_dir():
        raise HashSetFormatError(f"{path} is a directory, not a hash-set file (a directory of vPDQ "
                                 "text files needs --format vpdq)")
    head = _head(path)
    tried = readers()
    for reader in tried:
        if reader.sniff(path, head):
            return reader
    _headerless_csv(path, head)
    raise HashSetFormatError(
        f"{path.name}: not a hash-set format haven recognises{_looks_like(head)} "
        f"(tried {', '.join(r.name for r in tried)}); "
        "name the format with --format if you know it"
    )


def _looks_like(head: bytes) -> str:
    # A hint so the user knows what they handed over, e.g. an NCMEC XML feed.
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text:
        return " (the file is empty)"
    if text.startswith(b"<"):
        return "; it looks like XML, but not an NCMEC hash-sharing feed (the one XML format read)"
    if text[:1] in (b"{", b"["):
        return "; it is JSON but neither VICS, CASE/UCO nor an HMA signal body"
    return ""


def _headerless_csv(path: Path, head: bytes) -> None:
    """HashSetFormatError saying what to add when the file is a CSV of hashes with no header."""
    from haven.hashsets.formats.csv_table import no_hash_column  # the CSV reader's own words
    from haven.hashsets.formats.table import first_line, split_header

    header = split_header(first_line(fields.head_text(head)))
    if len(header) > 1 and fields.headerless_hashes(header):
        raise HashSetFormatError(f"{path.name}: {no_hash_column(header)}")


def read_hashset(path: PathLike, fmt: str = "auto", *, scheme: str | None = None) -> ImportResult:
    """Read a hash-set file in format `fmt` ("auto" detects it from the content).

    `scheme` overrides the category scheme the format would otherwise set (needed for generic
    CSV, whose categories mean whatever the distributor says they mean).
    """
    path = Path(path)
    if not path.exists():
        raise HashSetFormatError(f"hash set {path} does not exist")
    auto = fmt.strip().lower() == "auto"
    if path.is_file() and _is_blank(path):
        # An empty file is an empty set (a feed retracting everything), not an unknown format:
        # `require_entries` refuses it unless the user says it is on purpose.
        name = "txt" if auto else get_reader(fmt).name
        return ImportResult(format=name, scheme=scheme, empty_file=True)
    reader = detect(path) if auto else get_reader(fmt)
    if not auto and not getattr(reader, "binary", False) and path.is_file():
        head = _head(path)
        if fields.looks_binary(head):
            raise HashSetFormatError(
                f"{path.name}: binary data (NUL bytes), not a {reader.name} hash set; "
                "check the file, or try --format auto")
    try:
        result = reader.read(path, scheme=scheme)
    except HashSetFormatError as exc:
        raise HashSetFormatError(fields.printable(str(exc), 400)) from exc
    for problem in result.malformed:
        problem.reason = fields.printable(problem.reason, 200)
    return result



def _is_blank(path: Path) -> bool:
    """True when the file holds at most a BOM and white space."""
    if path.stat().st_size > HEAD_BYTES:
        return False
    return not _head(path).lstrip(b"\xef\xbb\xbf \t\r\n")


def require_entries(path: PathLike, result: ImportResult, allow_empty: bool) -> None:
    """Refuse an import that read no entry (nothing is stored) unless `allow_empty`.

    A wrong --format, a garbled download or an empty file would otherwise replace a set with
    nothing; the message says why nothing was read, with the first malformed line as the hint.
    """
    if result.entries or allow_empty:
        return
    name = Path(path).name
    on_purpose = "pass --allow-empty to import an empty set on purpose, e.g. a re-import that " \
        "retracts everything"
    if result.empty_file:
        raise HashSetFormatError(f"{name}: the file is empty; nothing imported. To store it, "
                                 f"{on_purpose}")
    why = f"{name}: no hash entries read (format {result.format}"
    if result.malformed:
        first = result.malformed[0]
        why += (f"; {len(result.malformed)} malformed line(s), first line {first.line}: "
                f"{first.reason}")
    raise HashSetFormatError(why + f"); nothing imported. Check --format, or {on_purpose}")
