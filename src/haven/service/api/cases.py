"""An analyst's cases and their findings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from haven.service import audit, authz
from haven.service.api.views import API
from haven.service.dependencies import DB, Who
from haven.service.schemas import ObjectId

router = APIRouter()


@router.get(f"{API}/cases", tags=["cases"])
def cases(p: Who, s: DB) -> list[dict]:
    return [{"id": c.id, "name": c.name} for c in s.scalars(authz.cases(p))]


@router.get(f"{API}/cases/{{case_id}}/findings", tags=["cases"])
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
