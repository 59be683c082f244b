"""Choosing a text encoding for a record file from its bytes: BOMs, UTF-16, UTF-8, Windows-1252."""

from __future__ import annotations

import codecs
from collections import Counter
from pathlib import Path

from haven.intel.errors import RecordFileError

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_CHUNK = 1 << 20


def detect_encoding(path: Path, warnings: Counter, notes: list[str]) -> str:
    """Return the codec name to read `path` with; unusual choices are counted as warnings.

    BOMs decide first; NUL-heavy text without a BOM is UTF-16; otherwise the whole file is
    checked as UTF-8, and a file that is not valid UTF-8 is read as Windows-1252 (Latin-1
    for its five undefined bytes) with a warning saying where the first bad byte is.
    """
    with path.open("rb") as fh:
        head = fh.read(4096)
    for bom, codec in _BOMS:
        if head.startswith(bom):
            if codec != "utf-8-sig":
                warnings["encoding_" + codec.replace("-", "")] += 1
                notes.append(f"read as {codec.upper()} (byte-order mark)")
            else:
                warnings["utf8_bom"] += 1
            return codec
    if head and head.count(b"\x00") > len(head) // 4:
        even = head[0::2].count(b"\x00")
        odd = head[1::2].count(b"\x00")
        codec = "utf-16-be" if even > odd else "utf-16-le"
        warnings["encoding_utf16_no_bom"] += 1
        notes.append(f"read as {codec.upper()} (no byte-order mark, NUL pattern)")
        return codec
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                bad = offset + exc.start
                line = _line_of(path, bad)
                warnings["encoding_not_utf8"] += 1
                notes.append(
                    f"not valid UTF-8 (first bad byte at offset {bad}, line {line}); "
                    "read as Windows-1252/Latin-1 — check accented letters"
                )
                return "haven-cp1252"
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise RecordFileError(f"{path}: file ends inside a UTF-8 character") from exc
    return "utf-8"


_CONTROL = frozenset(range(0x20)) - {0x09, 0x0A, 0x0C, 0x0D, 0x1A}


def binary_reason(head: bytes) -> str | None:
    """Why the first bytes of a file are not text (a table cannot be binary), or None.

    Text in UTF-16/UTF-32 (with a BOM, or UTF-16 told by its NUL pattern) is text. Anything
    else holding a NUL byte, or more than 1 % control bytes, is binary: an image, an
    archive, an executable or a database dump written by a program, not a list.
    """
    if not head or head.startswith(tuple(bom for bom, _ in _BOMS)):
        return None
    sample = head[:4096]
    if b"\x00" in sample:
        even, odd = sample[0::2], sample[1::2]
        # UTF-16 without BOM: (nearly) every other byte is NUL, the others are not.
        if max(even.count(0), odd.count(0)) >= 0.9 * len(odd) and \
                min(even.count(0), odd.count(0)) <= 0.1 * len(odd):
            return None
        return f"binary data (NUL byte at offset {sample.index(0)})"
    controls = sum(1 for b in sample if b in _CONTROL)
    if controls > max(2, len(sample) // 100):
        return f"binary data ({controls} control bytes in the first {len(sample)})"
    return None


def _line_of(path: Path, offset: int) -> int:
    with path.open("rb") as fh:
        return fh.read(offset).count(b"\n") + 1


def _cp1252_with_latin1(error: UnicodeError):  # type: ignore[no-untyped-def]
    # Windows-1252 leaves 0x81 0x8D 0x8F 0x90 0x9D undefined; Latin-1 maps them to C1 controls.
    if isinstance(error, UnicodeDecodeError):
        bad = error.object[error.start : error.end]
        return bad.decode("latin-1"), error.end
    raise error


codecs.register_error("haven-latin1", _cp1252_with_latin1)


def _search(name: str):  # type: ignore[no-untyped-def]
    if name.replace("-", "_") != "haven_cp1252":
        return None
    base = codecs.lookup("cp1252")

    class Decoder(codecs.IncrementalDecoder):
        def decode(self, data, final=False):  # type: ignore[no-untyped-def]
            return codecs.decode(bytes(data), "cp1252", "haven-latin1")

    class Reader(codecs.StreamReader):
        def decode(self, data, errors="strict"):  # type: ignore[no-untyped-def]
            text = codecs.decode(bytes(data), "cp1252", "haven-latin1")
            return text, len(data)

    return codecs.CodecInfo(
        name="haven-cp1252",
        encode=base.encode,
        decode=lambda data, errors="strict": (
            codecs.decode(bytes(data), "cp1252", "haven-latin1"),
            len(data),
        ),
        incrementaldecoder=Decoder,
        incrementalencoder=base.incrementalencoder,
        streamreader=Reader,
        streamwriter=base.streamwriter,
    )


codecs.register(_search)
