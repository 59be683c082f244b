"""Users, sessions and API keys: argon2 passwords, hashed bearer tokens, hashed API keys.

Session tokens and API keys are 256-bit random strings, so a plain SHA-256 of them is enough
to store (no dictionary to attack) and keeps a lookup to one indexed query; passwords are
low-entropy and get argon2id.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from haven.service.errors import BadInput, Conflict, NotAuthenticated, NotFound
from haven.service.models import ROLES, ApiKey, Case, SessionToken, User

_hasher = PasswordHasher()
# Verified when the user does not exist, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("haven-no-such-user")
API_KEY_PREFIX = "hvk_"


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user (role, country or case) or an API key (role lookup)."""

    kind: str            # "user" | "key"
    id: int
    name: str
    role: str
    country: str | None = None
    case_id: int | None = None

    @property
    def actor(self) -> str:
        return f"{self.kind}:{self.name}"


def _principal(user: User) -> Principal:
    return Principal("user", user.id, user.username, user.role, user.country, user.case_id)


def create_user(s: Session, username: str, password: str, role: str, *,
                country: str | None = None, case_name: str | None = None) -> User:
    """A new account; a liaison needs `country` (alpha-2), an analyst `case_name`."""
    if role not in ROLES or role == "lookup":
        raise BadInput(f"role must be one of coordinator, liaison, analyst (got {role!r}); "
                       "lookup clients get an API key")
    if not username or len(username) > 80 or not username.isprintable():
        raise BadInput("username must be 1-80 printable characters")
    if len(password) < 12:
        raise BadInput("password must be at least 12 characters")
    if s.scalar(select(User).where(User.username == username)) is not None:
        raise Conflict(f"user {username!r} exists")
    case_id = None
    if role == "liaison":
        if not country or len(country) != 2 or not country.isalpha():
            raise BadInput("a liaison needs --country, an ISO 3166 alpha-2 code")
        country = country.upper()
    else:
        country = None
    if role == "analyst":
        case = s.scalar(select(Case).where(Case.name == (case_name or "")))
        if case is None:
            raise BadInput(f"an analyst needs an existing case (--case); {case_name!r} is not one")
        case_id = case.id
    user = User(username=username, password_hash=_hasher.hash(password), role=role,
                country=country, case_id=case_id, active=True, created_at=utcnow())
    s.add(user)
    s.flush()
    return user


def authenticate(s: Session, username: str, password: str) -> User:
    user = s.scalar(select(User).where(User.username == username))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        user = None
    if user is None or not user.active:
        raise NotAuthenticated("wrong username or password")
    return user


def open_session(s: Session, user: User, hours: float) -> tuple[str, datetime]:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    expires = now + timedelta(hours=hours)
    s.add(SessionToken(token_hash=token_digest(token), user_id=user.id, created_at=now,
                       expires_at=expires, revoked=False))
    return token, expires


def close_session(s: Session, token: str) -> None:
    row = s.scalar(select(SessionToken).where(SessionToken.token_hash == token_digest(token)))
    if row is not None:
        row.revoked = True


def principal_for_token(s: Session, token: str) -> Principal:
    row = s.scalar(select(SessionToken).where(SessionToken.token_hash == token_digest(token)))
    if row is None or row.revoked or row.expires_at <= utcnow():
        raise NotAuthenticated("session expired or unknown; log in again")
    user = s.get(User, row.user_id)
    if user is None or not user.active:
        raise NotAuthenticated("account disabled")
    return _principal(user)


def create_api_key(s: Session, name: str) -> tuple[ApiKey, str]:
    """A lookup-only key; the secret is returned once and only its SHA-256 is kept."""
    if not name or len(name) > 120 or not name.isprintable():
        raise BadInput("API key name must be 1-120 printable characters")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(prefix=prefix, key_hash=token_digest(secret), name=name, role="lookup",
                 active=True, created_at=utcnow())
    s.add(key)
    s.flush()
    return key, f"{API_KEY_PREFIX}{prefix}_{secret}"


def revoke_api_key(s: Session, prefix: str) -> ApiKey:
    """Make the key with `prefix` unusable for good (it stays listed, with when it was revoked)."""
    key = s.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None:
        raise NotFound(f"no API key with prefix {prefix[:20]!r}")
    if key.revoked_at is None:
        key.active, key.revoked_at = False, utcnow()
    return key


def principal_for_api_key(s: Session, presented: str) -> Principal:
    if not presented.startswith(API_KEY_PREFIX) or presented.count("_") < 2:
        raise NotAuthenticated("malformed API key")
    prefix, _, secret = presented[len(API_KEY_PREFIX):].partition("_")
    key = s.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None or not key.active or not hmac.compare_digest(key.key_hash, token_digest(secret)):
        raise NotAuthenticated("unknown or revoked API key")
    return Principal("key", key.id, key.name, key.role)


def wellness(s: Session, p: Principal) -> tuple[bool, bool]:
    """(blur, greyscale): how media views start for `p`; blurred and grey when unknown."""
    user = s.get(User, p.id) if p.kind == "user" else None
    if user is None:
        return True, True
    return bool(user.blur_media), bool(user.grey_media)


def set_wellness(s: Session, p: Principal, *, blur: bool, grey: bool) -> tuple[bool, bool]:
    """Store `p`'s defaults; returns the previous (blur, greyscale)."""
    user = s.get(User, p.id) if p.kind == "user" else None
    if user is None:
        raise BadInput("only a user account has media view settings")
    before = bool(user.blur_media), bool(user.grey_media)
    user.blur_media, user.grey_media = blur, grey
    return before
