"""Bad input gets a clear 4xx and changes nothing: sizes, JSON, content types, injection."""

from __future__ import annotations

from urllib.parse import quote

from sqlalchemy import func, inspect, select

from servicekit import make_service, database_url, tar_of
from haven.service.models import Base

INJECTIONS = [
    "'; DROP TABLE svc_users; --",
    "Robert'); DROP TABLE svc_operations;--",
    "\" OR \"1\"=\"1",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "{{7*7}}${7*7}",
    "../../../etc/passwd",
    "nul\x00byte",
    "a" * 20_000,
]


def snapshot(svc) -> dict[str, int]:
    with svc.session() as s:
        return {t.name: s.scalar(select(func.count()).select_from(t))
                for t in Base.metadata.sorted_tables}


def _op_id(svc) -> int:
    r = svc.client.post("/api/v1/operations", json={"name": "op-base"}, headers=svc.h("coord"))
    return r.json()["id"]


def rejected_calls(svc, op_id: int, payload: str):
    """(description, method, url, kwargs) that must all be refused for `payload`."""
    yield "login username", "POST", "/api/v1/auth/login", {
        "json": {"username": payload, "password": "x" * 12}}
    yield "user name", "POST", "/api/v1/users", {"json": {
        "username": payload, "password": "p" * 12, "role": "coordinator"}}
    yield "user country", "POST", "/api/v1/users", {"json": {
        "username": "ok-name", "password": "p" * 12, "role": "liaison", "country": payload}}
    yield "user case", "POST", "/api/v1/users", {"json": {
        "username": "ok-name", "password": "p" * 12, "role": "analyst", "case": payload}}
    yield "user role", "POST", "/api/v1/users", {"json": {
        "username": "ok-name", "password": "p" * 12, "role": payload}}
    yield "api key name", "POST", "/api/v1/api-keys", {"json": {"name": payload}}
    yield "operation name", "POST", "/api/v1/operations", {"json": {"name": payload}}
    yield "countries", "POST", f"/api/v1/operations/{op_id}/disseminate", {
        "json": {"countries": [payload]}}
    yield "hash set name", "POST", "/api/v1/hashsets", {
        "files": {"file": ("x", b"0" * 32, "text/plain")}, "data": {"name": payload}}
    yield "hash set format", "POST", "/api/v1/hashsets", {
        "files": {"file": ("x", b"0" * 32, "text/plain")}, "data": {"name": "x", "format": payload}}
    yield "signal", "POST", "/api/v1/lookup", {"json": {"signals": [
        {"signal_type": "md5", "signal": payload}]}}
    yield "signal type", "POST", "/api/v1/lookup", {"json": {"signals": [
        {"signal_type": payload, "signal": "0" * 32}]}}
    yield "hma signal", "GET", "/m/lookup", {"params": {"signal": payload}}
    yield "reminder days", "GET", f"/api/v1/operations/{op_id}/reminders", {
        "params": {"days": payload}}
    yield "path id", "GET", f"/api/v1/operations/{quote(payload[:50], safe='')}", {}
    yield "findings filter", "GET", "/api/v1/cases/1/findings", {"params": {"finding": payload}}


def _who(url: str) -> str:
    if "lookup" in url:
        return "lookup"
    return "analyst" if "/cases/" in url else "coord"


def test_injection_strings_in_name_fields_are_422_with_no_side_effect(service):
    op_id = _op_id(service)
    before = snapshot(service)
    for payload in INJECTIONS:
        for what, method, url, kwargs in rejected_calls(service, op_id, payload):
            r = service.client.request(method, url, headers=service.h(_who(url)), **kwargs)
            assert r.status_code in (404, 422), f"{what} {payload[:30]!r}: {r.status_code} {r.text[:200]}"
            assert r.headers["content-type"] == "application/json"
    assert snapshot(service) == before


def test_free_text_is_stored_and_returned_verbatim(service):
    c, h = service.client, service.h
    texts = [p for p in INJECTIONS if "\x00" not in p and len(p) < 10_000]
    for n, payload in enumerate(texts):
        r = c.post("/api/v1/operations", json={"name": f"op-text-{n}", "description": payload},
                   headers=h("coord"))
        assert r.status_code == 201
        got = c.get(f"/api/v1/operations/{r.json()['id']}", headers=h("coord")).json()
        assert got["description"] == payload
    # and the tables are all still there
    with service.session() as s:
        names = set(inspect(s.get_bind()).get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} <= names


