"""Page routes for coordinators and liaisons (operations, packages, outcomes), an analyst's case
findings, and logging in and out: thin handlers that go through `authz` and `workflow`, exactly
as the JSON API. Shared pieces (rendering, caller, CSRF) are in `pages`.
"""

from __future__ import annotations

import hmac
import json
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from haven.service import audit, authz, throttle, workflow
from haven.service.accounts import authenticate, close_session, open_session, principal_for_token
from haven.service.deconflict import overlaps_for_subjects
from haven.service.errors import BadInput, Forbidden, NotAuthenticated, NotFound, Throttled
from haven.service.models import Operation, Outcome, Package, Subject
from haven.service.schemas import DisseminateIn, LoginIn, ObjectId, OperationIn, OutcomesIn
from haven.service.web import i18n
from haven.service.web.pages import (COOKIE, DB, HERE, LOGIN_CSRF_COOKIE, Form, Who, check_csrf,
                                     language_of, local_url, login_page, redirect, render, router,
                                     text_field, view_state)

# -- public: style, language, login --------------------------------------------------------------

@router.get("/static/haven.css")
def stylesheet() -> FileResponse:
    return FileResponse(HERE / "static" / "haven.css", media_type="text/css",
                        headers={"Cache-Control": "max-age=3600"})


@router.get("/language")
def language(request: Request, lang: Annotated[str, Query(pattern=r"^[a-z]{2}$")] = "en",
             next: Annotated[str, Query(max_length=500)] = "/") -> Response:
    response = redirect(local_url(next))
    if lang in i18n.languages():
        response.set_cookie(i18n.LANG_COOKIE, lang, samesite="lax", max_age=365 * 86400,
                            secure=request.app.state.svc.settings.cookie_secure)
    return response


@router.get("/login")
def login_form(request: Request,
               next: Annotated[str, Query(max_length=500)] = "/") -> Response:
    return login_page(request, next_url=next)


@router.post("/login")
def login(request: Request, s: DB, data: Form) -> Response:
    nonce = request.cookies.get(LOGIN_CSRF_COOKIE)
    sent = data.get("csrf")
    if not nonce or not isinstance(sent, str) or not hmac.compare_digest(sent, nonce):
        return login_page(request, 403, error=i18n.translator(language_of(request))(
            "The login form expired. Please try again."))
    settings = request.app.state.svc.settings
    client = request.client.host if request.client else None
    username = text_field(data, "username")
    try:
        throttle.check(s, username, client)  # before any argon2 work
    except Throttled as exc:
        page = login_page(request, 429, next_url=text_field(data, "next"), error=str(exc))
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    try:
        body = LoginIn(username=username, password=text_field(data, "password"))
        user = authenticate(s, body.username, body.password)
    except (ValidationError, NotAuthenticated, BadInput):
        audit.record(s, f"user:{username[:80]}", "login.failed", via="web", client=client)
        throttle.record_failure(s, settings.login_policy, username, client)
        s.commit()
        return login_page(request, 401, next_url=text_field(data, "next"),
                          error=i18n.translator(language_of(request))("Wrong user name or password."))
    throttle.succeeded(s, user.username)
    token, _ = open_session(s, user, settings.session_hours)
    audit.record(s, f"user:{user.username}", "login", via="web",
                 client=request.client.host if request.client else None)
    s.commit()
    response = redirect(local_url(text_field(data, "next"), "/"))
    response.set_cookie(COOKIE, token, httponly=True, samesite="lax",
                        secure=settings.cookie_secure, max_age=int(settings.session_hours * 3600))
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, s: DB, data: Form) -> Response:
    """Ends the cookie's session (a valid one needs the CSRF token); always back to login."""
    token = request.cookies.get(COOKIE)
    if token:
        try:
            p = principal_for_token(s, token)
        except NotAuthenticated:
            p = None
        if p is not None:
            request.state.principal, request.state.web_token = p, token
            check_csrf(request, data)
            close_session(s, token)
            audit.record(s, p.actor, "logout", via="web")
            s.commit()
    response = redirect("/login")
    response.delete_cookie(COOKIE)
    return response


@router.get("/")
def home(p: Who) -> Response:
    if p.role == authz.COORDINATOR:
        return redirect("/operations")
    if p.role == authz.LIAISON:
        return redirect("/packages")
    if p.role == authz.ANALYST:
        return redirect("/cases")
    raise Forbidden(f"a {p.role} has no pages; use the API")


# -- coordinator: operations ---------------------------------------------------------------------

