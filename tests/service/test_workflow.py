"""The operation workflow over REST: attach, disseminate, download, acknowledge, outcomes."""

from __future__ import annotations

import io
import json
import shutil
import tarfile

import pytest
from servicekit import PASSWORD, tar_of


def attach(svc, refer_output, name="op-nightfall"):
    c = svc.client
    r = c.post("/api/v1/operations", json={"name": name, "description": "synthetic"},
               headers=svc.h("coord"))
    assert r.status_code == 201, r.text
    op_id = r.json()["id"]
    r = c.post(f"/api/v1/operations/{op_id}/packages", headers=svc.h("coord"),
               files={"archive": ("packages.tar.gz", tar_of(refer_output), "application/gzip")})
    assert r.status_code == 201, r.text
    return op_id, r.json()


def package_ids(svc, op_id) -> dict[str, int]:
    r = svc.client.get(f"/api/v1/operations/{op_id}", headers=svc.h("coord"))
    return {p["country"]: p["id"] for p in r.json()["packages"]}


def test_attach_verifies_and_imports_every_package(service, refer_output):
    op_id, report = attach(service, refer_output)
    assert sorted(a["country"] for a in report["attached"]) == ["DE", "ES", "FR", "JM", "US", "XX"]
    assert report["rejected"] == []
    ids = package_ids(service, op_id)
    folder = service.settings.packages_dir
    stored = sorted(p.name for p in folder.iterdir())
    assert len(stored) == 6 and not list(service.settings.staging_dir.iterdir())
    fr = next(p for p in stored if "-FR-" in p)
    assert (folder / fr / "files" / "manifest.sig").is_file()
    # attaching again skips the countries the operation already has
    r = service.client.post(f"/api/v1/operations/{op_id}/packages", headers=service.h("coord"),
                            files={"archive": ("p.tar.gz", tar_of(refer_output), "application/gzip")})
    assert r.json()["attached"] == [] and len(r.json()["skipped"]) == 6
    assert package_ids(service, op_id) == ids


def test_a_tampered_package_is_rejected_and_not_stored(service, refer_output, tmp_path):
    copy = tmp_path / "packages"
    shutil.copytree(refer_output, copy)
    (copy / "FR" / "subjects.csv").write_bytes(b"changed")
    op_id, report = attach(service, copy)
    rejected = {r["package"]: r["problems"] for r in report["rejected"]}
    assert "FR" in rejected and any("subjects.csv" in p for p in rejected["FR"])
    assert "FR" not in package_ids(service, op_id)
    assert not any("-FR-" in p.name for p in service.settings.packages_dir.iterdir())


def test_a_crash_mid_attach_leaves_nothing_visible(service, refer_output, monkeypatch):
    from haven.service import workflow

    calls = {"n": 0}
    real_rename = workflow.os.rename

    def crash_on_third(src, dst):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("simulated crash")
        real_rename(src, dst)

    monkeypatch.setattr(workflow.os, "rename", crash_on_third)
    r = service.client.post("/api/v1/operations", json={"name": "op-crash"},
                            headers=service.h("coord"))
    op_id = r.json()["id"]
    with pytest.raises(OSError):
        service.client.post(f"/api/v1/operations/{op_id}/packages", headers=service.h("coord"),
                            files={"archive": ("p.tar.gz", tar_of(refer_output), "application/gzip")})
    assert package_ids(service, op_id) == {}
    assert list(service.settings.packages_dir.iterdir()) == []
    assert list(service.settings.staging_dir.iterdir()) == []


