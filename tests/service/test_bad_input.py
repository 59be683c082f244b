"""Bad input gets a clear 4xx and changes nothing: sizes, JSON, content types, injection."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from sqlalchemy import func, inspect, select

from servicekit import make_service, database_url, tar_of
from haven.service.models import Base

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"

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


# -- fuzz: every route, every field, odd values: a 4xx, never a 5xx -------------------------------

ODD_IDS = ["2147483648", "-2147483649", "9223372036854775807", "9223372036854775808", "18446744073709551616", "-9223372036854775809",
           "1" + "0" * 40, "²", "١", "1e3", "0x1", "%00", "1%00", "abc", "%20", "-0"]
ODD_VALUES = [None, True, False, "1", 1.5, 2**63, 2**64, -(2**63) - 1, -1, "²", "١٢",
              "x\x00y", "\x00", [], {}, [[[[]]]], "a" * 100_000, "\ud800".encode(
                  "utf-8", "surrogatepass").decode("utf-8", "replace")]
ODD_FORM = ["²", "١٢", "9223372036854775808", "-1", "1.5", "x\x00y", "", " ", "a" * 50_000,
            "\u202e", "../../etc/passwd", "1e3"]
# every field name a page form reads (the outcome form's per-subject names included)
FORM_FIELDS = ["name", "description", "countries", "decision", "other", "encrypted", "next",
               "notes", "blur", "unblur_minutes", "language", "username", "password",
               "t.arrests", "t.searches", "t.cases_opened", "t.children_safeguarded",
               "t.material_seized", "s.S-fr0000000001.arrests", "s.S-fr0000000001.notes"]


def _fuzz_client(svc):
    from fastapi.testclient import TestClient

    return TestClient(svc.app, base_url="http://127.0.0.1", raise_server_exceptions=False)


@pytest.fixture(scope="module")
def world(backend, pg_cluster, refer_output, tmp_path_factory):
    """A service with an operation, its packages sent, and an indexed case."""
    from pathlib import Path

    from vi_case import case_copy

    svc = make_service(tmp_path_factory.mktemp("fuzz"), database_url(backend, pg_cluster))
    c, h = svc.client, svc.h
    op = c.post("/api/v1/operations", json={"name": "op-fuzz"}, headers=h("coord")).json()
    c.post(f"/api/v1/operations/{op['id']}/packages", headers=h("coord"),
           files={"archive": ("p.tar.gz", tar_of(refer_output), "application/gzip")})
    c.post(f"/api/v1/operations/{op['id']}/disseminate", json={}, headers=h("coord"))
    pkgs = {p["country"]: p["id"] for p in
            c.get(f"/api/v1/operations/{op['id']}", headers=h("coord")).json()["packages"]}
    case_id = c.get("/api/v1/cases", headers=h("analyst")).json()[0]["id"]
    with svc.session() as s:
        from haven.service.models import Case
        ids = case_copy(Path(s.get(Case, case_id).directory))
    r = c.post("/api/v1/hashsets", headers=h("coord"), data={"name": "fuzz-set", "format": "hma"},
               files={"file": ("set", f"pdq {PDQ}\n".encode(), "text/plain")})
    assert r.status_code == 201, r.text
    with svc.session() as s:
        from haven.service.models import LookupEntry
        entry_id = s.scalar(select(LookupEntry.id))
    params = {"operation_id": op["id"], "package_id": pkgs["FR"], "case_id": case_id,
              "subject_id": "S-fr0000000001", "media_id": ids["room_1.jpg"], "series_id": 1,
              "face_id": ids["face:astronaut.png"], "name": "fuzz-set", "entry_id": entry_id}
    yield svc, params
    svc.app.state.svc.engine.dispose()


def _routes(app):
    """(method, path, route) of every API and page route, logouts last (they end sessions)."""
    from fastapi.routing import APIRoute

    out = []

    def walk(routes, prefix=""):
        for r in routes:
            context = getattr(r, "include_context", None)
            if context is not None:
                walk(context.included_router.routes, prefix + context.prefix)
            elif isinstance(r, APIRoute):
                out.extend((m, prefix + r.path, r) for m in sorted(r.methods) if m != "HEAD")

    walk(app.routes)
    return sorted(out, key=lambda x: ("logout" in x[1], x[1], x[0]))


def _role_for(path: str) -> str:
    if path.startswith(("/api/v1/cases", "/cases")):
        return "analyst"
    if path.startswith(("/api/v1/packages", "/packages")):
        return "fr"
    lookup = ("lookup" in path or path.startswith(("/h/", "/m/", "/api/v1/entries")))
    return "lookup" if lookup else "coord"


def _form(svc, role, value):
    from haven.service.web.pages import csrf_for

    token = svc.tokens.get(role)
    pairs = [("csrf", csrf_for(token) if token and role != "lookup" else "")]
    pairs += [(name, value) for name in FORM_FIELDS]
    return {"files": [(k, (None, v)) for k, v in pairs]}


def _json_fields(route) -> list[str]:
    body = route.body_field
    if body is None:
        return []
    # FastAPI's ModelField has no `type_` any more: the model is the field's annotation
    model = getattr(body, "type_", None) or getattr(body.field_info, "annotation", None)
    fields = getattr(model, "model_fields", None)
    return list(fields) if fields else []


def test_the_fuzz_reaches_the_fields_of_json_bodies(world):
    svc, _ = world
    fields = {(m, p): _json_fields(r) for m, p, r in _routes(svc.app)}
    assert "pdq_threshold" in fields[("PATCH", "/api/v1/hashsets/{name}")]
    assert "username" in fields[("POST", "/api/v1/users")]


def test_fuzz_every_route_and_field_never_answers_5xx(world):
    """Ids past 64 bits, Unicode digits, NUL, wrong JSON types, deep JSON, 10 MB bodies."""
    import json

    svc, params = world
    client = _fuzz_client(svc)
    failures, sent = [], 0

    def call(method, url, role, headers=None, **kwargs):
        nonlocal sent
        sent += 1
        client.cookies.clear()
        r = client.request(method, url, headers=headers or svc.h(role), **kwargs)
        if r.status_code >= 500:
            failures.append(f"{method} {url[:90]} as {role} {str(kwargs)[:80]}: "
                            f"{r.status_code} {r.text[:100]}")
        return r

    for method, path, route in _routes(svc.app):
        role = _role_for(path)
        names = [p.name for p in route.dependant.path_params]
        valid = path.format(**{k: params.get(k, 1) for k in names})
        is_page = not path.startswith(("/api/", "/m/", "/h/"))
        form = (lambda v: _form(svc, role, v)) if is_page and method == "POST" else None
        # odd path ids, each id in turn (the others valid)
        for name in names:
            for odd in ODD_IDS:
                url = path.format(**{k: (odd if k == name else params.get(k, 1))
                                     for k in names})
                call(method, url, role, **(form("1") if form else {}))
        # odd query values, one parameter at a time
        for q in route.dependant.query_params:
            for odd in ODD_FORM + ["9" * 400]:
                call(method, valid, role, params={q.name: odd})
        # every page form field at once, with a valid CSRF token so the values are read
        if form:
            for odd in ODD_FORM:
                call(method, valid, role, **form(odd))
        if method not in ("POST", "PUT", "PATCH") or is_page:
            continue
        # JSON bodies: each field of the body model given each odd value
        for field in _json_fields(route):
            for odd in ODD_VALUES:
                call(method, valid, role, json={field: odd})
        if path.endswith("/outcomes"):
            for odd in ODD_VALUES:
                call(method, valid, role, json={"totals": {"arrests": odd}})
                call(method, valid, role, json={"subjects": [
                    {"subject_id": "S-fr0000000001", "searches": odd}]})
        raw = {"content-type": "application/json"}
        for body in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
                     b"\x00" * 1000, b"\xff\xfe\x00", b"1e999999", b'"\\ud800"',
                     b"x" * (10 * 1024 * 1024)):
            call(method, valid, role, content=body, headers={**svc.h(role), **raw})
        call(method, valid, role, content=json.dumps({"a": 1}).encode(),
             headers={**svc.h(role), "content-type": "text/plain"})
    assert sent > 1000  # the walk reached every route
    assert not failures, f"{len(failures)} of {sent} requests answered 5xx:\n" + \
        "\n".join(failures[:40])


def test_huge_ids_are_404_or_422_on_every_id_route(service):
    c, h = service.client, service.h
    for url, who in (("/api/v1/packages/9223372036854775808", "fr"),
                     ("/api/v1/packages/9223372036854775807", "fr"),
                     ("/api/v1/packages/2147483648", "fr"),
                     ("/api/v1/operations/18446744073709551616/dashboard", "coord"),
                     ("/api/v1/cases/9223372036854775808/findings", "analyst"),
                     ("/packages/9223372036854775808", "fr"),
                     ("/cases/1/media/9223372036854775808", "analyst")):
        r = c.get(url, headers=h(who))
        assert r.status_code in (404, 422), (url, r.status_code, r.text[:200])
    # the largest id a column holds (int4 on PostgreSQL) is simply absent
    r = c.get("/api/v1/packages/2147483647", headers=h("fr"))
    assert r.status_code == 404


def test_counts_take_json_integers_only(world):
    svc, params = world
    url = f"/api/v1/packages/{params['package_id']}/outcomes"
    for odd in ("1", True, 1.0, "²", None):
        r = svc.client.post(url, json={"totals": {"arrests": odd}}, headers=svc.h("fr"))
        assert r.status_code == 422, (odd, r.text[:200])
    svc.client.post(f"/api/v1/packages/{params['package_id']}/acknowledge", headers=svc.h("fr"))
    r = svc.client.post(url, json={"totals": {"arrests": 1}}, headers=svc.h("fr"))
    assert r.status_code == 201, r.text


def test_a_unicode_digit_in_a_page_count_is_a_422_page(world):
    from haven.service.web.pages import csrf_for

    svc, params = world
    svc.client.cookies.clear()
    r = svc.client.post(f"/packages/{params['package_id']}/outcomes", headers=svc.h("fr"),
                        files=[("csrf", (None, csrf_for(svc.tokens["fr"]))),
                               ("t.arrests", (None, "²"))], follow_redirects=False)
    assert r.status_code == 422 and "whole number" in r.text
