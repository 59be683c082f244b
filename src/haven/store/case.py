"""The case store: one SQLite database per case directory, through SQLAlchemy 2 and, on the
scan's path, the standard library's `sqlite3` (`haven.store.direct`).

`CaseStore` is the one gate every command goes through to open a case: a directory without
`case.db` is refused ("not a haven case; `haven scan` creates one") unless the command is
one that creates cases (`scan`, `index`, `hashsets import|add-media`), and a case directory
inside the evidence, or evidence inside the case directory, is refused before anything is
written (`keep_apart`). A new case gets the tables of `haven.store.schema` (the statements
SQLAlchemy's `create_all` writes for the models) through `sqlite3`; a case made by an older
haven is grown in place through SQLAlchemy: a column added to a model since is added to its
table when the case is opened (`_add_missing_columns`), so older `case.db` files keep working.
SQLAlchemy itself (`engine`, `session()`) is imported when a command first asks for it: a
scan of a new case without hash sets never does (`store.db`, a `CaseDB`, does its work).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import sqlite3
import weakref
from datetime import datetime, timezone
from pathlib import Path

from typing import TYPE_CHECKING, Iterable, NoReturn
from urllib.parse import quote

from haven import signals
from haven.errors import (
    CaseEvidenceOverlap, CaseStoreError, NotACaseError, ReadOnlyCaseError,
)
from haven.hashsets.model import ImportResult
from haven.store.direct import CaseDB, expected_tables, explain_refusal

if TYPE_CHECKING:
    from sqlalchemy import MetaData
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

    from haven.store.models import HashSet, ImportProblem

DB_NAME = "case.db"
NOT_A_CASE = "not a haven case; `haven scan` creates one"


#: every store opened by this process and not closed yet (weakly: a store dropped is not kept)
_OPEN: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _close_open_stores() -> None:
    """At exit, close the stores still open, so each case's write-ahead log is checkpointed
    into case.db and removed. Done here rather than left to the interpreter's teardown (an
    open store stays reachable from the models' statement caches until then), which a CLI
    process skips (`haven.commandline.end_quickly`)."""
    for store in list(_OPEN):
        store.close()


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _writable(case_dir: Path) -> bool:
    db = case_dir / DB_NAME
    return os.access(case_dir, os.W_OK) and (not db.exists() or os.access(db, os.W_OK))


def _read_only_url(db: Path) -> str:
    """SQLite URL that opens `db` without writing: `immutable=1` when no write-ahead log is
    pending (nothing to replay, and no -shm file can be made on read-only storage), else
    `mode=ro`, which needs the -shm file beside it."""
    wal = db.with_name(db.name + "-wal")
    pending = wal.exists() and wal.stat().st_size > 0
    flags = "mode=ro" if pending else "mode=ro&immutable=1"
    return f"sqlite:///file:{quote(str(db.resolve()))}?{flags}&uri=true"


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


def _real(path: str | os.PathLike) -> Path:
    """The absolute path with every symbolic link resolved (the parts that exist)."""
    return Path(os.path.realpath(os.path.abspath(path)))


def keep_apart(case_dir: str | os.PathLike, evidence: Iterable[str | os.PathLike]) -> None:
    """Raise `CaseEvidenceOverlap` when the case directory and an evidence path overlap.

    A case inside the evidence would write into it (and be read back as evidence); evidence
    inside the case directory would be scanned together with the case's own files. Links
    are resolved first, so neither can be reached through a symbolic link either.
    """
    case = _real(case_dir)
    for ev in evidence:
        source = _real(ev)
        if case == source or case.is_relative_to(source):
            raise CaseEvidenceOverlap(
                f"case directory {case_dir} is inside the evidence {ev}: nothing is ever "
                "written into evidence; give a case directory outside it"
            )
        if source.is_relative_to(case):
            raise CaseEvidenceOverlap(
                f"evidence {ev} is inside the case directory {case_dir}: keep evidence and "
                "cases apart (move the evidence, or give another case directory)"
            )


def _add_missing_columns(engine: Engine, metadata: MetaData) -> None:
    """Add to existing tables the (nullable) columns the models gained since the case was made."""
    from sqlalchemy import inspect, text

    found = inspect(engine)
    tables = set(found.get_table_names())
    for table in metadata.sorted_tables:
        if table.name not in tables:
            continue
        have = {c["name"] for c in found.get_columns(table.name)}
        missing = [c for c in table.columns if c.name not in have]
        if not missing:
            continue
        with engine.begin() as conn:
            for column in missing:
                kind = column.type.compile(dialect=engine.dialect)
                conn.execute(text(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}'))


class CaseStore:
    """A case directory and its database; create it with `CaseStore(dir, create=True)`.

    The one place a case is opened (see the module docstring): `evidence` are the evidence
    paths the command is about to read, refused when they overlap the case directory.
    `db` is the database through `sqlite3` (`haven.store.direct.CaseDB`); `engine` and
    `session()` the same database through SQLAlchemy, made when first used.
    """

    def __init__(self, case_dir: str | os.PathLike, create: bool = False,
                 evidence: Iterable[str | os.PathLike] = ()):
        self.dir = Path(case_dir)
        keep_apart(self.dir, evidence)
        if self.dir.exists() and not self.dir.is_dir():
            raise NotACaseError(f"{self.dir} is a file: {NOT_A_CASE}")
        if not (self.dir / DB_NAME).is_file():
            if not create:
                raise NotACaseError(f"{self.dir}: {NOT_A_CASE}")
            try:
                self.dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise CaseStoreError(f"cannot create the case directory {self.dir}: "
                                     f"{exc.strerror or exc}") from None
        #: the case is on storage this process cannot write (write-protected media, a
        #: read-only mount): it is opened read-only and commands that only read still work
        self.read_only = not _writable(self.dir)
        if self.read_only and create:
            raise ReadOnlyCaseError(f"case {self.dir} is read-only (write-protected storage): "
                                    "this command writes to the case; copy it to writable storage")
        self.url = (_read_only_url(self.dir / DB_NAME) if self.read_only
                    else f"sqlite:///{self.dir / DB_NAME}")
        self._engine: Engine | None = None
        self._sessions = None
        try:
            self.db = CaseDB(self.dir / DB_NAME, read_only=self.read_only)
        except sqlite3.DatabaseError as exc:
            self._unreadable(exc)
        _OPEN.add(self)
        if self.read_only:
            self._open_read_only()
            return
        try:
            if self.db.is_empty():
                self.db.create()
            elif not self.db.is_current():
                self._upgrade()
            # A case made inside its own evidence by an older haven is refused as well.
            keep_apart(self.dir, self.evidence_sources())
        except BaseException as exc:
            self.close()
            if isinstance(exc, sqlite3.DatabaseError):
                self._unreadable(exc)
            raise

    def _unreadable(self, exc: sqlite3.DatabaseError) -> NoReturn:
        """A case.db SQLite cannot use: busy or read-only as such, else damaged."""
        explain_refusal(self.dir, exc)
        raise CaseStoreError(f"{self.dir / DB_NAME} cannot be read as a case database ({exc}); "
                             "restore the case from a copy") from None

    def _upgrade(self) -> None:
        """A case made by an older haven: the tables, columns and indexes the models gained
        since are added (through SQLAlchemy), and an older store's re-matching queries made."""
        from sqlalchemy import inspect

        from haven.store.models import Base, ItemQueries, ItemRow

        found = inspect(self.engine)
        had_queries = found.has_table(ItemQueries.__tablename__)
        had_items = found.has_table(ItemRow.__tablename__)
        Base.metadata.create_all(self.engine)
        _add_missing_columns(self.engine, Base.metadata)
        _add_missing_indexes(self.engine, Base.metadata)
        if had_items and not had_queries:
            self._backfill_queries()

    @property
    def engine(self) -> Engine:
        """The database through SQLAlchemy (made, and SQLAlchemy imported, at first use)."""
        if self._engine is None:
            from sqlalchemy import create_engine, event

            import haven.sqlite

            engine = create_engine(self.url)
            # WAL + NORMAL: a killed scan loses at most the batch being written, never the file.
            haven.sqlite.listen(engine, synchronous="NORMAL", read_only=self.read_only)
            event.listen(engine, "handle_error", self._explain_write_refused)
            self._engine = engine
        return self._engine

    @property
    def sessions(self):
        """The `sessionmaker` of `engine` (made at first use)."""
        if self._sessions is None:
            from sqlalchemy.orm import sessionmaker

            self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        return self._sessions

    def _open_read_only(self) -> None:
        """Open without writing anything: no schema upgrade, no WAL, no temp files."""
        try:
            have = self.db.tables()
        except sqlite3.OperationalError:
            self.close()
            # mode=ro needs case.db-shm to read a pending log; reading case.db alone would
            # silently miss the last writes, so it is refused instead
            raise ReadOnlyCaseError(
                f"case {self.dir} is read-only and its last writes are still in case.db-wal "
                "(no case.db-shm beside it): copy the case to writable storage to open it"
            ) from None
        except sqlite3.DatabaseError as exc:
            self.close()
            self._unreadable(exc)
        for name, (columns, _indexes) in expected_tables().items():
            if name in have and not columns.keys() <= have[name][0].keys():
                self.close()
                raise ReadOnlyCaseError(
                    f"case {self.dir} was made by an older haven and needs an upgrade, which "
                    "cannot be written on read-only storage; open it once on writable storage")

    def _explain_write_refused(self, context) -> None:
        """A write the storage refuses becomes one clear error instead of a database trace."""
        explain_refusal(self.dir, context.original_exception)

    def evidence_sources(self) -> list[str]:
        """The evidence paths scanned into this case (one per seizure)."""
        return [r[0] for r in self.db.execute("SELECT source_path FROM seizures ORDER BY id")]

    def check_output(self, path: str | os.PathLike) -> None:
        """Refuse an output file or directory that lies inside this case's evidence."""
        target = _real(path)
        for source in self.evidence_sources():
            if target == _real(source) or target.is_relative_to(_real(source)):
                raise CaseEvidenceOverlap(
                    f"{path} is inside the evidence {source}: nothing is ever written into "
                    "evidence; write it somewhere else"
                )

    def _backfill_queries(self) -> None:
        """A case store from before `item_queries`: its items' stored PDQ (trusted ones) and
        video frames become their re-matching queries. The scan searched with more (an image's
        dihedral and window hashes), so re-matching such an older case finds a little less
        near material than a fresh scan would; exact matching is unaffected."""
        from sqlalchemy import select

        from haven.match.queries import item_query_codes
        from haven.store.models import ItemQueries, ItemRow

        with self.session() as s, s.begin():
            rows = s.execute(select(ItemRow.id, ItemRow.pdq, ItemRow.pdq_quality, ItemRow.vpdq)
                             .where((ItemRow.pdq.is_not(None)) | (ItemRow.vpdq.is_not(None))))
            batch = []
            for item_id, pdq, quality, vpdq in rows:
                codes, source = item_query_codes(None, pdq, quality, vpdq)
                if codes:
                    batch.append({"item_id": item_id, "codes": codes, "source": source})
            for start in range(0, len(batch), 50_000):
                s.execute(ItemQueries.__table__.insert(), batch[start:start + 50_000])

    def session(self) -> Session:
        return self.sessions()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
        self.db.close()
        _OPEN.discard(self)

    # -- hash sets -------------------------------------------------------------------------

    def import_hashset(
        self,
        result: ImportResult,
        *,
        name: str,
        source_path: str,
        known_good: bool,
    ) -> HashSet:
        """Store an imported hash set; a set of the same name is replaced (version + 1).

        A re-import keeps the rows (and ids) of entries whose signals are unchanged, updating
        their labels, deletes the entries the new version no longer lists and adds the new
        ones: re-matching then only looks at what changed (`haven.match.rematch`). What
        changed is left on the returned set as `import_changes` (kept, added, removed,
        relabelled).
        """
        from sqlalchemy import delete, select

        from haven.store.models import HashEntryRow, HashSet, ImportProblem

        now = utcnow()
        with self.session() as s, s.begin():
            old = s.scalar(select(HashSet).where(HashSet.name == name))
            version = 1
            if old is not None:
                version = old.version + 1
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
                    **{k: getattr(e, k) for k in _signal_columns()},
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
            changes = {"kept": 0, "added": len(rows), "removed": 0, "relabelled": 0}
            if old is not None:
                s.execute(delete(ImportProblem).where(ImportProblem.hashset_id == old.id))
                rows, changes = _replace_entries(s, hs.id, rows)
            for start in range(0, len(rows), 50_000):
                s.execute(HashEntryRow.__table__.insert(), rows[start : start + 50_000])
            if result.malformed:
                s.execute(
                    ImportProblem.__table__.insert(),
                    [{"hashset_id": hs.id, "line": m.line, "reason": m.reason} for m in result.malformed],
                )
        hs.import_changes = changes
        return hs

    def hashsets(self) -> list[HashSet]:
        from sqlalchemy import select

        from haven.store.models import HashSet

        with self.session() as s:
            return list(s.scalars(select(HashSet).order_by(HashSet.name)))

    def import_problems(self, name: str) -> list[ImportProblem]:
        from sqlalchemy import select

        from haven.store.models import HashSet, ImportProblem

        with self.session() as s:
            return list(
                s.scalars(
                    select(ImportProblem)
                    .join(HashSet, HashSet.id == ImportProblem.hashset_id)
                    .where(HashSet.name == name)
                    .order_by(ImportProblem.line)
                )
            )

    def has_hash_sets(self) -> bool:
        """Whether any hash set (a case's own, or a national library's) is in the case."""
        return bool(self.db.execute("SELECT EXISTS (SELECT 1 FROM hashsets)").fetchone()[0])

    def has_match_state(self) -> bool:
        """Whether any hash set is in the case or was matched against (`matched_sets`):
        without either, re-matching has nothing to do."""
        return bool(self.db.execute(
            "SELECT EXISTS (SELECT 1 FROM hashsets) OR EXISTS (SELECT 1 FROM matched_sets)"
        ).fetchone()[0])

    def item_count(self) -> int:
        return self.db.execute("SELECT count(id) FROM items").fetchone()[0]