@router.get("/operations")
def operations(request: Request, p: Who, s: DB) -> Response:
    authz.coordinator(p)
    counts = dict(s.execute(select(Package.operation_id, func.count(Package.id))
                            .group_by(Package.operation_id)).all())
    ops = [{"op": o, "packages": counts.get(o.id, 0)}
           for o in s.scalars(select(Operation).order_by(Operation.id.desc()))]
    return render(request, "operations.html", operations=ops)


@router.post("/operations")
def create_operation(request: Request, p: Who, s: DB, data: Form) -> Response:
    authz.coordinator(p)
    check_csrf(request, data)
    body = OperationIn(name=text_field(data, "name").strip(),
                       description=text_field(data, "description"))
    op = workflow.create_operation(s, body.name, body.description, p.id)
    audit.record(s, p.actor, "operation.create", f"operation:{op.id}", name=op.name, via="web")
    s.commit()
    return redirect(f"/operations/{op.id}?done=created")


def _operation_page(request: Request, s: Session, op: Operation, days: int | None,
                    report: workflow.AttachReport | None = None, status: int = 200) -> Response:
    settings = request.app.state.svc.settings
    n = settings.reminder_days if days is None else days
    pkgs = list(s.scalars(select(Package).where(Package.operation_id == op.id)
                          .order_by(Package.country)))
    reported = dict(s.execute(select(Outcome.package_id, func.count(Outcome.id))
                              .join(Package, Package.id == Outcome.package_id)
                              .where(Package.operation_id == op.id)
                              .group_by(Outcome.package_id)).all())
    return render(request, "operation.html", status, op=op, packages=pkgs,
                  status_of=workflow.status, reports=reported, report=report,
                  reminders=workflow.reminders(s, op, n), days=n)


@router.get("/operations/{operation_id}")
def operation(request: Request, operation_id: ObjectId, p: Who, s: DB,
              days: Annotated[int | None, Query(ge=0, le=3650)] = None) -> Response:
    op = authz.operation(s, p, operation_id)
    audit.record(s, p.actor, "operation.view", f"operation:{op.id}", via="web")
    s.commit()
    return _operation_page(request, s, op, days)


@router.post("/operations/{operation_id}/attach")
def attach(request: Request, operation_id: ObjectId, p: Who, s: DB, data: Form) -> Response:
    """Attach the folder `haven refer build --out` wrote, given as a path on the server."""
    op = authz.operation(s, p, operation_id)
    check_csrf(request, data)
    raw = text_field(data, "path").strip()
    folder = Path(raw).expanduser() if raw else None
    if folder is None or not folder.is_absolute() or not folder.is_dir():
        raise BadInput("give the full path of the folder 'haven refer build --out' wrote, "
                       "on the server")
    settings = request.app.state.svc.settings
    report = workflow.attach(s, settings, op, folder)
    audit.record(s, p.actor, "operation.attach", f"operation:{op.id}", source=str(folder),
                 attached=report.attached, rejected=report.rejected, skipped=report.skipped,
                 via="web")
    try:
        s.commit()
    except BaseException:
        report.discard()
        raise
    return _operation_page(request, s, op, None, report)


@router.post("/operations/{operation_id}/disseminate")
def disseminate(request: Request, operation_id: ObjectId, p: Who, s: DB, data: Form) -> Response:
    op = authz.operation(s, p, operation_id)
    check_csrf(request, data)
    chosen = [c for c in data.getlist("country") if isinstance(c, str)]
    if not chosen:
        raise BadInput("tick at least one country to send its package")
    body = DisseminateIn(countries=chosen)
    sent = workflow.disseminate(s, op, body.countries)
    for pkg in sent:
        audit.record(s, p.actor, "package.disseminate", f"package:{pkg.id}",
                     country=pkg.country, via="web")
    s.commit()
    return redirect(f"/operations/{op.id}?done=sent")


METRICS = workflow.OUTCOME_FIELDS
COLOURS = ("#1f5f8b", "#c0392b", "#7d3c98", "#1e8449", "#b9770e")


