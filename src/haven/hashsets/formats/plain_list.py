"""Plain hash lists: one hex digest per line, the algorithm told by its length.

32 hex = MD5, 40 = SHA-1, 64 = SHA-256, 128 = SHA-512 (a 64-hex line is never taken for PDQ: a plain list
cannot say so). Blank lines and `#` comments are skipped; anything else is malformed.

Auto-detection reads the first lines of the head and tolerates a few malformed ones (a title
line, a stray word), as reading with `--format txt` does (`fields.reads_as`).
"""

from __future__ import annotations

from pathlib import Path

from haven.hashsets.formats import fields
from haven.hashsets.formats.registry import register
from haven.hashsets.model import HashEntry, ImportResult, Malformed


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
        return fields.reads_as(fields.head_lines(head),
                               lambda line: fields.algorithm_of(line) is not None)

    def read(self, path: Path, *, scheme: str | None = None) -> ImportResult:
        result = ImportResult(format=self.name, scheme=scheme)
        with fields.open_text(path) as fh:
            for number, line in enumerate(fh, start=1):
                # newline="" leaves a lone "\r" as a line end; splitlines-style strip covers it
                text = line.strip()
                if not text or text.startswith("#"):
                    continue
                algorithm = fields.algorithm_of(text)
                if algorithm is None:
                    result.malformed.append(Malformed(
                        number, f"'{fields.printable(text)}' is not a hex digest of "
                        f"{fields.digest_lengths()} characters"))
                    continue
                entry = HashEntry(scheme=scheme, line=number)
                setattr(entry, algorithm, text.lower())
                result.entries.append(entry)
        sha256 = sum(1 for e in result.entries if e.sha256)
        if sha256:
            # PDQ is 64 hex too: a PDQ list read as SHA-256 would import and never match
            result.notes.append(
                f"{sha256} line(s) of 64 hex digits read as SHA-256; if they are PDQ hashes, "
                "add a first line `pdq` (a one-column CSV) and import the file again")
        return result
