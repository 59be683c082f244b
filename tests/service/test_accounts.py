"""Passwords, sessions and API keys: hashed at rest, expiring, revocable."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from servicekit import PASSWORD
from haven.service.accounts import utcnow
from haven.service.models import ApiKey, SessionToken, User


def test_secrets_are_stored_hashed(service):
    with service.session() as s:
        hashes = list(s.scalars(select(User.password_hash)))
        keys = list(s.scalars(select(ApiKey.key_hash)))
        tokens = list(s.scalars(select(SessionToken.token_hash)))
    assert all(h.startswith("$argon2id$") and PASSWORD not in h for h in hashes)
    secret = service.tokens["lookup"].rsplit("_", 1)[-1]
    assert all(secret not in k for k in keys)
    assert service.tokens["fr"] not in tokens and len(tokens) >= 5


def test_an_expired_session_is_refused(service):
    c = service.client
    assert c.get("/api/v1/auth/me", headers=service.h("fr")).status_code == 200
    with service.session() as s:
        s.execute(update(SessionToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        s.commit()
    r = c.get("/api/v1/auth/me", headers=service.h("fr"))
    assert r.status_code == 401 and "expired" in r.json()["detail"]


def test_the_api_login_sets_no_cookie_and_the_api_ignores_the_pages_cookie(service):
    c = service.client
    r = c.post("/api/v1/auth/login", json={"username": "de", "password": PASSWORD})
    assert r.status_code == 200 and "set-cookie" not in r.headers
    token = r.json()["token"]
    c.cookies.set("haven_session", token)  # a live session, as the pages set it
    try:
        r = c.get("/api/v1/auth/me")
        assert r.status_code == 401 and "cookie is not accepted" in r.json()["detail"]
    finally:
        c.cookies.clear()
    me = c.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["country"] == "DE"


def test_wrong_passwords_unknown_users_and_bad_keys_get_the_same_401(service):
    c = service.client
    a = c.post("/api/v1/auth/login", json={"username": "fr", "password": "not the password"})
    b = c.post("/api/v1/auth/login", json={"username": "nobody", "password": "not the password"})
    assert a.status_code == b.status_code == 401 and a.json() == b.json()
    for key in ("hvk_nothing", "hvk_abc_def", service.tokens["lookup"] + "x"):
        assert c.get("/api/v1/hashsets", headers={"X-API-Key": key}).status_code == 401
