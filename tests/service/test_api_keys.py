"""API-key revocation: audited, and a revoked key gets 401 at once in every worker."""

from __future__ import annotations

from fastapi.testclient import TestClient
from servicekit import database_url, make_service
from sqlalchemy import select

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
BODY = {"signals": [{"signal_type": "pdq", "signal": PDQ}]}


def _prefix(secret: str) -> str:
    return secret.removeprefix("hvk_").split("_")[0]


def test_a_revoked_key_gets_401_at_once_in_every_worker(tmp_path, backend, pg_cluster):
    from haven.service.app import create_app
    from haven.service.models import AuditEntry

    # an hour of cache: only the revocation itself can make the key stop working
    svc = make_service(tmp_path, database_url(backend, pg_cluster), api_key_cache_seconds=3600)
    other = TestClient(create_app(svc.settings, recover_first=False), base_url="http://127.0.0.1")
    try:
        key = svc.h("lookup")
        for client in (svc.client, other):  # both workers have the key cached
            assert client.get("/m/lookup", params={"signal": PDQ}, headers=key).status_code == 200
            assert client.post("/api/v1/lookup", headers=key, json=BODY).status_code == 200
        prefix = _prefix(svc.tokens["lookup"])
        r = svc.client.post(f"/api/v1/api-keys/{prefix}/revoke", headers=svc.h("coord"))
        assert r.status_code == 200, r.text
        assert r.json()["active"] is False and r.json()["revoked_at"]
        for client in (svc.client, other):
            assert client.get("/m/lookup", params={"signal": PDQ}, headers=key).status_code == 401
            r = client.post("/api/v1/lookup", headers=key, json=BODY)
            assert r.status_code == 401 and "revoked" in r.json()["detail"]
        listed = svc.client.get("/api/v1/api-keys", headers=svc.h("coord")).json()
        assert [(k["prefix"], k["active"], bool(k["revoked_at"])) for k in listed] == [
            (prefix, False, True)]
        with svc.session() as s:
            entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "apikey.revoke"))
            assert entry.actor == "user:coord" and entry.detail["prefix"] == prefix
    finally:
        other.app.state.svc.engine.dispose()
        svc.app.state.svc.engine.dispose()


def test_only_a_coordinator_revokes_and_an_unknown_prefix_is_404(service):
    prefix = _prefix(service.tokens["lookup"])
    for who in ("fr", "analyst", "lookup"):
        r = service.client.post(f"/api/v1/api-keys/{prefix}/revoke", headers=service.h(who))
        assert r.status_code == 403, who
    r = service.client.post("/api/v1/api-keys/0123456789ab/revoke", headers=service.h("coord"))
    assert r.status_code == 404
    r = service.client.get("/m/lookup", params={"signal": PDQ}, headers=service.h("lookup"))
    assert r.status_code == 200


def test_the_cli_revokes_a_key_a_running_server_then_refuses(service):
    from typer.testing import CliRunner

    from haven.cli import app

    key = service.h("lookup")
    assert service.client.get("/m/lookup", params={"signal": PDQ}, headers=key).status_code == 200
    args = ["service", "revoke-api-key", _prefix(service.tokens["lookup"]),
            "--data-dir", str(service.settings.data_dir)]
    if service.settings.database_url:
        args += ["--database-url", service.settings.database_url]
    run = CliRunner().invoke(app, args)
    assert run.exit_code == 0, run.output
    assert service.client.get("/m/lookup", params={"signal": PDQ}, headers=key).status_code == 401
