"""The human report: one self-contained offline HTML file, never any image content.

Everything is inline (the service's stylesheet, the charts as SVG drawn here, a small script
for the work lists), so the file opens by double-click with no network and no server. The
rows of each work list travel as JSON inside the page; the script sorts, filters, searches and
pages them. Above `ROW_LIMIT` rows a list shows its top and says findings.jsonl/csv have all.
"""

from __future__ import annotations

import json
from collections import Counter
from html import escape
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

import haven
from haven import signals
from haven.match.how import bits_compared, how_pdq

#: Rows per work list in the HTML; findings.jsonl and findings.csv always have them all.
ROW_LIMIT = 100_000
#: The service's stylesheet: one visual language for the service pages and this report.
STYLESHEET = Path(haven.__file__).parent / "service" / "web" / "static" / "haven.css"

#: (finding, heading, what the analyst does with it), in the order an analyst works.
LISTS = (
    ("fresh", "Fresh media to review", "Matched nothing: review for unidentified victims."),
    ("near-known", "Near-known", "Perceptually close to known material: confirm, then treat as known."),
    ("known", "Known material", "Exact digest match with a known set."),
    ("error", "Errors and bad input", "Could not be read or decoded: check by hand."),
    ("known-good", "Known-good (excluded)", "On a known-good list."),
    ("other", "Other files", "Not media: documents, archives, containers."),
)
COLOURS = {"known": "#a61b1b", "near-known": "#a04a00", "fresh": "#1f5f8b", "error": "#6b2c91",
           "known-good": "#1e7a44", "other": "#5b6570"}
#: The timeline's two sources of a time.
TIME_COLOURS = {"EXIF time taken": "#1f5f8b", "file modified": "#8a94a0"}

