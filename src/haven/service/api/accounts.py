"""Accounts: log in and out, users, login locks, API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from sqlalchemy import select

from haven.service import audit, authz, throttle
from haven.service.accounts import (authenticate, close_session, create_api_key, create_user,
                                    open_session, revoke_api_key)
from haven.service.api.views import API, iso
from haven.service.dependencies import DB, Who, bearer_token, state
from haven.service.state import mark_revocation
from haven.service.errors import BadInput, NotAuthenticated
from haven.service.models import ApiKey, User
from haven.service.schemas import ApiKeyIn, LoginIn, UnlockIn, UserIn

router = APIRouter()


@router.post(f"{API}/auth/login", tags=["accounts"],
             responses={429: {"description": "too many failed logins (Retry-After)"}})
def login(body: LoginIn, request: Request, s: DB) -> dict:
    st = state(request)
    client = request.client.host if request.client else None
    throttle.check(s, body.username, client)  # before any argon2 work
    try:
        user = authenticate(s, body.username, body.password)
    except NotAuthenticated:
        audit.record(s, f"user:{body.username}", "login.failed", client=client)
        throttle.record_failure(s, st.settings.login_policy, body.username, client)
        s.commit()
        raise
    throttle.succeeded(s, body.username)
    token, expires = open_session(s, user, st.settings.session_hours)
    audit.record(s, f"user:{user.username}", "login", client=request.client.host
                 if request.client else None)
    s.commit()
    return {"token": token, "expires_at": expires.isoformat() + "Z", "role": user.role,
            "country": user.country}


@router.post(f"{API}/auth/logout", tags=["accounts"])
def logout(request: Request, p: Who, s: DB) -> dict:
    token = bearer_token(request)
    if token and p.kind == "user":
        close_session(s, token)
    audit.record(s, p.actor, "logout")
    s.commit()
    return {"ok": True}


@router.get(f"{API}/auth/me", tags=["accounts"])
def me(p: Who) -> dict:
    return {"name": p.name, "kind": p.kind, "role": p.role, "country": p.country,
            "case_id": p.case_id}


@router.get(f"{API}/users", tags=["accounts"])
def users(p: Who, s: DB) -> list[dict]:
    authz.coordinator(p)
    return [{"id": u.id, "username": u.username, "role": u.role, "country": u.country,
             "case_id": u.case_id, "active": u.active}
            for u in s.scalars(select(User).order_by(User.id))]


@router.post(f"{API}/users", tags=["accounts"], status_code=201)
def add_user(body: UserIn, p: Who, s: DB) -> dict:
    authz.coordinator(p)
    user = create_user(s, body.username, body.password, body.role, country=body.country,
                       case_name=body.case)
    audit.record(s, p.actor, "user.create", f"user:{user.username}", role=user.role,
                 country=user.country, case_id=user.case_id)
    s.commit()
    return {"id": user.id, "username": user.username, "role": user.role,
            "country": user.country}


@router.get(f"{API}/login-locks", tags=["accounts"])
def login_locks(p: Who, s: DB) -> list[dict]:
    """Account names and source addresses locked now by failed logins."""
    authz.coordinator(p)
    return [{"key": r.key, "failures": r.failures, "locked_until": iso(r.locked_until)}
            for r in throttle.locks(s)]


@router.post(f"{API}/login-locks/unlock", tags=["accounts"])
def unlock_login(body: UnlockIn, p: Who, s: DB) -> dict:
    """Clear the failed logins and the lock of an account name or a source address."""
    authz.coordinator(p)
    if (body.username is None) == (body.address is None):
        raise BadInput("give exactly one of username or address")
    key = f"account:{body.username}" if body.username else f"address:{body.address}"
    cleared = throttle.unlock(s, key)
    audit.record(s, p.actor, "login.unlock", key, cleared=cleared)
    s.commit()
    return {"key": key, "cleared": cleared}


@router.post(f"{API}/api-keys", tags=["accounts"], status_code=201)
def add_api_key(body: ApiKeyIn, p: Who, s: DB) -> dict:
    authz.coordinator(p)
    key, secret = create_api_key(s, body.name)
    audit.record(s, p.actor, "apikey.create", f"key:{key.name}", prefix=key.prefix)
    s.commit()
    return {"name": key.name, "prefix": key.prefix, "role": key.role, "key": secret,
            "note": "shown once; only its hash is stored"}


@router.get(f"{API}/api-keys", tags=["accounts"])
def api_keys(p: Who, s: DB) -> list[dict]:
    """Every API key: name, prefix, role, whether it works, when it was made and revoked."""
    authz.coordinator(p)
    return [{"name": k.name, "prefix": k.prefix, "role": k.role, "active": k.active,
             "created_at": iso(k.created_at), "revoked_at": iso(k.revoked_at)}
            for k in s.scalars(select(ApiKey).order_by(ApiKey.id))]


@router.post(f"{API}/api-keys/{{prefix}}/revoke", tags=["accounts"])
def revoke_key(prefix: Annotated[str, Path(pattern=r"^[0-9a-f]{12}$")], p: Who, s: DB,
               request: Request) -> dict:
    """Revoke an API key: from this answer on, a request carrying it gets 401 (audited)."""
    authz.coordinator(p)
    key = revoke_api_key(s, prefix)
    audit.record(s, p.actor, "apikey.revoke", f"key:{key.name}", prefix=key.prefix)
    s.commit()
    mark_revocation(state(request).settings.data_dir)
    return {"name": key.name, "prefix": key.prefix, "active": key.active,
            "revoked_at": iso(key.revoked_at)}
