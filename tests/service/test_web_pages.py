"""The server-rendered pages through TestClient: login, CSRF, scope (404), escaping, the flow."""

from __future__ import annotations

import re

import pytest
from servicekit import PASSWORD, make_service
from web_fixtures import csrf_of, fields, page_login

XSS = '<script>alert("x")</script>'


@pytest.fixture(scope="module")
def web(tmp_path_factory, refer_output):
    base = tmp_path_factory.mktemp("web")
    svc = make_service(base, None)
    c = svc.client
    page_login(c, "coord", PASSWORD)
    token = csrf_of(c.get("/operations").text)
    r = c.post("/operations", follow_redirects=False,
               **fields(csrf=token, name="op-web", description=XSS))
    assert r.status_code == 303, r.text
    op_id = int(r.headers["location"].split("/")[2].split("?")[0])
    r = c.post(f"/operations/{op_id}/attach", **fields(csrf=token, path=str(refer_output)))
    assert r.status_code == 200 and "attach-report" in r.text
    with svc.session() as s:
        from sqlalchemy import select

        from haven.service.models import Package
        pkgs = {p.country: p.id for p in s.scalars(select(Package))}
    yield {"svc": svc, "op": op_id, "pkgs": pkgs, "case_dir": base / "case"}
    svc.app.state.svc.engine.dispose()


def test_pages_need_a_login_and_show_the_login_form(web):
    c = web["svc"].client
    c.cookies.clear()
    r = c.get("/operations")
    assert r.status_code == 401 and 'name="password"' in r.text
    assert 'name="next" value="/operations"' in r.text


def test_login_sets_a_strict_enough_cookie_and_needs_its_csrf(web):
    c = web["svc"].client
    c.cookies.clear()
    r = c.post("/login", follow_redirects=False,
               **fields(csrf="forged", username="coord", password=PASSWORD))
    assert r.status_code == 403 and "haven_session" not in r.headers.get("set-cookie", "")
    page = c.get("/login")
    r = c.post("/login", follow_redirects=False,
               **fields(csrf=csrf_of(page.text), username="coord", password="wrong password!"))
    assert r.status_code == 401
    r = c.post("/login", follow_redirects=False,
               **fields(csrf=csrf_of(page.text), username="coord", password=PASSWORD))
    cookie = [h for h in r.headers.get_list("set-cookie") if h.startswith("haven_session=")][0]
    assert r.status_code == 303 and "HttpOnly" in cookie and "SameSite=lax" in cookie


def test_every_post_form_refuses_a_missing_or_wrong_csrf_token(web):
    svc, op, fr = web["svc"], web["op"], web["pkgs"]["FR"]
    c = svc.client
    page_login(c, "coord", PASSWORD)
    for url, extra in ((f"/operations/{op}/disseminate", {"country": "FR"}),
                       ("/operations", {"name": "op-csrf"}),
                       (f"/packages/{fr}/download", {})):
        for token in (None, "0" * 64):
            body = dict(extra, **({"csrf": token} if token else {}))
            r = c.post(url, follow_redirects=False, **fields(**body))
            assert r.status_code == 403, (url, r.status_code)
    with svc.session() as s:
        from haven.service.models import Operation, Package
        assert s.get(Package, fr).sent_at is None
        assert s.query(Operation).filter_by(name="op-csrf").count() == 0
    # an urlencoded form (not what the pages send) is refused by the service's content rules
    r = c.post("/operations", data={"name": "x"})
    assert r.status_code == 415


