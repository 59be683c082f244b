"""Tables of the victim-identification workspace, stored in the case database.

They live on their own `MetaData` (`VictimIdBase`) so the triage store never depends on them;
`VictimStore` creates them on the case engine. Rows point at triage items by `item_id`
(no foreign key, so indexing may run before or without a scan) and always carry the item's
evidence `path` and `sha256`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, LargeBinary,
                        String, Text, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class VictimIdBase(DeclarativeBase):
    pass


class MediaRow(VictimIdBase):
    """One indexed item and its capture metadata (EXIF / XMP / IPTC / container tags)."""

    __tablename__ = "vi_media"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int | None] = mapped_column(Integer, index=True)  # items.id when scanned
    path: Mapped[str] = mapped_column(Text, unique=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    md5: Mapped[str] = mapped_column(String(32))
    sha1: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    mime: Mapped[str | None] = mapped_column(String(80))
    media: Mapped[str | None] = mapped_column(String(10))  # image / video
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    pdq: Mapped[str | None] = mapped_column(String(64))
    make: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(Text)
    body_serial: Mapped[str | None] = mapped_column(Text, index=True)
    lens: Mapped[str | None] = mapped_column(Text)
    lens_serial: Mapped[str | None] = mapped_column(Text)
    software: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(Text)
    unique_id: Mapped[str | None] = mapped_column(Text)
    captured_local: Mapped[str | None] = mapped_column(String(32))  # ISO, as the camera wrote it
    captured_offset: Mapped[str | None] = mapped_column(String(8))  # "+02:00" when recorded
    captured_utc: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    gps_lat: Mapped[float | None] = mapped_column(Float)
    gps_lon: Mapped[float | None] = mapped_column(Float)
    gps_alt: Mapped[float | None] = mapped_column(Float)
    meta: Mapped[dict] = mapped_column(JSON, default=dict)  # every tag read, by source
    parts: Mapped[dict] = mapped_column(JSON, default=dict)  # {"metadata": true, "scene": ...}
    errors: Mapped[dict] = mapped_column(JSON, default=dict)  # part -> reason
    indexed_at: Mapped[datetime] = mapped_column(DateTime)


class SceneRow(VictimIdBase):
    """Local features of one image: keypoints and descriptors for verification, and its
    aggregated (VLAD) vector for the FAISS index."""

    __tablename__ = "vi_scene"

    media_id: Mapped[int] = mapped_column(ForeignKey("vi_media.id", ondelete="CASCADE"), primary_key=True)
    extractor: Mapped[str] = mapped_column(String(40))
    keypoints: Mapped[bytes] = mapped_column(LargeBinary)  # float32 (n, 2), in the scaled frame
    descriptors: Mapped[bytes] = mapped_column(LargeBinary)  # uint8 (n, 32) for ORB
    vector: Mapped[bytes | None] = mapped_column(LargeBinary)  # float32 global descriptor


class WordVocabularyRow(VictimIdBase):
    """The visual-word vocabulary of a case's inverted file (local-feature shortlist): a
    two-level tree of RootSIFT centroids (`scene.WordVocabulary`)."""

    __tablename__ = "vi_word_vocabulary"

    id: Mapped[int] = mapped_column(primary_key=True)
    extractor: Mapped[str] = mapped_column(String(40))
    top: Mapped[bytes] = mapped_column(LargeBinary)  # float32 (k1, 128)
    leaves: Mapped[bytes] = mapped_column(LargeBinary)  # float32 (words, 128)
    offsets: Mapped[bytes] = mapped_column(LargeBinary)  # int64 (k1 + 1,): leaves of top centroid i
    words: Mapped[int] = mapped_column(Integer)
    trained_on: Mapped[int] = mapped_column(Integer)  # descriptors
    created_at: Mapped[datetime] = mapped_column(DateTime)


class SceneWordsRow(VictimIdBase):
    """The visual words of one image's local features under a word vocabulary (uint16 each,
    one per feature): what the inverted file is built from. Apart from `vi_scene` so the
    cache rebuild reads ~1.5 KB per image, not its ~100-190 KB of descriptors."""

    __tablename__ = "vi_scene_words"

    media_id: Mapped[int] = mapped_column(ForeignKey("vi_media.id", ondelete="CASCADE"), primary_key=True)
    vocabulary_id: Mapped[int] = mapped_column(Integer)
    words: Mapped[bytes] = mapped_column(LargeBinary)


class VocabularyRow(VictimIdBase):
    """The visual vocabulary a case's global scene vectors were computed with."""

    __tablename__ = "vi_vocabulary"

    id: Mapped[int] = mapped_column(primary_key=True)
    extractor: Mapped[str] = mapped_column(String(40))
    centroids: Mapped[bytes] = mapped_column(LargeBinary)  # float32 (k, bits)
    k: Mapped[int] = mapped_column(Integer)
    trained_on: Mapped[int] = mapped_column(Integer)  # descriptors
    created_at: Mapped[datetime] = mapped_column(DateTime)


