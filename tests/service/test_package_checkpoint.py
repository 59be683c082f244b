"""Every package downloaded from a keyed service carries a signed audit checkpoint (issue 15.4):
each recipient holds a witness of the history that a later rewrite cannot match."""

from __future__ import annotations

import io
import json
import tarfile

from servicekit import database_url, make_service, tar_of
from sqlalchemy import delete, select, update

from haven.service import audit
from haven.service.models import AuditEntry, AuditHead


def _sent(svc, refer_output) -> dict[str, int]:
    c, h = svc.client, svc.h
    op = c.post("/api/v1/operations", json={"name": "op-cp"}, headers=h("coord")).json()
    r = c.post(f"/api/v1/operations/{op['id']}/packages", headers=h("coord"),
               files={"archive": ("p.tar.gz", tar_of(refer_output), "application/gzip")})
    assert r.status_code == 201, r.text
    c.post(f"/api/v1/operations/{op['id']}/disseminate", json={}, headers=h("coord"))
    return {p["country"]: p["id"] for p in
            c.get(f"/api/v1/operations/{op['id']}", headers=h("coord")).json()["packages"]}


def _members(body: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_a_downloaded_package_carries_a_checkpoint_that_later_catches_a_rewrite(
        tmp_path, backend, pg_cluster, refer_output):
    from haven.refer.verify import verify_package

    keys = tmp_path / "audit.keys"
    audit.new_key(keys)
    svc = make_service(tmp_path, database_url(backend, pg_cluster), audit_key_file=keys)
    try:
        pkgs = _sent(svc, refer_output)
        r = svc.client.post(f"/api/v1/packages/{pkgs['FR']}/download", headers=svc.h("fr"))
        assert r.status_code == 200, r.text
        cp = json.loads(_members(r.content)["FR/audit-checkpoint.json"])
        assert json.loads(r.headers["x-haven-audit-checkpoint"]) == cp
        assert cp["count"] > 3 and len(cp["head_hash"]) == 64 and cp["mac"]
        # the package still verifies (the checkpoint is outside the signed manifest), and the
        # report says what it carries
        path = tmp_path / "FR.tar"
        path.write_bytes(r.content)
        report = verify_package(path)
        assert report.ok, report.problems
        assert any("audit checkpoint" in n and str(cp["count"]) in n for n in report.notes)
        keyring = audit.Keyring.load(keys)
        with svc.session() as s:
            assert audit.verify(s, keyring, [cp]).ok
            # someone with database write access cuts the tail, download included
            keep = s.scalar(select(AuditEntry).where(AuditEntry.seq == cp["count"] - 2))
            s.execute(delete(AuditEntry).where(AuditEntry.seq > keep.seq))
            s.execute(update(AuditHead).values(seq=keep.seq, last_hash=keep.entry_hash))
            s.commit()
        with svc.session() as s:
            assert audit.verify(s, keyring).ok  # consistent on its own
            assert not audit.verify(s, keyring, [cp]).ok  # but not with FR's witness
    finally:
        svc.app.state.svc.engine.dispose()


def test_without_an_audit_key_a_package_carries_no_checkpoint(service, refer_output):
    pkgs = _sent(service, refer_output)
    r = service.client.post(f"/api/v1/packages/{pkgs['FR']}/download", headers=service.h("fr"))
    assert r.status_code == 200
    assert "FR/audit-checkpoint.json" not in _members(r.content)
    assert "x-haven-audit-checkpoint" not in r.headers
