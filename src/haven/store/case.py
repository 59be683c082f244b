"""The case store: one SQLite database per case directory, through SQLAlchemy 2."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import create_engine, delete, event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from haven.errors import CaseStoreError
from haven.hashsets.model import ImportResult
from haven.store.models import Base, HashEntryRow, HashSet, ImportProblem, ItemRow

DB_NAME = "case.db"


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    # WAL + NORMAL: a killed scan loses at most the batch being written, never the file.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1024 * 1024):
            h.update(chunk)
    return h.hexdigest()


def source_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a hash-set source: the file, or for a directory of files (vPDQ sets) the
    SHA-256 of its sorted `sha256  relative/path` lines."""
    root = Path(path)
    if root.is_file():
        return file_sha256(root)
    lines = [
        f"{file_sha256(p)}  {p.relative_to(root).as_posix()}\n"
        for p in sorted(root.rglob("*")) if p.is_file()
    ]
    return hashlib.sha256("".join(lines).encode()).hexdigest()


class CaseStore:
    """A case directory and its database; create it with `CaseStore(dir, create=True)`."""

    def __init__(self, case_dir: str | os.PathLike, create: bool = False, url: str | None = None):
        self.dir = Path(case_dir)
        if not self.dir.exists():
            if not create:
                raise CaseStoreError(
                    f"case directory {self.dir} does not exist; create it by importing a hash set "
                    "or running a scan with --case"
                )
            self.dir.mkdir(parents=True)
        elif not self.dir.is_dir():
            raise CaseStoreError(f"{self.dir} is not a directory")
        self.url = url or f"sqlite:///{self.dir / DB_NAME}"
        self.engine: Engine = create_engine(self.url)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        Base.metadata.create_all(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        return self.sessions()

    def close(self) -> None:
        self.engine.dispose()

    # -- hash sets -------------------------------------------------------------------------

    def import_hashset(
        self,
        result: ImportResult,
        *,
        name: str,
        source_path: str,
        known_good: bool,
    ) -> HashSet:
        """Store an imported hash set; a set of the same name is replaced (version + 1)."""
        now = utcnow()
        with self.session() as s, s.begin():
            old = s.scalar(select(HashSet).where(HashSet.name == name))
            version = 1
            if old is not None:
                version = old.version + 1
                s.execute(delete(HashEntryRow).where(HashEntryRow.hashset_id == old.id))
                s.execute(delete(ImportProblem).where(ImportProblem.hashset_id == old.id))
                hs = old
            else:
                hs = HashSet(name=name)
                s.add(hs)
            hs.known_good = known_good
            hs.format = result.format
            hs.scheme = result.scheme
            hs.source_path = str(Path(source_path).resolve())
            hs.source_sha256 = source_sha256(source_path)
            hs.version = version
            hs.imported_at = now
            hs.entry_count = len(result.entries)
            hs.malformed_count = len(result.malformed)
            s.flush()
            rows = [
                {
                    "hashset_id": hs.id,
                    "md5": e.md5,
                    "sha1": e.sha1,
                    "sha256": e.sha256,
                    "pdq": e.pdq,
                    "category": e.category,
                    "scheme": e.scheme or result.scheme,
                    "series": e.series,
                    "victim_identified": e.victim_identified,
                    "line": e.line,
                    "added_at": now,
                    "extra": e.extra,
                }
                for e in result.entries
            ]
            for start in range(0, len(rows), 50_000):
                s.execute(HashEntryRow.__table__.insert(), rows[start : start + 50_000])
            if result.malformed:
                s.execute(
                    ImportProblem.__table__.insert(),
                    [{"hashset_id": hs.id, "line": m.line, "reason": m.reason} for m in result.malformed],
                )
        return hs

    def hashsets(self) -> list[HashSet]:
        with self.session() as s:
            return list(s.scalars(select(HashSet).order_by(HashSet.name)))

    def import_problems(self, name: str) -> list[ImportProblem]:
        with self.session() as s:
            return list(
                s.scalars(
                    select(ImportProblem)
                    .join(HashSet, HashSet.id == ImportProblem.hashset_id)
                    .where(HashSet.name == name)
                    .order_by(ImportProblem.line)
                )
            )

    def item_count(self) -> int:
        with self.session() as s:
            return s.scalar(select(func.count(ItemRow.id))) or 0
