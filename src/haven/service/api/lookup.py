"""Hash sets and matching: import sets and set their controls (owner), look up signals or files,
confirm / deconfirm matches, the owner's view of flagged entries. HMA's shapes: `hma.py`."""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from haven.service import audit, authz, quarantine
from haven.service.api.views import API, compact_json, iso
from haven.service.dependencies import DB, LookupCaller, Who, state
from haven.service.errors import BadInput, Forbidden, NotFound, TooLarge
from haven.service.hashing import hash_upload
from haven.service.lookup import apply_controls, check_signal, import_file
from haven.service.models import LookupHashSet
from haven.service.schemas import HashSetControlsIn, HashSetPath, LookupIn, ObjectId

router = APIRouter()


@router.get(f"{API}/hashsets", tags=["matching"])
def hashsets(p: Who, s: DB) -> list[dict]:
    authz.require(p, authz.COORDINATOR, authz.LOOKUP)
    return [_hashset_json(h) for h in s.scalars(select(LookupHashSet).order_by(LookupHashSet.name))]


def _hashset_json(h: LookupHashSet) -> dict:
    return {"name": h.name, "version": h.version, "format": h.format, "scheme": h.scheme,
            "known_good": h.known_good, "entries": h.entry_count,
            "imported_at": iso(h.imported_at), "owner": h.owner,
            "pdq_threshold": h.pdq_threshold, "negative": bool(h.negative),
            "suppresses": h.suppresses or [], "feed": h.feed}


@router.post(f"{API}/hashsets", tags=["matching"], status_code=201)
def add_hashset(p: Who, s: DB, request: Request,
                file: Annotated[UploadFile, File()],
                name: Annotated[str, Form(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._()-]{0,199}$")],
                format: Annotated[str, Form(pattern=r"^[a-z0-9-]{1,30}$")] = "auto",
                known_good: Annotated[bool, Form()] = False,
                append: Annotated[bool, Form(description="add to the set (incremental "
                                             "feed; tombstones delete)")] = False,
                pdq_threshold: Annotated[int | None, Form(ge=0, le=63)] = None,
                negative: Annotated[bool, Form(description="the file lists known false "
                                               "positives")] = False,
                suppresses: Annotated[str, Form(max_length=4000, description="comma-separated "
                                                "set names a negative set suppresses "
                                                "(empty: every set)")] = "",
                feed: Annotated[str | None, Form(max_length=200)] = None,
                allow_empty: Annotated[bool, Form(description="accept a file that yields no "
                                                  "entry (a set emptied on purpose); refused "
                                                  "otherwise")] = False) -> dict:
    authz.coordinator(p)
    st = state(request)
    controls = {"pdq_threshold": pdq_threshold, "negative": negative,
                "suppresses": [x.strip() for x in suppresses.split(",") if x.strip()],
                "feed": feed}
    try:
        controls = HashSetControlsIn(**controls).model_dump()
    except ValueError as exc:
        raise BadInput(f"invalid matching controls: {str(exc)[:300]}") from None
    with tempfile.NamedTemporaryFile(dir=st.settings.staging_dir, suffix=".hashset") as tmp:
        while chunk := file.file.read(1 << 20):
            tmp.write(chunk)
        tmp.flush()
        existing = s.scalar(select(LookupHashSet).where(LookupHashSet.name == name))
        if existing is not None:
            owned(s, p, name)  # a set is replaced or extended by its owner only
            controls = None    # and keeps its controls (PATCH changes them)
        hs, result, tombstones = import_file(s, Path(tmp.name), name=name, fmt=format,
                                             known_good=known_good, append=append,
                                             owner=p.actor, controls=controls,
                                             allow_empty=allow_empty)
        audit.record(s, p.actor, "hashset.import", f"hashset:{hs.name}",
                     version=hs.version, format=result.format, entries=len(result.entries),
                     malformed=len(result.malformed), tombstones=tombstones,
                     source_sha256=hs.source_sha256)
        s.commit()
    st.library.sync(s)  # the new entries only (a full rebuild when needed)
    return {"name": hs.name, "version": hs.version, "format": result.format,
            "entries": hs.entry_count, "imported": len(result.entries),
            "malformed": [{"line": m.line, "reason": m.reason} for m in result.malformed[:100]],
            "tombstones": tombstones}


lookup_body = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": LookupIn.model_json_schema()},
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                       "properties": {"file": {"type": "string",
                                                               "format": "binary"}}}}}}}


