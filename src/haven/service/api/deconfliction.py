"""Deconfliction: the overlaps found between subjects of different countries."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from haven.service import audit, authz
from haven.service.api.views import API, iso
from haven.service.dependencies import DB, Who
from haven.service.models import Overlap, Package, Subject
from haven.service.schemas import ObjectId

router = APIRouter()


@router.get(f"{API}/operations/{{operation_id}}/overlaps", tags=["operations"])
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
             "found_at": iso(o.found_at)} for o in rows]
