"""Findings out of the case store: findings.jsonl, findings.csv, summary.json, report.html.

Every output is derived from the store alone, sorted by path, so re-running a report gives
byte-identical files apart from the generation time in summary/report.
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterator

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from haven import __version__, signals
from haven.evidence.base import stamp_modified
from haven.store.case import CaseStore, utcnow
from haven.store.models import FindingChange, HashSet, ItemRow, Seizure

FINDINGS = ("known", "near-known", "known-good", "fresh", "other", "error")
#: One row per item; an item's matches fill the `match_*` columns in the same order, joined
#: by MATCH_SEP (no JSON inside cells: the file is read in spreadsheets).
CSV_COLUMNS = (
    "path", "size", "mime", "extension_mismatch", "deleted", "carved",
    *(t.name for t in signals.item_types()), "pdq_quality", "finding", "match_set", "match_kind", "match_distance",
    "match_category", "match_series", "error", "notes", "paths",
)
MATCH_SEP = "; "


def _match_dict(m) -> dict:
    return {
        "hashset": m.hashset,
        "hashset_version": m.hashset_version,
        "signal_type": m.signal_type,
        "distance": m.distance,
        "category": m.category,
        "scheme": m.scheme,
        "series": m.series,
        "known_good": m.known_good,
        "matched_signal": m.matched_signal,
        "query_share": m.query_share,
        "known_share": m.known_share,
    }


def iter_findings(store: CaseStore) -> Iterator[dict]:
    """One dict per item, sorted by path; `paths` lists every path of identical content."""
    with store.session() as s:
        paths_by_sha: dict[str, list[str]] = defaultdict(list)
        for sha, path in s.execute(
            select(ItemRow.sha256, ItemRow.path).where(ItemRow.sha256.is_not(None)).order_by(ItemRow.path)
        ):
            paths_by_sha[sha].append(path)
        history: dict[int, list[dict]] = defaultdict(list)
        for c in s.scalars(select(FindingChange).order_by(FindingChange.id)):
            history[c.item_id].append({
                "at": c.changed_at.isoformat(timespec="seconds") + "Z", "cause": c.cause,
                "from": c.old_finding, "to": c.new_finding, "reason": c.reason,
                **({"earlier": c.earlier} if c.earlier is not None else {}),
            })
        rows = s.scalars(
            select(ItemRow).options(selectinload(ItemRow.matches)).order_by(ItemRow.path)
            .execution_options(yield_per=2000)
        )
        item_types = signals.item_types()
        for r in rows:
            yield {
                "path": r.path,
                "size": r.size,
                "mime": r.mime,
                "media": r.media,
                "extension_mismatch": bool(r.extension_mismatch),
                **{t.name: getattr(r, t.name) for t in item_types},
                "pdq_quality": r.pdq_quality,
                "pdq_preprocess": r.pdq_preprocess,
                "vpdq": r.vpdq,
                "vpdq_preprocess": r.vpdq_preprocess,
                "video": r.video,
                "finding": r.finding,
                "matches": [_match_dict(m) for m in r.matches],
                "error": r.error,
                "notes": list(r.notes or []),
                "flags": dict(r.flags or {}),
                "paths": paths_by_sha.get(r.sha256, [r.path]) if r.sha256 else [r.path],
                # last modified, as the file system or archive recorded it (None if it did not)
                "modified": stamp_modified(json.loads(r.stamp)) if r.stamp else None,
                # how the finding changed since the scan: rematch, and rescan (with the
                # superseded content under `earlier`)
                "history": history.get(r.id, []),
            }


def summarise(findings: list[dict], store: CaseStore) -> dict:
    by_finding = Counter(f["finding"] for f in findings)
    by_type = Counter(f["mime"] or "unknown" for f in findings)
    by_category: Counter = Counter()
    by_series: Counter = Counter()
    for f in findings:
        for m in {(m["scheme"], m["category"]) for m in f["matches"] if m["category"] is not None}:
            by_category[f"{m[0] or 'unscoped'}:{m[1]}"] += 1
        for series in {m["series"] for m in f["matches"] if m["series"]}:
            by_series[series] += 1
    contents: dict[str, str] = {}
    for f in findings:
        if f["sha256"]:
            contents.setdefault(f["sha256"], f["finding"])
    with store.session() as s:
        seizures = [
            {"name": z.name, "source": z.source_path, "sha256": z.sha256, "size": z.size,
             "finished": z.finished_at is not None, "history": z.history or [],
             "extractions": z.extractions or []}
            for z in s.scalars(select(Seizure).order_by(Seizure.name))
        ]
        hashsets = [
            {"name": h.name, "known_good": h.known_good, "format": h.format, "scheme": h.scheme,
             "version": h.version, "entries": h.entry_count, "malformed": h.malformed_count,
             "source_sha256": h.source_sha256}
            for h in s.scalars(select(HashSet).order_by(HashSet.name))
        ]
    from haven.match.rematch import match_state

    matching = match_state(store)
    return {
        "generated_at": utcnow().isoformat(timespec="seconds") + "Z",
        "haven_version": __version__,
        "items": len(findings),
        "distinct_contents": len(contents),
        "by_finding": {k: by_finding.get(k, 0) for k in FINDINGS},
        "distinct_by_finding": {k: Counter(contents.values()).get(k, 0) for k in FINDINGS},
        "by_type": dict(sorted(by_type.items())),
        "by_category": dict(sorted(by_category.items())),
        "by_series": dict(sorted(by_series.items())),
        "extension_mismatches": sum(1 for f in findings if f["extension_mismatch"]),
        "seizures": seizures,
        "hashsets": hashsets,
        # when the findings were last matched, and against which version of each set
        "matched_at": matching["matched_at"],
        "matched_sets": matching["sets"],
        "findings_changed_after_scan": sum(1 for f in findings if f["history"]),
    }


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    text = str(value)
    # A spreadsheet must never run a path or note as a formula.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        text = "'" + text
    return text


def csv_row(f: dict) -> list[str]:
    """The findings.csv cells of one finding (see CSV_COLUMNS)."""
    ms = f["matches"]
    flags = f["flags"]
    cells = {
        **f,
        "deleted": bool(flags.get("deleted")),
        "carved": bool(flags.get("carved")),
        "match_set": MATCH_SEP.join(
            m["hashset"] + (f" v{m['hashset_version']}" if m["hashset_version"] else "")
            for m in ms),
        "match_kind": MATCH_SEP.join(m["signal_type"] for m in ms),
        "match_distance": MATCH_SEP.join(str(m["distance"]) for m in ms),
        "match_category": MATCH_SEP.join(
            (f"{m['scheme']}:{m['category']}" if m["scheme"] else m["category"])
            if m["category"] is not None else "" for m in ms),
        "match_series": MATCH_SEP.join(m["series"] or "" for m in ms),
        "notes": MATCH_SEP.join(f["notes"]),
        "paths": MATCH_SEP.join(f["paths"]),
    }
    return [_csv_cell(cells[c]) for c in CSV_COLUMNS]


def write_reports(store: CaseStore, out_dir: Path | None = None, *, thumbnails: bool = False) -> dict:
    """Write all four report files into `out_dir` (default: the case directory); returns the
    summary.

    `thumbnails`: embed small blurred-until-clicked thumbnails of the media on the work lists
    in report.html (only those `haven index` stored; the evidence is never read)."""
    from haven.report.context import embedded_thumbnails, victim_context
    from haven.report.html import render_report

    findings = list(iter_findings(store))
    out = Path(out_dir) if out_dir is not None else store.dir
    tmp = out / "findings.jsonl.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        for f in findings:
            fh.write(json.dumps(f, ensure_ascii=False, sort_keys=True) + "\n")
    tmp.replace(out / "findings.jsonl")
    tmp = out / "findings.csv.tmp"
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for f in findings:
            w.writerow(csv_row(f))
    tmp.replace(out / "findings.csv")
    summary = summarise(findings, store)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    context = victim_context(store)
    thumbs = None
    if thumbnails:
        order = {k: i for i, k in enumerate(("fresh", "near-known", "known"))}
        listed = sorted((f for f in findings if f["finding"] in order),
                        key=lambda f: order[f["finding"]])
        thumbs = embedded_thumbnails(store, [f["path"] for f in listed], context)
    (out / "report.html").write_text(
        render_report(summary, findings, context=context, thumbnails=thumbs), encoding="utf-8")
    return summary


def report_paths(case_dir: Path) -> dict[str, Path]:
    return {n: case_dir / n for n in ("findings.jsonl", "findings.csv", "summary.json", "report.html")}
