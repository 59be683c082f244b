"""Every route × every role: who gets what. A new route without a row here fails the suite.

Roles: anonymous, the coordinator, the FR liaison (owner of the target package), the DE
liaison (another country: must get 404 for FR's things, exactly as for absent ones), an
analyst (case-1), and a lookup API key.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from servicekit import PASSWORD, make_service, tar_of, database_url
from vi_case import case_copy
from web_fixtures import fields

from haven.service.web.pages import csrf_for

ROLES = ("anon", "coord", "fr", "de", "analyst", "lookup")
PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def only(status_ok: int, *allowed: str, other: int = 403, **special: int) -> dict:
    """Expected status per role: `allowed` get status_ok, anon 401, the rest `other`."""
    out = {r: other for r in ROLES}
    out["anon"] = 401
    for r in allowed:
        out[r] = status_ok
    out.update(special)
    return out


PUBLIC = {r: 200 for r in ROLES}
PKG_READ = only(200, "coord", "fr", de=404)
NO_FOLLOW = {"follow_redirects": False}


def form(**values):
    """A page form as role `r` posts it: its own session's CSRF token, redirects not followed."""
    def make(w, r):
        token = w["svc"].tokens.get(r)
        return {**fields(csrf=csrf_for(token) if token else "", **values), **NO_FOLLOW}
    return lambda w, r: make(w, r)


