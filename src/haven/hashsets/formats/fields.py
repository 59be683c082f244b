"""Values every hash-set format carries: hex digests, yes/no flags, sizes, text encodings.

Parsers raise ValueError with a reason fit for a `Malformed` entry; readers catch it per row so
one bad value costs one row, not the file.
"""

from __future__ import annotations

import re
from pathlib import Path

HEX_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "pdq": 64}
# A bare hex string can only say how long it is; PDQ is never guessed from a plain list.
ALGORITHM_BY_LENGTH = {32: "md5", 40: "sha1", 64: "sha256"}

_HEX = re.compile(r"[0-9a-fA-F]+")

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

_TRUE = {"true", "yes", "y", "1", "t"}
_FALSE = {"false", "no", "n", "0", "f"}


def hex_digest(value: object, algorithm: str) -> str | None:
    """Lower-case hex of `value` checked against the length of `algorithm`; None if empty."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    want = HEX_LENGTHS[algorithm]
    if len(text) != want or not _HEX.fullmatch(text):
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise ValueError(f"{algorithm} {shown!r} is not {want} hex characters")
    return text.lower()


def algorithm_of(text: str) -> str | None:
    """md5/sha1/sha256 for a bare hex string of the matching length, else None."""
    if _HEX.fullmatch(text):
        return ALGORITHM_BY_LENGTH.get(len(text))
    return None


def flag(value: object, field: str) -> bool | None:
    """A yes/no flag written as a bool, number or word ("true", "Yes", "1"); None if empty."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if value in (0, 1):
            return bool(value)
        raise ValueError(f"{field} {value!r} is not a yes/no value")
    text = str(value).strip().lower()
    if not text:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{field} {value!r} is not a yes/no value")


def size(value: object, field: str) -> int | None:
    """A non-negative byte count written as a number or a string; None if empty."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"{field} {value!r} is not a size")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"{field} {value!r} is not a size") from None
    if number < 0:
        raise ValueError(f"{field} {value!r} is negative")
    return number


def text(value: object) -> str | None:
    """A label as a stripped string (numbers such as VICS categories become "1"); None if empty."""
    if value is None:
        return None
    result = str(value).strip()
    return result or None


def text_encoding(head: bytes) -> str:
    """UTF-16 when it has a BOM, utf-8 (BOM tolerated) when the head decodes so, else cp1252.

    Exports from Windows tools are often cp1252; hashes are ASCII either way, so only labels
    (series names) depend on the guess.
    """
    if head.startswith(_UTF16_BOMS):
        return "utf-16"  # Windows PowerShell 5 writes hash lists this way
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the head is still UTF-8.
        if exc.start < len(head) - 3:
            return "cp1252"
    return "utf-8-sig"


def open_text(path: Path):
    """Open a text hash set for reading with its guessed encoding and universal newlines."""
    with path.open("rb") as fh:
        head = fh.read(64 * 1024)
    # newline="" so the csv module sees quoted line breaks and counts physical lines itself.
    return path.open("r", encoding=text_encoding(head), errors="replace", newline="")


def head_text(head: bytes) -> str:
    """The sniffed head as text, BOM removed, undecodable bytes replaced."""
    encoding = text_encoding(head)
    return head.decode(encoding, errors="replace").lstrip("\ufeff")


def looks_binary(head: bytes) -> bool:
    """True for content no text hash list contains (NUL bytes outside UTF-16 text)."""
    return not head.startswith(_UTF16_BOMS) and b"\x00" in head


def flag_or_text(value: object, field: str) -> bool | str | None:
    """Like `flag`, but an unreadable value is kept as text instead of failing the row.

    For secondary flags (offender identified, suspected): losing a known hash over one of
    those would cost more than keeping the odd word.
    """
    try:
        return flag(value, field)
    except ValueError:
        return text(value)
