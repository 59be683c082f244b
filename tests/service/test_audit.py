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


# -- the keyed chain (issue 15.4) -----------------------------------------------------------------

import json  # noqa: E402

import pytest  # noqa: E402
from servicekit import database_url, make_service  # noqa: E402

from haven.service.models import AuditHead  # noqa: E402


@pytest.fixture
def keyed(tmp_path, backend, pg_cluster):
    keys = tmp_path / "audit.keys"
    audit.new_key(keys)
    svc = make_service(tmp_path, database_url(backend, pg_cluster), audit_key_file=keys)
    svc.keys = keys
    yield svc
    svc.app.state.svc.engine.dispose()


def _where(svc) -> list[str]:
    args = ["--data-dir", str(svc.settings.data_dir)]
    if svc.settings.database_url:
        args += ["--database-url", svc.settings.database_url]
    return args


def _rehash_from(s, seq: int, keep_key_id: bool) -> None:
    """What someone with database write access but no key can do: recompute every hash from
    `seq` on with plain SHA-256 and move the tip."""
    rows = list(s.scalars(select(AuditEntry).where(AuditEntry.seq >= seq)
                          .order_by(AuditEntry.seq)))
    prev = s.scalar(select(AuditEntry.entry_hash).where(AuditEntry.seq == seq - 1)) \
        or audit.GENESIS
    for e in rows:
        key_id = e.key_id if keep_key_id else None
        data = audit.canonical(e.seq, e.at, e.actor, e.action, e.target, e.detail, prev, key_id)
        import hashlib
        digest = hashlib.sha256(data).hexdigest()
        s.execute(update(AuditEntry).where(AuditEntry.seq == e.seq)
                  .values(prev_hash=f"tmp-{e.seq}"))
        s.flush()
        s.execute(update(AuditEntry).where(AuditEntry.seq == e.seq)
                  .values(prev_hash=prev, entry_hash=digest, key_id=key_id))
        prev = digest
    s.execute(update(AuditHead).values(last_hash=prev, key_id=None if not keep_key_id else
                                       rows[-1].key_id))
    s.commit()


def test_an_edit_rehashed_without_the_key_is_caught_by_the_key(keyed):
    _some_activity(keyed)
    keyring = audit.Keyring.load(keyed.keys)
    with keyed.session() as s:
        assert audit.verify(s, keyring).ok
        seq = s.scalar(select(AuditEntry.seq).where(AuditEntry.action == "operation.create"))
        s.execute(update(AuditEntry).where(AuditEntry.seq == seq)
                  .values(detail={"name": "op-forged"}))
        _rehash_from(s, seq, keep_key_id=True)
    with keyed.session() as s:
        report = audit.verify(s, keyring)
    assert not report.ok
    assert any(p.startswith(f"entry {seq} ") and "MAC" in p for p in report.problems)


def test_a_whole_chain_downgraded_to_unkeyed_is_caught_by_a_checkpoint(keyed, tmp_path):
    from haven.service.cli import audit_app

    _some_activity(keyed)
    runner = CliRunner()
    cp = tmp_path / "cp.json"
    r = runner.invoke(audit_app, ["checkpoint", *_where(keyed), "--audit-key-file",
                                  str(keyed.keys), "-o", str(cp)])
    assert r.exit_code == 0, r.output
    doc = json.loads(cp.read_text())
    assert doc["count"] > 5 and len(doc["head_hash"]) == 64 and doc["mac"]
    with keyed.session() as s:
        _rehash_from(s, 1, keep_key_id=False)  # every entry made unkeyed and consistent
    key = ["--audit-key-file", str(keyed.keys)]
    r = runner.invoke(audit_app, ["verify", *_where(keyed), *key])
    assert r.exit_code == 0 and "unkeyed" in r.output  # without a checkpoint: only a warning
    r = runner.invoke(audit_app, ["verify", *_where(keyed), *key, "--checkpoint", str(cp)])
    assert r.exit_code == 1 and "history was rewritten" in r.output, r.output


