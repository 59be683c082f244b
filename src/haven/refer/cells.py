"""Spreadsheet cells an officer can open safely: no value is ever run as a formula.

A cell whose text starts with = + - @ (or a tab / carriage return, which some programs skip
before looking for a formula) is a formula-injection risk when a CSV is opened in a
spreadsheet. CSV cells get a leading apostrophe (the OWASP advice); XLSX cells are written as
text cells with Excel's own quote-prefix flag, so the officer sees the exact value (a phone
number stays `+49…`) and editing the cell cannot turn it into a formula.
"""

from __future__ import annotations

RISKY_FIRST = ("=", "+", "-", "@", "\t", "\r")
_MAYBE_RISKY = frozenset("=+-@\t\r ")     # first characters worth a closer look


def is_risky(text: str) -> bool:
    """True when a spreadsheet could read `text` as a formula."""
    if not text or text[0] not in _MAYBE_RISKY:
        return False
    return text.startswith(RISKY_FIRST) or text.lstrip(" ").startswith(RISKY_FIRST[:4])


def csv_cell(value: object) -> str:
    """A value as CSV text, escaped with a leading apostrophe when it is risky."""
    text = cell_text(value)
    return "'" + text if is_risky(text) else text


def cell_text(value: object) -> str:
    if type(value) is str:
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    if isinstance(value, (list, tuple)):
        return "; ".join(cell_text(v) for v in value)
    return str(value)
