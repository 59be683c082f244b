"""Values every hash-set format carries: hex digests, yes/no flags, sizes, text encodings.

Parsers raise ValueError with a reason fit for a `Malformed` entry; readers catch it per row so
one bad value costs one row, not the file.
"""

from __future__ import annotations

import re
from pathlib import Path

from haven import signals

_HEX = re.compile(r"[0-9a-fA-F]+")

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

_TRUE = {"true", "yes", "y", "1", "t"}
_FALSE = {"false", "no", "n", "0", "f"}


def hex_digest(value: object, algorithm: str) -> str | None:
    """Lower-case hex of `value` checked by signal type `algorithm`; None if empty.

    Raises `haven.signals.InvalidSignal` (a ValueError: one malformed row)."""
    return signals.get(algorithm).validate(value)


def algorithm_of(text: str) -> str | None:
    """The exact digest (md5, sha1, sha256, …) a bare hex string of its length is, else None.

    A bare hex string can only say how long it is; PDQ is never guessed from a plain list."""
    if _HEX.fullmatch(text):
        st = signals.by_hex_length(len(text))
        return st.name if st else None
    return None


def digest_lengths() -> str:
    """The hex lengths a bare digest may have, in words: "32, 40, 64 or 128"."""
    kinds = [str(t.hex_length) for t in signals.digest_types()]
    return ", ".join(kinds[:-1]) + f" or {kinds[-1]}" if len(kinds) > 1 else kinds[0]


def headerless_hashes(cells: list[str]) -> bool:
    """True when a would-be header row holds only bare hex digests: a CSV without a header."""
    cells = [c.strip() for c in cells if c.strip()]
    return bool(cells) and all(algorithm_of(c) is not None for c in cells)


def entry_field(name: str) -> str | None:
    """The `HashEntry` field a signal named `name` fills (md5, sha1, sha256, pdq, …); None
    when haven has no such signal type or entries do not hold it in a field of its own."""
    try:
        st = signals.get(name)
    except signals.UnknownSignalType:
        return None
    return st.name if st.entry_column else None


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


#: Auto-detection of a line-based format looks at up to SNIFF_LINES data lines of the head and
#: tolerates a few malformed ones (a title line, a stray word), as reading with --format does:
#: the first line is good, or the malformed ones are at most MAX_SNIFF_MALFORMED (one in
#: MAX_SNIFF_MALFORMED_SHARE when more) and fewer than the good ones.
SNIFF_LINES = 200
MAX_SNIFF_MALFORMED = 3
MAX_SNIFF_MALFORMED_SHARE = 0.05


def reads_as(lines: list[str], is_good) -> bool:
    """True when sniffed data `lines` read as the format `is_good(line)` recognises, a few
    malformed lines tolerated (see SNIFF_LINES)."""
    if not lines:
        return False
    if is_good(lines[0]):
        return True
    good = sum(1 for line in lines if is_good(line))
    bad = len(lines) - good
    return (good > bad
            and bad <= max(MAX_SNIFF_MALFORMED, int(len(lines) * MAX_SNIFF_MALFORMED_SHARE)))


def head_lines(head: bytes, limit: int = SNIFF_LINES) -> list[str]:
    """Up to `limit` data lines of a sniffed head: stripped, no blanks or `#` comments, and not
    the last line when the head cut it short."""
    text = head_text(head)
    if len(head) >= 64 * 1024 and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            out.append(stripped)
            if len(out) >= limit:
                break
    return out


def printable(value: object, limit: int = 60) -> str:
    """`value` fit to echo in a message: control and undecodable characters escaped, cut to
    `limit` characters with an ellipsis (a binary file's bytes never reach the terminal raw)."""
    text = str(value)
    shown = "".join(
        ch if ch.isprintable() and ch != "\ufffd" else
        (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        for ch in text[: limit + 1]
    )
    if len(text) > limit or len(shown) > limit:
        shown = shown[: max(limit - 1, 1)] + "…"
    return shown


def flag_or_text(value: object, field: str) -> bool | str | None:
    """Like `flag`, but an unreadable value is kept as text instead of failing the row.

    For secondary flags (offender identified, suspected): losing a known hash over one of
    those would cost more than keeping the odd word.
    """
    try:
        return flag(value, field)
    except ValueError:
        return text(value)
