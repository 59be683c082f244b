"""ASGI middleware of the service: request size and type limits, and the lookup fast path."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from fastapi import HTTPException

from haven.service import authz
from haven.service.dependencies import api_key_from
from haven.service.errors import BadInput
from haven.service.settings import Settings
from haven.service.state import ServiceState


class _BodyTooLarge(HTTPException):
    """Raised from inside `receive`: FastAPI re-raises HTTPExceptions met while reading a
    body (anything else it turns into a 400), so the client gets 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over the limit of {limit} bytes")


class RequestLimits:
    """ASGI middleware: body size caps (multipart vs the rest) and accepted content types.

    Checked before the route runs, so an oversized or mistyped request has no side effect.
    A body without Content-Length is counted as it streams and cut at the limit.
    """

    ACCEPTED = (b"application/json", b"multipart/form-data")

    def __init__(self, app, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        has_body = (length not in (None, b"0")) or b"transfer-encoding" in headers
        if not has_body:  # nothing to count (most GETs, every lookup by GET): no wrapping
            return await self.app(scope, receive, send)
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if scope["method"] in ("POST", "PUT", "PATCH") and has_body and ctype not in self.ACCEPTED:
            return await _plain(send, 415, "send application/json (or multipart/form-data for "
                                f"file uploads), not {ctype.decode('latin-1') or 'no type'}")
        limit = (self.settings.max_upload_bytes if ctype == b"multipart/form-data"
                 else self.settings.max_json_bytes)
        if length is not None and (not length.isdigit() or int(length) > limit):
            return await _plain(send, 413, f"request body over the limit of {limit} bytes")
        seen = 0
        started = False

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _BodyTooLarge(limit)
            return message

        async def tracked(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except _BodyTooLarge:
            if not started:
                await _plain(send, 413, f"request body over the limit of {limit} bytes")


class LookupFastPath:
    """ASGI middleware answering the plain case of `GET /m/lookup` without FastAPI.

    The plain case: a cached API key (see `ApiKeyCache`), `signal` and at most
    `signal_type`, each once, and a valid signal. It gets the same answer and the same audit
    entry as the route (`ServiceHashSets.hma`), at a fraction of the cost: routing through
    every route, dependency solving and validation took more CPU than the search. Anything
    else (no or unknown key, bad or extra parameters) goes on to the route, which answers
    it, errors included, as documented.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if (scope["type"] == "http" and scope["path"] == "/m/lookup"
                and scope["method"] == "GET"):
            body = self._answer(scope)
            if body is not None:
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _answer(self, scope) -> bytes | None:
        svc: ServiceState = scope["app"].state.svc  # Starlette sets scope["app"] first
        headers = {name: value for name, value in scope["headers"]
                   if name in (b"x-api-key", b"authorization")}
        key = api_key_from(*(headers[h].decode("latin-1") if h in headers else None
                             for h in (b"x-api-key", b"authorization")))
        p = svc.api_keys.get(key) if key else None
        if p is None or p.role != authz.LOOKUP:
            return None
        try:
            params = parse_qsl(scope["query_string"].decode("latin-1"), strict_parsing=True)
        except ValueError:
            return None
        names = [k for k, _ in params]
        if ("signal" not in names or len(set(names)) != len(names)
                or not set(names) <= {"signal", "signal_type"}):
            return None
        q = dict(params)
        signal, signal_type = q["signal"], q.get("signal_type", "pdq")
        if len(signal) > 200 or len(signal_type) > 20:
            return None
        try:
            hma_type, value, body, banks, n = svc.library.hma_text(signal_type, signal)
        except BadInput:
            return None
        svc.audit_writer.submit(p.actor, "lookup.hma", "", signal_type=hma_type, signal=value,
                                banks=banks, matches=n)
        return body.encode()


async def _plain(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
