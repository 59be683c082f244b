"""Packages, for the coordinator and the receiving liaison: view, subjects, download, acknowledge."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from haven.service import audit, authz, workflow
from haven.service.api.views import API, CHECKPOINT_HEADER, pkg_json
from haven.service.deconflict import overlaps_for_subjects
from haven.service.dependencies import DB, Who, state
from haven.service.errors import NotFound
from haven.service.models import Subject
from haven.service.schemas import ObjectId, SubjectIdPath

router = APIRouter()


@router.get(f"{API}/packages", tags=["packages"])
def packages(p: Who, s: DB) -> list[dict]:
    return [pkg_json(k, p) for k in s.scalars(authz.packages(p))]


@router.get(f"{API}/packages/{{package_id}}", tags=["packages"])
def package(package_id: ObjectId, p: Who, s: DB) -> dict:
    pkg = authz.package(s, p, package_id)
    audit.record(s, p.actor, "package.view", f"package:{pkg.id}")
    s.commit()
    return pkg_json(pkg, p)


@router.get(f"{API}/packages/{{package_id}}/subjects", tags=["packages"])
def subjects(package_id: ObjectId, p: Who, s: DB) -> list[dict]:
    pkg = authz.package(s, p, package_id)
    rows = list(s.scalars(select(Subject).where(Subject.package_id == pkg.id)
                          .order_by(Subject.subject_id)))
    overlaps = overlaps_for_subjects(s, [r.id for r in rows])
    audit.record(s, p.actor, "package.subjects.view", f"package:{pkg.id}")
    s.commit()
    return [{"subject_id": r.subject_id, "confidence": r.confidence, "names": r.names,
             "shared_with": r.shared_with, "overlaps": overlaps[r.id]} for r in rows]


@router.get(f"{API}/packages/{{package_id}}/subjects/{{subject_id}}", tags=["packages"])
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
@router.post(f"{API}/packages/{{package_id}}/download", tags=["packages"],
             responses={200: {"content": {"application/x-tar": {}}}})
def download(package_id: ObjectId, p: Who, s: DB, request: Request,
             encrypted: Annotated[bool, Query(description="the age-encrypted archive, "
                                              "when the build made one")] = False) -> Response:
    pkg = authz.package(s, p, package_id)
    st = state(request)
    checkpoint = audit.package_checkpoint(s, st.audit_writer)
    if encrypted:
        if not pkg.has_archive:
            raise NotFound("this package has no encrypted archive")
        body = workflow.archive_path(st.settings, pkg).read_bytes()
        name, media = f"{pkg.country}.tar.age", "application/octet-stream"
    else:
        body = workflow.package_tar(st.settings, pkg, checkpoint)
        name, media = f"{pkg.country}.tar", "application/x-tar"
    if p.role == authz.LIAISON:
        workflow.mark_downloaded(pkg)
    audit.record(s, p.actor, "package.download", f"package:{pkg.id}", file=name,
                 bytes=len(body), manifest_sha256=pkg.manifest_sha256,
                 checkpoint_count=checkpoint["count"] if checkpoint else None)
    s.commit()
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if checkpoint is not None:  # the sealed archive cannot take a file: a header instead
        headers[CHECKPOINT_HEADER] = json.dumps(checkpoint, separators=(",", ":"))
    return Response(body, media_type=media, headers=headers)


@router.post(f"{API}/packages/{{package_id}}/acknowledge", tags=["packages"])
def acknowledge(package_id: ObjectId, p: Who, s: DB) -> dict:
    pkg = authz.package(s, p, package_id)
    authz.liaison_of(p, pkg)
    workflow.acknowledge(pkg)
    audit.record(s, p.actor, "package.acknowledge", f"package:{pkg.id}")
    s.commit()
    return pkg_json(pkg, p)
