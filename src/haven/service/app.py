"""The FastAPI application: thin routes over `authz`, `workflow`, `lookup` and `audit`.

`create_app(settings)` migrates the database (`alembic upgrade head`), sweeps leftovers of an
interrupted attach, loads the lookup library and returns the app. Routes live under
`/api/v1` (JSON) and `/m/lookup` (HMA's shape); server-rendered pages can be mounted later
beside them and reuse the same domain functions and `authz`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import (Depends, FastAPI, File, Form, HTTPException, Query, Request, Response,
                     UploadFile)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from haven.errors import HashSetFormatError, HavenError
from haven.service import audit, authz, throttle, workflow
from haven.service.accounts import (Principal, authenticate, close_session, create_api_key,
                                    create_user, open_session, principal_for_api_key,
                                    principal_for_token, token_digest)
from haven.service.db import make_engine, session_factory, upgrade
from haven.service.deconflict import overlaps_for_subjects
from haven.service.errors import (BadInput, NotAuthenticated, NotFound, ServiceError, Throttled,
                                  TooLarge)
from haven.service.lookup import (LibrarySync, LookupLibrary, check_signal, import_file,
                                  serve_single_threaded)
from haven.service.models import (LookupHashSet, Operation, Outcome, Overlap, Package, Subject,
                                  User)
from haven.service.schemas import (ApiKeyIn, DisseminateIn, LoginIn, LookupIn, ObjectId,
                                   OperationIn, OutcomesIn, SubjectIdPath, UnlockIn,
                                   UserIn)
from haven.service.settings import Settings, pause_point
from haven.service.web import router as web_router

API = "/api/v1"


class ApiKeyCache:
    """API keys verified in the last `ttl` seconds, by the SHA-256 of the presented key.

    A lookup then costs no database read. Only verified keys are kept (at most one entry
    per issued key); a key made inactive or deleted stops working within `ttl` in every
    worker, since each entry expires and the row is read again.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._keys: dict[str, tuple[Principal, float]] = {}

    def get(self, presented: str) -> Principal | None:
        hit = self._keys.get(token_digest(presented))
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        return None

    def put(self, presented: str, p: Principal) -> None:
        if self.ttl > 0:
            self._keys[token_digest(presented)] = (p, time.monotonic() + self.ttl)


@dataclass
class ServiceState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    library: LookupLibrary
    audit_writer: audit.AuditWriter
    api_keys: ApiKeyCache
    library_sync: LibrarySync


# -- request limits ------------------------------------------------------------------------------

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
    entry as the route (`LookupLibrary.hma`), at a fraction of the cost: routing through
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
            hma_type, value, banks, n = svc.library.hma(signal_type, signal)
        except BadInput:
            return None
        svc.audit_writer.submit(p.actor, "lookup.hma", "", signal_type=hma_type, signal=value,
                                banks=len(banks), matches=n)
        return json.dumps(banks, separators=(",", ":")).encode()


