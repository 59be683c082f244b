"""The audit chain: verify it, export a signed checkpoint of its tip."""

from __future__ import annotations

from fastapi import APIRouter, Request

from haven.service import audit, authz
from haven.service.api.views import API
from haven.service.dependencies import DB, Who, state
from haven.service.errors import BadInput

router = APIRouter()


@router.get(f"{API}/audit/verify", tags=["audit"])
def audit_verify(p: Who, s: DB, request: Request) -> dict:
    authz.coordinator(p)
    state(request).audit_writer.flush()  # lookups answered so far are part of the chain
    report = audit.verify(s, s.info.get("audit_keyring"))
    return {"ok": report.ok, "entries": report.entries, "problems": report.problems,
            "unkeyed": report.unkeyed, "unchecked": report.unchecked}


@router.get(f"{API}/audit/checkpoint", tags=["audit"])
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
