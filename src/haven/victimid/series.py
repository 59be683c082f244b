"""Links between media and the series built from them.

A link is one piece of evidence that two media belong together, kept with a sentence saying
why: `pdq` (near-duplicate pixels), `scene` (geometrically verified same place), `face`
(a face pair an analyst confirmed), `serial` (same camera body serial), `time` (captured
within seconds of each other by the same camera model). Series are connected groups over the
link kinds chosen (`SERIES_KINDS`; capture time alone is too weak to join a series).

Analyst edits win: a series that was merged, split, named or marked identified becomes
`origin="analyst"` and `build_series` never touches it or its members again.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from sqlalchemy import delete, select

from haven.hashsets.vics_export import write_vics_case
from haven.match.near import DEFAULT_THRESHOLD, NearIndex
from haven.store.case import utcnow
from haven.victimid.errors import VictimIdError
from haven.victimid.models import FaceRow, LinkRow, MediaRow, SeriesMemberRow, SeriesRow
from haven.victimid.store import VictimStore, default_user

LINK_KINDS = ("pdq", "scene", "face", "serial", "time")
SERIES_KINDS = ("pdq", "scene", "face", "serial")
TIME_WINDOW = 2.0  # seconds: burst shots and the same moment from two devices


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def metadata_links(media: list[MediaRow], window: float = TIME_WINDOW) -> list[tuple[str, int, int, float | None, str]]:
    """Serial and capture-time links among media (pure; no database)."""
    out = []
    by_serial: dict[str, list[MediaRow]] = defaultdict(list)
    for m in media:
        if m.body_serial:
            by_serial[m.body_serial.strip().upper()].append(m)
    for serial, group in by_serial.items():
        first = group[0]  # a star, not every pair: n - 1 links join a group of n
        for m in group[1:]:
            who = " ".join(filter(None, [first.make, first.model])) or "camera"
            out.append(("serial", *_pair(first.id, m.id), None, f"same camera body serial {serial} ({who})"))
    timed = []
    for m in media:
        if m.captured_utc is not None:
            timed.append((m.captured_utc, "UTC", m))
        elif m.captured_local:
            from datetime import datetime

            timed.append((datetime.fromisoformat(m.captured_local), "local", m))
    timed.sort(key=lambda t: t[0])
    delta = timedelta(seconds=window)
    for i, (t, basis, m) in enumerate(timed):
        for t2, basis2, m2 in timed[i + 1:]:
            if t2 - t > delta:
                break
            if basis != basis2 or (m.model or "") != (m2.model or ""):
                continue
            secs = (t2 - t).total_seconds()
            out.append(("time", *_pair(m.id, m2.id), secs,
                        f"captured {secs:.1f} s apart ({basis} time) by {m.model or 'an unnamed camera model'}"))
    return out


def pdq_links(media: list[MediaRow], threshold: int = DEFAULT_THRESHOLD) -> list[tuple]:
    rows = [m for m in media if m.pdq]
    if len(rows) < 2:
        return []
    index = NearIndex()
    index.add([m.pdq for m in rows], [m.id for m in rows])
    out = {}
    for m in rows:
        for other, dist in index.search([m.pdq], threshold):
            if other != m.id:
                out[_pair(m.id, other)] = dist
    return [("pdq", a, b, float(d), f"near-duplicate pixels (PDQ distance {d})") for (a, b), d in out.items()]


def scene_links(vs: VictimStore, min_inliers: int = 15, top: int = 10) -> list[tuple]:
    """Verified same-scene pairs: each media queried against the case (cost: n queries of
    `top` verifications each, without query expansion: a link must stand on its own pair)."""
    from haven.victimid.search import SceneSearch

    try:
        search = SceneSearch(vs)
    except VictimIdError:
        return []
    out: dict[tuple[int, int], object] = {}
    for media_id in search.index._ids.tolist():
        feats = search.case.features(media_id)
        for hit in search.case.rank(feats, top=top, verify_top=top, exclude={media_id}, expand=False):
            if hit.verified and hit.inliers >= min_inliers:
                key = _pair(media_id, hit.media_id)
                if key not in out or out[key].inliers < hit.inliers:
                    out[key] = hit
    return [("scene", a, b, float(h.inliers), f"same scene ({h.inliers} geometrically consistent feature matches, "
             f"{'planar part' if h.model == 'homography' else '3-D scene'})") for (a, b), h in out.items()]


def face_links(vs: VictimStore) -> list[tuple]:
    from haven.victimid.search import latest_decisions

    confirmed = [p for p, d in latest_decisions(vs).items() if d == "confirm"]
    if not confirmed:
        return []
    with vs.session() as s:
        media_of = dict(s.execute(select(FaceRow.id, FaceRow.media_id)).all())
    out = {}
    for a, b in confirmed:
        ma, mb = media_of.get(a), media_of.get(b)
        if ma and mb and ma != mb:
            out[_pair(ma, mb)] = f"same person (analyst confirmed faces #{a} and #{b})"
    return [("face", a, b, None, why) for (a, b), why in out.items()]


def build_links(vs: VictimStore, kinds: tuple[str, ...] = LINK_KINDS, *, time_window: float = TIME_WINDOW,
                pdq_threshold: int = DEFAULT_THRESHOLD, scene_inliers: int = 15) -> dict[str, int]:
    """Recompute the links of the given kinds; returns the count per kind."""
    media = vs.all_media()
    found: list[tuple] = []
    if "serial" in kinds or "time" in kinds:
        found += [l for l in metadata_links(media, time_window) if l[0] in kinds]
    if "pdq" in kinds:
        found += pdq_links(media, pdq_threshold)
    if "scene" in kinds:
        found += scene_links(vs, scene_inliers)
    if "face" in kinds:
        found += face_links(vs)
    with vs.session() as s, s.begin():
        s.execute(delete(LinkRow).where(LinkRow.kind.in_(kinds)))
        s.add_all(LinkRow(kind=k, media_a=a, media_b=b, score=sc, detail=why) for k, a, b, sc, why in found)
    counts = {k: 0 for k in kinds}
    for link in found:
        counts[link[0]] += 1
    return counts


def links_of(vs: VictimStore, media_id: int) -> list[LinkRow]:
    with vs.session() as s:
        return list(s.scalars(select(LinkRow).where(
            (LinkRow.media_a == media_id) | (LinkRow.media_b == media_id)).order_by(LinkRow.kind, LinkRow.id)))


def _reasons(links: list[LinkRow], member: int, members: set[int], paths: dict[int, str]) -> list[str]:
    out = []
    for l in links:
        other = l.media_b if l.media_a == member else l.media_a if l.media_b == member else None
        if other is not None and other in members:
            out.append(f"{l.detail} with {paths.get(other, f'#{other}')}")
    return out


def build_series(vs: VictimStore, kinds: tuple[str, ...] = SERIES_KINDS) -> list[SeriesRow]:
    """Replace the automatic series by the connected groups of `kinds` links; analyst series
    and their members are left alone."""
    now = utcnow()
    with vs.session() as s, s.begin():
        auto = list(s.scalars(select(SeriesRow.id).where(SeriesRow.origin == "auto")))
        if auto:
            s.execute(delete(SeriesMemberRow).where(SeriesMemberRow.series_id.in_(auto)))
            s.execute(delete(SeriesRow).where(SeriesRow.id.in_(auto)))
        locked = set(s.scalars(select(SeriesMemberRow.media_id)))
        links = list(s.scalars(select(LinkRow).where(LinkRow.kind.in_(kinds))))
        paths = dict(s.execute(select(MediaRow.id, MediaRow.path)).all())
        parent: dict[int, int] = {}

        def find(i: int) -> int:
            parent.setdefault(i, i)
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for l in links:
            if l.media_a in locked or l.media_b in locked:
                continue
            ra, rb = find(l.media_a), find(l.media_b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
        groups: dict[int, list[int]] = defaultdict(list)
        for m in parent:
            groups[find(m)].append(m)
        made = []
        for n, members in enumerate(sorted(sorted(g) for g in groups.values() if len(g) > 1), start=1):
            series = SeriesRow(name=f"series-{members[0]}", origin="auto", victim_identified=False,
                               created_at=now, updated_at=now)
            s.add(series)
            s.flush()
            mset = set(members)
            for m in members:
                s.add(SeriesMemberRow(series_id=series.id, media_id=m, reasons=_reasons(links, m, mset, paths)))
            made.append(series)
    return made


def list_series(vs: VictimStore) -> list[dict]:
    """Every series with its members and, for each member, why it belongs."""
    with vs.session() as s:
        series = list(s.scalars(select(SeriesRow).order_by(SeriesRow.id)))
        members = s.execute(select(SeriesMemberRow, MediaRow).join(MediaRow, MediaRow.id == SeriesMemberRow.media_id)
                            .order_by(SeriesMemberRow.media_id)).all()
    by: dict[int, list] = defaultdict(list)
    for mem, media in members:
        by[mem.series_id].append({"media_id": media.id, "path": media.path, "sha256": media.sha256,
                                  "reasons": mem.reasons})
    return [{"id": x.id, "name": x.name, "origin": x.origin, "victim_identified": x.victim_identified,
             "members": by.get(x.id, [])} for x in series]


def _get(s, series_id: int) -> SeriesRow:
    row = s.get(SeriesRow, series_id)
    if row is None:
        raise VictimIdError(f"no series #{series_id}; list them with `haven victimid series list`")
    return row


def merge(vs: VictimStore, series_ids: list[int], user: str | None = None, name: str | None = None) -> SeriesRow:
    """Move every member of the other series into the first; the others are removed."""
    if len(set(series_ids)) < 2:
        raise VictimIdError("merge needs at least two different series")
    user = user or default_user()
    with vs.session() as s, s.begin():
        target = _get(s, series_ids[0])
        for other in series_ids[1:]:
            src = _get(s, other)
            for mem in list(s.scalars(select(SeriesMemberRow).where(SeriesMemberRow.series_id == src.id))):
                mem.series_id = target.id
                mem.reasons = [*mem.reasons, f"merged from {src.name} by {user}"]
            target.victim_identified = target.victim_identified or src.victim_identified
            s.flush()
            s.delete(src)
        target.origin, target.updated_at = "analyst", utcnow()
        if name:
            target.name = name
        vs.log(s, user, "series-merge", {"into": target.id, "from": series_ids[1:], "name": target.name})
    return target


def split(vs: VictimStore, series_id: int, media_ids: list[int], user: str | None = None,
          name: str | None = None) -> SeriesRow:
    """Move `media_ids` out of a series into a new analyst series."""
    user = user or default_user()
    with vs.session() as s, s.begin():
        src = _get(s, series_id)
        mems = list(s.scalars(select(SeriesMemberRow).where(SeriesMemberRow.series_id == series_id,
                                                            SeriesMemberRow.media_id.in_(media_ids))))
        if len(mems) != len(set(media_ids)):
            raise VictimIdError(f"not every media given is a member of series #{series_id}")
        now = utcnow()
        new = SeriesRow(name=name or f"{src.name}-split", origin="analyst", victim_identified=False,
                        created_at=now, updated_at=now)
        s.add(new)
        s.flush()
        for mem in mems:
            mem.series_id = new.id
            mem.reasons = [*mem.reasons, f"split from {src.name} by {user}"]
        src.origin, src.updated_at = "analyst", now
        vs.log(s, user, "series-split", {"from": src.id, "to": new.id, "media": sorted(media_ids)})
    return new


def update(vs: VictimStore, series_id: int, *, name: str | None = None, victim_identified: bool | None = None,
           user: str | None = None) -> SeriesRow:
    """Name a series and/or set its victim-identified status."""
    user = user or default_user()
    with vs.session() as s, s.begin():
        row = _get(s, series_id)
        change = {}
        if name is not None:
            row.name, change["name"] = name, name
        if victim_identified is not None:
            row.victim_identified, change["victim_identified"] = victim_identified, victim_identified
        row.origin, row.updated_at = "analyst", utcnow()
        vs.log(s, user, "series-update", {"series": series_id, **change})
    return row


def export_vics(vs: VictimStore, out_path, case_name: str) -> int:
    """VICS 2.0 JSON of every series member (Series = series name, VictimIdentified flag)."""
    import json

    data = list_series(vs)
    status: dict[str, bool] = {}
    findings = []
    with vs.session() as s:
        media = {m.id: m for m in s.scalars(select(MediaRow))}
    for x in data:
        for mem in x["members"]:
            m = media[mem["media_id"]]
            findings.append({"md5": m.md5, "sha1": m.sha1, "sha256": m.sha256, "pdq": m.pdq, "size": m.size,
                             "mime": m.mime, "media": m.media, "path": m.path,
                             "matches": [{"series": x["name"]}]})
            status[m.md5.upper()] = x["victim_identified"]
    count = write_vics_case(findings, out_path, case_name)
    # write_vics_case has no victim-identified field; VICS Media carries "VictimIdentified".
    with open(out_path, encoding="utf-8") as fh:
        doc = json.load(fh)
    for record in doc["value"][0]["Media"]:
        record["VictimIdentified"] = status.get(record["MD5"], False)
    from haven.victimid.timeline import write_json

    write_json(doc, out_path)
    return count
