"""subjects.xlsx: sheets subjects, source records, evidence, indicators (xlsxwriter).

Every value is a text or number cell, never a formula; risky text carries Excel's quote
prefix (see haven.refer.cells). Reproducible: fixed document dates, xlsxwriter's fixed zip
entry times.

Speed: xlsxwriter costs about 40 µs a cell through its public `write_*` calls (argument
decoding, a per-cell table, generic XML helpers), which made this file half of `refer build`.
The data rows are therefore encoded here, to the exact bytes xlsxwriter's constant_memory mode
writes for the same cells (inline strings, control characters as `_xHHHH_`, `xml:space`
for edge whitespace), and appended to the worksheet's row file; xlsxwriter still writes the
header row, the workbook, styles, filters and the zip. `tests/refer/test_xlsx_rows.py` checks
the two paths give identical files. The fast path is only taken on the worksheet layout it was
written against (`_fast_rows_supported`); anything else goes through the public calls.
One deliberate difference: xlsxwriter writes a text that looks like rich-text XML
(`<r>…</r>`) into the sheet unescaped; here every text is escaped, so seized data can never
inject XML into the workbook.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import xlsxwriter
from xlsxwriter.utility import xl_col_to_name

from haven.refer.cells import _MAYBE_RISKY, cell_text, is_risky
from haven.refer.formats.tables import (evidence_table, indicators_table, records_table,
                                        subjects_table)
from haven.refer.package import Package
from haven.refer.formats.registry import register

XLSX_CELL_MAX = 32767
TRUNCATED = " … [truncated; full value in subjects.json]"

# What needs more than a copy into <t>…</t>: XML specials, the characters xlsxwriter writes as
# _xHHHH_ (C0 controls but tab and newline, U+FFFE, U+FFFF) and literal "_xHHHH_" runs (which
# it escapes as _x005F_xHHHH_ so Excel does not decode them).
_NEEDS_WORK = re.compile(r"[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9a-fA-F]{4}_")
_LITERAL_ESCAPE = re.compile(r"(_x[0-9a-fA-F]{4}_)")
_CONTROL = re.compile(r"([\x00-\x08\x0b-\x1f])")


def _utf16_cut(text: str) -> str:
    """`text` cut to Excel's 32,767 UTF-16 units (characters above U+FFFF count twice)."""
    if len(text) <= XLSX_CELL_MAX // 2 or len(text.encode("utf-16-le", "surrogatepass")) // 2 \
            <= XLSX_CELL_MAX:
        return text
    units = 0
    for i, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > XLSX_CELL_MAX:
            return text[:i]
    return text