def test_the_whole_flow_and_another_countrys_package_is_a_404(web):
    svc, op, pkgs = web["svc"], web["op"], web["pkgs"]
    c = svc.client
    page_login(c, "coord", PASSWORD)
    page = c.get(f"/operations/{op}")
    assert page.status_code == 200 and XSS not in page.text
    r = c.post(f"/operations/{op}/disseminate", follow_redirects=False,
               **fields(csrf=csrf_of(page.text), country=["FR", "DE"]))
    assert r.status_code == 303
    page_login(c, "fr", PASSWORD)
    listing = c.get("/packages").text
    assert f"/packages/{pkgs['FR']}" in listing and f"/packages/{pkgs['DE']}" not in listing
    # DE's package (sent) and an absent one look the same: 404, no trace of the country
    theirs, absent = c.get(f"/packages/{pkgs['DE']}"), c.get("/packages/999999")
    assert theirs.status_code == absent.status_code == 404
    def same(text, n):
        return text.replace(f"packages/{n}", "packages/N").replace(f"package {n}", "package N")
    assert same(theirs.text, pkgs["DE"]) == same(absent.text, 999999)
    page = c.get(f"/packages/{pkgs['FR']}")
    token = csrf_of(page.text)
    for url in (f"/packages/{pkgs['DE']}/download", f"/packages/{pkgs['DE']}/acknowledge"):
        assert c.post(url, **fields(csrf=token)).status_code == 404
    r = c.post(f"/packages/{pkgs['FR']}/download", **fields(csrf=token))
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-tar"
    r = c.post(f"/packages/{pkgs['FR']}/acknowledge", follow_redirects=False,
               **fields(csrf=token))
    assert r.status_code == 303
    page = c.get(f"/packages/{pkgs['FR']}").text
    sid = re.search(r'name="s\.([^".]+)\.arrests"', page).group(1)
    r = c.post(f"/packages/{pkgs['FR']}/outcomes", follow_redirects=False,
               **fields(csrf=token, **{"t.searches": "3", f"s.{sid}.arrests": "2",
                                       "notes": XSS}))
    assert r.status_code == 303
    page = c.get(f"/packages/{pkgs['FR']}").text
    assert XSS not in page and "&lt;script&gt;" in page
    bad = c.post(f"/packages/{pkgs['FR']}/outcomes", **fields(csrf=token, **{"t.arrests": "-1"}))
    assert bad.status_code == 422
    page_login(c, "coord", PASSWORD)
    dash = c.get(f"/operations/{op}/dashboard").text
    assert re.search(r'data-metric="arrests">2<', dash)
    assert re.search(r'data-metric="searches">3<', dash)
    status = c.get(f"/operations/{op}").text
    assert "outcomes reported" in status
    with svc.session() as s:
        from haven.service.models import AuditEntry
        actions = [a for (a,) in s.query(AuditEntry.action).all()]
    assert {"package.download", "package.acknowledge", "outcome.report", "denied"} <= set(actions)


def test_roles_see_only_their_pages(web):
    c = web["svc"].client
    page_login(c, "de", PASSWORD)
    assert c.get("/operations").status_code == 403
    assert c.get(f"/operations/{web['op']}/dashboard").status_code == 403
    page_login(c, "analyst", PASSWORD)
    assert c.get("/packages").status_code == 403
    r = c.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/cases"


def test_logout_ends_the_session(web):
    c = web["svc"].client
    page_login(c, "es", PASSWORD)
    token = csrf_of(c.get("/packages").text)
    assert c.post("/logout", follow_redirects=False, **fields(csrf="nope")).status_code == 403
    old = c.cookies.get("haven_session")
    r = c.post("/logout", follow_redirects=False, **fields(csrf=token))
    assert r.status_code == 303
    c.cookies.set("haven_session", old)
    assert c.get("/packages").status_code == 401


def test_language_from_header_and_cookie(web):
    c = web["svc"].client
    c.cookies.clear()
    assert "Se connecter" in c.get("/login", headers={"Accept-Language": "fr-FR,fr;q=0.9"}).text
    assert "Log in" in c.get("/login", headers={"Accept-Language": "de, en;q=0.5"}).text
    r = c.get("/language?lang=fr&next=//evil.example", follow_redirects=False)
    assert r.headers["location"] == "/"
    assert "Se connecter" in c.get("/login").text


def test_an_analyst_filters_and_sorts_the_findings_of_their_case(web):
    from test_cases import _fill_case

    _fill_case(web["case_dir"])
    c = web["svc"].client
    page_login(c, "analyst", PASSWORD)
    case_id = int(re.search(r'href="/cases/(\d+)"', c.get("/cases").text).group(1))

    def paths(query: str) -> list[str]:
        r = c.get(f"/cases/{case_id}{query}")
        assert r.status_code == 200
        table = r.text.split('id="findings"')[1]
        return re.findall(r'<td class="path">(?:<a [^>]*>)?(ev/[^<]+)<', table)

    assert paths("") == ["ev/a.jpg", "ev/b.jpg", "ev/c.txt"]
    assert paths("?sort=size&order=desc") == ["ev/b.jpg", "ev/c.txt", "ev/a.jpg"]
    assert paths("?finding=known") == ["ev/b.jpg"]
    assert paths("?q=C.TXT") == ["ev/c.txt"]
    assert c.get(f"/cases/{case_id}?sort=evil").status_code == 422
    assert c.get(f"/cases/{case_id + 1}").status_code == 404
    page_login(c, "coord", PASSWORD)
    assert c.get(f"/cases/{case_id}").status_code == 403