# (method, path) → (request kwargs factory(world, role), expected per role)
MATRIX = {
    ("GET", "/openapi.json"): (None, PUBLIC),
    ("GET", "/docs"): (None, PUBLIC),
    ("GET", "/docs/oauth2-redirect"): (None, PUBLIC),
    ("GET", "/redoc"): (None, PUBLIC),
    ("GET", "/health"): (None, PUBLIC),
    ("GET", "/healthz"): (None, PUBLIC),
    ("POST", "/api/v1/auth/login"): (
        lambda w, r: {"json": {"username": "coord", "password": PASSWORD}}, PUBLIC),
    ("GET", "/api/v1/auth/me"): (None, only(200, "coord", "fr", "de", "analyst", "lookup")),
    ("GET", "/api/v1/users"): (None, only(200, "coord")),
    ("GET", "/api/v1/login-locks"): (None, only(200, "coord")),
    ("POST", "/api/v1/login-locks/unlock"): (
        lambda w, r: {"json": {"username": "nobody"}}, only(200, "coord")),
    ("POST", "/api/v1/users"): (
        lambda w, r: {"json": {"username": f"new-{r}", "password": PASSWORD,
                               "role": "liaison", "country": "IT"}}, only(201, "coord")),
    ("POST", "/api/v1/api-keys"): (lambda w, r: {"json": {"name": f"key-{r}"}},
                                   only(201, "coord")),
    ("GET", "/api/v1/api-keys"): (None, only(200, "coord")),
    # an unknown prefix (the matrix's own key must keep working): the coordinator gets 404
    ("POST", "/api/v1/api-keys/{prefix}/revoke"): (None, only(404, "coord")),
    ("GET", "/api/v1/cases"): (None, only(200, "coord", "analyst")),
    ("GET", "/api/v1/cases/{case_id}/findings"): (None, only(200, "analyst")),
    ("POST", "/api/v1/operations"): (lambda w, r: {"json": {"name": f"op-{r}"}},
                                     only(201, "coord")),
    ("GET", "/api/v1/operations"): (None, only(200, "coord")),
    ("GET", "/api/v1/operations/{operation_id}"): (None, only(200, "coord")),
    ("POST", "/api/v1/operations/{operation_id}/packages"): (
        lambda w, r: {"files": {"archive": ("p.tar.gz", w["tar"], "application/gzip")}},
        only(201, "coord")),
    ("POST", "/api/v1/operations/{operation_id}/disseminate"): (
        lambda w, r: {"json": {"countries": ["FR"]}}, only(200, "coord")),
    ("GET", "/api/v1/operations/{operation_id}/dashboard"): (None, only(200, "coord")),
    ("GET", "/api/v1/operations/{operation_id}/reminders"): (None, only(200, "coord")),
    ("GET", "/api/v1/operations/{operation_id}/overlaps"): (None, only(200, "coord")),
    ("GET", "/api/v1/packages"): (None, only(200, "coord", "fr", "de")),
    ("GET", "/api/v1/packages/{package_id}"): (None, PKG_READ),
    ("GET", "/api/v1/packages/{package_id}/subjects"): (None, PKG_READ),
    ("GET", "/api/v1/packages/{package_id}/subjects/{subject_id}"): (None, PKG_READ),
    ("POST", "/api/v1/packages/{package_id}/download"): (None, PKG_READ),
    ("POST", "/api/v1/packages/{package_id}/acknowledge"): (None, only(200, "fr", de=404)),
    ("POST", "/api/v1/packages/{package_id}/outcomes"): (
        lambda w, r: {"json": {"totals": {"arrests": 1}, "notes": f"by {r}"}},
        only(201, "fr", de=404)),
    ("GET", "/api/v1/packages/{package_id}/outcomes"): (None, PKG_READ),
    ("GET", "/api/v1/hashsets"): (None, only(200, "coord", "lookup")),
    ("POST", "/api/v1/hashsets"): (
        lambda w, r: {"files": {"file": ("l.txt", b"360ebe8964fab73553a60189969cc478\n",
                                         "text/plain")},
                      "data": {"name": "matrix-list"}}, only(201, "coord")),
    # the set `world` made (owner: the coordinator) and its entry
    ("PATCH", "/api/v1/hashsets/{name}"): (lambda w, r: {"json": {"pdq_threshold": 20}},
                                           only(200, "coord")),
    ("GET", "/api/v1/hashsets/{name}/flags"): (None, only(200, "coord")),
    # the entry is not in quarantine: its owner gets 404
    ("POST", "/api/v1/hashsets/{name}/entries/{entry_id}/release"): (None, only(404, "coord")),
    ("POST", "/api/v1/entries/{entry_id}/confirm"): (None, only(200, "lookup")),
    ("POST", "/api/v1/entries/{entry_id}/deconfirm"): (None, only(200, "lookup")),
    ("POST", "/h/hash"): (lambda w, r: {"files": {"photo": ("p.png", w["png"], "image/png")}},
                          only(200, "lookup")),
    ("POST", "/m/lookup"): (lambda w, r: {"files": {"photo": ("p.png", w["png"], "image/png")}},
                            only(200, "lookup")),
    ("POST", "/m/compare"): (lambda w, r: {"json": {"pdq": [PDQ, PDQ]}}, only(200, "lookup")),
    ("GET", "/m/index/status"): (None, only(200, "lookup")),
    ("POST", "/api/v1/lookup"): (
        lambda w, r: {"json": {"signals": [{"signal_type": "pdq", "signal": PDQ}]}},
        only(200, "lookup")),
    ("GET", "/m/lookup"): (None, only(200, "lookup")),
    ("GET", "/api/v1/audit/verify"): (None, only(200, "coord")),
    # this service has no audit key: a checkpoint cannot be signed (test_audit signs them)
    ("GET", "/api/v1/audit/checkpoint"): (None, only(422, "coord")),
    # -- server-rendered pages (haven.service.web): same authz, HTML answers --------------
    ("GET", "/static/haven.css"): (None, PUBLIC),
    ("GET", "/language"): (lambda w, r: NO_FOLLOW, {r: 303 for r in ROLES}),
    ("GET", "/login"): (None, PUBLIC),
    ("POST", "/login"): (
        lambda w, r: {**fields(csrf="n0nce", username="coord", password=PASSWORD),
                      "cookies": {"haven_login_csrf": "n0nce"}, **NO_FOLLOW},
        {r: 303 for r in ROLES}),
    ("GET", "/"): (lambda w, r: NO_FOLLOW, only(303, "coord", "fr", "de", "analyst")),
    ("GET", "/operations"): (None, only(200, "coord")),
    ("POST", "/operations"): (lambda w, r: form(name=f"op-web-{r}")(w, r), only(303, "coord")),
    ("GET", "/operations/{operation_id}"): (None, only(200, "coord")),
    ("POST", "/operations/{operation_id}/attach"): (
        lambda w, r: form(path=str(w["refer"]))(w, r), only(200, "coord")),
    ("POST", "/operations/{operation_id}/disseminate"): (form(country="FR"), only(303, "coord")),
    ("GET", "/operations/{operation_id}/dashboard"): (None, only(200, "coord")),
    ("GET", "/packages"): (None, only(200, "coord", "fr", "de")),
    ("GET", "/packages/{package_id}"): (None, PKG_READ),
    ("POST", "/packages/{package_id}/download"): (form(), PKG_READ),
    ("POST", "/packages/{package_id}/acknowledge"): (form(), only(303, "fr", de=404)),
    ("POST", "/packages/{package_id}/outcomes"): (
        form(**{"t.arrests": 1, "notes": "page report"}), only(303, "fr", de=404)),
    ("GET", "/cases"): (None, only(200, "coord", "analyst")),
    ("GET", "/cases/{case_id}"): (None, only(200, "analyst")),
    # wellness settings (every signed-in person) and the analyst's media pages
    ("GET", "/settings"): (None, only(200, "coord", "fr", "de", "analyst")),
    ("POST", "/settings"): (form(blur=1, grey=1), only(303, "coord", "fr", "de", "analyst")),
    ("GET", "/cases/{case_id}/media/{media_id}"): (None, only(200, "analyst")),
    ("GET", "/cases/{case_id}/media/{media_id}/thumb"): (None, only(200, "analyst")),
    ("POST", "/cases/{case_id}/media/{media_id}/unblur"): (form(), only(303, "analyst")),
    ("POST", "/cases/{case_id}/media/{media_id}/reblur"): (form(), only(303, "analyst")),
    ("GET", "/cases/{case_id}/media/{media_id}/scene"): (None, only(200, "analyst")),
    ("GET", "/cases/{case_id}/faces/{face_id}"): (None, only(200, "analyst")),
    ("POST", "/cases/{case_id}/faces/{face_id}/decide"): (
        lambda w, r: form(other=w["params"]["other_face_id"], decision="confirm")(w, r),
        only(303, "analyst")),
    ("GET", "/cases/{case_id}/series"): (None, only(200, "analyst")),
    ("GET", "/cases/{case_id}/series/{series_id}"): (None, only(200, "analyst")),
    ("GET", "/cases/{case_id}/text"): (None, only(200, "analyst")),
    # last: it ends the sessions used above
    ("POST", "/api/v1/auth/logout"): (None, only(200, "coord", "fr", "de", "analyst", "lookup")),
    # after the API logout: a page logout without a live cookie session just goes to /login
    ("POST", "/logout"): (form(), {r: 303 for r in ROLES}),
}


