"""SQLAlchemy 2 tables of a case store (SQLite file `CASE_DIR/case.db` by default)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class HashSet(Base):
    __tablename__ = "hashsets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    known_good: Mapped[bool] = mapped_column(Boolean, default=False)
    format: Mapped[str] = mapped_column(String(20))
    scheme: Mapped[str | None] = mapped_column(String(40))
    source_path: Mapped[str] = mapped_column(Text)
    source_sha256: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)  # bumped on each re-import
    imported_at: Mapped[datetime] = mapped_column(DateTime)
    entry_count: Mapped[int] = mapped_column(Integer, default=0)
    malformed_count: Mapped[int] = mapped_column(Integer, default=0)

    entries: Mapped[list[HashEntryRow]] = relationship(
        back_populates="hashset", cascade="all, delete-orphan", passive_deletes=True
    )


class HashEntryRow(Base):
    __tablename__ = "hash_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    hashset_id: Mapped[int] = mapped_column(ForeignKey("hashsets.id", ondelete="CASCADE"), index=True)
    md5: Mapped[str | None] = mapped_column(String(32), index=True)
    sha1: Mapped[str | None] = mapped_column(String(40), index=True)
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    pdq: Mapped[str | None] = mapped_column(String(64))
    sha512: Mapped[str | None] = mapped_column(String(128))
    category: Mapped[str | None] = mapped_column(String(60))
    scheme: Mapped[str | None] = mapped_column(String(40))
    series: Mapped[str | None] = mapped_column(Text)
    victim_identified: Mapped[bool | None] = mapped_column(Boolean)
    line: Mapped[int | None] = mapped_column(Integer)
    added_at: Mapped[datetime] = mapped_column(DateTime)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)

    hashset: Mapped[HashSet] = relationship(back_populates="entries")


class ImportProblem(Base):
    """A malformed line of a hash-set file, kept so the analyst can fix the source."""

    __tablename__ = "import_problems"

    id: Mapped[int] = mapped_column(primary_key=True)
    hashset_id: Mapped[int] = mapped_column(ForeignKey("hashsets.id", ondelete="CASCADE"), index=True)
    line: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)


class Seizure(Base):
    __tablename__ = "seizures"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)  # root of every item path
    source_path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))  # of a top-level evidence file
    size: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    # size/mtime/ctime/inode of a top-level evidence file when its sha256 was taken
    stamp: Mapped[str | None] = mapped_column(Text)
    history: Mapped[list | None] = mapped_column(JSON)  # earlier sha256/size of a changed file
    # what phone extractions in it record about themselves (device, extraction time), from
    # the last complete walk: [{"path", "kind", "metadata"}]
    extractions: Mapped[list | None] = mapped_column(JSON)


class ItemRow(Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(primary_key=True)
    seizure_id: Mapped[int] = mapped_column(ForeignKey("seizures.id"), index=True)
    path: Mapped[str] = mapped_column(Text, unique=True)
    size: Mapped[int | None] = mapped_column(Integer)
    mime: Mapped[str | None] = mapped_column(String(80))
    media: Mapped[str | None] = mapped_column(String(10))
    extension_mismatch: Mapped[bool] = mapped_column(Boolean, default=False)
    md5: Mapped[str | None] = mapped_column(String(32))
    sha1: Mapped[str | None] = mapped_column(String(40))
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    pdq: Mapped[str | None] = mapped_column(String(64))
    pdq_quality: Mapped[int | None] = mapped_column(Integer)
    pdq_preprocess: Mapped[str | None] = mapped_column(String(80))
    vpdq: Mapped[list | None] = mapped_column(JSON)  # [frame, quality, hex, timestamp] rows
    vpdq_preprocess: Mapped[str | None] = mapped_column(String(80))
    video: Mapped[dict | None] = mapped_column(JSON)
    finding: Mapped[str] = mapped_column(String(20), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[list] = mapped_column(JSON, default=list)
    flags: Mapped[dict] = mapped_column(JSON, default=dict)
    elapsed: Mapped[float | None] = mapped_column(Float)
    # The version of the item analysed (`haven.evidence.base.Item.stamp` as canonical JSON):
    # a rescan skips the item while it is unchanged. None in cases made before stamps were
    # kept, and for rows standing for a walker problem: re-analysed on the next scan.
    stamp: Mapped[str | None] = mapped_column(Text)
    analysed_at: Mapped[datetime | None] = mapped_column(DateTime)
    # SHA-512 when the scan computed it (only when the case's lists held a SHA-512 value:
    # `haven.signals.types.sha512`); NULL otherwise, and in cases made before it was kept.
    # Last, as `ALTER TABLE ... ADD COLUMN` puts it in an upgraded case.
    sha512: Mapped[str | None] = mapped_column(String(128))

    matches: Mapped[list[MatchRow]] = relationship(
        back_populates="item", cascade="all, delete-orphan", order_by="MatchRow.id"
    )


class MatchRow(Base):
    __tablename__ = "matches"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    hashset_id: Mapped[int] = mapped_column(ForeignKey("hashsets.id"))
    entry_id: Mapped[int] = mapped_column(Integer)
    signal_type: Mapped[str] = mapped_column(String(20))
    distance: Mapped[int] = mapped_column(Integer, default=0)
    # Copied from the entry so a finding keeps its evidence if the hash set is re-imported.
    hashset: Mapped[str] = mapped_column(String(200))
    # The set's version this match was found (or last confirmed) against; None in case stores
    # written before versions were recorded on matches.
    hashset_version: Mapped[int | None] = mapped_column(Integer)
    known_good: Mapped[bool] = mapped_column(Boolean, default=False)
    category: Mapped[str | None] = mapped_column(String(60))
    scheme: Mapped[str | None] = mapped_column(String(40))
    series: Mapped[str | None] = mapped_column(Text)
    matched_signal: Mapped[str | None] = mapped_column(Text)  # e.g. "pdq-c84", or a video span
    query_share: Mapped[float | None] = mapped_column(Float)  # vPDQ: share of the item's frames matched
    known_share: Mapped[float | None] = mapped_column(Float)  # vPDQ: share of the known video's frames

    item: Mapped[ItemRow] = relationship(back_populates="matches")


class ItemQueries(Base):
    """The PDQ hashes an item is searched with (an image's query hashes, a video's frame
    hashes), kept so a change of hash sets re-matches it without reading the evidence again.

    `id` only grows (AUTOINCREMENT): the case's query index (`haven.match.queryindex`) takes
    in the rows above the highest id it has indexed."""

    __tablename__ = "item_queries"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    codes: Mapped[bytes] = mapped_column(LargeBinary)  # n x 32 bytes, packed PDQ bits
    source: Mapped[str] = mapped_column(String(10))  # query | frames | pdq (older case stores)


class MatchedSet(Base):
    """Which state of a hash set the case's findings were last matched against."""

    __tablename__ = "matched_sets"

    hashset_id: Mapped[int] = mapped_column(
        ForeignKey("hashsets.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[datetime] = mapped_column(DateTime)  # of that version
    # national library sets: highest library entry id taken in (ids there are never reused)
    max_entry_id: Mapped[int] = mapped_column(Integer, default=0)
    matched_at: Mapped[datetime] = mapped_column(DateTime)


class FindingChange(Base):
    """A finding that changed after the scan (re-matching), with why: the item's history."""

    __tablename__ = "finding_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    changed_at: Mapped[datetime] = mapped_column(DateTime)
    cause: Mapped[str] = mapped_column(String(20))  # rematch | rescan
    old_finding: Mapped[str] = mapped_column(String(20))
    new_finding: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    # rescan: the superseded finding's content (digests, matches, stamp...), since the item's
    # row now holds the new content; see `haven.scan.pipeline._earlier`
    earlier: Mapped[dict | None] = mapped_column(JSON)


Index("ix_items_finding_path", ItemRow.finding, ItemRow.path)
# exact re-matching looks items up by digest; rematch finds the matches of an entry
Index("ix_items_md5", ItemRow.md5)
Index("ix_items_sha1", ItemRow.sha1)
Index("ix_items_sha512", ItemRow.sha512)
Index("ix_matches_entry", MatchRow.hashset_id, MatchRow.entry_id)
