"""HMA's matching API shapes (facebook/ThreatExchange, hasher-matcher-actioner docs/api.md):
`GET /m/lookup`, `POST /m/lookup` (an uploaded file), `POST /h/hash`, `POST /m/compare`,
`GET /m/index/status`.

Where haven differs: a bad signal or type is 422 (HMA: 400); there is no bank coinflip, so
`bypass_coinflip` and `seed` are accepted and change nothing; `GET /h/hash?url=` and
`GET /m/lookup?url=` are refused (the service fetches nothing from the network); every match
carries haven's provenance fields beside `bank_content_id` and `distance`.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from haven import signals
from haven.service import authz
from haven.service.api.views import compact_json
from haven.service.dependencies import LookupCaller, state
from haven.service.errors import BadInput
from haven.service.hashing import hash_upload, signals_of
from haven.service.lookup import check_signal

router = APIRouter()

UPLOAD_FIELDS = ("photo", "video", "file")  # HMA names the field after the content type
Banks = Annotated[str | None, Query(max_length=2000, description="only these banks (comma-"
                                    "separated hash-set names)")]
Ignored = Annotated[str | None, Query(max_length=40, description="accepted for HMA clients; "
                                      "haven has no bank coinflip")]


def _bank_filter(banks: str | None) -> set[str] | None:
    return {b.strip() for b in banks.split(",") if b.strip()} if banks else None


def _only(grouped: dict[str, list], wanted: set[str] | None) -> dict[str, list]:
    return grouped if wanted is None else {k: v for k, v in grouped.items() if k in wanted}


@router.get("/m/lookup", tags=["matching"])
async def hma_lookup(p: LookupCaller, request: Request,
                     signal: Annotated[str, Query(max_length=200)],
                     signal_type: Annotated[str, Query(max_length=20)] = "pdq",
                     banks: Banks = None, bypass_coinflip: Ignored = None,
                     seed: Ignored = None) -> Response:
    """HMA's lookup shape: `{bank name: [{bank_content_id, distance, …provenance}]}`."""
    authz.lookup(p)
    st = state(request)
    hma_type, value, body, n_banks, n = st.library.hma_text(signal_type, signal,
                                                            _bank_filter(banks))
    st.audit_writer.submit(p.actor, "lookup.hma", "", signal_type=hma_type, signal=value,
                           banks=n_banks, matches=n)
    return Response(body.encode(), media_type="application/json")


async def _upload(request: Request) -> tuple[str, bytes]:
    form = await request.form(max_files=1, max_fields=5)
    for name in UPLOAD_FIELDS:
        upload = form.get(name)
        if upload is not None and not isinstance(upload, str):
            return upload.filename or name, await upload.read()
    raise BadInput("send the file as multipart/form-data, in a field named photo, video or file")


@router.post("/h/hash", tags=["matching"],
             openapi_extra={"requestBody": {"required": True, "content": {
                 "multipart/form-data": {"schema": {"type": "object", "properties": {
                     "photo": {"type": "string", "format": "binary"}}}}}}})
async def hash_file(p: LookupCaller, request: Request) -> Response:
    """HMA's hashing: the uploaded file's signals, `{signal type: value}`."""
    authz.lookup(p)
    name, data = await _upload(request)
    a = await run_in_threadpool(hash_upload, name, data)
    if a.error and not a.sha256:
        raise BadInput(f"could not hash the file: {a.error}")
    state(request).audit_writer.submit(p.actor, "hash.file", "", sha256=a.sha256, size=a.size)
    return compact_json(signals_of(a))


@router.post("/m/lookup", tags=["matching"],
             openapi_extra={"requestBody": {"required": True, "content": {
                 "multipart/form-data": {"schema": {"type": "object", "properties": {
                     "photo": {"type": "string", "format": "binary"}}}}}}})
async def hma_lookup_file(p: LookupCaller, request: Request, banks: Banks = None,
                          bypass_coinflip: Ignored = None, seed: Ignored = None) -> Response:
    """HMA's hash-and-match: `{signal type: {bank name: [match…]}}` for the uploaded file."""
    authz.lookup(p)
    st = state(request)
    name, data = await _upload(request)
    a = await run_in_threadpool(hash_upload, name, data)
    wanted = _bank_filter(banks)
    by_type: dict[str, list[dict]] = {name: [] for name in signals_of(a)}
    for m in st.library.match_analysis(a):  # digests, PDQ and its hash-only hypotheses
        by_type.setdefault(m["algorithm"], []).append(m)
    out = {k: _only(st.library.hma_banks(v), wanted) for k, v in by_type.items()}
    st.audit_writer.submit(p.actor, "lookup.file", "", sha256=a.sha256, hma=True,
                           matches=sum(len(v) for b in out.values() for v in b.values()))
    return compact_json(out)


@router.post("/m/compare", tags=["matching"])
async def compare(p: LookupCaller, request: Request) -> Response:
    """HMA's compare: `{"pdq": [a, b]}` → `{"pdq": [match, {"distance": d}]}`.

    PDQ matches within the service's default threshold; exact digests answer distance 0
    when equal, else 1.
    """
    import json

    authz.lookup(p)
    st = state(request)
    try:
        body = json.loads(await request.body())
    except (ValueError, RecursionError):  # deep nesting overflows the parser's stack
        raise BadInput("send a JSON object {signal type: [hash, hash]}") from None
    if not isinstance(body, dict) or not body or len(body) > 10:
        raise BadInput("send a JSON object {signal type: [hash, hash]}")
    out = {}
    for signal_type, pair in body.items():
        if not isinstance(pair, list) or len(pair) != 2 or not all(isinstance(x, str)
                                                                   for x in pair):
            raise BadInput(f"{str(signal_type)[:20]}: give exactly two hashes as strings")
        left, right = (check_signal(signal_type, x) for x in pair)
        if signal_type.lower() in signals.near_names():
            d = (int(left, 16) ^ int(right, 16)).bit_count()
            out[signal_type] = [d <= st.library.threshold, {"distance": d}]
        else:
            d = 0 if left == right else 1
            out[signal_type] = [d == 0, {"distance": d}]
    st.audit_writer.submit(p.actor, "lookup.compare", "", signal_types=sorted(out),
                           pairs_sha256=hashlib.sha256(json.dumps(body, sort_keys=True)
                                                       .encode()).hexdigest())
    return compact_json(out)


@router.get("/m/index/status", tags=["matching"])
def index_status(p: LookupCaller, request: Request,
                 signal_type: Annotated[str | None, Query(max_length=20)] = None) -> Response:
    """HMA's index status: `{signal type: {present, built_to (Unix time, -1), size}}`."""
    authz.lookup(p)
    status = state(request).library.status()
    if signal_type is not None:
        if signal_type not in status:
            raise BadInput(f"no such signal type {signal_type[:20]!r}: one of "
                           f"{', '.join(status)}")
        status = {signal_type: status[signal_type]}
    return compact_json(status)
