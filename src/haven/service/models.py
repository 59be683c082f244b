"""The service's own tables (SQLAlchemy 2). Alembic migrations in `migrations/` create them.

Table names are prefixed `svc_` so the service can share a PostgreSQL database with nothing
else colliding. Times are naive UTC.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint, false as sa_false, true)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


ROLES = ("coordinator", "liaison", "analyst", "lookup")


class User(Base):
    __tablename__ = "svc_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(20))
    country: Mapped[str | None] = mapped_column(String(2))      # liaison only
    case_id: Mapped[int | None] = mapped_column(ForeignKey("svc_cases.id"))  # analyst only
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    # Wellness: how media views start for this user (blurred and greyscale unless turned off;
    # every clear view is audited either way).
    blur_media: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    grey_media: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class SessionToken(Base):
    __tablename__ = "svc_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("svc_users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class ApiKey(Base):
    __tablename__ = "svc_api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(20), default="lookup")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


class Case(Base):
    __tablename__ = "svc_cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    directory: Mapped[str] = mapped_column(Text)  # a haven case directory (case.db)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class UnblurGrant(Base):
    """A viewer deliberately unblurred one media item of a case (audited): for this session
    and until `expires_at`, that item's pictures are sent clear."""

    __tablename__ = "svc_unblur_grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("svc_users.id", ondelete="CASCADE"))
    session_hash: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int] = mapped_column(ForeignKey("svc_cases.id", ondelete="CASCADE"))
    media_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class Operation(Base):
    __tablename__ = "svc_operations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[int] = mapped_column(ForeignKey("svc_users.id"))


