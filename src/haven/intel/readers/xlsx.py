"""Excel workbooks (.xlsx) through openpyxl, first sheet, read-only."""

from __future__ import annotations

import datetime as dt
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from haven.intel.errors import RecordFileError
from haven.intel.readers.base import RawRow, Table, note_huge, unique_headers
from haven.intel.readers.registry import register


@register
class XlsxReader:
    name = "xlsx"
    priority = 20
    binary = True
    tables = False  # the first sheet only

    def sniff(self, head: bytes, path: Path) -> bool:
        if not head.startswith(b"PK\x03\x04"):
            return False
        try:
            with zipfile.ZipFile(path) as zf:
                return "xl/workbook.xml" in zf.namelist()
        except zipfile.BadZipFile:
            return False

    def read(self, path: Path, table: str | None = None) -> Table:
        import openpyxl

        warnings: Counter = Counter()
        notes: list[str] = []
        try:
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds on a corrupt workbook
            raise RecordFileError(f"{path}: not a readable XLSX workbook ({exc})") from exc
        sheets = wb.worksheets
        if not sheets:
            raise RecordFileError(f"{path}: workbook has no sheets")
        if len(sheets) > 1:
            warnings["other_sheets_ignored"] += len(sheets) - 1
            notes.append(
                f"only the first sheet ({sheets[0].title!r}) is read; other sheets: "
                + ", ".join(repr(s.title) for s in sheets[1:])
            )
        ws = sheets[0]
        it = ws.iter_rows()
        header_row = 0
        raw: list[str] = []
        for cells in it:
            vals = [_text(c.value) for c in cells]
            if any(v for v in vals):
                raw = [v or "" for v in vals]
                header_row = cells[0].row if cells and hasattr(cells[0], "row") else 1
                break
        headers = unique_headers(raw, warnings, notes)
        return Table(
            format="xlsx",
            headers=headers,
            rows=_rows(wb, ws, header_row, headers, warnings),
            encoding=None,
            warnings=warnings,
            notes=notes,
        )


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    text = str(value)
    return text if text != "" else None


def _rows(wb, ws, header_row: int, headers: list[str], warnings: Counter) -> Iterator[RawRow]:
    n = len(headers)
    try:
        for idx, cells in enumerate(ws.iter_rows(min_row=header_row + 1), start=header_row + 1):
            sheet_row = getattr(cells[0], "row", None) if cells else None
            sheet_row = sheet_row or idx
            vals = [_text(c.value) for c in cells]
            extra = {f"column_{i + 1}": v for i, v in enumerate(vals) if i >= n and v}
            if extra:
                # Kept under a generated name: nothing in the sheet is lost.
                warnings["cells_beyond_header"] += 1
            vals = (vals + [None] * n)[:n]
            if not any(vals) and not extra:
                warnings["blank_row"] += 1
                continue
            values = dict(zip(headers, vals)) | extra
            note_huge(values, warnings)
            yield RawRow(sheet_row - header_row, sheet_row, values)
    finally:
        wb.close()
