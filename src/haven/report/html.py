"""The human report: summary and tables, never any image content."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, select_autoescape

SECTION_LIMIT = 2000  # rows per section in the HTML; findings.jsonl always has them all
SECTIONS = (
    ("known", "Known material (exact digest match)"),
    ("near-known", "Near-known (perceptual match)"),
    ("fresh", "Fresh media (matched nothing: review for unidentified victims)"),
    ("error", "Errors and bad input"),
    ("known-good", "Known-good (excluded)"),
)

_env = Environment(
    loader=PackageLoader("haven.report", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_report(summary: dict, findings: list[dict]) -> str:
    sections = []
    for key, title in SECTIONS:
        rows = [f for f in findings if f["finding"] == key]
        sections.append({"key": key, "title": title, "total": len(rows), "rows": rows[:SECTION_LIMIT]})
    mismatches = [f for f in findings if f["extension_mismatch"]][:SECTION_LIMIT]
    return _env.get_template("report.html").render(
        summary=summary, sections=sections, mismatches=mismatches, limit=SECTION_LIMIT
    )