class Package(Base):
    """One country's referral package inside an operation, and where it is in the workflow."""

    __tablename__ = "svc_packages"
    # One package per country per operation; also what makes two concurrent attaches safe.
    __table_args__ = (UniqueConstraint("operation_id", "country"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    operation_id: Mapped[int] = mapped_column(ForeignKey("svc_operations.id"), index=True)
    country: Mapped[str] = mapped_column(String(2), index=True)
    storage: Mapped[str] = mapped_column(Text)          # folder name under packages_dir
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    signer_key_id: Mapped[str | None] = mapped_column(String(80))
    subject_count: Mapped[int] = mapped_column(Integer, default=0)
    record_count: Mapped[int] = mapped_column(Integer, default=0)
    has_archive: Mapped[bool] = mapped_column(Boolean, default=False)
    imported_at: Mapped[datetime] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    downloaded_at: Mapped[datetime | None] = mapped_column(DateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime)
    outcomes_at: Mapped[datetime | None] = mapped_column(DateTime)


class Subject(Base):
    __tablename__ = "svc_subjects"
    __table_args__ = (UniqueConstraint("package_id", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("svc_packages.id"), index=True)
    subject_id: Mapped[str] = mapped_column(String(80))
    country: Mapped[str] = mapped_column(String(2))     # the package's country
    confidence: Mapped[float | None]
    names: Mapped[list] = mapped_column(JSON, default=list)
    shared_with: Mapped[list] = mapped_column(JSON, default=list)


class Identifier(Base):
    """A subject's identifier as a keyed hash (HMAC-SHA256), never the value itself."""

    __tablename__ = "svc_identifiers"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_row_id: Mapped[int] = mapped_column(ForeignKey("svc_subjects.id"), index=True)
    country: Mapped[str] = mapped_column(String(2))
    kind: Mapped[str] = mapped_column(String(20))       # email | phone | ip | card | media
    digest: Mapped[str] = mapped_column(String(64), index=True)


class Overlap(Base):
    """Two subjects of different countries sharing an identifier kind (deconfliction)."""

    __tablename__ = "svc_overlaps"
    __table_args__ = (UniqueConstraint("subject_a", "subject_b", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_a: Mapped[int] = mapped_column(ForeignKey("svc_subjects.id"), index=True)
    country_a: Mapped[str] = mapped_column(String(2))
    subject_b: Mapped[int] = mapped_column(ForeignKey("svc_subjects.id"), index=True)
    country_b: Mapped[str] = mapped_column(String(2))
    kind: Mapped[str] = mapped_column(String(20))
    found_at: Mapped[datetime] = mapped_column(DateTime)


class Outcome(Base):
    """What a country reported: per subject (subject_row_id set) or in total (null)."""

    __tablename__ = "svc_outcomes"

    id: Mapped[int] = mapped_column(primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("svc_packages.id"), index=True)
    subject_row_id: Mapped[int | None] = mapped_column(ForeignKey("svc_subjects.id"))
    searches: Mapped[int] = mapped_column(Integer, default=0)
    arrests: Mapped[int] = mapped_column(Integer, default=0)
    cases_opened: Mapped[int] = mapped_column(Integer, default=0)
    children_safeguarded: Mapped[int] = mapped_column(Integer, default=0)
    material_seized: Mapped[int] = mapped_column(Integer, default=0)
    notes: Mapped[str] = mapped_column(Text, default="")
    reported_at: Mapped[datetime] = mapped_column(DateTime)
    reported_by: Mapped[int] = mapped_column(ForeignKey("svc_users.id"))


class AuditEntry(Base):
    """Append-only, hash-chained: entry_hash = SHA-256(canonical JSON incl. prev_hash)."""

    __tablename__ = "svc_audit"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    entry_hash: Mapped[str] = mapped_column(String(64))
    # The audit key that MACs this entry (None: an unkeyed entry, plain SHA-256, written
    # before the service was given a key).
    key_id: Mapped[str | None] = mapped_column(String(40))


class AuditHead(Base):
    """One row: the chain's tip. Updating it first serialises concurrent appends."""

    __tablename__ = "svc_audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str | None] = mapped_column(String(40))  # the last entry's key


class LookupHashSet(Base):
    __tablename__ = "svc_hashsets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    format: Mapped[str] = mapped_column(String(40))
    scheme: Mapped[str | None] = mapped_column(String(40))
    known_good: Mapped[bool] = mapped_column(Boolean, default=False)
    source_sha256: Mapped[str | None] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(DateTime)
    entry_count: Mapped[int] = mapped_column(Integer, default=0)
    # Matching controls (issue 15), set by the owner: who imported the set (an actor; None for
    # sets imported from the command line, which any coordinator manages).
    owner: Mapped[str | None] = mapped_column(String(200))
    pdq_threshold: Mapped[int | None] = mapped_column(Integer)  # None: the service's default
    # A negative set holds known false positives: a query matching one of its entries gets no
    # matches from the sets named in `suppresses`; its own entries are never answered.
    negative: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    suppresses: Mapped[list | None] = mapped_column(JSON)
    feed: Mapped[str | None] = mapped_column(String(200))  # where it came from (provenance)


class LookupEntry(Base):
    __tablename__ = "svc_hash_entries"
    # SQLite: ids never reused (migration 0003), so a serving library can apply changes by id
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    hashset_id: Mapped[int] = mapped_column(ForeignKey("svc_hashsets.id", ondelete="CASCADE"),
                                            index=True)
    md5: Mapped[str | None] = mapped_column(String(32))
    sha1: Mapped[str | None] = mapped_column(String(40))
    sha256: Mapped[str | None] = mapped_column(String(64))
    pdq: Mapped[str | None] = mapped_column(String(64))
    sha512: Mapped[str | None] = mapped_column(String(128))  # migration 0007
    category: Mapped[str | None] = mapped_column(String(60))
    source_id: Mapped[str | None] = mapped_column(String(200))   # e.g. an NCMEC image id
    added_at: Mapped[datetime] = mapped_column(DateTime)
    series: Mapped[str | None] = mapped_column(String(200))


class EntryFlag(Base):
    """Feedback on and quarantine of one hash-set entry (a row only once something happened).

    `confirms`/`deconfirms` count the querying parties' latest verdicts (`EntryVote`). An
    entry with `quarantined_at` set is held from every answer until its owner releases it;
    `reason` says why (`flood`: far more distinct queries than its history; `deconfirmed`).
    """

    __tablename__ = "svc_entry_flags"

    entry_id: Mapped[int] = mapped_column(ForeignKey("svc_hash_entries.id", ondelete="CASCADE"),
                                          primary_key=True)
    confirms: Mapped[int] = mapped_column(Integer, default=0)
    deconfirms: Mapped[int] = mapped_column(Integer, default=0)
    quarantined_at: Mapped[datetime | None] = mapped_column(DateTime)
    reason: Mapped[str | None] = mapped_column(String(200))
    released_at: Mapped[datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class EntryVote(Base):
    """One querying party's verdict on a match: `confirm` (true) or `deconfirm` (false)."""

    __tablename__ = "svc_entry_votes"
    __table_args__ = (UniqueConstraint("entry_id", "party"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("svc_hash_entries.id", ondelete="CASCADE"))
    party: Mapped[str] = mapped_column(String(200))
    verdict: Mapped[str] = mapped_column(String(10))
    at: Mapped[datetime] = mapped_column(DateTime)


Index("ix_svc_hash_entries_source", LookupEntry.hashset_id, LookupEntry.source_id)
Index("ix_svc_unblur_grants_lookup", UnblurGrant.session_hash, UnblurGrant.case_id,
      UnblurGrant.media_id)
Index("ix_svc_packages_op_country", Package.operation_id, Package.country)


class LoginThrottle(Base):
    """Failed logins per account name or source address, and the lock they earned.

    `key` is `account:<name as typed>` (also for names that do not exist, so a lock says
    nothing about whether an account does) or `address:<peer IP>`.
    """

    __tablename__ = "svc_login_throttle"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(DateTime)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
