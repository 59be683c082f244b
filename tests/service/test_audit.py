"""The audit chain: every action appended and chained; any edit is found and named."""

from __future__ import annotations

from sqlalchemy import delete, func, select, update
from typer.testing import CliRunner

from haven.service import audit
from haven.service.models import AuditEntry


def _some_activity(svc):
    c, h = svc.client, svc.h
    c.post("/api/v1/operations", json={"name": "op-audit"}, headers=h("coord"))
    c.get("/api/v1/packages", headers=h("fr"))
    c.get("/api/v1/packages/12345", headers=h("fr"))   # a refusal is audited too
    c.post("/api/v1/auth/login", json={"username": "fr", "password": "wrong password!"})


def test_the_chain_verifies_and_records_logins_changes_and_refusals(service):
    _some_activity(service)
    with service.session() as s:
        report = audit.verify(s)
        actions = list(s.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))
    assert report.ok, report.problems
    assert report.entries == len(actions) >= 8
    for a in ("login", "operation.create", "denied", "login.failed"):
        assert a in actions


def test_editing_an_entry_in_the_database_is_detected_and_named(service):
    _some_activity(service)
    with service.session() as s:
        target = s.scalar(select(AuditEntry).where(AuditEntry.action == "operation.create"))
        seq = target.seq
        s.execute(update(AuditEntry).where(AuditEntry.seq == seq)
                  .values(actor="user:somebody-else"))
        s.commit()
    with service.session() as s:
        report = audit.verify(s)
    assert not report.ok
    assert any(p.startswith(f"entry {seq} ") and "edited" in p for p in report.problems)


def test_removing_entries_is_detected(service):
    _some_activity(service)
    with service.session() as s:
        last = s.scalar(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1))
        s.execute(delete(AuditEntry).where(AuditEntry.seq.in_([2, last])))
        s.commit()
    with service.session() as s:
        problems = audit.verify(s).problems
    assert any(p.startswith("entry 3:") for p in problems)          # gap in the middle
    assert any("removed" in p and "tip" in p for p in problems)     # tail cut off


def test_haven_audit_verify_exits_1_naming_the_tampered_entry(service):
    from haven.service.cli import audit_app

    _some_activity(service)
    args = ["--data-dir", str(service.settings.data_dir)]
    if service.settings.database_url:
        args += ["--database-url", service.settings.database_url]
    runner = CliRunner()
    ok = runner.invoke(audit_app, ["verify", *args])
    assert ok.exit_code == 0 and "chain intact" in ok.output
    with service.session() as s:
        s.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(target="x"))
        s.commit()
    bad = runner.invoke(audit_app, ["verify", *args])
    assert bad.exit_code == 1 and "TAMPERED: entry 3 " in bad.output


def test_concurrent_appends_keep_one_unbroken_chain(service):
    """Eight writers at once: the head row serialises them (SQLite lock / PostgreSQL row lock)."""
    from concurrent.futures import ThreadPoolExecutor

    def write(n: int) -> None:
        for k in range(10):
            with service.session() as s:
                audit.record(s, f"worker:{n}", "test.append", str(k))
                s.commit()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(8)))
    with service.session() as s:
        report = audit.verify(s)
        count = s.scalar(select(func.count()).select_from(AuditEntry)
                         .where(AuditEntry.action == "test.append"))
    assert report.ok, report.problems
    assert count == 80