@router.post(f"{API}/lookup", tags=["matching"], openapi_extra=lookup_body)
async def lookup(request: Request, p: LookupCaller) -> Response:
    """Match up to 10,000 signals (JSON `{"signals": [{"signal_type", "signal"}]}`) or one
    uploaded file (multipart field `file`: hashed here, PDQ for images)."""
    authz.lookup(p)
    st = state(request)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=5)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise BadInput("multipart lookup needs a file field named 'file'")
        data = await upload.read()
        # hashing and PDQ are CPU work: off the event loop, or every lookup waits
        a = await run_in_threadpool(hash_upload, upload.filename or "upload", data)
        result = {"file": {"size": a.size, "mime": a.mime, "md5": a.md5, "sha1": a.sha1,
                           "sha256": a.sha256, "pdq": a.pdq, "pdq_quality": a.pdq_quality,
                           "error": a.error, "notes": a.notes},
                  "matches": st.library.match_analysis(a)}
        st.audit_writer.submit(p.actor, "lookup.file", "", sha256=a.sha256,
                               matches=len(result["matches"]))
        return compact_json(result)
    try:
        body = LookupIn.model_validate_json(await request.body())
    except ValueError as exc:
        raise BadInput(f"invalid lookup body: {str(exc)[:500]}") from None
    if len(body.signals) > st.settings.max_lookup_signals:
        raise TooLarge(f"at most {st.settings.max_lookup_signals} signals per call "
                       f"(got {len(body.signals)})")
    checked = [(x.signal_type.lower(), check_signal(x.signal_type, x.signal))
               for x in body.signals]
    results, matched = [], 0
    text = st.library.text
    for t, v in checked:  # JSON text built from pre-encoded pieces (`answers.AnswerText`)
        hits = st.library.hits(t, v)
        matched += bool(len(hits))
        results.append(f'{{"signal_type":{json.dumps(t)},"signal":{json.dumps(v)},'
                       f'"matches":{text.listed(hits)},'
                       f'"truncated":{json.dumps(hits.truncated)},"within_reach":{hits.reach}}}')
    # one entry per call; the signals themselves by digest (a batch holds up to 10,000)
    st.audit_writer.submit(
        p.actor, "lookup.signals", "", signals=len(results), matched=matched,
        signals_sha256=hashlib.sha256("\n".join(f"{t}:{v}" for t, v in checked)
                                      .encode()).hexdigest())
    return Response(f'{{"results":[{",".join(results)}]}}'.encode(),
                    media_type="application/json")


def owned(s, p, name: str) -> LookupHashSet:
    """The hash set `name` if `p` owns it (a set imported from the command line has no owner:
    any coordinator manages it); 403 for anyone else, 404 when there is no such set."""
    authz.coordinator(p)
    hs = s.scalar(select(LookupHashSet).where(LookupHashSet.name == name))
    if hs is None:
        raise NotFound(f"no hash set named {name[:80]!r}")
    if hs.owner is not None and hs.owner != p.actor:
        raise Forbidden(f"only the set's owner ({hs.owner}) changes it or sees its flags")
    return hs


@router.patch(f"{API}/hashsets/{{name}}", tags=["matching"])
def set_controls(name: HashSetPath, body: HashSetControlsIn, p: Who, s: DB,
                 request: Request) -> dict:
    """The owner sets the set's PDQ threshold, negative flag, suppressed sets or feed; every
    worker applies them within its library poll (this one at once)."""
    hs = owned(s, p, name)
    changed = apply_controls(hs, body.model_dump(include=body.model_fields_set))
    if changed:
        audit.record(s, p.actor, "hashset.controls", f"hashset:{hs.name}", version=hs.version,
                     **{k: {"from": old, "to": new} for k, (old, new) in changed.items()})
    s.commit()
    state(request).library.sync(s)
    return _hashset_json(hs)


@router.get(f"{API}/hashsets/{{name}}/flags", tags=["matching"])
def set_flags(name: HashSetPath, p: Who, s: DB) -> list[dict]:
    """For the owner: the set's entries with confirm / deconfirm counts or in quarantine."""
    hs = owned(s, p, name)
    out = quarantine.flags_of(s, hs)
    audit.record(s, p.actor, "hashset.flags.view", f"hashset:{hs.name}", entries=len(out))
    s.commit()
    return out


@router.post(f"{API}/hashsets/{{name}}/entries/{{entry_id}}/release", tags=["matching"])
def release_entry(name: HashSetPath, entry_id: ObjectId, p: Who, s: DB,
                  request: Request) -> dict:
    """The owner ends an entry's quarantine: it is answered again."""
    hs = owned(s, p, name)
    quarantine.release(s, hs, entry_id, p.actor)
    s.commit()
    state(request).library.sync(s)
    return {"entry_id": entry_id, "quarantined": False}


def _vote(entry_id: int, verdict: str, p, s, request: Request) -> dict:
    authz.lookup(p)
    st = state(request)
    flag = quarantine.vote(s, entry_id, p.actor, verdict, st.settings.deconfirm_quarantine)
    s.commit()
    if flag.quarantined_at is not None:
        st.library.sync(s)  # held in this worker at once, in the others at their next poll
    return {"entry_id": entry_id, "verdict": verdict}


@router.post(f"{API}/entries/{{entry_id}}/confirm", tags=["matching"])
def confirm(entry_id: ObjectId, p: Who, s: DB, request: Request) -> dict:
    """The querying party says this entry's match was right (its latest verdict counts)."""
    return _vote(entry_id, "confirm", p, s, request)


@router.post(f"{API}/entries/{{entry_id}}/deconfirm", tags=["matching"])
def deconfirm(entry_id: ObjectId, p: Who, s: DB, request: Request) -> dict:
    """The querying party says this entry's match was wrong; enough deconfirmations from
    different parties (more than confirmations) put the entry in quarantine."""
    return _vote(entry_id, "deconfirm", p, s, request)
