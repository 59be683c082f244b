"""Liveness and health probes (unauthenticated, not audited)."""

from __future__ import annotations

import os

from fastapi import APIRouter, Request, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from haven.service.api.views import json_status
from haven.service.dependencies import state

router = APIRouter()


@router.get("/healthz", tags=["service"], responses={503: {"description": "database down"}})
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
        return json_status({"status": "unavailable"}, 503)
    return json_status({"status": "ok"}, 200)


@router.get("/health", tags=["service"])
def health(request: Request) -> dict:
    st = state(request)
    return {"status": "ok", "hash_entries": len(st.library),
            "audit_pending": st.audit_writer.pending(), "worker": os.getpid()}
