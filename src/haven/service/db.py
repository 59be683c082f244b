"""Engine, sessions and schema migrations (Alembic `upgrade head` on start)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

import haven.sqlite

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False})
        haven.sqlite.listen(engine, synchronous="FULL")  # an acknowledged write stays
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def alembic_config(engine: Engine):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    from alembic import command

    cfg = alembic_config(engine)
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # SQLite batch migrations rebuild a table (copy, drop, rename); with foreign keys
            # on, dropping svc_hashsets cascades into svc_hash_entries and empties it. The
            # pragma only takes effect outside a transaction, so it is set before one begins.
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()


def session_factory(engine: Engine, audit_keyring=None) -> sessionmaker[Session]:
    """Sessions on `engine`; `audit_keyring` (an `audit.Keyring`) MACs the audit entries they
    append (`session.info["audit_keyring"]`)."""
    return sessionmaker(engine, expire_on_commit=False, info={"audit_keyring": audit_keyring})
