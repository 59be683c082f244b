"""Analyst pages over a case's victim-identification index, and the wellness rules for media.

Media rules (issue 5/6, wellness):
- Every picture (`/cases/{id}/media/{m}/thumb`) is sent blurred (Gaussian, radius a tenth of
  its size) and greyscale, unless the viewer unblurred that item with the deliberate,
  CSRF-protected `POST …/unblur`. That POST is audited and opens a grant bound to the user,
  the session, the case and the item for `GRANT_MINUTES`; `POST …/reblur` ends it early.
- A user may turn the blur and/or greyscale default off (`/settings`); each clear picture
  is then still audited, one entry per picture sent. Blurred pictures are not audited
  (the page that shows them is).
- Responses carrying pixels are `Cache-Control: no-store`.

Scope is `authz.case` (the analyst of that case; other analysts get 404, other roles 403),
then `authz.in_case` for media, faces and series of the case.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import Query, Request, Response
from sqlalchemy import delete

from haven.service import audit, authz
from haven.service.accounts import set_wellness, token_digest, utcnow, wellness
from haven.service.errors import BadInput, Forbidden, NotFound
from haven.service.models import Case, UnblurGrant
from haven.service.schemas import ObjectId
from haven.service.web.pages import (DB, Form, Who, check_csrf, local_url, redirect, render,
                                     router, text_field, view_state)
from haven.victimid import catalogue

GRANT_MINUTES = 10
MEDIA_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                 "Cross-Origin-Resource-Policy": "same-origin"}


@contextmanager
def opened(c: Case):
    """The case's victim-identification store (closed after the request)."""
    from haven.victimid.store import VictimStore

    vs = VictimStore(c.directory)
    try:
        yield vs
    finally:
        vs.close()


def _target(c: Case, media_id: int) -> str:
    return f"case:{c.id}/media:{media_id}"


def _media(vs, media_id: int):
    return authz.in_case(catalogue.media(vs, media_id), "media", media_id)


# -- wellness: settings, pictures, unblur --------------------------------------------------------

@router.get("/settings")
def settings_page(request: Request, p: Who, s: DB) -> Response:
    authz.user_pages(p)
    blur, grey = wellness(s, p)
    return render(request, "settings.html", blur=blur, grey=grey)


@router.post("/settings")
def save_settings(request: Request, p: Who, s: DB, data: Form) -> Response:
    authz.user_pages(p)
    check_csrf(request, data)
    blur, grey = data.get("blur") == "1", data.get("grey") == "1"
    before = set_wellness(s, p, blur=blur, grey=grey)
    audit.record(s, p.actor, "user.wellness.change", p.actor, blur=blur, grey=grey,
                 was_blur=before[0], was_grey=before[1], via="web")
    s.commit()
    return redirect("/settings?done=saved")


@router.get("/cases/{case_id}/media/{media_id}/thumb")
def thumb(request: Request, case_id: ObjectId, media_id: ObjectId, p: Who, s: DB) -> Response:
    """The item's picture: blurred and grey unless unblurred (audited) or turned off (audited)."""
    from haven.victimid import thumbs

    c = authz.case(s, p, case_id)
    with opened(c) as vs:
        _media(vs, media_id)
        jpeg = thumbs.thumbnail(vs, media_id)
    if jpeg is None:
        raise NotFound(f"no picture of media {media_id} in this case (run `haven index`)")
    state = view_state(request, s, p, c, [media_id])[media_id]
    if not state["blur"]:
        # Clear pixels leave only with an entry in the chain, committed before they are sent.
        audit.record(s, p.actor, "media.view.clear", _target(c, media_id),
                     reason="unblurred" if state["granted"] else "user setting",
                     grey=state["grey"], via="web")
        s.commit()
    body = thumbs.render(jpeg, blur=state["blur"], grey=state["grey"])
    return Response(body, media_type="image/jpeg", headers=MEDIA_HEADERS)