def app_routes(app) -> set[tuple[str, str]]:
    return _routes_of(app.routes, "")


def _routes_of(routes, prefix: str) -> set[tuple[str, str]]:
    out = set()
    for route in routes:
        # FastAPI >= 0.16x keeps an included router as one entry (the pages' router)
        context = getattr(route, "include_context", None)
        if context is not None:
            out |= _routes_of(context.included_router.routes, prefix + context.prefix)
            continue
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                out.add((method, prefix + route.path))
    return out


def _png() -> bytes:
    import io

    from PIL import Image, ImageDraw

    img = Image.new("RGB", (128, 128), "white")
    d = ImageDraw.Draw(img)
    for k in range(0, 128, 16):
        d.rectangle([k, k // 2, k + 10, 127 - k // 3], fill=(k * 2, 255 - k, (k * 7) % 255))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def world(backend, pg_cluster, refer_output, tmp_path_factory):
    svc = make_service(tmp_path_factory.mktemp("matrix"), database_url(backend, pg_cluster))
    c, h = svc.client, svc.h
    op = c.post("/api/v1/operations", json={"name": "op-matrix"}, headers=h("coord")).json()
    tar = tar_of(refer_output)
    c.post(f"/api/v1/operations/{op['id']}/packages", headers=h("coord"),
           files={"archive": ("p.tar.gz", tar, "application/gzip")})
    c.post(f"/api/v1/operations/{op['id']}/disseminate", json={}, headers=h("coord"))
    pkgs = {p["country"]: p["id"] for p in
            c.get(f"/api/v1/operations/{op['id']}", headers=h("coord")).json()["packages"]}
    assert c.post(f"/api/v1/packages/{pkgs['FR']}/download", headers=h("fr")).status_code == 200
    case_id = c.get("/api/v1/cases", headers=h("analyst")).json()[0]["id"]
    r = c.post("/api/v1/hashsets", headers=h("coord"), data={"name": "owned", "format": "hma"},
               files={"file": ("set", f"pdq {PDQ}\n".encode(), "text/plain")})
    assert r.status_code == 201, r.text
    entry_id = c.get("/m/lookup", params={"signal": PDQ},
                     headers=h("lookup")).json()["owned"][0]["bank_content_id"]
    with svc.session() as s:
        from haven.service.models import Case
        ids = case_copy(Path(s.get(Case, case_id).directory))  # scanned and indexed
    yield {"svc": svc, "tar": tar, "refer": refer_output, "png": _png(), "params": {
        "operation_id": op["id"], "package_id": pkgs["FR"], "subject_id": "S-fr0000000001",
        "case_id": case_id, "media_id": ids["room_1.jpg"], "series_id": 1,
        "prefix": "0123456789ab", "name": "owned", "entry_id": entry_id,
        "face_id": ids["face:astronaut.png"], "other_face_id": ids["face:chelsea.jpg"]},
        "packages": pkgs}
    svc.app.state.svc.engine.dispose()


def test_every_route_has_a_row_in_the_matrix(world):
    routes = app_routes(world["svc"].app)
    missing = routes - set(MATRIX)
    stale = set(MATRIX) - routes
    assert not missing, f"routes without an authorisation row: {sorted(missing)}"
    assert not stale, f"matrix rows for routes that no longer exist: {sorted(stale)}"


def test_another_countrys_package_looks_exactly_like_an_absent_one(world):
    svc, fr = world["svc"], world["packages"]["FR"]
    c, h = svc.client, svc.h
    absent = 10_000_000
    for method, suffix in (("GET", ""), ("GET", "/subjects"), ("GET", "/outcomes"),
                           ("POST", "/download"), ("GET", "/subjects/S-fr0000000001")):
        theirs = c.request(method, f"/api/v1/packages/{fr}{suffix}", headers=h("de"))
        nothing = c.request(method, f"/api/v1/packages/{absent}{suffix}", headers=h("de"))
        assert theirs.status_code == nothing.status_code == 404
        assert theirs.json()["detail"].replace(str(fr), "N") == \
            nothing.json()["detail"].replace(str(absent), "N")
    listed = c.get("/api/v1/packages", headers=h("de")).json()
    assert {p["country"] for p in listed} == {"DE"}
    assert "operation_id" not in listed[0]


def test_every_role_gets_the_expected_status_on_every_route(world):
    svc = world["svc"]
    failures = []
    for (method, path), (make, expected) in MATRIX.items():
        url = path.format(**world["params"])
        query = ({"signal": PDQ, "signal_type": "pdq"} if path == "/m/lookup"
                 else {"q": "pension"} if path == "/cases/{case_id}/text" else None)
        # refusals first, so a successful call by one role cannot change what the next sees
        for role in sorted(ROLES, key=lambda r: expected[r] < 300):
            kwargs = make(world, role) if make else {}
            headers = svc.h(None if role == "anon" else role)
            svc.client.cookies.clear()
            r = svc.client.request(method, url, headers=headers, params=query, **kwargs)
            if r.status_code != expected[role]:
                failures.append(f"{method} {path} as {role}: {r.status_code} "
                                f"(expected {expected[role]}) {r.text[:120]}")
    assert not failures, "\n".join(failures)


def test_logged_out_sessions_are_refused(world):
    """Runs after the matrix, whose last row logged every role out."""
    svc = world["svc"]
    r = svc.client.get("/api/v1/auth/me", headers=svc.h("fr"))
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
