"""Package file formats: one module per format, one registry.

Each format is an object with a `name` and `write(package, out_dir) -> list[str]` returning
the file names it wrote (relative to the package directory). Adding a format is one new
module and one line in `FORMATS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from haven.refer.package import Package


class PackageFormat(Protocol):
    name: str

    def write(self, package: Package, out_dir: Path) -> list[str]: ...


def registry(pdf: bool = False) -> tuple[PackageFormat, ...]:
    """Every format written into a package, in writing order; the PDF only on request (it
    costs ~0.4 s a package to load its font)."""
    from haven.refer.formats.caseuco import CaseUcoFormat
    from haven.refer.formats.csv_files import CsvFormat
    from haven.refer.formats.json_file import JsonFormat
    from haven.refer.formats.pdf_summary import PdfSummaryFormat
    from haven.refer.formats.summary import HtmlSummaryFormat
    from haven.refer.formats.xlsx import XlsxFormat

    formats: tuple[PackageFormat, ...] = (CsvFormat(), XlsxFormat(), JsonFormat(),
                                          CaseUcoFormat(), HtmlSummaryFormat())
    return formats + ((PdfSummaryFormat(),) if pdf else ())


def format_names() -> list[str]:
    return [f.name for f in registry()]
