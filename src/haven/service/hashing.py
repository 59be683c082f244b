"""Hashing an uploaded file for the matching API: the one place the service turns bytes into
signals (`POST /api/v1/lookup` with a file, HMA's `POST /h/hash` and `POST /m/lookup`).

`hash_upload` hashes as a scan does (MD5, SHA-1, SHA-256, and PDQ with its quality for
images) and fills `query_hexes`, the PDQ hashes near matching searches with, and `framing`,
the luminance grid the hash-only crop/band/logo hypotheses start from (`haven.match.framing`,
matched in `ServiceHashSets.match_analysis`); extend it there and every upload route gets it.
"""

from __future__ import annotations

from haven import signals
from haven.scan.analyse import Analysis, analyse


def hash_upload(filename: str, data: bytes) -> Analysis:
    """The signals of one uploaded file (CPU work: call it off the event loop)."""
    a = analyse(filename or "upload", data=data)
    if a.pdq and not a.query_hexes:
        a.query_hexes = [a.pdq]
    return a


def signals_of(a: Analysis) -> dict[str, str]:
    """{signal type: value} of an analysis, HMA's `/h/hash` answer. PDQ only when its
    quality is good enough to match on (a flat picture's PDQ matches everything flat)."""
    out = {}
    near = signals.near_names()
    for st in signals.entry_types():  # the types hash-set entries hold, hence matchable
        value = getattr(a, st.name, None)
        if isinstance(value, str) and value and (st.name not in near or a.pdq_trusted):
            out[st.name] = value
    return out
