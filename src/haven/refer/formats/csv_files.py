"""subjects.csv, records.csv, evidence.csv: UTF-8 with BOM (Excel reads accents), escaped cells."""

from __future__ import annotations

import csv
from pathlib import Path

from haven.refer.cells import csv_cell
from haven.refer.formats.tables import evidence_table, records_table, subjects_table
from haven.refer.package import Package
from haven.refer.formats.registry import register


@register
class CsvFormat:
    name = "csv"
    order = 10
    on_request = False

    def write(self, package: Package, out_dir: Path) -> list[str]:
        written = []
        for name, table in (("subjects.csv", subjects_table(package)),
                            ("records.csv", records_table(package)),
                            ("evidence.csv", evidence_table(package))):
            header, rows = table
            with (out_dir / name).open("w", encoding="utf-8-sig", newline="") as fh:
                w = csv.writer(fh, lineterminator="\r\n")
                w.writerow(header)
                for row in rows:
                    w.writerow([csv_cell(v) for v in row])
            written.append(name)
        return written
