"""The scan's path to the case database (`haven.store.direct`, plain sqlite3) makes and writes
exactly what SQLAlchemy's models make and write, and reads back what they wrote."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from haven.report.findings import iter_findings
from haven.store.case import CaseStore
from haven.store.direct import CaseDB
from haven.store.models import (
    Base, FindingChange, HashSet, ItemQueries, ItemRow, MatchRow, Seizure,
)
from haven.store.schema import SCHEMA


def _master(path) -> set[tuple]:
    conn = sqlite3.connect(path)
    try:
        return set(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))
    finally:
        conn.close()


def _models_db(tmp_path, name="models.db"):
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{tmp_path / name}")
    Base.metadata.create_all(engine)
    return engine


def test_a_new_case_has_exactly_the_tables_the_models_create(tmp_path):
    store = CaseStore(tmp_path / "case", create=True)
    store.close()
    engine = _models_db(tmp_path)
    engine.dispose()
    made, expected = _master(tmp_path / "case" / "case.db"), _master(tmp_path / "models.db")
    statements = "\n".join(repr(sql) for _t, _n, _tb, sql in sorted(expected, key=str) if sql)
    assert made == expected, f"haven.store.schema.SCHEMA is stale; create_all now writes:\n{statements}"
    assert len(SCHEMA) == sum(1 for _t, name, _tb, sql in expected
                              if sql and name != "sqlite_sequence")


def test_a_new_case_is_made_without_sqlalchemy_and_opens_as_current(tmp_path):
    store = CaseStore(tmp_path / "case", create=True)
    assert store._engine is None  # nothing asked for SQLAlchemy
    assert store.db.is_current() and not store.has_hash_sets() and not store.has_match_state()
    store.close()
    again = CaseStore(tmp_path / "case")
    assert again._engine is None and again.evidence_sources() == []
    with again.session() as s:  # the models read it
        assert s.query(ItemRow).count() == 0
    again.close()


def test_a_case_missing_a_column_is_upgraded_through_the_models(tmp_path):
    case = tmp_path / "case"
    CaseStore(case, create=True).close()
    conn = sqlite3.connect(case / "case.db")
    conn.execute("ALTER TABLE items DROP COLUMN analysed_at")
    conn.execute("DROP INDEX ix_items_md5")
    conn.commit()
    conn.close()
    store = CaseStore(case)
    assert store.db.is_current()
    assert "analysed_at" in store.db.tables()["items"][0]
    assert "ix_items_md5" in store.db.tables()["items"][1]
    store.close()


# One item as the scan fills it (None in JSON columns, text beyond ASCII, a float, a time
# with microseconds, booleans), one as a walker problem makes it (defaults), a match, a
# query row, a seizure.
_WHEN = datetime(2026, 12, 6, 15, 47, 23, 123456)
_ITEM = dict(seizure_id=1, path="ev/ü/a.jpg", size=12, mime="image/jpeg", media="image",
             extension_mismatch=True, md5="a" * 32, sha1="b" * 40, sha256="c" * 64, pdq="d" * 64,
             pdq_quality=87, pdq_preprocess="fast", vpdq=None, vpdq_preprocess=None, video=None,
             error=None, notes=["é note"], flags={"deleted": True, "z": [1, 2]}, elapsed=0.125,
             finding="fresh", stamp='{"size": 12}', analysed_at=_WHEN)
_PROBLEM = dict(seizure_id=1, path="ev/b.zip", size=None, finding="error", error="corrupt: x",
                notes=[], flags={"problem": "corrupt"})
_MATCH = dict(item_id=1, hashset_id=1, entry_id=7, signal_type="pdq", distance=3,
              hashset="known", hashset_version=2, known_good=False, category="1",
              scheme="vics", series=None, matched_signal="pdq-c84", query_share=None,
              known_share=None)
_SEIZURE = dict(name="ev", source_path="/evidence/ev", started_at=_WHEN)
_HASHSET = dict(name="known", known_good=False, format="csv", scheme="vics",
                source_path="/known.csv", source_sha256="f" * 64, version=2, imported_at=_WHEN,
                entry_count=1, malformed_count=0)
_QUERY = dict(item_id=1, codes=b"\x01" * 64, source="query")


def test_rows_written_directly_are_the_rows_the_models_write(tmp_path):
    from sqlalchemy.orm import Session

    engine = _models_db(tmp_path)
    with Session(engine) as s, s.begin():
        s.add(HashSet(**_HASHSET))
        s.add(Seizure(**_SEIZURE))
        s.flush()
        s.add(ItemRow(**_ITEM))
        s.add(ItemRow(**_PROBLEM))
        s.flush()
        s.add(MatchRow(**_MATCH))
        s.add(ItemQueries(**_QUERY))
    engine.dispose()

    store = CaseStore(tmp_path / "case", create=True)
    db = store.db
    with db.transaction():
        db.insert("hashsets", _HASHSET)
        db.insert("seizures", _SEIZURE)
        db.insert("items", _ITEM)
        db.insert("items", _PROBLEM)
        db.insert("matches", _MATCH)
        db.insert("item_queries", _QUERY)
    store.close()

    for table in ("hashsets", "seizures", "items", "matches", "item_queries"):
        rows = [list(sqlite3.connect(p).execute(f"SELECT * FROM {table} ORDER BY id"))
                for p in (tmp_path / "models.db", tmp_path / "case" / "case.db")]
        assert rows[0] == rows[1], table
    # the JSON None is stored as the text null, as the models store it
    conn = sqlite3.connect(tmp_path / "case" / "case.db")
    assert conn.execute("SELECT vpdq, video FROM items WHERE id = 1").fetchone() == ("null", "null")
    assert conn.execute("SELECT vpdq FROM items WHERE id = 2").fetchone() == (None,)


def test_findings_read_directly_are_what_the_models_wrote(tmp_path):
    store = CaseStore(tmp_path / "case", create=True)
    with store.session() as s, s.begin():
        s.add(HashSet(**_HASHSET))
        s.add(Seizure(**_SEIZURE))
        s.flush()
        item = ItemRow(**{**_ITEM, "vpdq": [[0, 100, "e" * 64, 0.0]], "video": {"fps": 1.0}})
        s.add(item)
        s.add(ItemRow(**{**_PROBLEM, "sha256": "c" * 64}))
        s.flush()
        s.add(MatchRow(**{**_MATCH, "item_id": item.id, "known_good": True}))
        s.add(MatchRow(**{**_MATCH, "item_id": item.id, "entry_id": 8, "distance": 0}))
        s.add(FindingChange(item_id=item.id, changed_at=_WHEN, cause="rematch",
                            old_finding="fresh", new_finding="near-known", reason="r",
                            earlier={"md5": None}))
    findings = {f["path"]: f for f in iter_findings(store)}
    f = findings["ev/ü/a.jpg"]
    assert f["vpdq"] == [[0, 100, "e" * 64, 0.0]] and f["video"] == {"fps": 1.0}
    assert f["extension_mismatch"] is True and f["notes"] == ["é note"]
    assert f["flags"] == {"deleted": True, "z": [1, 2]}
    assert [(m["distance"], m["known_good"]) for m in f["matches"]] == [(3, True), (0, False)]
    assert all(type(m["known_good"]) is bool for m in f["matches"])
    assert f["history"] == [{"at": "2026-12-06T15:47:23Z", "cause": "rematch", "from": "fresh",
                             "to": "near-known", "reason": "r", "earlier": {"md5": None}}]
    assert f["paths"] == ["ev/b.zip", "ev/ü/a.jpg"]
    problem = findings["ev/b.zip"]
    assert problem["vpdq"] is None and problem["matches"] == [] and problem["history"] == []
    assert problem["extension_mismatch"] is False and problem["modified"] is None
    store.close()


def test_a_refused_direct_write_is_one_clear_error(tmp_path):
    import pytest

    from haven.errors import CaseBusyError

    store = CaseStore(tmp_path / "case", create=True)
    other = CaseDB(tmp_path / "case" / "case.db")
    other.conn.execute("PRAGMA busy_timeout=0")
    store.db.conn.execute("PRAGMA busy_timeout=0")
    with other.transaction():
        with pytest.raises(CaseBusyError, match="busy"):
            with store.db.transaction():
                pass
    other.close()
    store.close()


def test_a_damaged_case_database_is_one_clear_error(tmp_path):
    import pytest

    from haven.errors import CaseStoreError

    case = tmp_path / "case"
    case.mkdir()
    (case / "case.db").write_bytes(b"not a database, " * 16)
    for create in (False, True):
        with pytest.raises(CaseStoreError, match="cannot be read as a case database"):
            CaseStore(case, create=create)