@router.post("/cases/{case_id}/media/{media_id}/unblur")
def unblur(request: Request, case_id: ObjectId, media_id: ObjectId, p: Who, s: DB, data: Form) -> Response:
    c = authz.case(s, p, case_id)
    check_csrf(request, data)
    with opened(c) as vs:
        row = _media(vs, media_id)
    token = getattr(request.state, "web_token", None)
    if not token or p.kind != "user":
        raise Forbidden("unblurring needs a signed-in user")
    now = utcnow()
    s.execute(delete(UnblurGrant).where(UnblurGrant.user_id == p.id,
                                        UnblurGrant.expires_at <= now))  # keep the table small
    s.add(UnblurGrant(user_id=p.id, session_hash=token_digest(token), case_id=c.id,
                      media_id=media_id, created_at=now,
                      expires_at=now + timedelta(minutes=GRANT_MINUTES)))
    audit.record(s, p.actor, "media.unblur", _target(c, media_id), path=row.path,
                 sha256=row.sha256, minutes=GRANT_MINUTES, via="web")
    s.commit()
    return redirect(local_url(text_field(data, "next"), f"/cases/{c.id}/media/{media_id}"))


@router.post("/cases/{case_id}/media/{media_id}/reblur")
def reblur(request: Request, case_id: ObjectId, media_id: ObjectId, p: Who, s: DB, data: Form) -> Response:
    c = authz.case(s, p, case_id)
    check_csrf(request, data)
    with opened(c) as vs:
        _media(vs, media_id)
    token = getattr(request.state, "web_token", None)
    if token:
        s.execute(delete(UnblurGrant).where(
            UnblurGrant.session_hash == token_digest(token), UnblurGrant.user_id == p.id,
            UnblurGrant.case_id == c.id, UnblurGrant.media_id == media_id))
    audit.record(s, p.actor, "media.reblur", _target(c, media_id), via="web")
    s.commit()
    return redirect(local_url(text_field(data, "next"), f"/cases/{c.id}/media/{media_id}"))


# -- victim identification -----------------------------------------------------------------------

def _media_list(request, s, p, c, vs, media_ids: list[int]) -> dict[int, dict]:
    """Everything a page needs to show pictures of `media_ids`: size, blur state."""
    info = catalogue.thumb_sizes(vs, media_ids)
    states = view_state(request, s, p, c, media_ids)
    return {m: {**info.get(m, {"media_id": m}), **states[m], "has_thumb": m in info}
            for m in media_ids}


@router.get("/cases/{case_id}/media/{media_id}")
def media_page(request: Request, case_id: ObjectId, media_id: ObjectId, p: Who, s: DB) -> Response:
    from haven.victimid.series import links_of

    c = authz.case(s, p, case_id)
    with opened(c) as vs:
        m = _media(vs, media_id)
        detail = catalogue.media_detail(vs, media_id)
        links = links_of(vs, media_id)
        pics = _media_list(request, s, p, c, vs, [media_id])
    audit.record(s, p.actor, "victimid.media.view", _target(c, media_id), via="web")
    s.commit()
    return render(request, "media.html", case=c, m=m, pic=pics[media_id], text=detail.text,
                  faces=detail.faces, series=detail.series, links=links, quote=quote)


@router.get("/cases/{case_id}/media/{media_id}/scene")
def same_scene(request: Request, case_id: ObjectId, media_id: ObjectId, p: Who, s: DB) -> Response:
    """"Same room": the case's media ranked by same-scene likelihood (verified first)."""
    from haven.victimid.errors import VictimIdError
    from haven.victimid.search import SceneSearch

    c = authz.case(s, p, case_id)
    problem, hits, paths = None, [], {}
    with opened(c) as vs:
        m = _media(vs, media_id)
        if not catalogue.has_scene_features(vs, media_id):
            problem = "This item has no scene features; index it with the scene part."
        else:
            try:
                hits = SceneSearch(vs).query_media(media_id, top=20)
            except VictimIdError as exc:
                problem = str(exc)
        ids = [h.media_id for h in hits]
        paths = catalogue.paths_of(vs, ids)
        pics = _media_list(request, s, p, c, vs, ids)
    audit.record(s, p.actor, "victimid.scene.search", _target(c, media_id), hits=len(hits),
                 via="web")
    s.commit()
    return render(request, "scene.html", case=c, m=m, hits=hits, paths=paths, pics=pics,
                  problem=problem)


def _face(vs, face_id: int):
    return authz.in_case(catalogue.face(vs, face_id), "face", face_id)


