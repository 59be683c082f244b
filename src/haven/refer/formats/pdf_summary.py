"""summary.pdf: the summary page as PDF with fpdf2 (pure pip) when a Unicode font is found.

fpdf2's core fonts are Latin-1 only, so a TrueType font is needed for names in other
scripts: DejaVu Sans from the system (Debian `fonts-dejavu-core`) or $HAVEN_PDF_FONT. Without
one the PDF is skipped and the manifest says so. Scripts DejaVu lacks (CJK, Thai …) show as
missing glyphs; the HTML, CSV and XLSX files carry the exact text. The subject table stops
at PDF_MAX_SUBJECTS rows (fpdf2 tables cost ~3 ms a row; the HTML and XLSX have them all).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from haven.refer.i18n import texts
from haven.refer.package import Package
from haven.refer.formats.registry import register

PDF_MAX_SUBJECTS = 100
FONT_CANDIDATES = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                   "/usr/share/fonts/dejavu/DejaVuSans.ttf")


def find_font() -> Path | None:
    env = os.environ.get("HAVEN_PDF_FONT")
    for cand in ([env] if env else []) + list(FONT_CANDIDATES):
        if cand and Path(cand).is_file():
            return Path(cand)
    return None


def pdf_available() -> tuple[bool, str]:
    """Whether a PDF can be written here, and why not."""
    try:
        import fpdf  # noqa: F401
    except ImportError:
        return False, "fpdf2 is not installed (pip install fpdf2)"
    if find_font() is None:
        return False, "no Unicode TrueType font (install fonts-dejavu-core or set HAVEN_PDF_FONT)"
    return True, ""


@register
class PdfSummaryFormat:
    name = "pdf"
    order = 60
    # Only on request: loading its font costs ~0.4 s a package.
    on_request = True

    def write(self, package: Package, out_dir: Path) -> list[str]:
        ok, _why = pdf_available()
        if not ok:
            return []
        from fpdf import FPDF
        from fpdf.fonts import FontFace

        logging.getLogger("fontTools").setLevel(logging.ERROR)
        logging.getLogger("fpdf").setLevel(logging.ERROR)
        t = texts(package.language)
        pdf = FPDF(orientation="L", format="A4")
        pdf.set_creation_date(package.built_at)
        pdf.set_title(f"{t['title']} {package.code}")
        pdf.set_creator("haven")
        pdf.add_font("body", "", str(find_font()))
        pdf.set_font("body", size=9)
        pdf.add_page()
        title = t["coordinator_title"] if package.coordinator else t["title"]
        pdf.set_font_size(15)
        pdf.cell(0, 10, f"{title} — {package.name} ({package.code})", new_x="LMARGIN",
                 new_y="NEXT")
        pdf.set_font_size(9)
        pdf.multi_cell(0, 5, t["coordinator_intro"] if package.coordinator else t["intro"],
                       new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
        c = package.counts()
        for label, value in ((t["operation"], package.provenance.get("operation")),
                             (t["prepared"], package.timestamp),
                             (t["subjects"], c["subjects"]), (t["records"], c["records"]),
                             (t["shared"], c["shared"]), (t["review"], c["review"]),
                             (t["with_indicators"], c["with_indicators"])):
            pdf.cell(80, 5, str(label))
            pdf.cell(0, 5, str(value), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
        shown = package.subjects[:PDF_MAX_SUBJECTS]
        with pdf.table(col_widths=(30, 90, 20, 15, 40, 70), text_align="LEFT",
                       line_height=4.5,
                       headings_style=FontFace(emphasis=None, fill_color=(230, 230, 230))
                       ) as table:
            table.row([t["subject"], t["names"], t["confidence"], t["records"],
                       t["shared_with"], t["indicators"]])
            for s in shown:
                table.row([s["subject_id"], ", ".join(s.get("names") or []),
                           f"{s.get('confidence') or 0:.2f}", str(len(s.get("records") or [])),
                           ", ".join(s.get("shared_with") or []) or "—",
                           ", ".join(i["kind"] for i in s.get("indicators") or []) or "—"])
        if len(package.subjects) > len(shown):
            pdf.ln(2)
            pdf.cell(0, 5, f"… {len(package.subjects) - len(shown)} more: subjects.xlsx")
        name = "summary.pdf"
        pdf.output(str(out_dir / name))
        return [name]
