"""Links between media and the series built from them.

A link is one piece of evidence that two media belong together, kept with a sentence saying
why: `pdq` (near-duplicate pixels), `scene` (geometrically verified same place), `face`
(a face pair an analyst confirmed), `serial` (same camera body serial), `time` (captured
within seconds of each other by the same camera model). Series are connected groups over the
link kinds chosen (`SERIES_KINDS`; capture time alone is too weak to join a series), with one
guard against chaining (`join_groups`): a weak link (a scene link short of twice its model's
threshold, a PDQ distance above `PDQ_STRONG`) adds one view to a group but never fuses two
groups on its own; a second, independent link between the same groups is needed.

Scene links (`scene_links`) compare every media with its `SERIES_SHORTLIST` nearest views by
global vector (and a query-expanded second shortlist), each pair verified once by the same
geometric check as the search; the reason names the model and its inliers.

Analyst edits win: a series that was merged, split, named or marked identified becomes
`origin="analyst"` and `build_series` never touches it or its members again.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select

from haven.disjoint import DisjointSets
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


SERIES_SHORTLIST = 30  # views per media verified for scene links (nearest by global vector)
SERIES_LOCAL = 20  # views per media verified for scene links (nearest by shared visual words)
STRONG_FACTOR = 2  # a scene link this many times over its model's threshold is "strong"
# Weak scene links: short of what a search verifies with (15 homography / 24 fundamental-matrix
# inliers) but above every chance pair measured: 43,038 comparisons of a real place's photo
# with an unrelated one reached 8 homography / 14 fundamental-matrix inliers at most
# (docs/benchmarks.md). They join series under `join_groups`' guard and say they are weak.
WEAK_H_INLIERS = 12
WEAK_F_INLIERS = 16
_FEATURE_CACHE = 512  # stored features kept in memory while linking (~0.8 MB each with RootSIFT)


@dataclass
class SceneLinkStats:
    """What `scene_links` did: media queried, pairs verified, links found, CPU seconds."""

    media: int = 0
    verified_pairs: int = 0
    links: int = 0
    weak_links: int = 0  # of `links`: short of a search's verification (see WEAK_*_INLIERS)
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0

    @property
    def ms_per_media(self) -> float:
        return 1000 * self.wall_seconds / self.media if self.media else 0.0


def scene_link_reason(v: "scene.Verification", weak_h: int = WEAK_H_INLIERS) -> str:
    """The sentence a scene link keeps: the model, its inliers and the other model's count;
    an unverified (weak) pair says so and names the model that carried it."""
    planar = v.model == "homography" or (v.model is None and v.h_inliers >= weak_h)
    if planar and v.model is not None:  # the fundamental matrix is not fitted once a homography holds
        what = f"planar part: homography, {v.h_inliers} inliers"
    elif planar:
        what = f"planar part: homography, {v.h_inliers} inliers; fundamental matrix {v.f_inliers}"
    else:
        what = f"3-D scene: fundamental matrix, {v.f_inliers} inliers; homography {v.h_inliers}"
    n = v.h_inliers if planar else v.f_inliers
    if v.model is None:
        return (f"weak same-scene evidence ({n} geometrically consistent feature matches of {v.matches}, {what}; "
                "short of what a search verifies, above every chance pair measured)")
    return f"same scene ({n} geometrically consistent feature matches of {v.matches}, {what})"


def scene_links(vs: VictimStore, min_inliers: int | None = None, shortlist: int = SERIES_SHORTLIST,
                stats: SceneLinkStats | None = None, weak_h: int = WEAK_H_INLIERS,
                weak_f: int = WEAK_F_INLIERS, min_f_inliers: int | None = None,
                local: int = SERIES_LOCAL) -> list[tuple]:
    """Verified same-scene pairs of the case.

    Every media is compared with its `shortlist` nearest views by global (VLAD) vector, its
    `local` nearest by shared visual words (the inverted file, when the case has one), and
    with the views nearest to its vector averaged with its verified neighbours' (query
    expansion: the far end of a room reached through the middle). Each pair is verified
    once, whichever end reaches it, with the same geometric check as the search (homography
    or fundamental matrix, MAGSAC++), and no link stands on anything but its own pair's
    geometry. Pairs short of verification but with at least `weak_h` homography or `weak_f`
    fundamental-matrix inliers become weak links (their reason says so). Cost: about
    `shortlist` verifications per media (~5-10 ms each on one core)."""
    import time

    import numpy as np

    from haven.victimid import scene
    from haven.victimid.search import StoreScenes

    stats = stats if stats is not None else SceneLinkStats()
    t_wall, t_cpu = time.perf_counter(), time.process_time()
    try:
        store = StoreScenes(vs)
    except VictimIdError:
        return []
    min_inliers = min_inliers or scene.MIN_INLIERS
    min_f_inliers = min_f_inliers or scene.MIN_F_INLIERS
    cache: OrderedDict[int, scene.Features] = OrderedDict()

    def features(media_id: int) -> scene.Features:
        f = cache.pop(media_id, None)
        if f is None:
            f = store.features(media_id)
            if len(cache) >= _FEATURE_CACHE:
                cache.popitem(last=False)
        cache[media_id] = f
        return f

    checked: dict[tuple[int, int], scene.Verification] = {}
    neighbours: dict[int, set[int]] = defaultdict(set)

    def check(a: int, b: int) -> None:
        key = _pair(a, b)
        if key in checked or a == b:
            return
        v = scene.verify(features(a), features(b), min_inliers=min_inliers, min_f_inliers=min_f_inliers,
                         min_matches=min(min_inliers, min_f_inliers, weak_h, weak_f))
        checked[key] = v
        if v.verified:
            neighbours[a].add(b)
            neighbours[b].add(a)

    ids = [int(i) for i in store.index._ids.tolist()]
    vectors = {}
    for media_id in ids:
        vec = store.index.vector(media_id)
        if vec is None or not np.any(vec):
            continue
        vectors[media_id] = vec
        for other, _sim in store.index.search(vec, shortlist + 1):
            check(media_id, other)
    # The inverted file's nearest (visual words shared): views the global vector ranks far down.
    if store.inverted is not None and local > 0:
        for media_id, words in store.words_of(ids).items():
            for other, _score in store.inverted.search(words, local + 1):
                check(media_id, other)
    # Query expansion: the query's vector averaged with its verified neighbours' finds views
    # that share little with it but much with them; half the shortlist more per media.
    for media_id, vec in vectors.items():
        near = [vectors[n] for n in sorted(neighbours[media_id]) if n in vectors][:3]
        if not near:
            continue
        ev = vec + np.sum(near, axis=0)
        ev /= max(float(np.linalg.norm(ev)), 1e-12)
        for other, _sim in store.index.search(ev, shortlist // 2 + 1 + len(near)):
            check(media_id, other)
    out = []
    for (a, b), v in checked.items():
        if v.verified:
            out.append(("scene", a, b, float(v.inliers), scene_link_reason(v, weak_h)))
        elif v.h_inliers >= weak_h or v.f_inliers >= weak_f:
            n = v.h_inliers if v.h_inliers >= weak_h else v.f_inliers
            out.append(("scene", a, b, float(n), scene_link_reason(v, weak_h)))
            stats.weak_links += 1
    stats.media += len(ids)
    stats.verified_pairs += len(checked)
    stats.links += len(out)
    stats.cpu_seconds += time.process_time() - t_cpu
    stats.wall_seconds += time.perf_counter() - t_wall
    return out


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
                pdq_threshold: int = DEFAULT_THRESHOLD, scene_inliers: int | None = None,
                scene_stats: SceneLinkStats | None = None) -> dict[str, int]:
    """Recompute the links of the given kinds; returns the count per kind (`scene_stats`,
    when given, receives what the scene linking cost)."""
    media = vs.all_media()
    found: list[tuple] = []
    if "serial" in kinds or "time" in kinds:
        found += [l for l in metadata_links(media, time_window) if l[0] in kinds]
    if "pdq" in kinds:
        found += pdq_links(media, pdq_threshold)
    if "scene" in kinds:
        found += scene_links(vs, scene_inliers, stats=scene_stats)
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


PDQ_STRONG = 16  # PDQ distance at most this: a strong link (near-blank photos cluster above it)


def weak_scene_link(link: LinkRow) -> bool:
    """A scene link short of a search's verification (`scene_link_reason` says "weak")."""
    return link.kind == "scene" and link.detail.startswith("weak")


