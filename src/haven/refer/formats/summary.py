"""summary.html: a self-contained page (no scripts, no external resources) in the country's language."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from haven.refer.i18n import texts
from haven.refer.package import Package
from haven.refer.formats.registry import register

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(loader=FileSystemLoader(str(TEMPLATES)),
                       autoescape=select_autoescape(["html", "j2"]),
                       undefined=StrictUndefined, keep_trailing_newline=True)


def render_summary(package: Package) -> str:
    """The summary page as text (pure apart from reading the template)."""
    return _env().get_template("summary.html.j2").render(
        t=texts(package.language), lang=package.language, code=package.code,
        country_name=package.name, coordinator=package.coordinator,
        built_at=package.timestamp, prov=package.provenance, counts=package.counts(),
        subjects=package.subjects)


@register
class HtmlSummaryFormat:
    name = "html"
    order = 50
    on_request = False

    def write(self, package: Package, out_dir: Path) -> list[str]:
        name = "summary.html"
        (out_dir / name).write_text(render_summary(package), encoding="utf-8")
        return [name]