def _over_time_chart(over_time: list[dict]) -> dict:
    """Geometry of a grouped column chart (one group per day, one column per metric)."""
    days = [{"date": d["date"], **{k: sum(c[k] for c in d["by_country"].values())
                                   for k in METRICS}} for d in over_time]
    top = max([day[k] for day in days for k in METRICS] + [1])
    col, gap, height = 12, 18, 160
    width = max(len(days) * (col * len(METRICS) + gap) + gap, 200)
    bars = []
    for i, day in enumerate(days):
        x0 = gap + i * (col * len(METRICS) + gap)
        for j, k in enumerate(METRICS):
            h = round(day[k] / top * height)
            bars.append({"x": x0 + j * col, "y": 10 + height - h, "h": h, "w": col - 2,
                         "colour": COLOURS[j], "label": f"{day['date']} {k}: {day[k]}"})
    labels = [{"x": gap + i * (col * len(METRICS) + gap), "text": day["date"]}
              for i, day in enumerate(days)]
    return {"width": width, "height": height + 40, "bars": bars, "labels": labels,
            "base": 10 + height, "top": top, "days": days}


@router.get("/operations/{operation_id}/dashboard")
def dashboard(request: Request, operation_id: ObjectId, p: Who, s: DB) -> Response:
    op = authz.operation(s, p, operation_id)
    data = workflow.dashboard(s, op)
    audit.record(s, p.actor, "operation.dashboard.view", f"operation:{op.id}", via="web")
    s.commit()
    peaks = {k: max([c[k] for c in data["by_country"].values()] + [1]) for k in METRICS}
    return render(request, "dashboard.html", op=op, data=data, metrics=METRICS,
                  colours=dict(zip(METRICS, COLOURS)), peaks=peaks,
                  chart=_over_time_chart(data["over_time"]))


# -- packages: coordinator and the receiving liaison ---------------------------------------------

@router.get("/packages")
def packages(request: Request, p: Who, s: DB) -> Response:
    rows = list(s.scalars(authz.packages(p)))
    names = {}
    if p.role == authz.COORDINATOR:
        names = dict(s.execute(select(Operation.id, Operation.name)).all())
    return render(request, "packages.html", packages=rows, status_of=workflow.status,
                  operation_names=names)


@router.get("/packages/{package_id}")
def package(request: Request, package_id: ObjectId, p: Who, s: DB) -> Response:
    pkg = authz.package(s, p, package_id)
    subjects = list(s.scalars(select(Subject).where(Subject.package_id == pkg.id)
                              .order_by(Subject.subject_id)))
    overlaps = overlaps_for_subjects(s, [r.id for r in subjects])
    rows = s.execute(select(Outcome, Subject.subject_id)
                     .outerjoin(Subject, Subject.id == Outcome.subject_row_id)
                     .where(Outcome.package_id == pkg.id).order_by(Outcome.id))
    outcomes = [workflow.outcome_dict(o, sid) for o, sid in rows]
    audit.record(s, p.actor, "package.view", f"package:{pkg.id}", via="web")
    s.commit()
    return render(request, "package.html", pkg=pkg, status=workflow.status(pkg),
                  subjects=subjects, overlaps=overlaps, outcomes=outcomes, metrics=METRICS,
                  is_owner=p.role == authz.LIAISON and p.country == pkg.country)


@router.post("/packages/{package_id}/download")
def download(request: Request, package_id: ObjectId, p: Who, s: DB, data: Form) -> Response:
    pkg = authz.package(s, p, package_id)
    check_csrf(request, data)
    svc = request.app.state.svc
    settings = svc.settings
    checkpoint = audit.package_checkpoint(s, svc.audit_writer)
    if data.get("encrypted") == "1":
        if not pkg.has_archive:
            raise NotFound("this package has no encrypted archive")
        body = workflow.archive_path(settings, pkg).read_bytes()
        name, media = f"{pkg.country}.tar.age", "application/octet-stream"
    else:
        body = workflow.package_tar(settings, pkg, checkpoint)
        name, media = f"{pkg.country}.tar", "application/x-tar"
    if p.role == authz.LIAISON:
        workflow.mark_downloaded(pkg)
    audit.record(s, p.actor, "package.download", f"package:{pkg.id}", file=name,
                 bytes=len(body), manifest_sha256=pkg.manifest_sha256, via="web",
                 checkpoint_count=checkpoint["count"] if checkpoint else None)
    s.commit()
    headers = {"Content-Disposition": f'attachment; filename="{name}"',
               "Cache-Control": "no-store"}
    if checkpoint is not None:
        headers["X-Haven-Audit-Checkpoint"] = json.dumps(checkpoint, separators=(",", ":"))
    return Response(body, media_type=media, headers=headers)


@router.post("/packages/{package_id}/acknowledge")
def acknowledge(request: Request, package_id: ObjectId, p: Who, s: DB, data: Form) -> Response:
    pkg = authz.package(s, p, package_id)
    authz.liaison_of(p, pkg)
    check_csrf(request, data)
    workflow.acknowledge(pkg)
    audit.record(s, p.actor, "package.acknowledge", f"package:{pkg.id}", via="web")
    s.commit()
    return redirect(f"/packages/{pkg.id}?done=acknowledged")


