"""Login throttling (issue 15.2): per account name and per source address, with backoff,
refused before any password hash is computed; lockouts and unlocks audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from servicekit import PASSWORD
from haven.service import accounts, throttle
from haven.service.accounts import utcnow
from haven.service.models import AuditEntry

LOGIN = "/api/v1/auth/login"


@pytest.fixture
def verifications(monkeypatch):
    """How many argon2 verifications ran."""
    calls = []
    real = accounts._hasher

    class Counting:
        def verify(self, *a):
            calls.append(1)
            return real.verify(*a)

    monkeypatch.setattr(accounts, "_hasher", Counting())
    return calls


def _actions(svc) -> list[tuple[str, str, str]]:
    with svc.session() as s:
        return [(a.actor, a.action, a.target) for a in s.scalars(select(AuditEntry)
                                                                 .order_by(AuditEntry.seq))]


def test_25_wrong_passwords_lock_the_account_before_any_hash_then_the_right_one_waits(
        service, verifications):
    c = service.client
    codes = [c.post(LOGIN, json={"username": "fr", "password": f"wrong-{n}"}).status_code
             for n in range(25)]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
    assert len(verifications) == 5  # the 20 refused tries cost no argon2 work
    r = c.post(LOGIN, json={"username": "fr", "password": PASSWORD})
    assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 60
    assert "account" in r.json()["detail"] and len(verifications) == 5
    lockouts = [a for a in _actions(service) if a[1] == "login.lockout"]
    assert lockouts == [("service:throttle", "login.lockout", "account:fr")]
    # another account from the same address is not locked by this one's failures
    assert c.post(LOGIN, json={"username": "de", "password": PASSWORD}).status_code == 200


def test_one_address_guessing_many_names_is_locked_for_every_name(service, verifications):
    c = service.client
    for n in range(20):
        assert c.post(LOGIN, json={"username": f"user-{n}", "password": "x"}).status_code == 401
    r = c.post(LOGIN, json={"username": "coord", "password": PASSWORD})
    assert r.status_code == 429 and "address" in r.json()["detail"]
    assert len(verifications) == 20
    assert ("service:throttle", "login.lockout", "address:testclient") in _actions(service)


def test_locks_double_after_each_failure_once_a_lock_ends(service):
    policy = throttle.Policy(account_failures=3, address_failures=1000, lock_seconds=10,
                             max_lock_seconds=35)
    t = utcnow()
    with service.session() as s:
        for n in range(3):
            got = throttle.record_failure(s, policy, "fr", None, now=t)
        assert [g.until for g in got] == [t + timedelta(seconds=10)]
        with pytest.raises(throttle.Throttled):
            throttle.check(s, "fr", None, now=t + timedelta(seconds=9))
        throttle.check(s, "fr", None, now=t + timedelta(seconds=11))  # the lock ended
        lengths, until = [], got[0].until
        for _ in range(3):  # one more failure each time the previous lock ends
            now = until + timedelta(seconds=1)
            (lock,) = throttle.record_failure(s, policy, "fr", None, now=now)
            lengths.append((lock.until - now).total_seconds())
            until = lock.until
        assert lengths == [20, 35, 35]  # doubled, then capped
        # a streak quiet for longer than the window (and the longest lock) is forgotten
        later = until + timedelta(seconds=policy.window_seconds + 36)
        assert throttle.record_failure(s, policy, "fr", None, now=later) == []
        s.commit()


def test_a_right_password_clears_the_account_count(service):
    c = service.client
    for _ in range(4):
        c.post(LOGIN, json={"username": "es", "password": "wrong"})
    assert c.post(LOGIN, json={"username": "es", "password": PASSWORD}).status_code == 200
    for _ in range(4):  # four more do not lock: the count started again
        assert c.post(LOGIN, json={"username": "es", "password": "wrong"}).status_code == 401
    assert c.post(LOGIN, json={"username": "es", "password": PASSWORD}).status_code == 200


def test_a_coordinator_unlocks_an_account_and_it_is_audited(service):
    c, h = service.client, service.h
    for _ in range(6):
        c.post(LOGIN, json={"username": "fr", "password": "wrong"})
    listed = c.get("/api/v1/login-locks", headers=h("coord")).json()
    assert [x["key"] for x in listed] == ["account:fr"] and listed[0]["failures"] == 5
    assert c.post("/api/v1/login-locks/unlock", json={"username": "fr"},
                  headers=h("fr")).status_code == 403
    r = c.post("/api/v1/login-locks/unlock", json={"username": "fr"}, headers=h("coord"))
    assert r.status_code == 200 and r.json() == {"key": "account:fr", "cleared": True}
    assert c.post(LOGIN, json={"username": "fr", "password": PASSWORD}).status_code == 200
    assert ("user:coord", "login.unlock", "account:fr") in _actions(service)
    r = c.post("/api/v1/login-locks/unlock", json={"username": "fr", "address": "1.2.3.4"},
               headers=h("coord"))
    assert r.status_code == 422


def test_the_login_page_is_throttled_too(service):
    from web_fixtures import csrf_of, fields

    c = service.client
    for n in range(6):
        page = c.get("/login")
        r = c.post("/login", **fields(csrf=csrf_of(page.text), username="de", password="no"))
    assert r.status_code == 429 and "too many failed logins" in r.text
    assert r.headers["retry-after"]
    c.cookies.clear()


def test_unlock_from_the_command_line(service):
    from haven.service.cli import service_app

    for _ in range(5):
        service.client.post(LOGIN, json={"username": "de", "password": "wrong"})
    s = service.settings
    where = ["--data-dir", str(s.data_dir)] + (["--database-url", s.database_url]
                                               if s.database_url else [])
    runner = CliRunner()
    r = runner.invoke(service_app, ["unlock-login", *where])
    assert r.exit_code == 0 and "account:de" in r.output, r.output
    r = runner.invoke(service_app, ["unlock-login", "--user", "de", *where])
    assert r.exit_code == 0 and "account:de: unlocked" in r.output, r.output
    assert service.client.post(LOGIN, json={"username": "de",
                                            "password": PASSWORD}).status_code == 200
    assert ("cli", "login.unlock", "account:de") in _actions(service)