def strong_link(link: LinkRow) -> bool:
    """A link that may join two series on its own: serial, confirmed face, a PDQ distance of
    at most `PDQ_STRONG`, or a verified (not weak) scene link with `STRONG_FACTOR` times its model's threshold of
    inliers (chance pairs of real photographs reached 8 homography / 15 fundamental-matrix
    inliers, docs/benchmarks.md)."""
    from haven.victimid import scene

    if link.kind == "scene":
        if weak_scene_link(link):  # short of a search's verification: never strong
            return False
        threshold = scene.MIN_INLIERS if "planar part" in link.detail else scene.MIN_F_INLIERS
        return (link.score or 0) >= STRONG_FACTOR * threshold
    if link.kind == "pdq":
        return link.score is not None and link.score <= PDQ_STRONG
    return True


def _independent(ends: set[int], other: set[int], tied) -> bool:
    """Two weak links between the same two groups are two paths when they share no view, or
    when they share one view that is `tied` to its own group by a verified link and end at two
    different views of the other group (a chance photo matching two different photos of one
    place is as unlikely as two unrelated chance links)."""
    shared = ends & other
    if not shared:
        return True
    return len(shared) == 1 and ends != other and tied(next(iter(shared)))


def join_groups(links: list[LinkRow], locked: set[int] = frozenset()) -> list[list[int]]:
    """Connected groups over `links` (pure), with a guard against chaining: a weak link
    (`strong_link` false) adds a single view to a group, but joins two groups of two or more
    views only when a second weak link joins the same two groups by another path (sharing no
    view with the first, or sharing one view that a verified link ties to its own group and
    ending at another view of the other group: `_independent`), so one chance match between a
    distractor and two places cannot fuse the places. Strong links join anything. Media in `locked` are left out."""
    sets = DisjointSets()
    find, union, size = sets.find, sets.union, sets.size

    usable = [l for l in links if l.media_a not in locked and l.media_b not in locked]
    verified_to: dict[int, list[int]] = defaultdict(list)  # views each view is verified-linked to
    for l in usable:
        if strong_link(l) or (l.kind == "scene" and not weak_scene_link(l)):
            verified_to[l.media_a].append(l.media_b)
            verified_to[l.media_b].append(l.media_a)

    def tied(view: int) -> bool:
        """`view` holds its place in its group by a verified link (not by weak links alone)."""
        return any(find(o) == find(view) for o in verified_to.get(view, ()))

    weak = []
    for l in usable:
        find(l.media_a), find(l.media_b)
        if strong_link(l):
            ra, rb = find(l.media_a), find(l.media_b)
            if ra != rb:
                union(ra, rb)
        else:
            weak.append(l)
    weak.sort(key=lambda l: -(l.score or 0) if l.kind == "scene" else (l.score or 0))
    changed = True
    while changed:
        changed = False
        bridges: dict[tuple[int, int], list[LinkRow]] = defaultdict(list)
        for l in weak:
            ra, rb = find(l.media_a), find(l.media_b)
            if ra == rb:
                continue
            if size[ra] == 1 or size[rb] == 1:
                union(ra, rb)
                changed = True
                continue
            key = _pair(ra, rb)
            ends = {l.media_a, l.media_b}
            if any(_independent(ends, {o.media_a, o.media_b}, tied) for o in bridges[key]):
                union(ra, rb)
                changed = True
                continue
            bridges[key].append(l)
    return sorted(sorted(g) for g in sets.groups() if len(g) > 1)


def build_series(vs: VictimStore, kinds: tuple[str, ...] = SERIES_KINDS) -> list[SeriesRow]:
    """Replace the automatic series by the groups `join_groups` makes of the `kinds` links;
    analyst series and their members are left alone."""
    now = utcnow()
    with vs.session() as s, s.begin():
        auto = list(s.scalars(select(SeriesRow.id).where(SeriesRow.origin == "auto")))
        if auto:
            s.execute(delete(SeriesMemberRow).where(SeriesMemberRow.series_id.in_(auto)))
            s.execute(delete(SeriesRow).where(SeriesRow.id.in_(auto)))
        locked = set(s.scalars(select(SeriesMemberRow.media_id)))
        links = list(s.scalars(select(LinkRow).where(LinkRow.kind.in_(kinds)).order_by(LinkRow.id)))
        paths = dict(s.execute(select(MediaRow.id, MediaRow.path)).all())
        made = []
        for members in join_groups(links, locked):
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
