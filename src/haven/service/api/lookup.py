"""Hash sets and matching: import sets, look up signals or files, HMA's `/m/lookup`."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from haven.service import audit, authz
from haven.service.api.views import API, compact_json, iso
from haven.service.dependencies import DB, LookupCaller, Who, state
from haven.service.errors import BadInput, TooLarge
from haven.service.lookup import check_signal, import_file
from haven.service.models import LookupHashSet
from haven.service.schemas import LookupIn

router = APIRouter()


@router.get(f"{API}/hashsets", tags=["matching"])
def hashsets(p: Who, s: DB) -> list[dict]:
    authz.require(p, authz.COORDINATOR, authz.LOOKUP)
    return [{"name": h.name, "version": h.version, "format": h.format, "scheme": h.scheme,
             "known_good": h.known_good, "entries": h.entry_count,
             "imported_at": iso(h.imported_at)}
            for h in s.scalars(select(LookupHashSet).order_by(LookupHashSet.name))]


@router.post(f"{API}/hashsets", tags=["matching"], status_code=201)
def add_hashset(p: Who, s: DB, request: Request,
                file: Annotated[UploadFile, File()],
                name: Annotated[str, Form(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._()-]{0,199}$")],
                format: Annotated[str, Form(pattern=r"^[a-z0-9-]{1,30}$")] = "auto",
                known_good: Annotated[bool, Form()] = False,
                append: Annotated[bool, Form(description="add to the set (incremental "
                                             "feed; tombstones delete)")] = False) -> dict:
    authz.coordinator(p)
    st = state(request)
    with tempfile.NamedTemporaryFile(dir=st.settings.staging_dir, suffix=".hashset") as tmp:
        while chunk := file.file.read(1 << 20):
            tmp.write(chunk)
        tmp.flush()
        hs, result, tombstones = import_file(s, Path(tmp.name), name=name, fmt=format,
                                             known_good=known_good, append=append)
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
        from haven.scan.analyse import analyse

        # hashing and PDQ are CPU work: off the event loop, or every lookup waits
        a = await run_in_threadpool(analyse, upload.filename or "upload", data=data)
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
    results = [{"signal_type": t, "signal": v, "matches": st.library.match(t, v)}
               for t, v in checked]
    # one entry per call; the signals themselves by digest (a batch holds up to 10,000)
    st.audit_writer.submit(
        p.actor, "lookup.signals", "", signals=len(results),
        matched=sum(1 for r in results if r["matches"]),
        signals_sha256=hashlib.sha256("\n".join(f"{t}:{v}" for t, v in checked)
                                      .encode()).hexdigest())
    return compact_json({"results": results})


@router.get("/m/lookup", tags=["matching"])
async def hma_lookup(p: LookupCaller, request: Request,
                     signal: Annotated[str, Query(max_length=200)],
                     signal_type: Annotated[str, Query(max_length=20)] = "pdq") -> Response:
    """HMA's lookup shape: `{bank name: [{bank_content_id, distance, …evidence}]}`."""
    authz.lookup(p)
    st = state(request)
    hma_type, value, banks, n = st.library.hma(signal_type, signal)
    st.audit_writer.submit(p.actor, "lookup.hma", "", signal_type=hma_type, signal=value,
                           banks=len(banks), matches=n)
    return compact_json(banks)
