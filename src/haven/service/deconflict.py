"""Deconfliction: subjects of different countries sharing an identifier, found by keyed hash.

Identifiers (e-mail, phone, IP, card, media hash) are normalised, then HMAC-SHA256'd with the
service's identifier key; only the digest is stored. A plain SHA-256 of a phone number or card
could be reversed by enumerating the space, the keyed hash cannot without the key. Overlaps
tell each side the *other country* and the identifier kind, never the other subject.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Iterable, Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from haven import signals
from haven.service.accounts import utcnow
from haven.service.models import Identifier, Overlap, Subject

KINDS = ("email", "phone", "ip", "card", "media")
_HEX = re.compile(r"[0-9a-f]+")


def _media_digest(text: str) -> bool:
    """True for a file digest of any registered kind (MD5, SHA-1, SHA-256, …)."""
    return bool(_HEX.fullmatch(text)) and signals.by_hex_length(len(text)) is not None


def normalise(kind: str, value: object) -> str | None:
    """The comparable form of an identifier, or None when it carries nothing comparable."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if kind == "email":
        text = text.casefold()
        return text if "@" in text and " " not in text else None
    if kind == "phone":
        digits = re.sub(r"\D", "", text)
        return digits if len(digits) >= 7 else None
    if kind == "card":
        # the payment identity's key: BIN + last 4 for full, masked and split card numbers
        # (packages never hold a full PAN), `tok:`/`fp:`/`iban:`/`acct:` otherwise; a last 4
        # alone is too weak to tell anyone about
        from haven.intel.payment import card_identity

        ident = card_identity(text)
        if ident is None or ident.key is None or ident.key.startswith(("acct#", "ref:")):
            return None   # an HMAC is per operation: it means nothing to another country
        return ident.key
    if kind == "ip":
        try:
            return ipaddress.ip_address(text).compressed
        except ValueError:
            return None
    if kind == "media":
        text = text.lower()
        return text if _media_digest(text) else None
    raise ValueError(f"unknown identifier kind {kind}")


def keyed_digest(key: bytes, kind: str, normalised: str) -> str:
    return hmac.new(key, f"{kind}\x00{normalised}".encode("utf-8"), hashlib.sha256).hexdigest()


def subject_identifiers(subject: dict) -> Iterator[tuple[str, str]]:
    """(kind, raw value) of a package subject (from subjects.json), over its source records."""
    for rec in subject.get("source_records") or []:
        for kind, key in (("email", "email"), ("phone", "phone"), ("ip", "ip"), ("card", "card")):
            if rec.get(key):
                yield kind, rec[key]
        extra = rec.get("extra")
        if isinstance(extra, dict):
            for st in signals.digest_types():
                if extra.get(st.name):
                    yield "media", extra[st.name]
    for value in subject.get("media_hashes") or []:
        yield "media", value


def digests(key: bytes, pairs: Iterable[tuple[str, object]]) -> set[tuple[str, str]]:
    out = set()
    for kind, raw in pairs:
        norm = normalise(kind, raw)
        if norm is not None:
            out.add((kind, keyed_digest(key, kind, norm)))
    return out


def record_subject(s: Session, key: bytes, row: Subject, subject: dict) -> list[Overlap]:
    """Store a new subject's identifier digests and any overlap with another country."""
    found: list[Overlap] = []
    for kind, digest in sorted(digests(key, subject_identifiers(subject))):
        others = s.execute(
            select(Identifier.subject_row_id, Identifier.country)
            .where(Identifier.digest == digest, Identifier.kind == kind,
                   Identifier.country != row.country)
        ).all()
        s.add(Identifier(subject_row_id=row.id, country=row.country, kind=kind, digest=digest))
        for other_id, other_country in sorted(set(others)):
            exists = s.scalar(select(Overlap.id).where(
                Overlap.subject_a == other_id, Overlap.subject_b == row.id, Overlap.kind == kind))
            if exists is None:
                ov = Overlap(subject_a=other_id, country_a=other_country, subject_b=row.id,
                             country_b=row.country, kind=kind, found_at=utcnow())
                s.add(ov)
                found.append(ov)
    s.flush()
    return found


def overlaps_for_subjects(s: Session, subject_row_ids: list[int]) -> dict[int, list[dict]]:
    """For each of these subjects, its overlaps as {kind, other_country, found_at}: no more."""
    out: dict[int, list[dict]] = {i: [] for i in subject_row_ids}
    if not subject_row_ids:
        return out
    rows = s.scalars(select(Overlap).where(
        Overlap.subject_a.in_(subject_row_ids) | Overlap.subject_b.in_(subject_row_ids)))
    for ov in rows:
        for mine, other_country in ((ov.subject_a, ov.country_b), (ov.subject_b, ov.country_a)):
            if mine in out:
                out[mine].append({"kind": ov.kind, "other_country": other_country,
                                  "found_at": ov.found_at.isoformat()})
    for items in out.values():
        items.sort(key=lambda d: (d["other_country"], d["kind"]))
    return out
