"""Quarantine in bulk (`quarantine.hold`): every entry a flood flags at once is held and gets
its own audit entry; entries already held or gone are left alone; the chain verifies."""

from __future__ import annotations

import time
from types import SimpleNamespace

from sqlalchemy import func, select

from haven.hashsets.model import HashEntry, ImportResult
from haven.service import audit, quarantine
from haven.service.db import make_engine, session_factory, upgrade
from haven.service.lookup import store_hashset
from haven.service.models import AuditEntry, EntryFlag, LookupEntry
from haven.service.settings import Settings


def _service_with_pdq_entries(tmp_path, n: int):
    """A fresh service database holding one set of `n` PDQ entries: (engine, sessions, ids)."""
    engine = make_engine(Settings(data_dir=tmp_path).url)
    upgrade(engine)
    sessions = session_factory(engine)
    with sessions() as s:
        store_hashset(s, ImportResult(format="hma", scheme=None, entries=[
            HashEntry(pdq=f"{k:064x}") for k in range(1, n + 1)]), name="set",
            source_sha256=None)
        s.commit()
        ids = s.scalars(select(LookupEntry.id).order_by(LookupEntry.id)).all()
    return engine, sessions, ids


def _held_within(sessions, count: int, seconds: float = 10) -> list[int]:
    """The held entry ids once `count` are held, or what is held after `seconds`."""
    end = time.monotonic() + seconds
    while True:
        with sessions() as s:
            held = quarantine.held_and_released(s)[0]
        if len(held) == count or time.monotonic() >= end:
            return held
        time.sleep(0.05)


def test_hold_quarantines_many_entries_at_once_each_audited(tmp_path):
    engine, sessions, ids = _service_with_pdq_entries(tmp_path, 40)
    try:
        with sessions() as s:
            # one already voted on (a flags row without quarantine), one already held
            quarantine.vote(s, ids[0], "apikey:a", "confirm", quarantine_at=3)
            assert quarantine.hold(s, [ids[1]], "deconfirmed", "user:x") == [ids[1]]
            s.commit()
            flagged = ids[:30] + [ids[5], 10_000_000]  # a repeat and an id that is gone
            held = quarantine.hold(s, flagged, "flood", "service", min_queries=50)
            s.commit()
            assert held == [i for i in ids[:30] if i != ids[1]]
            assert quarantine.held_and_released(s)[0] == sorted(ids[:30])
            rows = s.scalars(select(AuditEntry).where(AuditEntry.action == "entry.quarantine")
                             .order_by(AuditEntry.seq)).all()
            assert [r.target for r in rows] == [f"entry:{ids[1]}"] + [f"entry:{i}" for i in held]
            assert all(r.detail == {"reason": "flood", "min_queries": 50} for r in rows[1:])
            first = s.get(EntryFlag, ids[0])
            assert first.confirms == 1 and first.reason == "flood"
            assert s.get(EntryFlag, ids[1]).reason == "deconfirmed"  # kept its first reason
            assert s.scalar(select(func.count()).select_from(EntryFlag)) == 30
            assert audit.verify(s).ok
            assert quarantine.hold(s, ids[:30], "flood", "service") == []  # nothing new
    finally:
        engine.dispose()


def test_flood_recorder_writes_what_several_answers_flagged_together(tmp_path):
    engine, sessions, ids = _service_with_pdq_entries(tmp_path, 10)
    try:
        settings = SimpleNamespace(flood_min_queries=5, flood_factor=10.0,
                                   flood_window_seconds=60.0)
        record = quarantine.flood_recorder(sessions, settings, gather_seconds=0.3)
        record(ids[:2])
        record(ids[2:5])  # within the gathering time: the same transaction
        _held_within(sessions, 5)
        record(ids[5:6])  # later: written too
        held = _held_within(sessions, 6)
        assert sorted(held) == sorted(ids[:6])
        with sessions() as s:
            rows = s.scalars(select(AuditEntry).where(AuditEntry.action == "entry.quarantine")
                             .order_by(AuditEntry.seq)).all()
            assert [r.target for r in rows] == [f"entry:{i}" for i in ids[:6]]
            assert rows[0].detail == {"reason": "flood", "min_queries": 5, "factor": 10.0,
                                      "window_seconds": 60.0}
            assert audit.verify(s).ok
    finally:
        engine.dispose()
