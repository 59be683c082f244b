"""subjects.xlsx: sheets subjects, source records, evidence, indicators (xlsxwriter).

Every value is a text or number cell, never a formula; risky text carries Excel's quote
prefix (see haven.refer.cells). Reproducible: fixed document dates, xlsxwriter's fixed zip
entry times.
"""

from __future__ import annotations

from pathlib import Path

import xlsxwriter

from haven.refer.cells import cell_text, is_risky
from haven.refer.formats.tables import (evidence_table, indicators_table, records_table,
                                        subjects_table)
from haven.refer.package import Package

XLSX_CELL_MAX = 32767
TRUNCATED = " … [truncated; full value in subjects.json]"


class XlsxFormat:
    name = "xlsx"

    def write(self, package: Package, out_dir: Path) -> list[str]:
        name = "subjects.xlsx"
        wb = xlsxwriter.Workbook(str(out_dir / name), {
            "constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
            "strings_to_numbers": False, "tmpdir": str(out_dir)})
        naive = package.built_at.replace(tzinfo=None)
        wb.set_properties({"title": f"{package.name} referral package",
                           "subject": package.provenance.get("operation") or "",
                           "author": "haven", "created": naive})
        wb.set_calc_mode("manual")
        head = wb.add_format({"bold": True, "bg_color": "#DDDDDD", "text_wrap": True})
        quoted = wb.add_format({"quote_prefix": True})
        for title, table, widths in (
                ("subjects", subjects_table(package), {0: 16, 6: 28, 7: 30, 8: 18, 10: 24, 11: 40,
                                                       12: 30}),
                ("source records", records_table(package), {0: 16, 3: 24, 7: 28, 8: 18, 10: 28}),
                ("evidence", evidence_table(package), {0: 16, 1: 14, 4: 28}),
                ("indicators", indicators_table(package), {0: 16, 1: 18, 2: 50, 3: 24})):
            header, rows = table
            ws = wb.add_worksheet(title)
            for col, width in widths.items():
                ws.set_column(col, col, width)
            for col, h in enumerate(header):
                ws.write_string(0, col, h, head)
            ws.freeze_panes(1, 0)
            n = 0
            for n, row in enumerate(rows, start=1):
                for col, value in enumerate(row):
                    if value is None or value == "" or value == []:
                        continue
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        ws.write_number(n, col, value)
                        continue
                    text = cell_text(value)
                    if len(text) > XLSX_CELL_MAX:
                        text = text[:XLSX_CELL_MAX - len(TRUNCATED)] + TRUNCATED
                    if is_risky(text):
                        ws.write_string(n, col, text, quoted)
                    else:
                        ws.write_string(n, col, text)
            ws.autofilter(0, 0, max(n, 1), len(header) - 1)
        wb.close()
        return [name]