def _xml_text(text: str) -> str:
    """Cell text as it goes between <t> and </t>."""
    if _NEEDS_WORK.search(text) is None:
        return text
    text = _LITERAL_ESCAPE.sub(r"_x005F\1", text)
    text = _CONTROL.sub(lambda m: f"_x{ord(m.group(1)):04X}_", text)
    text = text.replace("\ufffe", "_xFFFE_").replace("\uffff", "_xFFFF_")
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cell_value(value: object) -> tuple[bool, object] | None:
    """(is_number, value) of a cell, or None for an empty cell; text is cut and escaped-ready."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return True, value
    text = cell_text(value)
    if len(text) > XLSX_CELL_MAX:
        text = text[:XLSX_CELL_MAX - len(TRUNCATED)] + TRUNCATED
    return False, text


def _fast_rows_supported(ws) -> bool:  # type: ignore[no-untyped-def]
    """The worksheet is in the state the row encoder reproduces byte for byte."""
    return (xlsxwriter.__version__.split(".")[0] == "3" and getattr(ws, "constant_memory", False)
            and getattr(ws, "excel_version", None) == 2007
            and getattr(ws, "default_row_height", None) == getattr(ws, "original_row_height", 0)
            and not getattr(ws, "row_info", True) and not getattr(ws, "comments", True)
            and getattr(ws, "previous_row", None) == 0 and hasattr(ws, "fh")
            and not getattr(ws, "nan_inf_to_errors", True))


def write_rows_fast(ws, rows: Iterable[list[object]], width: int,  # type: ignore[no-untyped-def]
                    quoted) -> int:
    """Append data rows 1… to a constant_memory worksheet whose header (row 0) is written.

    Returns the number of rows (as `write_rows_plain`); same bytes as `write_rows_plain`.
    """
    ws._write_single_row(1)            # flush the header row as xlsxwriter does
    fh = ws.fh
    cols = [xl_col_to_name(c) for c in range(width)]
    qattr = ""
    last = n = 0
    search = _NEEDS_WORK.search
    for n, row in enumerate(rows, start=1):
        r = str(n + 1)
        parts = [f'<row r="{r}">']
        for col, value in enumerate(row):
            # Inlined _cell_value (this loop runs for every cell of every package).
            if value is None or value == "" or value == []:
                continue
            kind = type(value)
            if kind is str:
                text = value
            elif kind is float or kind is int or (isinstance(value, (int, float))
                                                  and not isinstance(value, bool)):
                if math.isnan(value) or math.isinf(value):  # type: ignore[arg-type]
                    raise TypeError("NAN/INF not supported in write_number() without "
                                    "'nan_inf_to_errors' Workbook() option")
                parts.append(f'<c r="{cols[col]}{r}"><v>{value:.16G}</v></c>')
                continue
            else:
                text = cell_text(value)
            if len(text) > XLSX_CELL_MAX // 2:
                if len(text) > XLSX_CELL_MAX:
                    text = text[:XLSX_CELL_MAX - len(TRUNCATED)] + TRUNCATED
                text = _utf16_cut(text)
            style = ""
            if text and text[0] in _MAYBE_RISKY and is_risky(text):
                if not qattr:           # xf index given on first use, as xlsxwriter does
                    qattr = f' s="{quoted._get_xf_index()}"'
                style = qattr
            body = text if search(text) is None else _xml_text(text)
            space = (' xml:space="preserve"' if body and (body[0].isspace() or body[-1].isspace())
                     else "")
            parts.append(f'<c r="{cols[col]}{r}"{style} t="inlineStr"><is><t{space}>{body}</t>'
                         '</is></c>')
        if len(parts) == 1:
            continue
        parts.append("</row>")
        fh.write("".join(parts))
        last = n
    if last:
        ws.dim_rowmax = max(ws.dim_rowmax or 0, last)
    ws.previous_row = last + 1 if last else 1
    return n


def write_rows_plain(ws, rows: Iterable[list[object]], quoted) -> int:  # type: ignore[no-untyped-def]
    """The same rows through xlsxwriter's public calls (reference and fallback); the number
    of rows."""
    n = 0
    for n, row in enumerate(rows, start=1):
        for col, value in enumerate(row):
            cell = _cell_value(value)
            if cell is None:
                continue
            is_number, v = cell
            if is_number:
                ws.write_number(n, col, v)
            elif is_risky(v):  # type: ignore[arg-type]
                ws.write_string(n, col, v, quoted)
            else:
                ws.write_string(n, col, v)
    return n


def write_workbook(package: Package, path: Path, fast: bool = True) -> None:
    wb = xlsxwriter.Workbook(str(path), {
        "constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
        "strings_to_numbers": False, "tmpdir": str(path.parent)})
    naive = package.built_at.replace(tzinfo=None)
    wb.set_properties({"title": f"{package.name} referral package",
                       "subject": package.provenance.get("operation") or "",
                       "author": "haven", "created": naive})
    wb.set_calc_mode("manual")
    head = wb.add_format({"bold": True, "bg_color": "#DDDDDD", "text_wrap": True})
    quoted = wb.add_format({"quote_prefix": True})
    tables: tuple[tuple[str, tuple[list[str], Iterator[list[object]]], dict[int, int]], ...] = (
        ("subjects", subjects_table(package), {0: 16, 6: 28, 7: 30, 8: 18, 10: 24, 11: 40,
                                               12: 30}),
        ("source records", records_table(package), {0: 16, 3: 24, 7: 28, 8: 18, 10: 28}),
        ("evidence", evidence_table(package), {0: 16, 1: 14, 4: 28}),
        ("indicators", indicators_table(package), {0: 16, 1: 18, 2: 50, 3: 24}))
    for title, (header, rows), widths in tables:
        ws = wb.add_worksheet(title)
        for col, width in widths.items():
            ws.set_column(col, col, width)
        for col, h in enumerate(header):
            ws.write_string(0, col, h, head)
        ws.freeze_panes(1, 0)
        if fast and _fast_rows_supported(ws):
            n = write_rows_fast(ws, rows, len(header), quoted)
        else:
            n = write_rows_plain(ws, rows, quoted)
        ws.autofilter(0, 0, max(n, 1), len(header) - 1)
    wb.close()


@register
class XlsxFormat:
    name = "xlsx"
    order = 20
    on_request = False

    def write(self, package: Package, out_dir: Path) -> list[str]:
        name = "subjects.xlsx"
        write_workbook(package, out_dir / name)
        return [name]