_LABELS = ("category", "scheme", "series", "victim_identified", "line")


def _signal_columns() -> tuple[str, ...]:
    """The entry columns that hold signals (md5, sha1, sha256, pdq, …: the registry's)."""
    return tuple(t.name for t in signals.entry_types())


def _signature(row) -> tuple:
    extra = row["extra"] if isinstance(row, dict) else row.extra
    return tuple((row[k] if isinstance(row, dict) else getattr(row, k)) for k in _signal_columns()) + (
        json.dumps(extra or {}, sort_keys=True),)


def _replace_entries(s: Session, hashset_id: int, rows: list[dict]) -> tuple[list[dict], dict]:
    """Turn the stored entries of a set into `rows`: unchanged signals keep their row (labels
    updated), the rest is deleted; returns the rows still to insert and the counts."""
    from sqlalchemy import bindparam, delete, select, update

    from haven.store.models import HashEntryRow
    stored: dict[tuple, list] = {}
    cols = [HashEntryRow.id, *(getattr(HashEntryRow, k) for k in _signal_columns() + _LABELS),
            HashEntryRow.extra]
    for row in s.execute(select(*cols).where(HashEntryRow.hashset_id == hashset_id)):
        stored.setdefault(_signature(row), []).append(row)
    insert, relabel = [], []
    for new in rows:
        bucket = stored.get(_signature(new))
        if not bucket:
            insert.append(new)
            continue
        row = bucket.pop()
        if not bucket:
            del stored[_signature(new)]
        if any(getattr(row, k) != new[k] for k in _LABELS):
            relabel.append({"b_id": row.id, **{f"b_{k}": new[k] for k in _LABELS}})
    removed = [row.id for bucket in stored.values() for row in bucket]
    for start in range(0, len(removed), 50_000):
        s.execute(delete(HashEntryRow).where(HashEntryRow.id.in_(removed[start:start + 50_000])))
    if relabel:
        s.execute(
            update(HashEntryRow.__table__)
            .where(HashEntryRow.__table__.c.id == bindparam("b_id"))
            .values({k: bindparam(f"b_{k}") for k in _LABELS}),
            relabel,
        )
    kept = len(rows) - len(insert)
    return insert, {"kept": kept, "added": len(insert), "removed": len(removed),
                    "relabelled": len(relabel)}


def _add_missing_indexes(engine: Engine, metadata: MetaData) -> None:
    """Create the indexes the models gained since the case was made (new tables get theirs
    from `create_all`)."""
    from sqlalchemy import inspect

    found = inspect(engine)
    tables = set(found.get_table_names())
    for table in metadata.sorted_tables:
        if table.name not in tables:
            continue
        have = {ix["name"] for ix in found.get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in have:
                index.create(engine)
