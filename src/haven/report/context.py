"""What victim identification found about each item, read for the report (never written).

When the case was indexed (`haven index`), the fresh list can be ordered by what helps an
analyst: pictures of the same place as known material (a verified scene link, or a series
that holds known material) first, then those taken by a camera that also took known
material, then pictures with faces, then the biggest; and the media are drawn on a timeline
of their EXIF times (file times for the rest).
A case that was never indexed gives an empty context and the report says so.
"""

from __future__ import annotations

import base64
import io
from collections import Counter

from haven.store.case import CaseStore

#: Thumbnails embedded by `haven report --thumbnails` at most (the file stays openable).
THUMB_LIMIT = 1000
THUMB_SIDE = 128
VI_MEDIA = "vi_media"  # haven.victimid.models.MediaRow's table


def victim_context(store: CaseStore) -> dict[str, dict]:
    """path -> {"media_id", "faces", "camera", "serial", "taken", "series", "scene"} per indexed item.

    `series`: (id, name) of the series the item is in, or None; `scene`: paths of the media a
    verified same-place (`scene`) link joins it to. {} if the case was never indexed."""
    # checked by name first: a plain scan's report must load no victim-identification code
    if not store.db.execute("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' "
                            "AND name = ?)", (VI_MEDIA,)).fetchone()[0]:
        return {}
    from sqlalchemy import func, select

    from haven.victimid.models import FaceRow, LinkRow, MediaRow, SeriesMemberRow, SeriesRow
    out: dict[str, dict] = {}
    with store.session() as s:
        faces = Counter(dict(s.execute(
            select(FaceRow.media_id, func.count(FaceRow.id)).group_by(FaceRow.media_id)).all()))
        series = {mid: (sid, name) for mid, sid, name in s.execute(
            select(SeriesMemberRow.media_id, SeriesRow.id, SeriesRow.name)
            .join(SeriesRow, SeriesRow.id == SeriesMemberRow.series_id))}
        scene: dict[int, list[int]] = {}
        for a, b in s.execute(select(LinkRow.media_a, LinkRow.media_b).where(LinkRow.kind == "scene")):
            scene.setdefault(a, []).append(b)
            scene.setdefault(b, []).append(a)
        path_of: dict[int, str] = {}
        for r in s.execute(select(MediaRow.id, MediaRow.path, MediaRow.body_serial, MediaRow.make,
                                  MediaRow.model, MediaRow.captured_local, MediaRow.captured_utc)):
            camera = " ".join(x for x in (r.make, r.model) if x)
            if r.body_serial:
                camera = f"{camera} #{r.body_serial}".strip()
            taken = r.captured_local or (r.captured_utc.isoformat(timespec="seconds") + "Z"
                                         if r.captured_utc else None)
            path_of[r.id] = r.path
            out[r.path] = {"media_id": r.id, "faces": faces.get(r.id, 0), "camera": camera or None,
                           "serial": r.body_serial, "taken": taken, "series": series.get(r.id),
                           "scene": scene.get(r.id, [])}
    for info in out.values():
        info["scene"] = sorted(path_of[m] for m in info["scene"] if m in path_of)
    return out


def embedded_thumbnails(store: CaseStore, paths: list[str], context: dict[str, dict],
                        limit: int = THUMB_LIMIT) -> dict[str, str]:
    """path -> base64 small greyscale JPEG of the first `limit` of `paths` with a thumbnail.

    Greyscale here already; the page blurs them until clicked. Only what `haven index` stored
    (part `thumbs`) is used: the report never reads the evidence.
    """
    from PIL import Image
    from sqlalchemy import inspect, select

    from haven.victimid.models import ThumbRow

    if not context or not inspect(store.engine).has_table(ThumbRow.__tablename__):
        return {}
    wanted = {context[p]["media_id"]: p for p in [p for p in paths if p in context][:limit]}
    out: dict[str, str] = {}
    with store.session() as s:
        ids = list(wanted)
        for start in range(0, len(ids), 500):
            for mid, jpeg in s.execute(select(ThumbRow.media_id, ThumbRow.jpeg)
                                       .where(ThumbRow.media_id.in_(ids[start:start + 500]))):
                img = Image.open(io.BytesIO(jpeg), formats=["JPEG"]).convert("L")
                img.thumbnail((THUMB_SIDE, THUMB_SIDE))
                buf = io.BytesIO()
                img.save(buf, "JPEG", quality=70)
                out[wanted[mid]] = base64.b64encode(buf.getvalue()).decode("ascii")
    order = {p: i for i, p in enumerate(paths)}
    return dict(sorted(out.items(), key=lambda kv: order[kv[0]]))
