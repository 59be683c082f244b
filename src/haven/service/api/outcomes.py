"""Outcomes a liaison reports for a package, and reading them back."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from haven.service import audit, authz, workflow
from haven.service.api.views import API, pkg_json
from haven.service.dependencies import DB, Who
from haven.service.models import Outcome, Subject
from haven.service.schemas import ObjectId, OutcomesIn

router = APIRouter()


@router.post(f"{API}/packages/{{package_id}}/outcomes", tags=["packages"], status_code=201)
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
    return {"package": pkg_json(pkg, p), "recorded": len(rows)}


@router.get(f"{API}/packages/{{package_id}}/outcomes", tags=["packages"])
def outcomes(package_id: ObjectId, p: Who, s: DB) -> list[dict]:
    pkg = authz.package(s, p, package_id)
    rows = s.execute(select(Outcome, Subject.subject_id)
                     .outerjoin(Subject, Subject.id == Outcome.subject_row_id)
                     .where(Outcome.package_id == pkg.id).order_by(Outcome.id))
    out = [workflow.outcome_dict(o, sid) for o, sid in rows]
    audit.record(s, p.actor, "outcome.view", f"package:{pkg.id}")
    s.commit()
    return out
