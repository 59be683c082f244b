"""What every page module shares: the router, rendering, the caller, CSRF, form fields, and
the wellness state of pictures. Page modules (`routes`, `casework`) import from here only,
never from each other.

Authentication is the session cookie set by `/login` (HttpOnly, SameSite=Lax), or a bearer
token as for the API. Every POST form carries a CSRF token: for a session, an HMAC of the
session token (stateless, changes with every login); for the login form, a double-submitted
random cookie. Forms are sent as multipart/form-data (the service accepts JSON and multipart
bodies only).

Refusals are HTML pages with the same statuses as the API: 401 shows the login form, 403 a
role that may never use the page, 404 anything outside the caller's scope (another
country's package looks exactly like an absent one); 403/404 are audited as `denied`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from haven.errors import HavenError
from haven.service import audit
from haven.service.accounts import (Principal, principal_for_api_key, principal_for_token,
                                    token_digest, utcnow, wellness)
from haven.service.errors import BadInput, Forbidden, NotAuthenticated, ServiceError
from haven.service.models import Case, UnblurGrant
from haven.service.web import i18n

HERE = Path(__file__).parent
COOKIE = "haven_session"          # the pages' session; the JSON API never reads it
LOGIN_CSRF_COOKIE = "haven_login_csrf"
_env = Environment(loader=FileSystemLoader(HERE / "templates"),
                   autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)


def csrf_for(token: str) -> str:
    """The CSRF token of a session: an HMAC keyed by the (secret) session token."""
    return hmac.new(token.encode(), b"haven-web-csrf-v1", hashlib.sha256).hexdigest()


def local_url(target: str | None, default: str = "/") -> str:
    """A redirect target that stays on this site."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


# -- rendering -----------------------------------------------------------------------------------

def language_of(request: Request) -> str:
    return i18n.negotiate(request.cookies.get(i18n.LANG_COOKIE),
                          request.headers.get("accept-language"))


def render(request: Request, name: str, http_status: int = 200, **context) -> HTMLResponse:
    lang = language_of(request)
    p: Principal | None = getattr(request.state, "principal", None)
    token = getattr(request.state, "web_token", None)
    html = _env.get_template(name).render(
        request=request, user=p, lang=lang, languages=i18n.languages(),
        _=i18n.translator(lang), csrf=csrf_for(token) if token else "",
        here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        done=request.query_params.get("done"), **context)
    response = HTMLResponse(html, status_code=http_status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'")
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def login_page(request: Request, status: int = 200, error: str | None = None,
               next_url: str | None = None) -> HTMLResponse:
    nonce = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = render(request, "login.html", status, error=error, login_csrf=nonce,
                      next_url=local_url(next_url))
    response.set_cookie(LOGIN_CSRF_COOKIE, nonce, httponly=True, samesite="lax",
                        secure=request.app.state.svc.settings.cookie_secure, max_age=3600)
    return response


class PageRoute(APIRoute):
    """Turns service errors into HTML pages (the app's handlers answer JSON)."""

    def get_route_handler(self) -> Callable:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except NotAuthenticated as exc:
                request.state.principal = None
                request.state.web_token = None
                target = request.url.path if request.method == "GET" else "/"
                return login_page(request, 401, error=None if "log in" in str(exc) else
                                  str(exc), next_url=target)
            except ServiceError as exc:
                return _error(request, exc.status, str(exc))
            except (RequestValidationError, ValidationError) as exc:
                problems = [f"{'.'.join(str(x) for x in e.get('loc', ()))}: {e.get('msg')}"
                            for e in exc.errors()]
                return _error(request, 422, "; ".join(problems)[:2000])
            except HavenError as exc:
                return _error(request, 422, str(exc))

        return handler


def _error(request: Request, status: int, detail: str) -> HTMLResponse:
    p = getattr(request.state, "principal", None)
    if p is not None and status in (403, 404):
        with request.app.state.svc.sessions() as s:
            audit.record(s, p.actor, "denied", request.url.path, method=request.method,
                         status=status, via="web")
            s.commit()
    return render(request, "error.html", status, status=status, detail=detail)


router = APIRouter(route_class=PageRoute, include_in_schema=False)


# -- dependencies --------------------------------------------------------------------------------

def db(request: Request) -> Iterator[Session]:
    s = request.app.state.svc.sessions()
    try:
        yield s
    finally:
        s.close()


def principal(request: Request, s: Annotated[Session, Depends(db)]) -> Principal:
    """The session cookie, or (for scripts) a bearer token or API key as the API takes them."""
    request.state.principal = None
    request.state.web_token = None
    auth = request.headers.get("authorization", "")
    token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
    key = request.headers.get("x-api-key")
    if key or (token and token.startswith("hvk_")):
        p = principal_for_api_key(s, key or token)
        token = key or token
    else:
        token = token or request.cookies.get(COOKIE)
        if not token:
            raise NotAuthenticated("log in")
        p = principal_for_token(s, token)
    request.state.principal = p
    request.state.web_token = token
    return p


async def form(request: Request) -> FormData:
    return await request.form(max_files=0, max_fields=20_000)


DB = Annotated[Session, Depends(db)]
Who = Annotated[Principal, Depends(principal)]
Form = Annotated[FormData, Depends(form)]


def check_csrf(request: Request, data: FormData) -> None:
    token = getattr(request.state, "web_token", None)
    sent = data.get("csrf")
    if not token or not isinstance(sent, str) or not hmac.compare_digest(sent, csrf_for(token)):
        raise Forbidden("this form has expired or did not come from this site; reload the "
                        "page and try again")


def text_field(data: FormData, name: str, default: str = "") -> str:
    value = data.get(name, default)
    if not isinstance(value, str):
        raise BadInput(f"{name} must be text")
    return value


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# -- wellness state of pictures ------------------------------------------------------------------

def _granted(request: Request, s, p, c: Case, media_ids: list[int]) -> set[int]:
    """The items of `media_ids` this session has unblurred and whose grant is still open."""
    token = getattr(request.state, "web_token", None)
    if not token or p.kind != "user" or not media_ids:
        return set()
    return set(s.scalars(select(UnblurGrant.media_id).where(
        UnblurGrant.session_hash == token_digest(token), UnblurGrant.user_id == p.id,
        UnblurGrant.case_id == c.id, UnblurGrant.media_id.in_(media_ids),
        UnblurGrant.expires_at > utcnow())))


def view_state(request: Request, s, p, c: Case, media_ids: list[int]) -> dict[int, dict]:
    """Per item: whether it is shown blurred / grey and whether a grant made it clear."""
    blur, grey = wellness(s, p)
    granted = _granted(request, s, p, c, media_ids)
    return {m: {"blur": blur and m not in granted, "grey": grey and m not in granted,
                "granted": m in granted} for m in media_ids}
