"""The FastAPI application: assembled from the API routers, the pages, middleware and handlers.

`create_app(settings)` migrates the database (`alembic upgrade head`), sweeps leftovers of an
interrupted attach, loads the lookup library and returns the app. The JSON API's
routers are in `haven.service.api` (one per resource), its dependencies in
`haven.service.dependencies`, its ASGI middleware in `haven.service.middleware`; the
server-rendered pages (`haven.service.web`) are mounted beside them and reuse the same
domain functions and `authz`.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from haven.errors import HashSetFormatError, HavenError
from haven.service import api, audit, workflow
from haven.service.db import make_engine, session_factory, upgrade
from haven.service.dependencies import state
from haven.service.errors import ServiceError, Throttled
from haven.service.lookup import LibrarySync, ServiceHashSets, serve_single_threaded
from haven.service.middleware import LookupFastPath, RequestLimits
from haven.service.quarantine import FloodWatch, flood_recorder
from haven.service.settings import Settings
from haven.service.state import REVOCATIONS, ApiKeyCache, ServiceState
from haven.service.web import router as web_router


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
    library = ServiceHashSets(settings.pdq_threshold, settings.max_matches)
    library.flood = FloodWatch(settings.flood_min_queries, settings.flood_factor,
                               settings.flood_window_seconds)
    library.on_flood = flood_recorder(sessions, settings)
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
                                 ApiKeyCache(settings.api_key_cache_seconds,
                                             settings.data_dir / REVOCATIONS), sync)
    app.add_middleware(RequestLimits, settings=settings)
    app.add_middleware(LookupFastPath)  # outermost: the plain lookup skips everything else
    _handlers(app)
    api.include(app)
    app.include_router(web_router)
    return app


def create_worker_app() -> FastAPI:
    """Factory for the workers of `haven serve --workers N` (settings from the environment)."""
    return create_app(Settings.from_env(), recover_first=False)


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