def test_a_cut_tail_is_caught_by_a_checkpoint_and_a_forged_one_by_its_signature(keyed,
                                                                                tmp_path):
    _some_activity(keyed)
    keyring = audit.Keyring.load(keyed.keys)
    with keyed.session() as s:
        cp = audit.checkpoint(s, keyring)
        last = cp["count"]
        keep = s.scalar(select(AuditEntry).where(AuditEntry.seq == last - 3))
        s.execute(delete(AuditEntry).where(AuditEntry.seq > last - 3))
        s.execute(update(AuditHead).values(seq=keep.seq, last_hash=keep.entry_hash))
        s.commit()
    with keyed.session() as s:
        assert audit.verify(s, keyring).ok  # consistent without the checkpoint
        problems = audit.verify(s, keyring, [cp]).problems
        assert any("has only" in p and "removed" in p for p in problems)
        forged = {**cp, "count": last - 3, "head_hash": keep.entry_hash}
        assert any("signature" in p for p in audit.verify(s, keyring, [forged]).problems)


def test_rotated_keys_verify_old_and_new_entries(keyed):
    from fastapi.testclient import TestClient

    from haven.service.app import create_app

    _some_activity(keyed)
    old = audit.Keyring.load(keyed.keys).current
    keyed.app.state.svc.engine.dispose()
    new = audit.new_key(keyed.keys)
    app = create_app(keyed.settings)
    try:
        c = TestClient(app, base_url="http://127.0.0.1")
        c.post("/api/v1/operations", json={"name": "op-after"}, headers=keyed.h("coord"))
        r = c.get("/api/v1/audit/verify", headers=keyed.h("coord")).json()
        assert r["ok"] and r["unkeyed"] == 0, r
        with app.state.svc.sessions() as s:
            ids = set(s.scalars(select(AuditEntry.key_id)))
            assert ids == {old, new}
            only_new = audit.Keyring({new: audit.Keyring.load(keyed.keys).keys[new]}, new)
            report = audit.verify(s, only_new)
        assert not report.ok and old in report.unchecked[0]
    finally:
        app.state.svc.engine.dispose()


def test_an_unkeyed_chain_still_verifies_and_says_so_then_continues_keyed(service, tmp_path):
    from fastapi.testclient import TestClient

    from haven.service.app import create_app

    _some_activity(service)
    with service.session() as s:
        before = audit.verify(s)
    assert before.ok and before.unkeyed == before.entries
    service.app.state.svc.engine.dispose()
    keys = tmp_path / "audit.keys"
    audit.new_key(keys)
    service.settings.audit_key_file = keys
    app = create_app(service.settings)
    try:
        TestClient(app, base_url="http://127.0.0.1").post(
            "/api/v1/operations", json={"name": "op-keyed"}, headers=service.h("coord"))
        keyring = audit.Keyring.load(keys)
        with app.state.svc.sessions() as s:
            report = audit.verify(s, keyring)
            assert report.ok and report.unkeyed == before.entries < report.entries
            # an entry appended without the key after keyed ones: a downgrade
            head = s.get(AuditHead, 1)
            s.info["audit_keyring"] = None
            head.key_id = None
            audit.record(s, "user:mallory", "operation.create", "operation:99")
            s.commit()
            problems = audit.verify(s, keyring).problems
        assert any("unkeyed after keyed" in p for p in problems)
    finally:
        app.state.svc.engine.dispose()


def test_a_keyed_chain_is_not_opened_without_its_key(keyed):
    from haven.service.app import create_app
    from haven.service.cli import service_app

    keyed.app.state.svc.engine.dispose()
    keyed.settings.audit_key_file = None
    with pytest.raises(audit.AuditKeyError, match="keyed"):
        create_app(keyed.settings)
    r = CliRunner().invoke(service_app, ["create-api-key", "x", *_where(keyed)])
    assert r.exit_code == 2 and "audit key" in r.output and "Traceback" not in r.output


def test_verify_never_crashes_on_a_detail_that_is_not_json(service, backend):
    from sqlalchemy import text

    from haven.service.cli import audit_app

    if backend != "sqlite":
        pytest.skip("PostgreSQL's json column refuses text that is not JSON")
    _some_activity(service)
    with service.session() as s:
        s.execute(text("UPDATE svc_audit SET detail = '{not json' WHERE seq = 3"))
        s.execute(text("UPDATE svc_audit SET at = 'yesterday' WHERE seq = 5"))
        s.commit()
    r = CliRunner().invoke(audit_app, ["verify", *_where(service)])
    assert r.exit_code == 1 and "TAMPERED: entry 3" in r.output, r.output
    assert "TAMPERED: entry 5" in r.output and isinstance(r.exception, SystemExit)
