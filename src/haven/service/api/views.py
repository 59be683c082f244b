"""JSON shapes the API answers with, shared by its routers."""

from __future__ import annotations

import json

from fastapi import Response

from haven.service import authz, workflow
from haven.service.accounts import Principal
from haven.service.models import Package

API = "/api/v1"
#: a downloaded package's signed audit checkpoint (also in the tar as audit-checkpoint.json)
CHECKPOINT_HEADER = "X-Haven-Audit-Checkpoint"


def iso(value) -> str | None:
    return value.isoformat() if value else None


def pkg_json(pkg: Package, p: Principal) -> dict:
    """A package as the caller may see it (the operation only for the coordinator)."""
    out = {"id": pkg.id, "country": pkg.country, "status": workflow.status(pkg),
           "subjects": pkg.subject_count, "records": pkg.record_count,
           "manifest_sha256": pkg.manifest_sha256, "signer_key_id": pkg.signer_key_id,
           "encrypted_archive": pkg.has_archive,
           "sent_at": iso(pkg.sent_at), "downloaded_at": iso(pkg.downloaded_at),
           "acknowledged_at": iso(pkg.acknowledged_at), "outcomes_at": iso(pkg.outcomes_at)}
    if p.role == authz.COORDINATOR:
        out["operation_id"] = pkg.operation_id
        out["imported_at"] = iso(pkg.imported_at)
    return out


def json_status(doc, status: int) -> Response:
    """`doc` as JSON with `status`, never cached (the health probes)."""
    return Response(json.dumps(doc).encode(), status_code=status, media_type="application/json",
                    headers={"Cache-Control": "no-store"})


def compact_json(doc) -> Response:
    """`doc` as compact JSON, skipping FastAPI's response validation (the lookup routes)."""
    return Response(json.dumps(doc, separators=(",", ":")).encode(), media_type="application/json")
