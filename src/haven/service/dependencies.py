"""FastAPI dependencies of the JSON API: the process state, a database session, the caller.

The caller (`principal`) comes from headers only: `Authorization: Bearer` (a session token
or an API key) or `X-API-Key`, never the pages' cookie.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from haven.service.accounts import Principal, principal_for_api_key, principal_for_token
from haven.service.errors import NotAuthenticated
from haven.service.state import ServiceState


def state(request: Request) -> ServiceState:
    return request.app.state.svc


def db(request: Request) -> Iterator[Session]:
    s = state(request).sessions()
    try:
        yield s
    finally:
        s.close()


def api_key_from(x_api_key: str | None, authorization: str | None) -> str | None:
    """The API key a request carries: `X-API-Key`, else an `hvk_` bearer token."""
    if x_api_key:
        return x_api_key
    auth = authorization or ""
    token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
    return token if token and token.startswith("hvk_") else None


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer` header, if any."""
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() if auth[:7].lower() == "bearer " else None


def _api_key_of(request: Request) -> str | None:
    return api_key_from(request.headers.get("x-api-key"), request.headers.get("authorization"))


def principal(request: Request, s: Annotated[Session, Depends(db)]) -> Principal:
    """Who calls: `Authorization: Bearer` (session token or API key) or `X-API-Key`.

    Never the pages' session cookie: a browser sends a cookie with requests another site
    makes it send (a link, a form, an image), so an API that took it would act for whoever
    is logged in, without the CSRF token the pages require. Headers are only ever set by the
    caller's own code.
    """
    token = bearer_token(request)
    key = _api_key_of(request)
    if key:
        keys = state(request).api_keys
        p = keys.get(key)
        if p is None:
            p = principal_for_api_key(s, key)
            keys.put(key, p)
    elif token:
        p = principal_for_token(s, token)
    else:
        raise NotAuthenticated("log in (POST /api/v1/auth/login) and send the token as "
                               "'Authorization: Bearer <token>', or send an API key "
                               "(the pages' cookie is not accepted here)")
    request.state.principal = p
    return p


def _principal_with_session(request: Request) -> Principal:
    with state(request).sessions() as s:
        return principal(request, s)


async def lookup_caller(request: Request) -> Principal:
    """`principal` for the matching routes: a cached API key costs no thread hop and no
    database session; anything else is resolved as usual, off the event loop."""
    key = _api_key_of(request)
    if key:
        p = state(request).api_keys.get(key)
        if p is not None:
            request.state.principal = p
            return p
    return await run_in_threadpool(_principal_with_session, request)


DB = Annotated[Session, Depends(db)]
Who = Annotated[Principal, Depends(principal)]
LookupCaller = Annotated[Principal, Depends(lookup_caller)]