@router.get("/cases/{case_id}/faces/{face_id}")
def find_face(request: Request, case_id: ObjectId, face_id: ObjectId, p: Who, s: DB) -> Response:
    """"Find this face": the closest faces of the case, each with confirm / reject."""
    from haven.victimid.search import find_face as find

    c = authz.case(s, p, case_id)
    with opened(c) as vs:
        face = _face(vs, face_id)
        m = _media(vs, face.media_id)
        hits = find(vs, face_id=face_id, top=30)
        pics = _media_list(request, s, p, c, vs, sorted({h.media_id for h in hits} | {m.id}))
    audit.record(s, p.actor, "victimid.face.find", f"case:{c.id}/face:{face_id}",
                 hits=len(hits), via="web")
    s.commit()
    return render(request, "face.html", case=c, face=face, m=m, hits=hits, pics=pics)


@router.post("/cases/{case_id}/faces/{face_id}/decide")
def decide_face(request: Request, case_id: ObjectId, face_id: ObjectId, p: Who, s: DB,
                data: Form) -> Response:
    """Fields `other` (a face id) and `decision` (confirm / reject): stored with the user's
    name in the case's decision log and audited in the service's chain."""
    from haven.victimid.search import DECISIONS, decide

    c = authz.case(s, p, case_id)
    check_csrf(request, data)
    decision, other = text_field(data, "decision"), text_field(data, "other").strip()
    if decision not in DECISIONS:
        raise BadInput(f"decision must be one of {', '.join(DECISIONS)}")
    if not (other.isascii() and other.isdigit()) or len(other) > 12:
        raise BadInput("other must be a face id")
    with opened(c) as vs:
        _face(vs, face_id)
        _face(vs, int(other))
        row = decide(vs, face_id, int(other), decision, user=p.name)
    audit.record(s, p.actor, "victimid.face.decide", f"case:{c.id}/face:{row.face_a}-{row.face_b}",
                 decision=decision, distance=round(row.distance or 0.0, 4), via="web")
    s.commit()
    return redirect(f"/cases/{c.id}/faces/{face_id}?done=decided")


@router.get("/cases/{case_id}/series")
def series_list(request: Request, case_id: ObjectId, p: Who, s: DB) -> Response:
    from haven.victimid.series import list_series

    c = authz.case(s, p, case_id)
    with opened(c) as vs:
        rows = list_series(vs)
        firsts = [x["members"][0]["media_id"] for x in rows if x["members"]]
        pics = _media_list(request, s, p, c, vs, firsts)
    audit.record(s, p.actor, "victimid.series.list", f"case:{c.id}", via="web")
    s.commit()
    return render(request, "series_list.html", case=c, series=rows, pics=pics)


@router.get("/cases/{case_id}/series/{series_id}")
def series_page(request: Request, case_id: ObjectId, series_id: ObjectId, p: Who, s: DB) -> Response:
    from haven.victimid.series import list_series

    c = authz.case(s, p, case_id)
    with opened(c) as vs:
        found = [x for x in list_series(vs) if x["id"] == series_id]
        one = authz.in_case(found[0] if found else None, "series", series_id)
        pics = _media_list(request, s, p, c, vs, [x["media_id"] for x in one["members"]])
    audit.record(s, p.actor, "victimid.series.view", f"case:{c.id}/series:{series_id}",
                 via="web")
    s.commit()
    return render(request, "series.html", case=c, one=one, pics=pics)


@router.get("/cases/{case_id}/text")
def text_search(request: Request, case_id: ObjectId, p: Who, s: DB,
                q: Annotated[str, Query(max_length=200)] = "") -> Response:
    """Full-text search of the words read in the case's images (OCR)."""
    c = authz.case(s, p, case_id)
    hits, problem = [], None
    with opened(c) as vs:
        if not vs.fts:
            problem = "Full-text search needs the case's SQLite database."
        elif q.strip():
            hits = catalogue.search_text(vs, q, 50)
        pics = _media_list(request, s, p, c, vs, [h.media_id for h in hits])
    if q.strip():
        audit.record(s, p.actor, "victimid.text.search", f"case:{c.id}", q=q, hits=len(hits),
                     via="web")
        s.commit()
    return render(request, "text.html", case=c, q=q, hits=hits, pics=pics, problem=problem)
