"""Findings out of the case store: findings.jsonl, findings.csv, summary.json, report.html.

Every output is derived from the store alone, sorted by path, so re-running a report gives
byte-identical files apart from the generation time in summary/report. The store is read
through `sqlite3` (`haven.store.direct`): a scan's report loads no SQLAlchemy.
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterator

from haven import __version__, signals
from haven.evidence.base import stamp_modified
from haven.report.html import how_matched
from haven.store.case import CaseStore, utcnow
from haven.store.direct import from_bool, from_datetime, from_json

FINDINGS = ("known", "near-known", "known-good", "fresh", "other", "error")
#: One row per item; an item's matches fill the `match_*` columns in the same order, joined
#: by MATCH_SEP (no JSON inside cells: the file is read in spreadsheets).
CSV_COLUMNS = (
    "path", "size", "mime", "extension_mismatch", "deleted", "carved",
    *(t.name for t in signals.item_types()), "pdq_quality", "finding", "match_set", "match_kind", "match_distance",
    "match_category", "match_series", "error", "notes", "paths", "match_how",
)
MATCH_SEP = "; "


#: A finding's matches: these columns of `matches`, in this order.
_MATCH_COLUMNS = ("hashset", "hashset_version", "signal_type", "distance", "category", "scheme",
                  "series", "known_good", "matched_signal", "query_share", "known_share")
#: items read per round (their matches are read with them, by item id)
_ROWS_PER_READ = 2000


def _match_dict(row: tuple) -> dict:
    m = dict(zip(_MATCH_COLUMNS, row))
    m["known_good"] = from_bool(m["known_good"])
    return m


def iter_findings(store: CaseStore) -> Iterator[dict]:
    """One dict per item, sorted by path; `paths` lists every path of identical content."""
    db = store.db
    paths_by_sha: dict[str, list[str]] = defaultdict(list)
    for sha, path in db.execute(
            "SELECT sha256, path FROM items WHERE sha256 IS NOT NULL ORDER BY path"):
        paths_by_sha[sha].append(path)
    history: dict[int, list[dict]] = defaultdict(list)
    for item_id, at, cause, old, new, reason, earlier in db.execute(
            "SELECT item_id, changed_at, cause, old_finding, new_finding, reason, earlier "
            "FROM finding_changes ORDER BY id"):
        earlier = from_json(earlier)
        history[item_id].append({
            "at": from_datetime(at).isoformat(timespec="seconds") + "Z", "cause": cause,
            "from": old, "to": new, "reason": reason,
            **({"earlier": earlier} if earlier is not None else {}),
        })
    item_types = [t.name for t in signals.item_types()]
    # digests a scan computes only when asked (SHA-512): null when it did not
    extra = [t.name for t in signals.item_digests() if t.name not in item_types]
    columns = ("id", "path", "size", "mime", "media", "extension_mismatch", *item_types, *extra,
               "pdq_quality", "pdq_preprocess", "vpdq", "vpdq_preprocess", "video", "finding",
               "error", "notes", "flags", "stamp")
    after = None  # the last path read: the next round reads the paths above it
    while True:
        rows = db.execute(
            f"SELECT {', '.join(columns)} FROM items "
            + ("WHERE path > ? " if after is not None else "")
            + f"ORDER BY path LIMIT {_ROWS_PER_READ}",
            () if after is None else (after,)).fetchall()
        if not rows:
            return
        after = rows[-1][1]
        matches: dict[int, list[dict]] = defaultdict(list)
        ids = [r[0] for r in rows]
        for item_id, *m in db.execute(
                f"SELECT item_id, {', '.join(_MATCH_COLUMNS)} FROM matches "
                f"WHERE item_id IN ({', '.join('?' * len(ids))}) ORDER BY id", ids):
            matches[item_id].append(_match_dict(m))
        for row in rows:
            r = dict(zip(columns, row))
            notes, flags = from_json(r["notes"]), from_json(r["flags"])
            yield {
                "path": r["path"],
                "size": r["size"],
                "mime": r["mime"],
                "media": r["media"],
                "extension_mismatch": bool(r["extension_mismatch"]),
                **{name: r[name] for name in item_types},
                **{name: r[name] for name in extra},
                "pdq_quality": r["pdq_quality"],
                "pdq_preprocess": r["pdq_preprocess"],
                "vpdq": from_json(r["vpdq"]),
                "vpdq_preprocess": r["vpdq_preprocess"],
                "video": from_json(r["video"]),
                "finding": r["finding"],
                "matches": matches.get(r["id"], []),
                "error": r["error"],
                "notes": list(notes or []),
                "flags": dict(flags or {}),
                "paths": (paths_by_sha.get(r["sha256"], [r["path"]]) if r["sha256"]
                          else [r["path"]]),
                # last modified, as the file system or archive recorded it (None if it did not)
                "modified": stamp_modified(json.loads(r["stamp"])) if r["stamp"] else None,
                # how the finding changed since the scan: rematch, and rescan (with the
                # superseded content under `earlier`)
                "history": history.get(r["id"], []),
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
    db = store.db
    seizures = [
        {"name": name, "source": source, "sha256": sha256, "size": size,
         "finished": finished is not None, "history": from_json(history) or [],
         "extractions": from_json(extractions) or []}
        for name, source, sha256, size, finished, history, extractions in db.execute(
            "SELECT name, source_path, sha256, size, finished_at, history, extractions "
            "FROM seizures ORDER BY name")
    ]
    hashsets = [
        {"name": name, "known_good": from_bool(known_good), "format": format_,
         "scheme": scheme, "version": version, "entries": entries, "malformed": malformed,
         "source_sha256": source_sha256}
        for name, known_good, format_, scheme, version, entries, malformed, source_sha256
        in db.execute("SELECT name, known_good, format, scheme, version, entry_count, "
                      "malformed_count, source_sha256 FROM hashsets ORDER BY name")
    ]
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


def match_state(store: CaseStore) -> dict:
    """When the findings were last matched, and against which set versions (summary.json)."""
    rows = [(n, v, mv, from_datetime(at)) for n, v, mv, at in store.db.execute(
        "SELECT h.name, h.version, m.version, m.matched_at FROM hashsets h "
        "LEFT OUTER JOIN matched_sets m ON m.hashset_id = h.id ORDER BY h.name")]
    sets = [{"name": n, "version": mv, "current_version": v,
             "matched_at": at.isoformat(timespec="seconds") + "Z" if at else None,
             "current": mv == v}
            for n, v, mv, at in rows]
    times = [r[3] for r in rows if r[3]]
    return {"matched_at": max(times).isoformat(timespec="seconds") + "Z" if times else None,
            "sets": sets}


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
        # the report's words: a distance of a crop hypothesis counts 224 bits, not 256
        "match_how": MATCH_SEP.join(how_matched(m).replace("; ", ", ") for m in ms),
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
