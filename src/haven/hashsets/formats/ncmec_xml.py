"""NCMEC hash-sharing API v2 XML (`GET /v2/entries` responses, saved to a file).

`<queryResult>` holds `<images>` and `<videos>`; each `<image>`/`<video>` has an `<id>`, the
sharing `<member>`, a `<timestamp>`, a `<classification>` (kept as the category, scheme
"ncmec") and `<fingerprints>` (`md5`, `sha1`, `pdq`; others such as PhotoDNA are kept in
`extra`). A `<deletedImage>`/`<deletedVideo>` is a tombstone: the member withdrew that id.

Entries are read in document order and a tombstone removes an earlier entry of the same id in
the same file; tombstones for ids not in this file (an incremental feed) are returned in
`ImportResult.tombstones` (with their details by `read_feed`) so a library that keeps earlier
feeds can delete them. Parsing goes through
defusedxml (no entity expansion, no external entities).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from haven import signals
from haven.errors import HashSetFormatError
from haven.hashsets.formats import fields
from haven.hashsets.formats.registry import register
from haven.hashsets.model import HashEntry, ImportResult, Malformed

SCHEME = "ncmec"
NAMESPACE_HINT = b"hashsharing.ncmec.org"
ENTRY_TAGS = {"image": "image", "video": "video"}
TOMBSTONE_TAGS = {"deletedImage": "image", "deletedVideo": "video"}
# fingerprint type (lower-case) -> HashEntry field: haven's signal types by their names
FINGERPRINTS = {t.name: t.name for t in signals.entry_types()}


@dataclass
class Tombstone:
    media: str          # image | video
    id: str
    member: str | None
    timestamp: str | None


@dataclass
class NcmecFeed:
    result: ImportResult
    tombstones: list[Tombstone] = field(default_factory=list)
    max_timestamp: str | None = None
    next_page: str | None = None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(elem, name: str):
    for c in elem:
        if _local(c.tag) == name:
            return c
    return None


def _text(elem, name: str) -> str | None:
    c = _child(elem, name)
    return c.text.strip() if c is not None and c.text and c.text.strip() else None


def _entry(elem, media: str, number: int) -> HashEntry:
    ident = _text(elem, "id")
    if not ident:
        raise ValueError(f"{media} without an <id>")
    member = _child(elem, "member")
    entry = HashEntry(category=_text(elem, "classification"), scheme=SCHEME, line=number,
                      extra={"ncmec_id": ident, "media": media,
                             "timestamp": _text(elem, "timestamp"),
                             "member_id": member.get("id") if member is not None else None})
    prints = _child(elem, "fingerprints")
    others = {}
    for fp in list(prints) if prints is not None else []:
        name = _local(fp.tag)
        value = (fp.text or "").strip()
        target = FINGERPRINTS.get(name.lower())
        if target is None:
            others[name] = value
            continue
        digest = fields.hex_digest(value, target)
        if digest is None:
            raise ValueError(f"{media} {ident}: {name} {value[:80]!r} is not a valid {target}")
        setattr(entry, target, digest)
    if others:
        entry.extra["other_fingerprints"] = others
    if not entry.signal_values():
        raise ValueError(f"{media} {ident} has no md5, sha1, sha256 or pdq fingerprint")
    return entry


def read_feed(path: Path, *, scheme: str | None = None) -> NcmecFeed:
    """Entries (tombstoned ones removed) and the tombstones of one NCMEC XML file."""
    try:
        root = SafeET.parse(str(path)).getroot()
    except (SafeET.ParseError, DefusedXmlException) as exc:
        raise HashSetFormatError(f"{path.name}: not readable NCMEC XML ({exc})") from exc
    if _local(root.tag) != "queryResult":
        raise HashSetFormatError(f"{path.name}: root element is <{_local(root.tag)}>, "
                                 "not NCMEC's <queryResult>")
    result = ImportResult(format=NcmecXmlReader.name, scheme=scheme or SCHEME)
    feed = NcmecFeed(result=result)
    live: dict[tuple[str, str], HashEntry] = {}
    number = 0
    for group in root:
        gname = _local(group.tag)
        if gname == "paging":
            feed.next_page = _text(group, "next")
            continue
        if gname not in ("images", "videos"):
            continue
        stamp = group.get("maxTimestamp")
        if stamp and (feed.max_timestamp is None or stamp > feed.max_timestamp):
            feed.max_timestamp = stamp
        for elem in group:
            number += 1
            tag = _local(elem.tag)
            if tag in ENTRY_TAGS:
                try:
                    entry = _entry(elem, ENTRY_TAGS[tag], number)
                except ValueError as exc:
                    result.malformed.append(Malformed(number, str(exc)))
                    continue
                if scheme:
                    entry.scheme = scheme
                live[(ENTRY_TAGS[tag], entry.extra["ncmec_id"])] = entry
            elif tag in TOMBSTONE_TAGS:
                ident = _text(elem, "id")
                if not ident:
                    result.malformed.append(Malformed(number, f"<{tag}> without an <id>"))
                    continue
                member = _child(elem, "member")
                live.pop((TOMBSTONE_TAGS[tag], ident), None)
                feed.tombstones.append(Tombstone(TOMBSTONE_TAGS[tag], ident,
                                                 member.get("id") if member is not None else None,
                                                 _text(elem, "timestamp")))
            else:
                result.malformed.append(Malformed(number, f"unexpected element <{tag}>"))
    result.entries = sorted(live.values(), key=lambda e: e.line or 0)
    result.tombstones = [t.id for t in feed.tombstones]
    return feed


@register
class NcmecXmlReader:
    name = "ncmec-xml"
    priority = 15

    def sniff(self, path: Path, head: bytes) -> bool:
        if b"<" not in head[:512]:
            return False
        return b"queryResult" in head and NAMESPACE_HINT in head

    def read(self, path: Path, *, scheme: str | None = None) -> ImportResult:
        return read_feed(path, scheme=scheme).result