def test_control_characters_and_overlong_free_text_are_422(service):
    c, h = service.client, service.h
    before = snapshot(service)
    for text in ("nul\x00byte", "bell\x07", "a" * 10_001):
        r = c.post("/api/v1/operations", json={"name": "op-x", "description": text},
                   headers=h("coord"))
        assert r.status_code == 422
    assert snapshot(service) == before


def test_malformed_json_wrong_types_and_extra_fields_are_422(service):
    c, h = service.client, service.h
    before = snapshot(service)
    hdr = {**h("coord"), "content-type": "application/json"}
    for body in (b'{"name": ', b"[]", b'{"name": 5}', b'{"name": "ok", "admin": true}',
                 b"\xff\xfe", b'{"name": "' + b"a" * 300 + b'"}'):
        r = c.post("/api/v1/operations", content=body, headers=hdr)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["detail"]
    r = c.post("/api/v1/lookup", content=b"{not json", headers={**h("lookup"),
                                                               "content-type": "application/json"})
    assert r.status_code == 422
    assert snapshot(service) == before


def test_wrong_content_types_are_415(service):
    before = snapshot(service)
    for ctype in ("text/plain", "application/xml", "application/x-www-form-urlencoded", ""):
        headers = {**service.h("coord"), "content-type": ctype}
        r = service.client.post("/api/v1/operations", content=b'{"name": "op-ct"}',
                                headers=headers)
        assert r.status_code == 415 and "application/json" in r.json()["detail"], ctype
    assert snapshot(service) == before


def test_oversized_uploads_are_413_and_leave_nothing(tmp_path, backend, pg_cluster,
                                                     refer_output):
    svc = make_service(tmp_path, database_url(backend, pg_cluster), max_upload_bytes=20_000,
                       max_json_bytes=2_000)
    try:
        c, h = svc.client, svc.h
        op_id = _op_id(svc)
        before = snapshot(svc)
        big = tar_of(refer_output, gz=False)
        assert len(big) > 20_000
        r = c.post(f"/api/v1/operations/{op_id}/packages", headers=h("coord"),
                   files={"archive": ("p.tar", big, "application/x-tar")})
        assert r.status_code == 413 and "limit" in r.json()["detail"]
        # no Content-Length (chunked): counted as it streams and cut at the limit
        r = c.post("/api/v1/operations", headers={**h("coord"), "content-type": "application/json"},
                   content=iter([b'{"name": "op-big", "description": "', b"x" * 5_000, b'"}']))
        assert r.status_code == 413
        r = c.post("/api/v1/lookup", headers=h("lookup"), json={"signals": [
            {"signal_type": "md5", "signal": "0" * 32}] * 100})
        assert r.status_code == 413
        assert snapshot(svc) == before
        assert list(svc.settings.staging_dir.iterdir()) == []
        assert list(svc.settings.packages_dir.iterdir()) == []
    finally:
        svc.app.state.svc.engine.dispose()


def test_hostile_archives_are_refused(service, tmp_path):
    import io
    import tarfile

    op_id = _op_id(service)
    for build in ("link", "traversal", "garbage"):
        buf = io.BytesIO()
        if build == "garbage":
            buf.write(b"not a tar at all" * 10)
        else:
            with tarfile.open(fileobj=buf, mode="w") as tar:
                info = tarfile.TarInfo("FR/manifest.json" if build == "link" else "../../evil")
                if build == "link":
                    info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                    tar.addfile(info)
                else:
                    info.size = 4
                    tar.addfile(info, io.BytesIO(b"evil"))
        r = service.client.post(f"/api/v1/operations/{op_id}/packages", headers=service.h("coord"),
                                files={"archive": ("p.tar", buf.getvalue(), "application/x-tar")})
        assert r.status_code == 422, (build, r.text)
    assert list(service.settings.staging_dir.iterdir()) == []
    assert not (tmp_path.parent / "evil").exists()
