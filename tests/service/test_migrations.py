"""Alembic: the initial migration builds exactly the models' schema; start-up is idempotent."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from servicekit import database_url, make_service
from haven.service.db import alembic_config, make_engine, upgrade
from haven.service.models import Base, Operation


def test_migrations_match_the_models_and_rerun_cleanly(tmp_path, backend, pg_cluster):
    url = database_url(backend, pg_cluster) or f"sqlite:///{tmp_path / 'm.db'}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        upgrade(engine)  # a second start changes nothing
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
            head = MigrationContext.configure(conn).get_current_revision()
        from alembic.script import ScriptDirectory

        newest = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
        assert diff == [] and head == newest and newest >= "0002"
    finally:
        engine.dispose()


def test_a_restarted_service_keeps_its_data_and_sessions(tmp_path, backend, pg_cluster):
    url = database_url(backend, pg_cluster)
    first = make_service(tmp_path, url)
    first.client.post("/api/v1/operations", json={"name": "op-kept"}, headers=first.h("coord"))
    first.app.state.svc.engine.dispose()
    from fastapi.testclient import TestClient

    from haven.service.app import create_app

    again = create_app(first.settings)
    try:
        client = TestClient(again, base_url="http://127.0.0.1")
        r = client.get("/api/v1/operations", headers=first.h("coord"))
        assert [o["name"] for o in r.json()] == ["op-kept"]
        with again.state.svc.sessions() as s:
            assert s.scalar(select(Operation.name)) == "op-kept"
    finally:
        again.state.svc.engine.dispose()


def test_upgrading_a_sqlite_database_keeps_its_hash_entries(tmp_path):
    """Batch migrations rebuild svc_hashsets; with foreign keys on, that emptied the entries."""
    from alembic import command
    from sqlalchemy import text

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        cfg = alembic_config(engine)
        with engine.begin() as conn:  # a database as a 0005 service left it
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0005")
            conn.execute(text("INSERT INTO svc_hashsets (id, name, version, format, scheme, "
                              "known_good, source_sha256, imported_at, entry_count) VALUES "
                              "(1, 'ncmec', 1, 'csv', 'ncmec', 0, NULL, '2026-12-01', 3)"))
            for k in range(3):
                conn.execute(text("INSERT INTO svc_hash_entries (hashset_id, pdq, category, "
                                  "added_at) VALUES (1, :pdq, 'A1', '2026-12-01')"),
                             {"pdq": f"{k:064x}"})
        upgrade(engine)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM svc_hash_entries")).scalar() == 3
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        engine.dispose()
