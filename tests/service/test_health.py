"""`GET /healthz`: a probe without login that reads no data and leaves no audit entry."""

from __future__ import annotations

from sqlalchemy import func, select

from haven.service.db import make_engine
from haven.service.models import AuditEntry


def _audit_rows(service) -> int:
    service.app.state.svc.audit_writer.flush()
    with service.session() as s:
        return s.scalar(select(func.count()).select_from(AuditEntry))


def test_healthz_answers_without_login_with_no_data_and_no_audit_entry(service):
    before = _audit_rows(service)
    for _ in range(5):
        r = service.client.get("/healthz")
        assert r.status_code == 200
        assert r.json() == {"status": "ok"}      # no counts, no version, no pid
        assert r.headers["cache-control"] == "no-store"
    assert _audit_rows(service) == before


def test_healthz_says_unavailable_when_the_database_does_not_answer(service, tmp_path):
    svc = service.app.state.svc
    working = svc.engine
    svc.engine = make_engine(f"sqlite:///{tmp_path / 'gone' / 'nowhere.db'}")
    try:
        r = service.client.get("/healthz")
        assert r.status_code == 503 and r.json() == {"status": "unavailable"}
    finally:
        svc.engine.dispose()
        svc.engine = working
    assert service.client.get("/healthz").status_code == 200