_env = Environment(
    loader=PackageLoader("haven.report", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def load_template() -> None:
    """Compile report.html's template now (Jinja2 keeps it): `haven scan` does this while its
    workers are busy, not after the last item, when it would be all that runs."""
    _env.get_template("report.html")


def how_matched(m: dict) -> str:
    """In words, how an item matched a known entry (which hash, which part of the picture)."""
    kind = m["signal_type"]
    tag = m.get("matched_signal")
    if kind not in signals.near_names():
        return f"identical file ({kind.upper()} digest)"
    d = m.get("distance")
    close = "identical picture hash" if d == 0 else f"{d} of {bits_compared(tag)} bits differ"
    if kind == "vpdq":
        share = ""
        if m.get("query_share") is not None:
            share = (f"; {round(m['query_share'] * 100)}% of the item's frames, "
                     f"{round((m.get('known_share') or 0) * 100)}% of the known video")
        return f"video frames ({close}){': ' + tag if tag else ''}{share}"
    where = how_pdq(tag)
    return f"{close}; {where}"


def _matched(m: dict) -> str:
    out = m["hashset"] + (f" v{m['hashset_version']}" if m.get("hashset_version") else "")
    if m.get("category") is not None:
        out += f" · category {m['scheme'] + ':' if m.get('scheme') else ''}{m['category']}"
    if m.get("series"):
        out += f" · series {m['series']}"
    return out


def container_splits(path: str, containers: set[str]) -> list[int]:
    """Offsets in `path` where a container ends ("a/b.zip/c.jpg" -> [7] if a/b.zip is one).

    The report draws the path as a chain of crumbs (seizure › archive › file) from these.
    """
    out = []
    at = path.find("/")
    while at != -1:
        if path[:at] in containers:
            out.append(at)
        at = path.find("/", at + 1)
    return out


def _seizure_of(path: str, seizures: list[str]) -> str:
    for name in seizures:
        if path == name or path.startswith(name + "/"):
            return name
    return path.split("/", 1)[0]


def _notes(f: dict) -> list[str]:
    out = list(f["notes"])
    flags = f.get("flags") or {}
    if flags.get("deleted"):
        out.append("deleted file (recovered from the file system)")
    if flags.get("carved"):
        out.append("carved from unallocated space")
    if len(f["paths"]) > 1:
        out.append(f"same content at {len(f['paths']) - 1} other path(s)")
    for h in f["history"]:
        out.append(f"{h['at']}: {h['from']} → {h['to']} ({h['reason']})")
    return out


def known_place(info: dict, known_paths: frozenset, known_series: frozenset) -> str | None:
    """In words, how a fresh item is tied to the place of known material, or None.

    A verified same-place (`scene`) link to a known or near-known item comes first; then
    membership of a series that holds known material."""
    linked = [p for p in info.get("scene") or [] if p in known_paths]
    if linked:
        more = f" and {len(linked) - 1} more" if len(linked) > 1 else ""
        return f"same place as known material: {linked[0]}{more}"
    series = info.get("series")
    if series and series[0] in known_series:
        return f"in series {series[1]}, which holds known material"
    return None


def work_row(f: dict, key: str, seizure: str, splits: list[int], vi: dict | None = None,
             known_serials: frozenset = frozenset(), known_paths: frozenset = frozenset(),
             known_series: frozenset = frozenset()) -> list:
    """One row of a work list: [path, splits, seizure, type, size, *list columns, notes, md5].

    `vi` (victim identification's view of the item, `context.victim_context`) adds faces,
    camera, time taken and the tie to a known place to the fresh list; `known_serials` are
    camera serials seen on known or near-known items, `known_paths` those items' paths and
    `known_series` the series holding any of them."""
    row = [f["path"], splits, seizure, f["mime"] or "unknown", f["size"]]
    ms = f["matches"]
    if key == "fresh" and vi is not None:
        info = vi.get(f["path"]) or {}
        camera = info.get("camera")
        if camera and info.get("serial") in known_serials:
            camera += " (also took known material)"
        row += [info.get("faces"), camera, info.get("taken"),
                known_place(info, known_paths, known_series) if info else None]
    elif key == "near-known":
        near = [m for m in ms if not m["known_good"]] or ms
        best = min(near, key=lambda m: m["distance"] if m["distance"] is not None else 999)
        row += [best["distance"], how_matched(best), _matched(best)]
    elif key in ("known", "known-good"):
        row += ["; ".join(how_matched(m) for m in ms), "; ".join(_matched(m) for m in ms)]
    elif key == "error":
        problem = (f.get("flags") or {}).get("problem")
        row += [(f["error"] or "") + (f" ({problem})" if problem else "")]
    row.append(" · ".join(_notes(f)))
    row.append(f["md5"] or "")  # not a column: searchable, and the path's tooltip
    return row


_EXTRA_COLUMNS = {
    "near-known": [("distance", "Distance", "num"), ("how", "How it matched", "text"),
                   ("set", "Known set", "text")],
    "known": [("how", "Matched by", "text"), ("set", "Known set", "text")],
    "known-good": [("how", "Matched by", "text"), ("set", "Known-good set", "text")],
    "error": [("reason", "Reason", "text")],
}


_INDEXED_COLUMNS = [("faces", "Faces", "num"), ("camera", "Camera", "text"),
                    ("taken", "Taken (EXIF)", "text"), ("place", "Known place", "text")]


def columns(key: str, indexed: bool = False) -> list[dict]:
    base = [("path", "Path", "path"), ("seizure", "Seizure", "text"), ("type", "Type", "text"),
            ("size", "Size (bytes)", "num")]
    extra = _INDEXED_COLUMNS if key == "fresh" and indexed else _EXTRA_COLUMNS.get(key, [])
    cols = base + extra + [("notes", "Notes", "text")]
    return [{"key": k, "label": label, "kind": kind} for k, label, kind in cols]


def _fresh_order(row: list, indexed: bool) -> tuple:
    # What helps first: the place of known material (a verified scene link, then a series
    # holding known material), a camera that also took known material, faces, then size.
    if indexed:
        place = 2 if row[8] is None else (0 if row[8].startswith("same place") else 1)
        return (place, "known material" not in (row[6] or ""), -(row[5] or 0),
                -(row[4] or 0), row[0])
    return (-(row[4] or 0), row[0])


TIMELINE_TITLE = "Media by time (EXIF time taken, else file modified)"


def timeline(findings: list[dict], context: dict[str, dict]) -> list[tuple[str, dict[str, int]]]:
    """Media per month (per year when they span over 3 years), stacked by where the time is from.

    The EXIF time taken when `haven index` read one, else the time the file system or
    archive recorded the file as modified (`modified` in findings.jsonl)."""
    times: list[tuple[str, str]] = []
    for f in findings:
        if f.get("media") not in ("image", "video"):
            continue
        taken = (context.get(f["path"]) or {}).get("taken")
        if taken:
            times.append((taken[:7], "EXIF time taken"))
        elif f.get("modified"):
            times.append((f["modified"][:7], "file modified"))
    if not times:
        return []
    first, last = min(t for t, _s in times), max(t for t, _s in times)
    by_year = int(last[:4]) - int(first[:4]) > 3
    counts: dict[str, Counter] = {}
    for month, source in times:
        counts.setdefault(month[:4] if by_year else month, Counter())[source] += 1
    return [(k, {s: c.get(s, 0) for s in ("EXIF time taken", "file modified")})
            for k, c in sorted(counts.items())]


def bar_chart(title: str, bars: list[tuple[str, dict[str, int]]], *, width: int = 460,
              colours: dict[str, str] = COLOURS) -> str:
    """A horizontal (stacked) bar chart as inline SVG, with its numbers as text for readers."""
    if not bars:
        return ""
    label_w, row_h, top = 150, 24, 8
    total_max = max(sum(parts.values()) for _l, parts in bars) or 1
    plot_w = width - label_w - 60
    height = top * 2 + row_h * len(bars)
    desc = "; ".join(f"{label}: {sum(parts.values())}" for label, parts in bars)
    out = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" aria-label="{escape(title)}: {escape(desc)}">',
           f"<title>{escape(title)}</title>"]
    for i, (label, parts) in enumerate(bars):
        y = top + i * row_h
        short = label if len(label) <= 22 else label[:21] + "…"
        out.append(f'<text x="{label_w - 6}" y="{y + 16}" text-anchor="end" font-size="12">'
                   f"{escape(short)}</text>")
        x = float(label_w)
        for kind, n in parts.items():
            if not n:
                continue
            w = max(1.0, plot_w * n / total_max)
            out.append(f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" '
                       f'fill="{colours.get(kind, "#1f5f8b")}"><title>{escape(label)}: '
                       f"{escape(kind)} {n}</title></rect>")
            x += w
        out.append(f'<text x="{x + 5:.1f}" y="{y + 16}" font-size="12">'
                   f"{sum(parts.values()):,}</text>")
    out.append("</svg>")
    return "".join(out)


def charts(summary: dict, findings: list[dict], seizures: list[str],
           context: dict[str, dict] | None = None) -> list[tuple[str, str]]:
    """(title, svg) of the at-a-glance charts: by finding, by seizure, by type."""
    by_kind = [(k, {k: summary["by_finding"].get(k, 0)}) for k, _t, _d in LISTS]
    per_seizure: dict[str, Counter] = {}
    per_type: dict[str, Counter] = {}
    for f in findings:
        per_seizure.setdefault(_seizure_of(f["path"], seizures), Counter())[f["finding"]] += 1
        per_type.setdefault(f["mime"] or "unknown", Counter())[f["finding"]] += 1
    order = [k for k, _t, _d in LISTS]

    def stacked(counts: dict[str, Counter], top: int) -> list[tuple[str, dict[str, int]]]:
        ranked = sorted(counts.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))[:top]
        return [(label, {k: c.get(k, 0) for k in order}) for label, c in ranked]

    return [
        ("Findings by kind", bar_chart("Findings by kind", by_kind)),
        ("Findings by seizure", bar_chart("Findings by seizure", stacked(per_seizure, 12))),
        ("Findings by type (top 12)", bar_chart("Findings by type", stacked(per_type, 12))),
        (TIMELINE_TITLE, bar_chart(TIMELINE_TITLE, timeline(findings, context or {}),
                                             colours=TIME_COLOURS)),
    ]