async def _plain(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


# -- dependencies --------------------------------------------------------------------------------

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


def _api_key_of(request: Request) -> str | None:
    return api_key_from(request.headers.get("x-api-key"), request.headers.get("authorization"))


def principal(request: Request, s: Annotated[Session, Depends(db)]) -> Principal:
    """Who calls: `Authorization: Bearer` (session token or API key) or `X-API-Key`.

    Never the pages' session cookie: a browser sends a cookie with requests another site
    makes it send (a link, a form, an image), so an API that took it would act for whoever
    is logged in, without the CSRF token the pages require. Headers are only ever set by the
    caller's own code.
    """
    auth = request.headers.get("authorization", "")
    token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
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


def _pkg_json(pkg: Package, p: Principal) -> dict:
    out = {"id": pkg.id, "country": pkg.country, "status": workflow.status(pkg),
           "subjects": pkg.subject_count, "records": pkg.record_count,
           "manifest_sha256": pkg.manifest_sha256, "signer_key_id": pkg.signer_key_id,
           "encrypted_archive": pkg.has_archive,
           "sent_at": _iso(pkg.sent_at), "downloaded_at": _iso(pkg.downloaded_at),
           "acknowledged_at": _iso(pkg.acknowledged_at), "outcomes_at": _iso(pkg.outcomes_at)}
    if p.role == authz.COORDINATOR:
        out["operation_id"] = pkg.operation_id
        out["imported_at"] = _iso(pkg.imported_at)
    return out


def _iso(value) -> str | None:
    return value.isoformat() if value else None


# -- the app -------------------------------------------------------------------------------------

def recover(settings: Settings) -> list[str]:
    """Start-up recovery, once per server (not per worker): migrate, remove what an
    interrupted attach or upload left (staging, unreferenced package folders)."""
    settings.prepare()
    engine = make_engine(settings.url)
    try:
        upgrade(engine)
        with session_factory(engine, settings.audit_keyring())() as s:
            audit.check_key(s)
            return workflow.sweep(s, settings)
    finally:
        engine.dispose()


def create_app(settings: Settings | None = None, *, recover_first: bool = True) -> FastAPI:
    """The service app for `settings` (default: from the environment); migrates on creation.

    `recover_first=False` is for the workers of a multi-process server, whose parent ran
    `recover` before starting them: a worker restarted later must not sweep the staging
    folder under another worker's upload.
    """
    settings = settings or Settings.from_env()
    if recover_first:
        recover(settings)
    settings.prepare()
    engine = make_engine(settings.url)
    if not recover_first:
        upgrade(engine)  # a no-op at head; kept so a worker never runs on an old schema
    keyring = settings.audit_keyring()
    sessions = session_factory(engine, keyring)
    with sessions() as s:
        audit.check_key(s)  # a keyed chain without its key: refuse to start, not every request
    serve_single_threaded()
    library = LookupLibrary(settings.pdq_threshold)
    with sessions() as s:
        library.reload(s)
    writer = audit.AuditWriter(sessions, interval=settings.audit_flush_seconds)
    sync = LibrarySync(library, sessions, settings.library_poll_seconds)

    @asynccontextmanager
    async def lifespan(_app):
        sync.start()
        try:
            yield
        finally:  # clean shutdown: every queued lookup entry reaches the chain
            sync.stop()
            await run_in_threadpool(writer.close)

    app = FastAPI(title="haven coordination service", version="1", lifespan=lifespan,
                  description="Referral dissemination, outcomes and hash matching (haven issue 5).")
    app.state.svc = ServiceState(settings, engine, sessions, library, writer,
                                 ApiKeyCache(settings.api_key_cache_seconds), sync)
    app.add_middleware(RequestLimits, settings=settings)
    app.add_middleware(LookupFastPath)  # outermost: the plain lookup skips everything else
    _handlers(app)
    _routes(app)
    app.include_router(web_router)
    return app


def create_worker_app() -> FastAPI:
    """Factory for the workers of `haven serve --workers N` (settings from the environment)."""
    return create_app(Settings.from_env(), recover_first=False)


def _json_status(doc, status: int) -> Response:
    return Response(json.dumps(doc).encode(), status_code=status, media_type="application/json",
                    headers={"Cache-Control": "no-store"})


def _json(doc) -> Response:
    return Response(json.dumps(doc, separators=(",", ":")).encode(), media_type="application/json")


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError):
        p = getattr(request.state, "principal", None)
        if p is not None and exc.status in (403, 404):
            # Refusals are audited too (an attempt to read another country's package is news).
            with state(request).sessions() as s:
                audit.record(s, p.actor, "denied", request.url.path,
                             method=request.method, status=exc.status)
                s.commit()
        headers = ({"WWW-Authenticate": "Bearer"} if exc.status == 401 else
                   {"Retry-After": str(exc.retry_after)} if isinstance(exc, Throttled) else None)
        return JSONResponse({"detail": str(exc)}, status_code=exc.status, headers=headers)

    @app.exception_handler(HashSetFormatError)
    async def format_error(request: Request, exc: HashSetFormatError):
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(HavenError)
    async def haven_error(request: Request, exc: HavenError):
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        problems = [{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in exc.errors()]
        return JSONResponse({"detail": "invalid request", "problems": problems}, status_code=422)


def _routes(app: FastAPI) -> None:  # noqa: C901 - one flat list of thin routes reads best
    @app.get("/healthz", tags=["service"], responses={503: {"description": "database down"}})
    def healthz(request: Request) -> Response:
        """Probe for load balancers and orchestrators: 200 `{"status": "ok"}` when this
        worker answers and the database does (`SELECT 1`), else 503.

        Unauthenticated, carries no data (no counts, no version, no pid) and is not audited:
        a probe identifies nobody and reads nothing, and one every few seconds would bury the
        audit chain's real entries.
        """
        try:
            with state(request).engine.connect() as con:
                con.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return _json_status({"status": "unavailable"}, 503)
        return _json_status({"status": "ok"}, 200)

    @app.get("/health", tags=["service"])
    def health(request: Request) -> dict:
        st = state(request)
        return {"status": "ok", "hash_entries": len(st.library),
                "audit_pending": st.audit_writer.pending(), "worker": os.getpid()}

    # -- accounts ----------------------------------------------------------------------------
    @app.post(f"{API}/auth/login", tags=["accounts"],
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

    @app.post(f"{API}/auth/logout", tags=["accounts"])
    def logout(request: Request, p: Who, s: DB) -> dict:
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        if token and p.kind == "user":
            close_session(s, token)
        audit.record(s, p.actor, "logout")
        s.commit()
        return {"ok": True}

    @app.get(f"{API}/auth/me", tags=["accounts"])
    def me(p: Who) -> dict:
        return {"name": p.name, "kind": p.kind, "role": p.role, "country": p.country,
                "case_id": p.case_id}

    @app.get(f"{API}/users", tags=["accounts"])
    def users(p: Who, s: DB) -> list[dict]:
        authz.coordinator(p)
        return [{"id": u.id, "username": u.username, "role": u.role, "country": u.country,
                 "case_id": u.case_id, "active": u.active}
                for u in s.scalars(select(User).order_by(User.id))]

    @app.post(f"{API}/users", tags=["accounts"], status_code=201)
    def add_user(body: UserIn, p: Who, s: DB) -> dict:
        authz.coordinator(p)
        user = create_user(s, body.username, body.password, body.role, country=body.country,
                           case_name=body.case)
        audit.record(s, p.actor, "user.create", f"user:{user.username}", role=user.role,
                     country=user.country, case_id=user.case_id)
        s.commit()
        return {"id": user.id, "username": user.username, "role": user.role,
                "country": user.country}

    @app.get(f"{API}/login-locks", tags=["accounts"])
    def login_locks(p: Who, s: DB) -> list[dict]:
        """Account names and source addresses locked now by failed logins."""
        authz.coordinator(p)
        return [{"key": r.key, "failures": r.failures, "locked_until": _iso(r.locked_until)}
                for r in throttle.locks(s)]

    @app.post(f"{API}/login-locks/unlock", tags=["accounts"])
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

    @app.post(f"{API}/api-keys", tags=["accounts"], status_code=201)
    def add_api_key(body: ApiKeyIn, p: Who, s: DB) -> dict:
        authz.coordinator(p)
        key, secret = create_api_key(s, body.name)
        audit.record(s, p.actor, "apikey.create", f"key:{key.name}", prefix=key.prefix)
        s.commit()
        return {"name": key.name, "prefix": key.prefix, "role": key.role, "key": secret,
                "note": "shown once; only its hash is stored"}

    # -- cases (analyst) ---------------------------------------------------------------------
    @app.get(f"{API}/cases", tags=["cases"])
    def cases(p: Who, s: DB) -> list[dict]:
        return [{"id": c.id, "name": c.name} for c in s.scalars(authz.cases(p))]

    @app.get(f"{API}/cases/{{case_id}}/findings", tags=["cases"])
    def findings(case_id: ObjectId, p: Who, s: DB,
                 finding: Annotated[str | None, Query(pattern=r"^[a-z-]{1,20}$")] = None,
                 sort: Annotated[str, Query(pattern=r"^(path|size|finding|media)$")] = "path",
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                 offset: Annotated[int, Query(ge=0)] = 0) -> dict:
        from haven.report.findings import iter_findings
        from haven.store.case import CaseStore

        case = authz.case(s, p, case_id)
        store = CaseStore(case.directory)
        try:
            rows = [f for f in iter_findings(store) if finding is None or f["finding"] == finding]
        finally:
            store.close()
        rows.sort(key=lambda f: (f.get(sort) is None, f.get(sort) or 0 if sort == "size"
                                 else str(f.get(sort) or "")))
        audit.record(s, p.actor, "case.findings.view", f"case:{case.id}", finding=finding,
                     offset=offset, limit=limit)
        s.commit()
        return {"case": case.name, "total": len(rows), "findings": rows[offset:offset + limit]}

    # -- operations (coordinator) ------------------------------------------------------------
    @app.post(f"{API}/operations", tags=["operations"], status_code=201)
    def add_operation(body: OperationIn, p: Who, s: DB) -> dict:
        authz.coordinator(p)
        op = workflow.create_operation(s, body.name, body.description, p.id)
        audit.record(s, p.actor, "operation.create", f"operation:{op.id}", name=op.name)
        s.commit()
        return {"id": op.id, "name": op.name, "description": op.description}

    @app.get(f"{API}/operations", tags=["operations"])
    def operations(p: Who, s: DB) -> list[dict]:
        authz.coordinator(p)
        return [{"id": o.id, "name": o.name, "description": o.description,
                 "created_at": _iso(o.created_at)}
                for o in s.scalars(select(Operation).order_by(Operation.id))]

    @app.get(f"{API}/operations/{{operation_id}}", tags=["operations"])
    def operation(operation_id: ObjectId, p: Who, s: DB) -> dict:
        op = authz.operation(s, p, operation_id)
        pkgs = s.scalars(select(Package).where(Package.operation_id == op.id)
                         .order_by(Package.country))
        audit.record(s, p.actor, "operation.view", f"operation:{op.id}")
        s.commit()
        return {"id": op.id, "name": op.name, "description": op.description,
                "packages": [_pkg_json(k, p) for k in pkgs]}

    @app.post(f"{API}/operations/{{operation_id}}/packages", tags=["operations"], status_code=201)
    def attach(operation_id: ObjectId, p: Who, s: DB, request: Request,
               archive: Annotated[UploadFile, File(description="tar or tar.gz of the folder "
                                                   "'haven refer build --out' wrote")]) -> dict:
        op = authz.operation(s, p, operation_id)
        st = state(request)
        folder = workflow.extract_upload(st.settings, archive.file,
                                         limit_bytes=st.settings.max_upload_bytes * 4)
        try:
            report = workflow.attach(s, st.settings, op, folder)
            audit.record(s, p.actor, "operation.attach", f"operation:{op.id}",
                         attached=report.attached, rejected=report.rejected,
                         skipped=report.skipped)
            try:
                s.commit()
            except BaseException:
                report.discard()  # the rows never landed: their folders must not stay
                raise
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return {"attached": report.attached, "rejected": report.rejected,
                "skipped": report.skipped, "overlaps": report.overlaps}

    @app.post(f"{API}/operations/{{operation_id}}/disseminate", tags=["operations"])
    def disseminate(operation_id: ObjectId, body: DisseminateIn, p: Who, s: DB) -> dict:
        op = authz.operation(s, p, operation_id)
        sent = workflow.disseminate(s, op, body.countries)
        for pkg in sent:
            audit.record(s, p.actor, "package.disseminate", f"package:{pkg.id}",
                         country=pkg.country)
        s.flush()
        pause_point("disseminate")  # tests kill the server here: all written, not committed
        s.commit()  # every package of the call is sent, with its audit entry, or none is
        return {"sent": [{"package_id": k.id, "country": k.country} for k in sent]}

    @app.get(f"{API}/operations/{{operation_id}}/dashboard", tags=["operations"])
    def dashboard(operation_id: ObjectId, p: Who, s: DB) -> dict:
        op = authz.operation(s, p, operation_id)
        out = workflow.dashboard(s, op)
        audit.record(s, p.actor, "operation.dashboard.view", f"operation:{op.id}")
        s.commit()
        return out

    @app.get(f"{API}/operations/{{operation_id}}/reminders", tags=["operations"])
    def reminders(operation_id: ObjectId, p: Who, s: DB, request: Request,
                  days: Annotated[int | None, Query(ge=0, le=3650)] = None) -> dict:
        op = authz.operation(s, p, operation_id)
        n = state(request).settings.reminder_days if days is None else days
        return {"days": n, "unacknowledged": workflow.reminders(s, op, n)}

    @app.get(f"{API}/operations/{{operation_id}}/overlaps", tags=["operations"])
    def operation_overlaps(operation_id: ObjectId, p: Who, s: DB) -> list[dict]:
        op = authz.operation(s, p, operation_id)
        ids = set(s.scalars(select(Subject.id).join(Package, Package.id == Subject.package_id)
                            .where(Package.operation_id == op.id)))
        rows = s.scalars(select(Overlap).where(Overlap.subject_a.in_(ids)
                                               | Overlap.subject_b.in_(ids)).order_by(Overlap.id))
        names = dict(s.execute(select(Subject.id, Subject.subject_id)
                               .where(Subject.id.in_(ids))).all())
        audit.record(s, p.actor, "operation.overlaps.view", f"operation:{op.id}")
        s.commit()
        return [{"kind": o.kind, "country_a": o.country_a, "subject_a": names.get(o.subject_a),
                 "country_b": o.country_b, "subject_b": names.get(o.subject_b),
                 "found_at": _iso(o.found_at)} for o in rows]

    # -- packages (coordinator and the receiving liaison) ------------------------------------
    @app.get(f"{API}/packages", tags=["packages"])
    def packages(p: Who, s: DB) -> list[dict]:
        return [_pkg_json(k, p) for k in s.scalars(authz.packages(p))]

    @app.get(f"{API}/packages/{{package_id}}", tags=["packages"])
    def package(package_id: ObjectId, p: Who, s: DB) -> dict:
        pkg = authz.package(s, p, package_id)
        audit.record(s, p.actor, "package.view", f"package:{pkg.id}")
        s.commit()
        return _pkg_json(pkg, p)

    @app.get(f"{API}/packages/{{package_id}}/subjects", tags=["packages"])
    def subjects(package_id: ObjectId, p: Who, s: DB) -> list[dict]:
        pkg = authz.package(s, p, package_id)
        rows = list(s.scalars(select(Subject).where(Subject.package_id == pkg.id)
                              .order_by(Subject.subject_id)))
        overlaps = overlaps_for_subjects(s, [r.id for r in rows])
        audit.record(s, p.actor, "package.subjects.view", f"package:{pkg.id}")
        s.commit()
        return [{"subject_id": r.subject_id, "confidence": r.confidence, "names": r.names,
                 "shared_with": r.shared_with, "overlaps": overlaps[r.id]} for r in rows]

    @app.get(f"{API}/packages/{{package_id}}/subjects/{{subject_id}}", tags=["packages"])
    def subject(package_id: ObjectId, subject_id: SubjectIdPath, p: Who, s: DB, request: Request) -> dict:
        pkg = authz.package(s, p, package_id)
        row = authz.subject(s, p, pkg, subject_id)
        path = workflow.package_dir(state(request).settings, pkg) / "subjects.json"
        doc = json.loads(path.read_text(encoding="utf-8"))
        detail = next((x for x in doc.get("subjects") or []
                       if str(x.get("subject_id")) == row.subject_id), {})
        audit.record(s, p.actor, "subject.view", f"package:{pkg.id}/subject:{row.subject_id}")
        s.commit()
        return {**detail, "overlaps": overlaps_for_subjects(s, [row.id])[row.id]}

    # POST, not GET: a liaison's download moves the package to `downloaded` (no GET changes
    # state, so no link, prefetch or crawler can do it)
    @app.post(f"{API}/packages/{{package_id}}/download", tags=["packages"],
              responses={200: {"content": {"application/x-tar": {}}}})
    def download(package_id: ObjectId, p: Who, s: DB, request: Request,
                 encrypted: Annotated[bool, Query(description="the age-encrypted archive, "
                                                  "when the build made one")] = False) -> Response:
        pkg = authz.package(s, p, package_id)
        st = state(request)
        if encrypted:
            if not pkg.has_archive:
                raise NotFound("this package has no encrypted archive")
            body = workflow.archive_path(st.settings, pkg).read_bytes()
            name, media = f"{pkg.country}.tar.age", "application/octet-stream"
        else:
            body = workflow.package_tar(st.settings, pkg)
            name, media = f"{pkg.country}.tar", "application/x-tar"
        if p.role == authz.LIAISON:
            workflow.mark_downloaded(pkg)
        audit.record(s, p.actor, "package.download", f"package:{pkg.id}", file=name,
                     bytes=len(body), manifest_sha256=pkg.manifest_sha256)
        s.commit()
        return Response(body, media_type=media,
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @app.post(f"{API}/packages/{{package_id}}/acknowledge", tags=["packages"])
    def acknowledge(package_id: ObjectId, p: Who, s: DB) -> dict:
        pkg = authz.package(s, p, package_id)
        authz.liaison_of(p, pkg)
        workflow.acknowledge(pkg)
        audit.record(s, p.actor, "package.acknowledge", f"package:{pkg.id}")
        s.commit()
        return _pkg_json(pkg, p)

    @app.post(f"{API}/packages/{{package_id}}/outcomes", tags=["packages"], status_code=201)
    def report(package_id: ObjectId, body: OutcomesIn, p: Who, s: DB) -> dict:
        pkg = authz.package(s, p, package_id)
        authz.liaison_of(p, pkg)
        rows = workflow.report_outcomes(
            s, pkg, p.id, body.totals.model_dump() if body.totals else None,
            [x.model_dump() for x in body.subjects], body.notes)
        audit.record(s, p.actor, "outcome.report", f"package:{pkg.id}", rows=len(rows),
                     totals=body.totals.model_dump() if body.totals else None,
                     subjects=len(body.subjects))
        s.commit()
        return {"package": _pkg_json(pkg, p), "recorded": len(rows)}

    @app.get(f"{API}/packages/{{package_id}}/outcomes", tags=["packages"])
    def outcomes(package_id: ObjectId, p: Who, s: DB) -> list[dict]:
        pkg = authz.package(s, p, package_id)
        rows = s.execute(select(Outcome, Subject.subject_id)
                         .outerjoin(Subject, Subject.id == Outcome.subject_row_id)
                         .where(Outcome.package_id == pkg.id).order_by(Outcome.id))
        out = [workflow.outcome_dict(o, sid) for o, sid in rows]
        audit.record(s, p.actor, "outcome.view", f"package:{pkg.id}")
        s.commit()
        return out

    # -- hash sets and matching --------------------------------------------------------------
    @app.get(f"{API}/hashsets", tags=["matching"])
    def hashsets(p: Who, s: DB) -> list[dict]:
        authz.require(p, authz.COORDINATOR, authz.LOOKUP)
        return [{"name": h.name, "version": h.version, "format": h.format, "scheme": h.scheme,
                 "known_good": h.known_good, "entries": h.entry_count,
                 "imported_at": _iso(h.imported_at)}
                for h in s.scalars(select(LookupHashSet).order_by(LookupHashSet.name))]

    @app.post(f"{API}/hashsets", tags=["matching"], status_code=201)
    def add_hashset(p: Who, s: DB, request: Request,
                    file: Annotated[UploadFile, File()],
                    name: Annotated[str, Form(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._()-]{0,199}$")],
                    format: Annotated[str, Form(pattern=r"^[a-z0-9-]{1,30}$")] = "auto",
                    known_good: Annotated[bool, Form()] = False,
                    append: Annotated[bool, Form(description="add to the set (incremental "
                                                 "feed; tombstones delete)")] = False) -> dict:
        authz.coordinator(p)
        st = state(request)
        with tempfile.NamedTemporaryFile(dir=st.settings.staging_dir, suffix=".hashset") as tmp:
            while chunk := file.file.read(1 << 20):
                tmp.write(chunk)
            tmp.flush()
            hs, result, tombstones = import_file(s, Path(tmp.name), name=name, fmt=format,
                                                 known_good=known_good, append=append)
            audit.record(s, p.actor, "hashset.import", f"hashset:{hs.name}",
                         version=hs.version, format=result.format, entries=len(result.entries),
                         malformed=len(result.malformed), tombstones=tombstones,
                         source_sha256=hs.source_sha256)
            s.commit()
        st.library.sync(s)  # the new entries only (a full rebuild when needed)
        return {"name": hs.name, "version": hs.version, "format": result.format,
                "entries": hs.entry_count, "imported": len(result.entries),
                "malformed": [{"line": m.line, "reason": m.reason} for m in result.malformed[:100]],
                "tombstones": tombstones}

    lookup_body = {"requestBody": {"required": True, "content": {
        "application/json": {"schema": LookupIn.model_json_schema()},
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                           "properties": {"file": {"type": "string",
                                                                   "format": "binary"}}}}}}}

    @app.post(f"{API}/lookup", tags=["matching"], openapi_extra=lookup_body)
    async def lookup(request: Request, p: LookupCaller) -> Response:
        """Match up to 10,000 signals (JSON `{"signals": [{"signal_type", "signal"}]}`) or one
        uploaded file (multipart field `file`: hashed here, PDQ for images)."""
        authz.lookup(p)
        st = state(request)
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype == "multipart/form-data":
            form = await request.form(max_files=1, max_fields=5)
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise BadInput("multipart lookup needs a file field named 'file'")
            data = await upload.read()
            from haven.scan.analyse import analyse

            # hashing and PDQ are CPU work: off the event loop, or every lookup waits
            a = await run_in_threadpool(analyse, upload.filename or "upload", data=data)
            result = {"file": {"size": a.size, "mime": a.mime, "md5": a.md5, "sha1": a.sha1,
                               "sha256": a.sha256, "pdq": a.pdq, "pdq_quality": a.pdq_quality,
                               "error": a.error, "notes": a.notes},
                      "matches": st.library.match_analysis(a)}
            st.audit_writer.submit(p.actor, "lookup.file", "", sha256=a.sha256,
                                   matches=len(result["matches"]))
            return _json(result)
        try:
            body = LookupIn.model_validate_json(await request.body())
        except ValueError as exc:
            raise BadInput(f"invalid lookup body: {str(exc)[:500]}") from None
        if len(body.signals) > st.settings.max_lookup_signals:
            raise TooLarge(f"at most {st.settings.max_lookup_signals} signals per call "
                           f"(got {len(body.signals)})")
        checked = [(x.signal_type.lower(), check_signal(x.signal_type, x.signal))
                   for x in body.signals]
        results = [{"signal_type": t, "signal": v, "matches": st.library.match(t, v)}
                   for t, v in checked]
        # one entry per call; the signals themselves by digest (a batch holds up to 10,000)
        st.audit_writer.submit(
            p.actor, "lookup.signals", "", signals=len(results),
            matched=sum(1 for r in results if r["matches"]),
            signals_sha256=hashlib.sha256("\n".join(f"{t}:{v}" for t, v in checked)
                                          .encode()).hexdigest())
        return _json({"results": results})

    @app.get("/m/lookup", tags=["matching"])
    async def hma_lookup(p: LookupCaller, request: Request,
                         signal: Annotated[str, Query(max_length=200)],
                         signal_type: Annotated[str, Query(max_length=20)] = "pdq") -> Response:
        """HMA's lookup shape: `{bank name: [{bank_content_id, distance, …evidence}]}`."""
        authz.lookup(p)
        st = state(request)
        hma_type, value, banks, n = st.library.hma(signal_type, signal)
        st.audit_writer.submit(p.actor, "lookup.hma", "", signal_type=hma_type, signal=value,
                               banks=len(banks), matches=n)
        return _json(banks)

    # -- audit -------------------------------------------------------------------------------
    @app.get(f"{API}/audit/verify", tags=["audit"])
    def audit_verify(p: Who, s: DB, request: Request) -> dict:
        authz.coordinator(p)
        state(request).audit_writer.flush()  # lookups answered so far are part of the chain
        report = audit.verify(s, s.info.get("audit_keyring"))
        return {"ok": report.ok, "entries": report.entries, "problems": report.problems,
                "unkeyed": report.unkeyed, "unchecked": report.unchecked}

    @app.get(f"{API}/audit/checkpoint", tags=["audit"])
    def audit_checkpoint(p: Who, s: DB, request: Request) -> dict:
        """The chain's tip (count, head hash, time) signed with the audit key, to keep
        elsewhere; `haven audit verify --checkpoint FILE` checks the log against it."""
        authz.coordinator(p)
        keyring = s.info.get("audit_keyring")
        if keyring is None:
            raise BadInput("the service has no audit key (haven serve --audit-key-file)")
        state(request).audit_writer.flush()
        doc = audit.checkpoint(s, keyring)
        audit.record(s, p.actor, "audit.checkpoint", "", count=doc["count"],
                     head_hash=doc["head_hash"])
        s.commit()
        return doc
