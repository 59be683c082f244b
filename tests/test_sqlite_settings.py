"""Every haven SQLite database gets its settings from one helper (haven.sqlite)."""

from haven.service.db import make_engine
from haven.store.case import CaseStore


def _pragmas(engine) -> dict:
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        return {name: raw.execute(f"PRAGMA {name}").fetchone()[0]
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")}


def test_case_store_and_service_share_the_settings_and_differ_only_in_durability(tmp_path):
    store = CaseStore(tmp_path / "case", create=True)
    case = _pragmas(store.engine)
    store.close()
    engine = make_engine(f"sqlite:///{tmp_path / 'service.db'}")
    service = _pragmas(engine)
    engine.dispose()
    assert case["journal_mode"] == service["journal_mode"] == "wal"
    assert case["foreign_keys"] == service["foreign_keys"] == 1
    assert case["busy_timeout"] == service["busy_timeout"] == 10_000
    assert case["synchronous"] == 1  # NORMAL: a killed scan loses at most one batch
    assert service["synchronous"] == 2  # FULL: an acknowledged (audit) write survives a power cut
