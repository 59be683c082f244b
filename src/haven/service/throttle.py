"""Login throttling: per account name and per source address, checked before any password
hash is computed.

Each failed login counts against two keys, `account:<name as typed>` and `address:<peer>`.
A key that reaches its limit of failures (counted while they come less than `window` apart)
is locked for `lock_seconds`, doubled for every further failure after a lock ends, up to
`max_lock_seconds`. While a key is locked, logins for it are refused with 429 and a
Retry-After before the argon2 verification runs, so a flood costs a database read per
attempt, not 0.1-0.4 s of CPU. A successful login clears its account's count (not its
address's: one valid account must not reset an address guessing others). The rows live in
the database, so every worker of `haven serve --workers N` sees the same counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from haven.service import audit
from haven.service.accounts import utcnow
from haven.service.errors import Throttled  # noqa: F401 - throttle.Throttled in tests
from haven.service.models import LoginThrottle


ACTOR = "service:throttle"


@dataclass(frozen=True)
class Policy:
    """Limits of failures before a lock, per kind of key, and how long locks last."""

    account_failures: int = 5
    address_failures: int = 20
    lock_seconds: float = 60.0
    max_lock_seconds: float = 3600.0
    window_seconds: float = 900.0

    def limit(self, key: str) -> int:
        return self.account_failures if key.startswith("account:") else self.address_failures

    def lock_for(self, key: str, failures: int) -> float:
        """Seconds of lock after `failures` failures (0 below the limit): doubling backoff."""
        over = failures - self.limit(key)
        if over < 0:
            return 0.0
        return min(self.lock_seconds * 2 ** min(over, 40), self.max_lock_seconds)


@dataclass(frozen=True)
class Lockout:
    """A key locked by a failure: audited as `login.lockout`."""

    key: str
    failures: int
    until: datetime


def keys(username: str, address: str | None) -> list[str]:
    out = [f"account:{username[:200]}"]
    if address:
        out.append(f"address:{address[:200]}")
    return out


def check(s: Session, username: str, address: str | None, now: datetime | None = None) -> None:
    """Raise `Throttled` when the account name or the address is locked (no hash computed)."""
    now = now or utcnow()
    rows = s.scalars(select(LoginThrottle).where(
        LoginThrottle.key.in_(keys(username, address)),
        LoginThrottle.locked_until.is_not(None), LoginThrottle.locked_until > now)).all()
    if rows:
        until = max(r.locked_until for r in rows)
        wait = max(1, math.ceil((until - now).total_seconds()))
        kinds = sorted({r.key.split(":", 1)[0] for r in rows})
        raise Throttled(f"too many failed logins for this {' and '.join(kinds)}; "
                        f"try again in {wait} s", retry_after=wait)


def record_failure(s: Session, policy: Policy, username: str, address: str | None,
                   now: datetime | None = None) -> list[Lockout]:
    """Count a failed login against both keys; each lock it starts is audited
    (`login.lockout`, target the key) and returned."""
    now = now or utcnow()
    window = timedelta(seconds=policy.window_seconds)
    # forget quiet keys: keeps the table to what is being guessed now
    s.execute(delete(LoginThrottle).where(
        LoginThrottle.last_failure_at < now - window - timedelta(seconds=policy.max_lock_seconds),
        (LoginThrottle.locked_until.is_(None)) | (LoginThrottle.locked_until < now)))
    out = []
    for key in keys(username, address):
        _ensure(s, key, now)
        row = s.scalar(select(LoginThrottle).where(LoginThrottle.key == key).with_for_update())
        locked = row.locked_until is not None and row.locked_until > now
        if not locked and row.locked_until is None and row.last_failure_at < now - window:
            row.failures = 0  # an old, never-locked streak: start again
        row.failures += 1
        row.last_failure_at = now
        seconds = policy.lock_for(key, row.failures)
        if seconds and not locked:
            row.locked_until = now + timedelta(seconds=seconds)
            out.append(Lockout(key, row.failures, row.locked_until))
            audit.record(s, ACTOR, "login.lockout", key, failures=row.failures,
                         until=row.locked_until.isoformat() + "Z", seconds=seconds)
    s.flush()
    return out


def succeeded(s: Session, username: str) -> None:
    """A right password clears its account's count and lock (an unlock, not audited apart)."""
    s.execute(delete(LoginThrottle).where(LoginThrottle.key == f"account:{username[:200]}"))


def locks(s: Session, now: datetime | None = None) -> list[LoginThrottle]:
    """Keys locked now, longest lock first."""
    now = now or utcnow()
    return list(s.scalars(select(LoginThrottle).where(LoginThrottle.locked_until > now)
                          .order_by(LoginThrottle.locked_until.desc())))


def unlock(s: Session, key: str) -> bool:
    """Clear `key` (`account:<name>` or `address:<ip>`): its count and any lock."""
    return bool(s.execute(delete(LoginThrottle).where(LoginThrottle.key == key)).rowcount)


def _ensure(s: Session, key: str, now: datetime) -> None:
    """The key's row exists (an upsert, so two workers failing at once cannot collide)."""
    dialect = s.get_bind().dialect.name
    make = pg_insert if dialect == "postgresql" else sqlite_insert
    s.execute(make(LoginThrottle).values(key=key, failures=0, last_failure_at=now)
              .on_conflict_do_nothing(index_elements=["key"]))