def test_status_moves_sent_downloaded_acknowledged_outcomes(service, refer_output):
    c, h = service.client, service.h
    op_id, _ = attach(service, refer_output)
    ids = package_ids(service, op_id)
    fr = ids["FR"]
    # before dissemination the liaison sees nothing, not even that it exists
    assert c.get("/api/v1/packages", headers=h("fr")).json() == []
    assert c.get(f"/api/v1/packages/{fr}", headers=h("fr")).status_code == 404
    r = c.post(f"/api/v1/operations/{op_id}/disseminate", json={"countries": ["FR", "DE"]},
               headers=h("coord"))
    assert sorted(x["country"] for x in r.json()["sent"]) == ["DE", "FR"]
    listed = c.get("/api/v1/packages", headers=h("fr")).json()
    assert [p["country"] for p in listed] == ["FR"] and listed[0]["status"] == "sent"
    # acknowledging before downloading is refused
    assert c.post(f"/api/v1/packages/{fr}/acknowledge", headers=h("fr")).status_code == 409
    r = c.post(f"/api/v1/packages/{fr}/download", headers=h("fr"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(r.content)) as tar:
        names = tar.getnames()
    assert "FR/manifest.json" in names and "FR/subjects.json" in names
    assert c.get(f"/api/v1/packages/{fr}", headers=h("fr")).json()["status"] == "downloaded"
    # only the receiving country acknowledges
    assert c.post(f"/api/v1/packages/{fr}/acknowledge", headers=h("coord")).status_code == 403
    r = c.post(f"/api/v1/packages/{fr}/acknowledge", headers=h("fr"))
    assert r.status_code == 200 and r.json()["status"] == "acknowledged"
    body = {"totals": {"searches": 2, "arrests": 1, "cases_opened": 1,
                       "children_safeguarded": 3, "material_seized": 4},
            "subjects": [{"subject_id": "S-fr0000000001", "arrests": 1, "notes": "arrested"}],
            "notes": "first report"}
    r = c.post(f"/api/v1/packages/{fr}/outcomes", json=body, headers=h("fr"))
    assert r.status_code == 201, r.text
    assert r.json()["package"]["status"] == "outcomes reported"
    rows = c.get(f"/api/v1/packages/{fr}/outcomes", headers=h("fr")).json()
    assert {(o["subject_id"], o["arrests"]) for o in rows} == {("S-fr0000000001", 1), (None, 1)}
    # a subject of another package is not accepted
    bad = {"subjects": [{"subject_id": "S-de0000000001", "arrests": 1}]}
    assert c.post(f"/api/v1/packages/{fr}/outcomes", json=bad, headers=h("fr")).status_code == 422
    dash = c.get(f"/api/v1/operations/{op_id}/dashboard", headers=h("coord")).json()
    assert dash["by_country"]["FR"]["arrests"] == 2
    assert dash["by_country"]["FR"]["children_safeguarded"] == 3
    assert dash["by_country"]["FR"]["status"] == "outcomes reported"
    assert dash["by_country"]["DE"]["status"] == "sent"
    assert dash["totals"]["arrests"] == 2
    assert dash["over_time"][0]["by_country"]["FR"]["searches"] == 2
    # DE was sent and not acknowledged: a reminder at 0 days, none at 7
    due = c.get(f"/api/v1/operations/{op_id}/reminders?days=0", headers=h("coord")).json()
    assert [x["country"] for x in due["unacknowledged"]] == ["DE"]
    assert c.get(f"/api/v1/operations/{op_id}/reminders", headers=h("coord")).json()[
        "unacknowledged"] == []
    # everything above is in the audit chain
    actions = _audit_actions(service)
    for a in ("operation.attach", "package.disseminate", "package.download",
              "package.acknowledge", "outcome.report", "login"):
        assert a in actions
    assert c.get("/api/v1/audit/verify", headers=h("coord")).json()["ok"] is True


def test_overlaps_name_the_other_country_but_not_its_subject(service, refer_output):
    c, h = service.client, service.h
    op_id, report = attach(service, refer_output)
    assert report["overlaps"] >= 1
    c.post(f"/api/v1/operations/{op_id}/disseminate", json={}, headers=h("coord"))
    ids = package_ids(service, op_id)
    subjects = c.get(f"/api/v1/packages/{ids['FR']}/subjects", headers=h("fr")).json()
    es_subject = next(x for x in subjects if x["subject_id"] == "S-es0000000001")
    # the shared subject sits in both packages; each side learns the other country only
    assert {"kind": "email", "other_country": "ES"} in [
        {k: o[k] for k in ("kind", "other_country")} for o in es_subject["overlaps"]]
    es_side = c.get(f"/api/v1/packages/{ids['ES']}/subjects", headers=h("es")).json()
    assert any(o["other_country"] == "FR" for x in es_side for o in x["overlaps"])
    text = json.dumps(es_side)
    assert "amelie" not in text.lower() and "S-fr0000000001" not in text
    full = c.get(f"/api/v1/operations/{op_id}/overlaps", headers=h("coord")).json()
    assert any({o["country_a"], o["country_b"]} == {"ES", "FR"} for o in full)
    # digests only: no plaintext identifier in the identifiers table
    from sqlalchemy import select

    from haven.service.models import Identifier

    with service.session() as s:
        stored = " ".join(s.scalars(select(Identifier.digest)))
    assert "example" not in stored and "@" not in stored


def test_a_new_operation_overlapping_an_earlier_one_is_flagged(service, refer_output, tmp_path):
    """A later package whose subject shares a phone with another country's subject."""
    c, h = service.client, service.h
    attach(service, refer_output, "op-one")
    later = tmp_path / "later"
    shutil.copytree(refer_output, later)
    # re-sign nothing: reuse the DE package unchanged under a second operation → DE vs DE is
    # not an overlap; FR (same e-mail as ES's shared subject) is, across operations
    for cc in ("DE", "ES", "JM", "US", "XX"):
        shutil.rmtree(later / cc)
    op2, report = attach(service, later, "op-two")
    assert report["attached"][0]["country"] == "FR"
    assert report["attached"][0]["overlaps"] >= 1


def _audit_actions(service) -> set[str]:
    from sqlalchemy import select

    from haven.service.models import AuditEntry

    with service.session() as s:
        return set(s.scalars(select(AuditEntry.action)))


def test_start_up_sweeps_what_an_interrupted_attach_left(service):
    from haven.service.app import create_app

    (service.settings.staging_dir / "pkg-half").mkdir()
    (service.settings.staging_dir / "pkg-half" / "subjects.csv").write_text("half")
    orphan = service.settings.packages_dir / "op9-FR-deadbeef"
    orphan.mkdir()
    service.app.state.svc.engine.dispose()
    again = create_app(service.settings)
    try:
        assert list(service.settings.staging_dir.iterdir()) == []
        assert not orphan.exists()
    finally:
        again.state.svc.engine.dispose()


def test_the_sealed_archive_travels_with_the_package(service, tmp_path):
    """A build with the country's age key: the liaison can fetch the .tar.age as built."""
    import pyrage
    from refer_fixtures import write_operation

    from haven.refer.build import BuildOptions, build_packages

    identity = pyrage.x25519.Identity.generate()
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "FR.age.pub").write_text(str(identity.to_public()) + "\n")
    out = tmp_path / "packages"
    build_packages(write_operation(tmp_path / "op"), out,
                   BuildOptions(keys_dir=keys, timestamp="2026-01-10T09:00:00Z",
                                allow_plaintext=frozenset({"DE", "ES", "US", "XX"})))
    op_id, report = attach(service, out)
    assert report["rejected"] == [], report
    fr = package_ids(service, op_id)["FR"]
    service.client.post(f"/api/v1/operations/{op_id}/disseminate", json={},
                        headers=service.h("coord"))
    r = service.client.post(f"/api/v1/packages/{fr}/download?encrypted=true",
                           headers=service.h("fr"))
    assert r.status_code == 200 and r.content.startswith(b"age-encryption.org/")
    assert (out / "FR.tar.age").read_bytes() == r.content
    assert pyrage.decrypt(r.content, [identity])[:3]  # the country can open it
    de = package_ids(service, op_id)["DE"]
    r = service.client.post(f"/api/v1/packages/{de}/download?encrypted=true",
                           headers=service.h("de"))
    assert r.status_code == 404


