"""Plain hash lists: one hex digest per line, the algorithm told by its length.

32 hex = MD5, 40 = SHA-1, 64 = SHA-256, 128 = SHA-512 (a 64-hex line is never taken for PDQ: a
plain list cannot say so; the import says how many it read as SHA-256). The output of
`md5sum`/`sha1sum`/`sha256sum`/`sha512sum` (`<hex>  <name>`, `<hex> *<name>` in binary mode,
a leading backslash when the name was escaped) and the BSD tag form (`shasum --tag`, macOS `md5`:
`SHA256 (<name>) = <hex>`) read too, the name kept in `extra["file_name"]`. Blank lines and
`#` comments are skipped; anything else is malformed.

Auto-detection reads the first lines of the head and tolerates a few malformed ones (a title
line, a stray word), as reading with `--format txt` does (`fields.reads_as`).
"""

from __future__ import annotations

import re
from pathlib import Path

from haven.hashsets.formats import fields
from haven.hashsets.formats.registry import register
from haven.hashsets.model import HashEntry, ImportResult, Malformed


#: `SHA256 (name) = hex`: the BSD tag form of shasum --tag, macOS md5/shasum, OpenSSL's dgst
_BSD_TAG = re.compile(r"([A-Za-z][A-Za-z0-9-]*) ?\((.*)\) ?= ?([0-9A-Fa-f]+)")
#: `hex  name` / `hex *name` of md5sum & co. (a leading backslash: the name was escaped)
_SUM_LINE = re.compile(r"\\?([0-9A-Fa-f]+)[ \t]+\*?(.+)")


def parse_line(text: str) -> tuple[str, str, str | None] | None:
    """(algorithm, lower-case hex, file name or None) of one stripped data line; None if it
    is neither a bare digest, a `*sum` output line nor a BSD tag line."""
    if algorithm := fields.algorithm_of(text):
        return algorithm, text.lower(), None
    if tag := _BSD_TAG.fullmatch(text):
        algorithm = fields.algorithm_of(tag.group(3))
        named = tag.group(1).lower().replace("-", "")
        if algorithm and named == algorithm:
            return algorithm, tag.group(3).lower(), tag.group(2)
        return None
    if line := _SUM_LINE.fullmatch(text):
        if algorithm := fields.algorithm_of(line.group(1)):
            return algorithm, line.group(1).lower(), line.group(2)
    return None


def _data_lines(text: str):
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            yield stripped


@register
class PlainListReader:
    name = "txt"
    priority = 90  # the most permissive shape goes last

    def sniff(self, path: Path, head: bytes) -> bool:
        if fields.looks_binary(head):
            return False
        return fields.reads_as(fields.head_lines(head), lambda line: parse_line(line) is not None)

    def read(self, path: Path, *, scheme: str | None = None) -> ImportResult:
        result = ImportResult(format=self.name, scheme=scheme)
        with fields.open_text(path) as fh:
            for number, line in enumerate(fh, start=1):
                # newline="" leaves a lone "\r" as a line end; splitlines-style strip covers it
                text = line.strip()
                if not text or text.startswith("#"):
                    continue
                parsed = parse_line(text)
                if parsed is None:
                    result.malformed.append(Malformed(
                        number, f"'{fields.printable(text)}' is not a hex digest of "
                        f"{fields.digest_lengths()} characters"))
                    continue
                algorithm, digest, file_name = parsed
                entry = HashEntry(scheme=scheme, line=number)
                setattr(entry, algorithm, digest)
                if file_name:
                    entry.extra["file_name"] = file_name
                result.entries.append(entry)
        sha256 = sum(1 for e in result.entries if e.sha256 and "file_name" not in e.extra)
        if sha256:
            # PDQ is 64 hex too: a PDQ list read as SHA-256 would import and never match
            result.notes.append(
                f"{sha256} line(s) of 64 hex digits read as SHA-256; if they are PDQ hashes, "
                "add a first line `pdq` (a one-column CSV) and import the file again")
        return result
