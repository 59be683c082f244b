"""The workspace's view of a case: the case store plus the `vi_*` tables and an FTS5 index."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from haven.store.case import CaseStore, _add_missing_columns, utcnow
from haven.victimid.errors import VictimIdError
from haven.victimid.models import EventRow, MediaRow, VictimIdBase

# Standalone FTS5 table: media_id is stored but not tokenised; kept in step with vi_ocr by
# `ocr.store_text`. SQLite-only: on PostgreSQL full-text search would use tsvector instead.
_FTS_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS vi_ocr_fts USING fts5("
    "text, media_id UNINDEXED, tokenize='unicode61 remove_diacritics 2')"
)


# Generation tokens of what the search caches are built from (`vi_scene` + `vi_vocabulary`
# for the scene index, `vi_faces` for faces), kept by triggers so any writer — the indexer,
# a re-train, a delete — makes a cached index stale without the writer knowing about caches.
# Each change draws a fresh random token rather than counting up: a case.db restored from an
# older copy and then changed again must not arrive back at a number its `victimid-cache/`
# (which the restore left in place) was built for. 'instance' is a random number fixed at
# creation: a re-created database never matches a cache built for an earlier one.
_STATE_DDL = (
    "CREATE TABLE IF NOT EXISTS vi_search_state (name TEXT PRIMARY KEY, generation INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO vi_search_state VALUES ('instance', abs(random())), ('scene', 0), ('faces', 0)",
)
_WATCHED = {"vi_scene": "scene", "vi_vocabulary": "scene", "vi_scene_words": "scene",
            "vi_word_vocabulary": "scene", "vi_faces": "faces"}

# The scene cache is built from every image's 4 KB vector, stored in `vi_scene` after ~170 KB of
# keypoints and descriptors: reading the vector column alone walks each row's overflow pages, so
# at 100,000 images a rebuild read the whole 17 GB table. This covering index holds the vectors
# on their own pages (4 KB more per image) and SQLite scans it instead (SQLite only: PostgreSQL
# refuses B-tree rows this large).
_VECTOR_INDEX_DDL = "CREATE INDEX IF NOT EXISTS ix_vi_scene_vector ON vi_scene (media_id, vector)"


def _trigger_ddl(have: set[str]) -> list[str]:
    """The statements that bring the generation triggers up to date, given the triggers the
    database `have`s (only what is missing or outdated). Stores made before
    the random tokens had counting triggers (`*_gen_*`), replaced here."""
    out = []
    for table, name in _WATCHED.items():
        for op in ("INSERT", "UPDATE", "DELETE"):
            if f"{table}_gen_{op.lower()}" in have:
                out.append(f"DROP TRIGGER {table}_gen_{op.lower()}")
            if f"{table}_token_{op.lower()}" not in have:
                out.append(
                    f"CREATE TRIGGER IF NOT EXISTS {table}_token_{op.lower()} AFTER {op} ON {table} BEGIN "
                    f"UPDATE vi_search_state SET generation = random() & 9223372036854775807 "
                    f"WHERE name = '{name}'; END")
    return out


def _event_hash(prev: str, at: datetime, user: str, action: str, detail: dict) -> str:
    body = json.dumps([prev, at.isoformat(), user, action, detail], sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def default_user() -> str:
    """The analyst recorded with a decision when none is given: $HAVEN_USER, else the login."""
    return os.environ.get("HAVEN_USER") or os.environ.get("USER") or "unknown"


class VictimStore:
    """A case directory opened for victim identification (tables created on first use)."""

    def __init__(self, case: CaseStore | str | os.PathLike, create: bool = False,
                 evidence: tuple = ()):
        """`evidence`: paths about to be indexed, refused when they overlap the case."""
        self.case = (case if isinstance(case, CaseStore)
                     else CaseStore(case, create=create, evidence=evidence))
        self.engine = self.case.engine
        self.fts = self.engine.dialect.name == "sqlite"
        if self.case.read_only:  # write-protected media: read what is there, create nothing
            from haven.errors import ReadOnlyCaseError
            from sqlalchemy import inspect

            if not inspect(self.engine).has_table(VictimIdBase.metadata.sorted_tables[0].name):
                raise ReadOnlyCaseError(f"case {self.dir} is read-only and was never indexed "
                                        "for victim identification (`haven index`)")
            return
        VictimIdBase.metadata.create_all(self.engine)
        _add_missing_columns(self.engine, VictimIdBase.metadata)  # cases indexed by older versions
        if self.fts:
            with self.engine.begin() as conn:
                conn.execute(text(_FTS_DDL))
                have = set(conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars())
                for ddl in (*_STATE_DDL, *_trigger_ddl(have), _VECTOR_INDEX_DDL):
                    conn.execute(text(ddl))

    @property
    def dir(self):
        return self.case.dir

    @property
    def cache_dir(self):
        """Derived search indexes (FAISS files), rebuilt from the database whenever stale;
        deleting the directory loses nothing."""
        return self.case.dir / "victimid-cache"

    def session(self) -> Session:
        return self.case.session()

    def close(self) -> None:
        self.case.close()

    def generation(self, name: str) -> str | None:
        """A token that changes whenever the rows behind search cache `name` ('scene' or
        'faces') change (never back to an earlier value, see `_STATE_DDL`); None where it is
        not tracked. A case store is always SQLite (`case.db`), so None is only for a
        database `CaseStore` does not make today."""
        if not self.fts:
            return None
        with self.engine.connect() as conn:
            rows = dict(conn.execute(text("SELECT name, generation FROM vi_search_state")).all())
        return f"{rows['instance']:x}-{rows[name]}"

    def media_by_id(self, media_id: int) -> MediaRow:
        with self.session() as s:
            row = s.get(MediaRow, media_id)
        if row is None:
            raise VictimIdError(f"no indexed media #{media_id} in this case; run `haven index` first")
        return row

    def all_media(self) -> list[MediaRow]:
        with self.session() as s:
            return list(s.scalars(select(MediaRow).order_by(MediaRow.id)))

    def log(self, s: Session, user: str, action: str, detail: dict) -> EventRow:
        """Append one analyst action to the hash-chained event log (inside the caller's
        transaction, so the action and its record commit together)."""
        last = s.scalar(select(EventRow).order_by(EventRow.id.desc()).limit(1))
        prev = last.hash if last else "0" * 64
        at = utcnow()
        row = EventRow(at=at, user=user, action=action, detail=detail, prev_hash=prev,
                       hash=_event_hash(prev, at, user, action, detail))
        s.add(row)
        return row

    def verify_log(self) -> bool:
        """True when every event's hash matches its content and its predecessor."""
        prev = "0" * 64
        with self.session() as s:
            for ev in s.scalars(select(EventRow).order_by(EventRow.id)):
                if ev.prev_hash != prev or ev.hash != _event_hash(prev, ev.at, ev.user, ev.action, ev.detail):
                    return False
                prev = ev.hash
        return True
