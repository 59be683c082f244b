"""The fast writers of `refer build` give the bytes the plain library calls give.

subjects.xlsx rows are encoded by haven (xlsxwriter's per-cell calls were half of the build
time), CASE/UCO ids come from a hand-rolled UUID v5, JSON from reused encoders: each is
checked here against the library path on awkward values.
"""

from __future__ import annotations

import random
import uuid
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import openpyxl
import pytest

from haven.intel.fields import FIELDS
from haven.refer.cells import RISKY_FIRST, is_risky
from haven.refer.formats import xlsx
from haven.refer.formats.caseuco import _NS, uuid5_text
from haven.refer.package import Package

AWKWARD = [
    "plain", "", " lead", "trail ", "\tTab", "new\nline", "cr\rhere", "bell\x07", "x\x1fy",
    "_x0041_ literal escape", "a & b < c > d \"q\"", "=SUM(1+1)", "  +33612345678", "-5",
    "@cmd", "Ωmega Ünïcødé", "日本語の名前", "emoji 😀 here", "\ufffe\uffff", "<t>tag</t>",
    "x" * 20000, "😀" * 17000, "y" * 40000, " ",
]


def _package(values: list[object]) -> Package:
    subjects, records = [], []
    for i, v in enumerate(values):
        sid = f"S-{i:012d}"
        subjects.append({
            "subject_id": sid, "country": "FR", "countries": ["FR", "DE"] if i % 3 else ["FR"],
            "shared_with": ["DE"] if i % 3 else [], "review": bool(i % 5 == 0),
            "confidence": [0.9, 1.0, 0.123456, 0, 7, 1e-20, -3, 2**53 + 1][i % 8],
            "names": [v] if v else [],
            "records": [{"file": "list.csv", "row": i + 1}],
            "evidence": [{"kind": "phone", "country": "FR", "stance": "for", "value": v,
                          "weight": 2.5, "file": "list.csv", "row": i + 1}],
            "indicators": [{"kind": "odd", "detail": v, "records": []}] if i % 2 else [],
            "routing_note": None if i % 4 else v})
        rec = {"subject_id": sid, "file": "list.csv", "row": i + 1, "sha256": "ab" * 32,
               "extra": {"col": v} if i % 2 else None}
        for n, f in enumerate(FIELDS):
            rec[f] = v if (i + n) % 3 else None
        records.append(rec)
    ts = datetime(2026, 1, 10, 9, 0, tzinfo=timezone.utc)
    return Package("FR", "fr", ts, {"operation": "op-test"}, subjects, records)


def _build(tmp_path: Path, values: list[object], fast: bool) -> bytes:
    out = tmp_path / ("fast" if fast else "plain")
    out.mkdir()
    xlsx.write_workbook(_package(values), out / "subjects.xlsx", fast=fast)
    return (out / "subjects.xlsx").read_bytes()


def test_fast_rows_give_the_same_file_as_xlsxwriter(tmp_path: Path, monkeypatch) -> None:
    calls = []
    real = xlsx.write_rows_fast
    monkeypatch.setattr(xlsx, "write_rows_fast", lambda *a: calls.append(1) or real(*a))
    fast = _build(tmp_path, AWKWARD, fast=True)
    assert len(calls) == 4          # the fast path really ran, once a sheet
    plain = _build(tmp_path, AWKWARD, fast=False)
    assert fast == plain
    # And the content is what an officer should see: exact text, quote prefix on risky cells.
    wb = openpyxl.load_workbook(tmp_path / "fast" / "subjects.xlsx")
    names = [c.value for c in wb["subjects"]["G"][1:]]
    assert "  +33612345678" in names and "=SUM(1+1)" in names and "日本語の名前" in names
    # Excel's own escapes: a control character as _xHHHH_, a literal _xHHHH_ kept literal.
    assert "bell_x0007_" in names and "_x005F_x0041_ literal escape" in names
    cell = next(c for c in wb["subjects"]["G"] if c.value == "=SUM(1+1)")
    assert cell.data_type == "s" and cell.quotePrefix
    assert next(c for c in wb["subjects"]["G"] if c.value == "Ωmega Ünïcødé").quotePrefix is False


def test_fast_rows_match_on_random_text(tmp_path: Path) -> None:
    rng = random.Random(4)
    alphabet = "aZ =+-@_x0041&<>\"'\t\n\r\x01\x0b éß日😀\ufffe"
    values: list[object] = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))
                            for _ in range(400)]
    assert _build(tmp_path, values, fast=True) == _build(tmp_path, values, fast=False)


def test_empty_package_and_nan(tmp_path: Path) -> None:
    assert _build(tmp_path, [], fast=True) == _build(tmp_path, [], fast=False)
    pkg = _package(["a"])
    pkg.subjects[0]["confidence"] = float("nan")
    with pytest.raises(TypeError):
        xlsx.write_workbook(pkg, tmp_path / "nan.xlsx")


def test_rich_text_lookalike_is_escaped(tmp_path: Path) -> None:
    """xlsxwriter would copy `<r>…</r>` into the sheet as XML; haven writes it as text."""
    out = tmp_path / "p"
    out.mkdir()
    evil = "<r><t>injected</t></r>"
    xlsx.write_workbook(_package([evil]), out / "subjects.xlsx")
    with zipfile.ZipFile(out / "subjects.xlsx") as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    assert "&lt;r&gt;&lt;t&gt;injected" in sheet and evil not in sheet
    assert openpyxl.load_workbook(out / "subjects.xlsx")["subjects"]["G2"].value == evil


def test_uuid5_text_is_uuid5() -> None:
    rng = random.Random(2)
    for _ in range(20000):
        name = "".join(chr(rng.choice([rng.randrange(32, 127), rng.randrange(0xA0, 0x3000),
                                       rng.randrange(0x10000, 0x10400)]))
                       for _ in range(rng.randrange(0, 30)))
        assert uuid5_text(name) == str(uuid.uuid5(_NS, name))


def test_is_risky_fast_path_agrees_with_the_rule() -> None:
    def rule(text: str) -> bool:
        return text.startswith(RISKY_FIRST) or text.lstrip(" ").startswith(RISKY_FIRST[:4])

    rng = random.Random(3)
    for _ in range(20000):
        text = "".join(rng.choice(" =+-@\t\rab1") for _ in range(rng.randrange(0, 5)))
        assert is_risky(text) == rule(text)