def _count(data: FormData, name: str) -> int:
    raw = text_field(data, name).strip()
    if not raw:
        return 0
    # isdigit() alone takes '²' and other Unicode digits, which int() then refuses
    if not (raw.isascii() and raw.isdigit()) or int(raw) > 1_000_000:
        raise BadInput(f"{name}: give a whole number from 0 to 1,000,000")
    return int(raw)


@router.post("/packages/{package_id}/outcomes")
def report_outcomes(request: Request, package_id: ObjectId, p: Who, s: DB, data: Form) -> Response:
    """Fields `t.<metric>` (totals), `s.<subject_id>.<metric>` and `s.<subject_id>.notes`."""
    pkg = authz.package(s, p, package_id)
    authz.liaison_of(p, pkg)
    check_csrf(request, data)
    totals = {k: _count(data, f"t.{k}") for k in METRICS}
    known = list(s.scalars(select(Subject.subject_id).where(Subject.package_id == pkg.id)))
    per_subject = []
    for sid in known:
        counts = {k: _count(data, f"s.{sid}.{k}") for k in METRICS}
        note = text_field(data, f"s.{sid}.notes")
        if any(counts.values()) or note.strip():
            per_subject.append({"subject_id": sid, **counts, "notes": note})
    notes = text_field(data, "notes")
    body = OutcomesIn(totals=totals if any(totals.values()) else None, subjects=per_subject,
                      notes=notes)
    rows = workflow.report_outcomes(s, pkg, p.id,
                                    body.totals.model_dump() if body.totals else None,
                                    [x.model_dump() for x in body.subjects], body.notes)
    audit.record(s, p.actor, "outcome.report", f"package:{pkg.id}", rows=len(rows),
                 totals=body.totals.model_dump() if body.totals else None,
                 subjects=len(body.subjects), via="web")
    s.commit()
    return redirect(f"/packages/{pkg.id}?done=reported")


# -- analyst: case findings ----------------------------------------------------------------------

@router.get("/cases")
def cases(request: Request, p: Who, s: DB) -> Response:
    return render(request, "cases.html", cases=list(s.scalars(authz.cases(p))))


SORTS = ("path", "size", "finding", "media", "mime")


@router.get("/cases/{case_id}")
def case(request: Request, case_id: ObjectId, p: Who, s: DB,
         finding: Annotated[str, Query(pattern=r"^[a-z-]{0,20}$")] = "",
         q: Annotated[str, Query(max_length=200)] = "",
         sort: Annotated[str, Query(pattern=r"^(path|size|finding|media|mime)$")] = "path",
         order: Annotated[str, Query(pattern=r"^(asc|desc)$")] = "asc",
         page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> Response:
    from haven.report.findings import iter_findings
    from haven.store.case import CaseStore

    from haven.victimid.catalogue import thumbs_by_path
    from haven.victimid.store import VictimStore

    c = authz.case(s, p, case_id)
    store = CaseStore(c.directory)
    try:
        every = list(iter_findings(store))
        kinds = sorted({f["finding"] for f in every if f.get("finding")})
        rows = [f for f in every if (not finding or f["finding"] == finding)
                and (not q or q.lower() in (f.get("path") or "").lower())]
        rows.sort(key=lambda f: (f.get(sort) is None, (f.get(sort) or 0) if sort == "size"
                                 else str(f.get(sort) or "")), reverse=order == "desc")
        per_page = 100
        pages = max(1, -(-len(rows) // per_page))
        shown = rows[(page - 1) * per_page:page * per_page]
        # pictures of the shown items that `haven index` made (blurred unless unblurred)
        pics = thumbs_by_path(VictimStore(store), [f["path"] for f in shown if f.get("path")])
    finally:
        store.close()
    states = view_state(request, s, p, c, [x["media_id"] for x in pics.values()])
    for x in pics.values():
        x.update(states[x["media_id"]])
    audit.record(s, p.actor, "case.findings.view", f"case:{c.id}", finding=finding or None,
                 q=q or None, via="web")
    s.commit()
    return render(request, "case.html", case=c, rows=shown, total=len(rows), kinds=kinds,
                  finding=finding, q=q, sort=sort, order=order, page=page, pages=pages,
                  sorts=SORTS, quote=quote, pics=pics)
