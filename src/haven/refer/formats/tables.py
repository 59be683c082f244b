"""The package as tables (header + rows of plain values), shared by the CSV and XLSX formats."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator

from haven.intel.fields import FIELDS
from haven.refer.package import Package

Table = tuple[list[str], Iterator[list[object]]]

SUBJECT_HEADER = ["subject_id", "country", "countries", "shared_with", "review", "confidence",
                  "names", "emails", "phones", "record_count", "source_rows", "indicators",
                  "note"]
RECORD_HEADER = ["subject_id", "file", "row", *FIELDS, "extra", "input_sha256"]
EVIDENCE_HEADER = ["subject_id", "kind", "country", "stance", "value", "weight", "file", "row"]
INDICATOR_HEADER = ["subject_id", "kind", "detail", "source_rows"]


def _refs(refs: list[dict]) -> str:
    return "; ".join(f"{r['file']}:{r['row']}" for r in refs or [])


def subjects_table(package: Package) -> Table:
    by_subject: dict[str, list[dict]] = defaultdict(list)
    for rec in package.records:
        by_subject[rec["subject_id"]].append(rec)

    def rows() -> Iterator[list[object]]:
        for s in package.subjects:
            recs = by_subject.get(s["subject_id"], [])
            emails = sorted({r["email"] for r in recs if r.get("email")})
            phones = sorted({r["phone"] for r in recs if r.get("phone")})
            names = s.get("names") or sorted({r["full_name"] for r in recs if r.get("full_name")})
            yield [s["subject_id"], s.get("country"), s.get("countries") or [],
                   s.get("shared_with") or [], bool(s.get("review")), s.get("confidence"),
                   names, emails, phones, len(s.get("records") or []), _refs(s.get("records")),
                   [f"{i['kind']}: {i['detail']}" for i in s.get("indicators") or []],
                   s.get("routing_note")]
    return SUBJECT_HEADER, rows()


def records_table(package: Package) -> Table:
    def rows() -> Iterator[list[object]]:
        for r in package.records:
            extra = r.get("extra")
            if extra is not None and not isinstance(extra, str):
                extra = json.dumps(extra, ensure_ascii=False, sort_keys=True)
            yield [r["subject_id"], r["file"], r["row"], *(r.get(f) for f in FIELDS), extra,
                   r.get("sha256")]
    return RECORD_HEADER, rows()


def evidence_table(package: Package) -> Table:
    def rows() -> Iterator[list[object]]:
        for s in package.subjects:
            for e in s.get("evidence") or []:
                yield [s["subject_id"], e.get("kind"), e.get("country"), e.get("stance"),
                       e.get("value"), e.get("weight"), e.get("file"), e.get("row")]
    return EVIDENCE_HEADER, rows()


def indicators_table(package: Package) -> Table:
    def rows() -> Iterator[list[object]]:
        for s in package.subjects:
            for i in s.get("indicators") or []:
                yield [s["subject_id"], i.get("kind"), i.get("detail"), _refs(i.get("records"))]
    return INDICATOR_HEADER, rows()
