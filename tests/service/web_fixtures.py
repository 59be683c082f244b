"""Helpers for the page tests: multipart form bodies, page logins, CSRF tokens from pages."""

from __future__ import annotations

import re

CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def fields(**values) -> dict:
    """httpx `files=` holding plain form fields: the service takes multipart forms only."""
    out = {}
    for name, value in values.items():
        for v in value if isinstance(value, list) else [value]:
            out.setdefault(name, []).append((None, str(v)))
    return {"files": [(k, v) for k, vs in out.items() for v in vs]}


def csrf_of(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m, "no CSRF field on the page"
    return m.group(1)


def page_login(client, username: str, password: str) -> None:
    """Log `client` in through the login form (cookie session)."""
    client.cookies.clear()
    page = client.get("/login")
    r = client.post("/login", follow_redirects=False,
                    **fields(csrf=csrf_of(page.text), username=username, password=password))
    assert r.status_code == 303, r.text[:300]