class FaceRow(VictimIdBase):
    __tablename__ = "vi_faces"

    id: Mapped[int] = mapped_column(primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("vi_media.id", ondelete="CASCADE"), index=True)
    model: Mapped[str] = mapped_column(String(80))  # embedding model id: faces of one id are comparable
    # hog / cnn; None: indexed before the choice (hog). Deferred: a read-only case made before
    # the column existed cannot gain it, and its faces must still load.
    detector: Mapped[str | None] = mapped_column(String(16), deferred=True)
    left: Mapped[int] = mapped_column(Integer)
    top: Mapped[int] = mapped_column(Integer)
    right: Mapped[int] = mapped_column(Integer)
    bottom: Mapped[int] = mapped_column(Integer)
    detector_score: Mapped[float | None] = mapped_column(Float)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)  # float32 (128,)
    cluster: Mapped[int | None] = mapped_column(Integer, index=True)


class FaceDecisionRow(VictimIdBase):
    """An analyst's verdict on a face pair: the same person ("confirm") or not ("reject")."""

    __tablename__ = "vi_face_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    face_a: Mapped[int] = mapped_column(Integer, index=True)  # smaller face id
    face_b: Mapped[int] = mapped_column(Integer, index=True)
    decision: Mapped[str] = mapped_column(String(10))
    user: Mapped[str] = mapped_column(String(120))
    decided_at: Mapped[datetime] = mapped_column(DateTime)
    distance: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)


class OcrRow(VictimIdBase):
    __tablename__ = "vi_ocr"

    media_id: Mapped[int] = mapped_column(ForeignKey("vi_media.id", ondelete="CASCADE"), primary_key=True)
    engine: Mapped[str] = mapped_column(String(80))
    text: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float | None] = mapped_column(Float)


class LinkRow(VictimIdBase):
    """Evidence that two media belong together: kind pdq / scene / face / serial / time."""

    __tablename__ = "vi_links"
    __table_args__ = (UniqueConstraint("kind", "media_a", "media_b"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(12), index=True)
    media_a: Mapped[int] = mapped_column(Integer, index=True)  # smaller media id
    media_b: Mapped[int] = mapped_column(Integer, index=True)
    score: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[str] = mapped_column(Text)  # human reason: "PDQ distance 6", "serial SN1"


class SeriesRow(VictimIdBase):
    __tablename__ = "vi_series"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(10))  # auto (rebuilt) / analyst (kept)
    victim_identified: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class SeriesMemberRow(VictimIdBase):
    __tablename__ = "vi_series_members"

    series_id: Mapped[int] = mapped_column(ForeignKey("vi_series.id", ondelete="CASCADE"), primary_key=True)
    media_id: Mapped[int] = mapped_column(Integer, primary_key=True, unique=True)
    reasons: Mapped[list] = mapped_column(JSON, default=list)


class EventRow(VictimIdBase):
    """Append-only log of analyst actions; each row carries the SHA-256 of the previous one."""

    __tablename__ = "vi_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    user: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


Index("ix_vi_media_serial_time", MediaRow.body_serial, MediaRow.captured_utc)


class ThumbRow(VictimIdBase):
    """A small JPEG of one image (long side <= 320 px) for the analysts' web views.

    Stored clear; every view of it goes through `thumbs.render`, which blurs and greys it
    unless the viewer deliberately (and audited) asked for the clear picture."""

    __tablename__ = "vi_thumbs"

    media_id: Mapped[int] = mapped_column(ForeignKey("vi_media.id", ondelete="CASCADE"), primary_key=True)
    jpeg: Mapped[bytes] = mapped_column(LargeBinary)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
