"""Operations (coordinator): create, attach referral packages, disseminate, dashboard."""

from __future__ import annotations

import shutil
from typing import Annotated

from fastapi import APIRouter, File, Query, Request, UploadFile
from sqlalchemy import select

from haven.service import audit, authz, workflow
from haven.service.api.views import API, iso, pkg_json
from haven.service.dependencies import DB, Who, state
from haven.service.models import Operation, Package
from haven.service.schemas import DisseminateIn, ObjectId, OperationIn
from haven.service.settings import pause_point

router = APIRouter()


@router.post(f"{API}/operations", tags=["operations"], status_code=201)
def add_operation(body: OperationIn, p: Who, s: DB) -> dict:
    authz.coordinator(p)
    op = workflow.create_operation(s, body.name, body.description, p.id)
    audit.record(s, p.actor, "operation.create", f"operation:{op.id}", name=op.name)
    s.commit()
    return {"id": op.id, "name": op.name, "description": op.description}


@router.get(f"{API}/operations", tags=["operations"])
def operations(p: Who, s: DB) -> list[dict]:
    authz.coordinator(p)
    return [{"id": o.id, "name": o.name, "description": o.description,
             "created_at": iso(o.created_at)}
            for o in s.scalars(select(Operation).order_by(Operation.id))]


@router.get(f"{API}/operations/{{operation_id}}", tags=["operations"])
def operation(operation_id: ObjectId, p: Who, s: DB) -> dict:
    op = authz.operation(s, p, operation_id)
    pkgs = s.scalars(select(Package).where(Package.operation_id == op.id)
                     .order_by(Package.country))
    audit.record(s, p.actor, "operation.view", f"operation:{op.id}")
    s.commit()
    return {"id": op.id, "name": op.name, "description": op.description,
            "packages": [pkg_json(k, p) for k in pkgs]}


@router.post(f"{API}/operations/{{operation_id}}/packages", tags=["operations"], status_code=201)
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


@router.post(f"{API}/operations/{{operation_id}}/disseminate", tags=["operations"])
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


@router.get(f"{API}/operations/{{operation_id}}/dashboard", tags=["operations"])
def dashboard(operation_id: ObjectId, p: Who, s: DB) -> dict:
    op = authz.operation(s, p, operation_id)
    out = workflow.dashboard(s, op)
    audit.record(s, p.actor, "operation.dashboard.view", f"operation:{op.id}")
    s.commit()
    return out


@router.get(f"{API}/operations/{{operation_id}}/reminders", tags=["operations"])
def reminders(operation_id: ObjectId, p: Who, s: DB, request: Request,
              days: Annotated[int | None, Query(ge=0, le=3650)] = None) -> dict:
    op = authz.operation(s, p, operation_id)
    n = state(request).settings.reminder_days if days is None else days
    return {"days": n, "unacknowledged": workflow.reminders(s, op, n)}