def test_a_page_cookie_alone_changes_nothing_through_the_api(service, refer_output):
    """Issue 15.1: a cross-site link or form carries the liaison's cookie, never a header."""
    from web_fixtures import page_login

    op_id, _ = attach(service, refer_output)
    service.client.post(f"/api/v1/operations/{op_id}/disseminate", json={},
                        headers=service.h("coord"))
    fr = package_ids(service, op_id)["FR"]
    browser = _browser(service)
    page_login(browser, "fr", PASSWORD)
    try:
        assert browser.get(f"/packages/{fr}").status_code == 200  # the cookie is live
        assert browser.get(f"/api/v1/packages/{fr}/download").status_code == 405
        for url in (f"/api/v1/packages/{fr}/download", f"/api/v1/packages/{fr}/acknowledge",
                    "/api/v1/auth/logout", f"/api/v1/packages/{fr}/outcomes"):
            r = browser.post(url, json={"totals": {"arrests": 1}} if "outcomes" in url else None,
                             headers={"Origin": "http://127.0.0.1"})
            assert r.status_code == 401, (url, r.status_code, r.text[:200])
        assert browser.get(f"/packages/{fr}").status_code == 200  # not logged out
    finally:
        browser.close()
    r = service.client.get(f"/api/v1/packages/{fr}", headers=service.h("fr"))
    assert r.json()["status"] == "sent" and r.json()["downloaded_at"] is None
    with service.session() as s:
        from sqlalchemy import select

        from haven.service.models import AuditEntry
        actions = list(s.scalars(select(AuditEntry.action)))
    assert "package.download" not in actions and "package.acknowledge" not in actions


def _browser(service):
    from fastapi.testclient import TestClient

    return TestClient(service.app, base_url="http://127.0.0.1")
