"""What a case's victim-identification index holds, read item by item for the pages.

The service's pages call these instead of querying the index's tables, so the tables can
change behind one module. Rows come back detached from their session (read, never written).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from haven.victimid.models import (FaceRow, MediaRow, OcrRow, SceneRow, SeriesMemberRow,
                                   SeriesRow, ThumbRow)
from haven.victimid.store import VictimStore


@dataclass
class MediaDetail:
    """One item's OCR text, faces and series memberships (with the reasons it belongs)."""

    text: OcrRow | None
    faces: list[FaceRow] = field(default_factory=list)
    series: list[tuple[SeriesRow, list]] = field(default_factory=list)


def media(vs: VictimStore, media_id: int) -> MediaRow | None:
    """The indexed item, or None when the case's index does not hold it."""
    with vs.session() as s:
        return s.get(MediaRow, media_id)


def face(vs: VictimStore, face_id: int) -> FaceRow | None:
    """The detected face, or None."""
    with vs.session() as s:
        return s.get(FaceRow, face_id)


def media_detail(vs: VictimStore, media_id: int) -> MediaDetail:
    """OCR text, faces (in detection order) and series of one item."""
    with vs.session() as s:
        text = s.get(OcrRow, media_id)
        faces = list(s.scalars(select(FaceRow).where(FaceRow.media_id == media_id)
                               .order_by(FaceRow.id)))
        series = [tuple(r) for r in s.execute(
            select(SeriesRow, SeriesMemberRow.reasons)
            .join(SeriesMemberRow, SeriesMemberRow.series_id == SeriesRow.id)
            .where(SeriesMemberRow.media_id == media_id)).all()]
    return MediaDetail(text, faces, series)


def has_scene_features(vs: VictimStore, media_id: int) -> bool:
    """Whether the scene part of `haven index` stored features for the item."""
    with vs.session() as s:
        return s.get(SceneRow, media_id) is not None


def paths_of(vs: VictimStore, media_ids: list[int]) -> dict[int, str]:
    """media id → path inside the evidence, for the ids the index holds."""
    if not media_ids:
        return {}
    with vs.session() as s:
        return dict(s.execute(select(MediaRow.id, MediaRow.path)
                              .where(MediaRow.id.in_(media_ids))).all())


def thumbs_by_path(vs: VictimStore, paths: list[str]) -> dict[str, dict]:
    """path → {media_id, width, height} of the indexed items among `paths` with a thumbnail."""
    if not paths:
        return {}
    with vs.session() as s:
        rows = s.execute(select(MediaRow.path, MediaRow.id, ThumbRow.width, ThumbRow.height)
                         .join(ThumbRow, ThumbRow.media_id == MediaRow.id)
                         .where(MediaRow.path.in_(paths))).all()
    return {r.path: {"media_id": r.id, "width": r.width, "height": r.height} for r in rows}


def thumb_sizes(vs: VictimStore, media_ids: list[int]) -> dict[int, dict]:
    """media id → {media_id, width, height} of the items among `media_ids` with a thumbnail."""
    if not media_ids:
        return {}
    with vs.session() as s:
        rows = s.execute(select(ThumbRow.media_id, ThumbRow.width, ThumbRow.height)
                         .where(ThumbRow.media_id.in_(media_ids))).all()
    return {r.media_id: {"media_id": r.media_id, "width": r.width, "height": r.height}
            for r in rows}


def search_text(vs: VictimStore, query: str, limit: int = 50) -> list:
    """Full-text search of the words read in the case's images (needs `vs.fts`)."""
    from haven.victimid.ocr import search

    with vs.engine.connect() as conn:
        return search(conn, query, limit)
