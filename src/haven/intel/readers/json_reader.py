"""JSON (an array of objects, or an object holding one) and JSON Lines (one object a line)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from haven.intel.errors import RecordFileError
from haven.intel.readers.base import RawRow, RowProblem, Table, note_huge
from haven.intel.readers.registry import register
from haven.intel.readers.text import detect_encoding


@register
class JsonReader:
    name = "json"
    priority = 40
    binary = False
    tables = False

    def sniff(self, head: bytes, path: Path) -> bool:
        for codec in ("utf-8-sig", "utf-16", "latin-1"):
            try:
                text = head.decode(codec, errors="strict")
                break
            except UnicodeDecodeError:
                continue
        stripped = text.lstrip("\ufeff \t\r\n")
        return stripped.startswith(("[", "{"))

    def read(self, path: Path, table: str | None = None) -> Table:
        warnings: Counter = Counter()
        notes: list[str] = []
        encoding = detect_encoding(path, warnings, notes)
        text = path.read_text(encoding=encoding)
        try:
            data = json.loads(text)
            fmt = "json"
        except json.JSONDecodeError as exc:
            if exc.msg.startswith("Extra data") or _looks_like_lines(text):
                return _read_lines(path, encoding, warnings, notes)
            raise RecordFileError(
                f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
            ) from exc
        if isinstance(data, dict):
            lists = [k for k, v in data.items() if isinstance(v, list)]
            if len(lists) != 1:
                # A single object is one record.
                data = [data]
            else:
                notes.append(f"records read from the {lists[0]!r} list of the top object")
                data = data[lists[0]]
        if not isinstance(data, list):
            raise RecordFileError(f"{path}: JSON holds neither a list of records nor an object")
        flat: list[dict | None] = [_flatten(o) if isinstance(o, dict) else None for o in data]
        headers = _headers(f for f in flat if f is not None)

        def rows() -> Iterator[RawRow | RowProblem]:
            for i, (obj, orig) in enumerate(zip(flat, data), start=1):
                if obj is None:
                    yield RowProblem(
                        i, None, "not_an_object", "JSON element is not an object",
                        raw=json.dumps(orig, ensure_ascii=False)[:10_000],
                    )
                    continue
                values = {h: obj.get(h) for h in headers}
                note_huge(values, warnings)
                yield RawRow(i, None, values)

        return Table(fmt, headers, rows(), encoding, warnings, notes)


def _looks_like_lines(text: str) -> bool:
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    return first.lstrip("\ufeff ").startswith("{")


def _flatten(obj: dict, prefix: str = "") -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        elif v is None:
            out[key] = None
        elif isinstance(v, str):
            out[key] = v if v != "" else None
        elif isinstance(v, bool):
            out[key] = "true" if v else "false"
        elif isinstance(v, (int, float)):
            out[key] = str(v)
        else:
            out[key] = json.dumps(v, ensure_ascii=False, sort_keys=True)
    return out


def _headers(objs) -> list[str]:  # type: ignore[no-untyped-def]
    seen: dict[str, None] = {}
    for o in objs:
        for k in o:
            seen.setdefault(k, None)
    return list(seen)


def _read_lines(path: Path, encoding: str, warnings: Counter, notes: list[str]) -> Table:
    # Two passes so the column list is known before the first row is handed out.
    keys: dict[str, None] = {}
    with path.open(encoding=encoding) as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                for k in _flatten(obj):
                    keys.setdefault(k, None)
    headers = list(keys)

    def rows() -> Iterator[RawRow | RowProblem]:
        with path.open(encoding=encoding) as fh:
            for lineno, line in enumerate(fh, start=1):
                text = line.strip()
                if not text:
                    warnings["blank_row"] += 1
                    continue
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as exc:
                    yield RowProblem(lineno, lineno, "json_error",
                                     f"unparseable JSON line: {exc.msg} (column {exc.colno})",
                                     raw=text[:10_000])
                    continue
                if not isinstance(obj, dict):
                    yield RowProblem(lineno, lineno, "not_an_object",
                                     "JSON line is not an object", raw=text[:10_000])
                    continue
                flat = _flatten(obj)
                values = {h: flat.get(h) for h in headers}
                note_huge(values, warnings)
                yield RawRow(lineno, lineno, values)

    return Table("jsonl", headers, rows(), encoding, warnings, notes)
