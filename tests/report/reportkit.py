"""A generated case for the report tests and bench: benign paths and numbers, no store.

`synthetic_case(n)` gives (summary, findings) shaped as `haven.report.findings` makes them:
two seizures, nested containers, every finding kind, near matches on crop windows.
"""

from __future__ import annotations

import random

KINDS = ("fresh",) * 14 + ("near-known",) * 2 + ("known",) * 2 + ("error", "known-good", "other")
MIMES = ("image/jpeg", "image/png", "video/mp4", "image/webp")
TAGS = ("pdq", "pdq-c84", "pdq-w85x89+1-2")


def _finding(i: int, rnd: random.Random) -> dict:
    kind = KINDS[i % len(KINDS)]
    seizure = "laptop-01" if i % 3 else "phone-02"
    inner = f"backup_{i % 7}.zip/" if i % 5 == 0 else ""
    path = f"{seizure}/{inner}Pictures/holiday_{i:06d}.jpg"
    mime = MIMES[i % len(MIMES)] if kind != "other" else "application/pdf"
    matches = []
    if kind in ("known", "near-known", "known-good"):
        near = kind == "near-known"
        matches.append({
            "hashset": "goodlist" if kind == "known-good" else "feed", "hashset_version": 3,
            "signal_type": "pdq" if near else "md5", "distance": rnd.randint(0, 31) if near else 0,
            "category": None if kind == "known-good" else "1", "scheme": "baseline",
            "series": f"SERIES-{i % 4}" if kind == "known" else None,
            "known_good": kind == "known-good", "matched_signal": TAGS[(i // len(KINDS)) % 3] if near else None,
            "query_share": None, "known_share": None})
    return {
        "path": path, "size": 1000 + (i * 7919) % 5_000_000, "mime": mime, "media": "image",
        "extension_mismatch": False, "md5": f"{i:032x}", "sha1": None, "sha256": f"{i:064x}",
        "pdq": None, "pdq_quality": None, "pdq_preprocess": None, "vpdq": None,
        "vpdq_preprocess": None, "video": None, "finding": kind, "matches": matches,
        "error": "image not decodable: truncated image" if kind == "error" else None,
        "notes": [], "flags": {}, "paths": [path], "history": [],
    }


def synthetic_case(n: int, seed: int = 7) -> tuple[dict, list[dict]]:
    """(summary, findings) of an n-item generated case, findings sorted by path."""
    rnd = random.Random(seed)
    findings = [_finding(i, rnd) for i in range(n)]
    containers = sorted({f["path"].split("/Pictures", 1)[0] for f in findings if ".zip" in f["path"]})
    findings += [dict(_finding(0, rnd), path=c, finding="other", mime="application/zip",
                      matches=[], error=None, paths=[c]) for c in containers]
    findings.sort(key=lambda f: f["path"])
    by = {k: sum(1 for f in findings if f["finding"] == k) for k in
          ("known", "near-known", "known-good", "fresh", "other", "error")}
    summary = {
        "generated_at": "2026-01-01T00:00:00Z", "haven_version": "test", "items": len(findings),
        "distinct_contents": len(findings), "by_finding": by, "distinct_by_finding": by,
        "by_type": {}, "by_category": {"baseline:1": by["known"]}, "by_series": {},
        "extension_mismatches": 0,
        "seizures": [{"name": z, "source": f"/evidence/{z}.E01", "sha256": "ab" * 32,
                      "size": 1, "finished": True, "history": []}
                     for z in ("laptop-01", "phone-02")],
        "hashsets": [{"name": "feed", "known_good": False, "format": "csv", "scheme": "baseline",
                      "version": 3, "entries": 10, "malformed": 0, "source_sha256": "cd" * 32}],
        "matched_at": "2026-01-01T00:00:00Z",
        "matched_sets": [{"name": "feed", "version": 3, "current_version": 3, "current": True,
                          "matched_at": "2026-01-01T00:00:00Z"}],
        "findings_changed_after_scan": 0,
    }
    return summary, findings