def _json_for_script(value) -> str:
    # Inside <script>, "<" must never start a tag ("</script>" in a file name would end it).
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def render_report(summary: dict, findings: list[dict], limit: int = ROW_LIMIT,
                  context: dict[str, dict] | None = None,
                  thumbnails: dict[str, str] | None = None) -> str:
    """The whole report.html for one case.

    `context`: victim identification's view of the items (`context.victim_context`), {} or
    None when the case was never indexed. `thumbnails`: path -> base64 JPEG to embed
    (`haven report --thumbnails`); the page shows them blurred and greyscale until clicked."""
    indexed = bool(context)
    known_serials = frozenset(
        (context or {}).get(f["path"], {}).get("serial") for f in findings
        if f["finding"] in ("known", "near-known")) - {None}
    known_paths = frozenset(f["path"] for f in findings if f["finding"] in ("known", "near-known"))
    known_series = frozenset((((context or {}).get(p) or {}).get("series") or (None,))[0]
                             for p in known_paths) - {None}
    seizures = sorted((z["name"] for z in summary["seizures"]), key=len, reverse=True)
    # a container is an item with items under it (archive, disk image, ISO)
    paths = {f["path"] for f in findings}
    containers = set()
    for p in paths:
        at = p.rfind("/")
        while at != -1:
            parent = p[:at]
            if parent in containers:
                break
            if parent in paths:
                containers.add(parent)
            at = p.rfind("/", 0, at)
    lists = []
    for key, title, what in LISTS:
        rows = [work_row(f, key, _seizure_of(f["path"], seizures),
                         container_splits(f["path"], containers),
                         context if indexed else None, known_serials, known_paths, known_series)
                for f in findings if f["finding"] == key]
        if key == "fresh":
            rows.sort(key=lambda r: _fresh_order(r, indexed))
        elif key == "near-known":
            rows.sort(key=lambda r: (r[5] if r[5] is not None else 999, r[0]))
        lists.append({"key": key, "title": title, "what": what, "total": len(rows),
                      "shown": min(len(rows), limit), "columns": columns(key, indexed),
                      "rows": rows[:limit]})
    shown = {r[0] for lst in lists for r in lst["rows"]}
    thumbs = {p: b for p, b in (thumbnails or {}).items() if p in shown}
    data = {"lists": lists, "thumbs": thumbs}
    return _env.get_template("report.html").render(
        summary=summary, lists=lists, limit=limit, css=STYLESHEET.read_text(encoding="utf-8"),
        script=(Path(__file__).parent / "templates" / "report.js").read_text(encoding="utf-8"),
        data=_json_for_script(data), charts=charts(summary, findings, seizures, context),
        colours=COLOURS, indexed=indexed, thumbs=len(thumbs),
        thumbs_missing=thumbnails is not None and not thumbs,
    )
