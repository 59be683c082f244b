"""python-threatexchange and Hasher-Matcher-Actioner (HMA) signal files.

Three shapes, told apart by their first bytes:
- LocalFileSignalExchangeAPI input: `signal_type signal` per line, space-separated;
- `threatexchange dataset --csv`: `signal_type,signal_str,collab,category,tags`;
- the JSON body of HMA's `POST /c/bank/<BANK>/signal`: `{<signal_type>: <value>, "note": ...}`.

Signal types haven can match (its registered signal types with an entry field: md5, sha1,
sha256, pdq, …, and pytx's video_md5 — an MD5 of a video file) are imported; any other type
is a malformed line ("unsupported signal type X"), counted but not fatal. The
original type is kept in `extra["signal_type"]`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from haven import signals
from haven.errors import HashSetFormatError
from haven.hashsets.formats import fields
from haven.hashsets.formats.registry import register
from haven.hashsets.formats.table import column_key, first_line, read_table
from haven.hashsets.model import HashEntry, ImportResult, Malformed

SCHEME = "pytx"

# pytx signal type names that are another name of a haven signal type
PYTX_ALIASES = {"video_md5": "md5"}
# pytx signal type name -> HashEntry field: haven's own types by their names, plus the aliases
SIGNAL_FIELDS = {t.name: t.name for t in signals.entry_types()} | PYTX_ALIASES
# Names pytx and its extensions use; only for recognising the file, not all importable.
KNOWN_SIGNAL_TYPES = set(SIGNAL_FIELDS) | set(signals.names()) | {
    "url", "url_md5", "raw_text", "trend_query", "photodna", "tmk", "vmd5",
}
CSV_HEADER = ["signaltype", "signalstr"]  # column_key of the first two dataset --csv columns
NOTE_KEYS = {"note", "notes", "comment"}

_LOCAL_LINE = re.compile(r"([A-Za-z][A-Za-z0-9_]*)[ \t]+(\S.*)")


def _signal_entry(signal_type: str, value: str, line: int) -> HashEntry:
    field = SIGNAL_FIELDS.get(signal_type.lower())
    if field is None:
        raise ValueError(f"unsupported signal type {signal_type}")
    entry = HashEntry(line=line, extra={"signal_type": signal_type})
    setattr(entry, field, fields.hex_digest(value, field))
    if getattr(entry, field) is None:
        raise ValueError(f"no {signal_type} value")
    return entry


def _local_line_ok(line: str) -> bool:
    """A `signal_type signal` line of a known type (with a valid digest when haven imports it)."""
    match = _LOCAL_LINE.fullmatch(line)
    if not match or match.group(1).lower() not in KNOWN_SIGNAL_TYPES:
        return False
    try:
        _signal_entry(match.group(1), match.group(2).strip(), 0)
    except ValueError as exc:
        return str(exc).startswith("unsupported")  # a known type haven does not match
    return True


def _shape(text: str, sniffing: bool = True) -> str | None:
    """"json", "csv" or "local" for sniffed text, None if it is none of them.

    Sniffing, "local" tolerates a few malformed lines among the first ones
    (`fields.reads_as`); read with --format hma, a file is "local" as soon as one of those
    lines names a known signal type (bad lines are malformed lines then).
    """
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            body = json.loads(stripped)
        except ValueError:
            return None  # cut off by the head limit, or not JSON: a bank body is tiny anyway
        if isinstance(body, dict) and any(k.lower() in KNOWN_SIGNAL_TYPES for k in body):
            return "json"
        return None
    line = first_line(text)
    cells = [column_key(c) for c in line.split(",")]
    if cells[:2] == CSV_HEADER:
        return "csv"
    lines = [s for raw in text.splitlines()[: fields.SNIFF_LINES]
             if (s := raw.strip()) and not s.startswith("#")]
    if sniffing:
        return "local" if fields.reads_as(lines, _local_line_ok) else None
    typed = (m.group(1).lower() in KNOWN_SIGNAL_TYPES
             for s in lines if (m := _LOCAL_LINE.fullmatch(s)))
    return "local" if any(typed) else None


@register
class HmaReader:
    name = "hma"
    priority = 20

    def sniff(self, path: Path, head: bytes) -> bool:
        if fields.looks_binary(head):
            return False
        return _shape(fields.head_text(head)) is not None

    def read(self, path: Path, *, scheme: str | None = None) -> ImportResult:
        scheme = scheme or SCHEME
        result = ImportResult(format=self.name, scheme=scheme)
        with fields.open_text(path) as fh:
            shape = _shape(fh.read(64 * 1024), sniffing=False)
        if shape is None:
            raise HashSetFormatError(
                f"{path.name}: not a threatexchange/HMA signal file "
                "(expected 'signal_type signal' lines, a signal_type,signal_str CSV "
                "or an HMA bank signal JSON body)"
            )
        records = {"json": self._json, "csv": self._csv, "local": self._local}[shape](path)
        for record in records:
            if isinstance(record, Malformed):
                result.malformed.append(record)
            else:
                record.scheme = scheme
                result.entries.append(record)
        return result

    @staticmethod
    def _local(path: Path) -> Iterator[HashEntry | Malformed]:
        with fields.open_text(path) as fh:
            for number, line in enumerate(fh, start=1):
                text = line.strip()
                if not text or text.startswith("#"):
                    continue
                match = _LOCAL_LINE.fullmatch(text)
                if match is None:
                    yield Malformed(number, "expected 'signal_type signal'")
                    continue
                try:
                    yield _signal_entry(match.group(1), match.group(2).strip(), number)
                except ValueError as exc:
                    yield Malformed(number, str(exc))

    @staticmethod
    def _csv(path: Path) -> Iterator[HashEntry | Malformed]:
        _header, rows = read_table(path, delimiter=",")
        for row in rows:
            cells = {column_key(c): v for c, v in row.values.items()}
            try:
                entry = _signal_entry(
                    cells.get("signaltype", "").strip(), cells.get("signalstr", ""), row.line
                )
            except ValueError as exc:
                yield Malformed(row.line, str(exc))
                continue
            entry.category = fields.text(cells.get("category"))
            collab = fields.text(cells.get("collab"))
            if collab:
                entry.extra["collab"] = collab
            tags = cells.get("tags", "").replace(",", " ").split()
            if tags:
                entry.extra["tags"] = tags
            yield entry

    @staticmethod
    def _json(path: Path) -> Iterator[HashEntry | Malformed]:
        try:
            body = json.loads(path.read_bytes())
        except (ValueError, UnicodeDecodeError) as exc:
            raise HashSetFormatError(f"{path.name}: not valid JSON ({exc})") from exc
        note = next((fields.text(v) for k, v in body.items() if k.lower() in NOTE_KEYS), None)
        # One request body is one record: every signal in it reports as line 1.
        for key, value in body.items():
            if key.lower() in NOTE_KEYS:
                continue
            try:
                entry = _signal_entry(key, "" if value is None else str(value), 1)
            except ValueError as exc:
                yield Malformed(1, str(exc))
                continue
            if note:
                entry.extra["note"] = note
            yield entry
