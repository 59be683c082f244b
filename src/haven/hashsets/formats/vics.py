"""Project VIC VICS JSON (OData-flavoured), versions 1.x and 2.0.

Two shapes: case exports (`value[]` holds Cases, each with `Media[]`) and hash-set
distributions (`value[]` holds Media directly). The context URL (`@odata.context` in 2.0,
`odata.metadata` in 1.x) gives the version and, in 2.0, the region whose category scheme the
numbers follow: `/US/` -> "vics-us", `/UK/` -> "vics-uk", `/Default/` or none -> "vics".
Distributors write flags and sizes as strings as often as not; both are accepted.

The whole document is loaded with `json.load`; a streaming parser for multi-GB distributions
is future work.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from haven import signals
from haven.errors import HashSetFormatError
from haven.hashsets.formats import fields
from haven.hashsets.formats.registry import register
from haven.hashsets.formats.table import column_key
from haven.hashsets.model import HashEntry, ImportResult, Malformed

CONTEXT_KEYS = ("@odata.context", "odata.metadata")
_CONTEXT_IN_HEAD = re.compile(r'"(?:@odata\.context|odata\.metadata)"\s*:\s*"([^"]*)"')
_DATA_MODEL = re.compile(r"/DataModels/(\d+(?:\.\d+)*)\.xml(?:/([^/$#?]+))?", re.IGNORECASE)
_ENTITY_SET = re.compile(r"#(\w+)\s*$")

DEFAULT_REGION = "Default"


def scheme_for_region(region: str | None) -> str:
    """Category scheme of a VICS region: "US" -> "vics-us", "Default"/None -> "vics"."""
    if not region or region.lower() == DEFAULT_REGION.lower():
        return "vics"
    return f"vics-{region.lower()}"


def parse_context(url: str) -> tuple[str | None, str | None, str | None]:
    """(version, region, entity set) of a VICS context URL; parts it lacks are None."""
    model = _DATA_MODEL.search(url)
    entity = _ENTITY_SET.search(url)
    return (
        model.group(1) if model else None,
        model.group(2) if model else None,
        entity.group(1) if entity else None,
    )


def _is_vics_context(url: str) -> bool:
    return bool(_DATA_MODEL.search(url)) or "projectvic" in url.lower()


# AlternativeHashes[].HashName (column_key form) -> HashEntry field
_ALTERNATIVE_FIELDS = {t.name: t.name for t in signals.entry_types()}

# Media keys kept in HashEntry.extra, with how each is read
_EXTRA_FLAGS = {
    "OffenderIdentified": "offender_identified",
    "IsDistributed": "is_distributed",
    "IsPrecategorized": "is_precategorized",
    "IsSuspected": "is_suspected",
}
_EXTRA_TEXT = {
    "MediaID": "media_id",
    "MimeType": "mime_type",
    "Tags": "tags",
    "PhotoDNA": "photodna",
    "PrecategorizationSource": "precategorization_source",
}


@register
class VicsReader:
    name = "vics"
    priority = 10

    def sniff(self, path: Path, head: bytes) -> bool:
        text = fields.head_text(head).lstrip()
        if not text.startswith("{"):
            return False
        found = _CONTEXT_IN_HEAD.search(text)
        return bool(found and _is_vics_context(found.group(1)))

    def read(self, path: Path, *, scheme: str | None = None) -> ImportResult:
        document = self._load(path)
        url = next((document[k] for k in CONTEXT_KEYS if isinstance(document.get(k), str)), "")
        version, region, entity_set = parse_context(url)
        scheme = scheme or scheme_for_region(region)
        result = ImportResult(format=self.name, scheme=scheme)
        saw_category = False
        for number, case, media in self._media(document, entity_set == "Cases"):
            if not isinstance(media, dict):
                result.malformed.append(Malformed(number, "Media record is not a JSON object"))
                continue
            try:
                entry = self._entry(media, scheme)
            except ValueError as exc:
                result.malformed.append(Malformed(number, str(exc)))
                continue
            entry.line = number
            if case is not None and fields.text(case.get("CaseNumber")):
                entry.extra["case_number"] = fields.text(case.get("CaseNumber"))
            saw_category = saw_category or entry.category is not None
            result.entries.append(entry)
        # A 1.x Media list without categories is the shape NIST's CAID "Non-RDS" known-good
        # list ships in (IPED reads it so); a 2.0 set without categories is merely uncategorised.
        result.known_good_hint = bool(
            version and version.startswith("1.") and entity_set == "Media"
            and result.entries and not saw_category
        )
        return result

    @staticmethod
    def _load(path: Path) -> dict:
        try:
            # bytes in, so json detects UTF-8 (with or without BOM) and UTF-16 itself
            document = json.loads(path.read_bytes())
        except json.JSONDecodeError as exc:
            raise HashSetFormatError(
                f"{path.name}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
            ) from exc
        except UnicodeDecodeError as exc:
            raise HashSetFormatError(f"{path.name}: not valid JSON text ({exc.reason})") from exc
        if not isinstance(document, dict) or not any(k in document for k in CONTEXT_KEYS):
            raise HashSetFormatError(
                f"{path.name}: not a VICS file (no @odata.context or odata.metadata)"
            )
        if not isinstance(document.get("value"), list):
            raise HashSetFormatError(f"{path.name}: VICS file without a 'value' list")
        return document

    @staticmethod
    def _media(document: dict, cases: bool) -> Iterator[tuple[int, dict | None, object]]:
        """(record number, owning case or None, media record) in file order."""
        number = 0
        for item in document["value"]:
            if cases or (isinstance(item, dict) and "Media" in item):
                media_list = item.get("Media") if isinstance(item, dict) else item
                if media_list is None:
                    continue  # a case without media
                if not isinstance(media_list, list):
                    media_list = [media_list]  # reported as malformed below
                for media in media_list:
                    number += 1
                    yield number, item if isinstance(item, dict) else None, media
            else:
                number += 1
                yield number, None, item

    @staticmethod
    def _entry(media: dict, scheme: str) -> HashEntry:
        entry = HashEntry(
            md5=fields.hex_digest(media.get("MD5"), "md5"),
            sha1=fields.hex_digest(media.get("SHA1"), "sha1"),
            sha256=fields.hex_digest(media.get("SHA256"), "sha256"),
            pdq=fields.hex_digest(media.get("PDQ"), "pdq"),
            category=fields.text(media.get("Category")),
            series=fields.text(media.get("Series")),
            victim_identified=fields.flag(media.get("VictimIdentified"), "VictimIdentified"),
            scheme=scheme,
        )
        extra: dict = {}
        for alternative in media.get("AlternativeHashes") or []:
            if not isinstance(alternative, dict):
                continue
            name = fields.text(alternative.get("HashName")) or ""
            value = alternative.get("HashValue")
            field = _ALTERNATIVE_FIELDS.get(column_key(name))
            if field:
                digest = fields.hex_digest(value, field)
                if getattr(entry, field) is None:
                    setattr(entry, field, digest)
            elif column_key(name) == "photodna":
                extra["photodna"] = fields.text(value)
            elif name:
                extra.setdefault("alternative_hashes", {})[name] = fields.text(value)
        if not entry.signal_values():
            raise ValueError("Media record has no MD5, SHA1, SHA256 or PDQ")
        size = fields.size(media.get("MediaSize"), "MediaSize")
        if size is not None:
            extra["media_size"] = size
        for key, name in _EXTRA_TEXT.items():
            value = fields.text(media.get(key))
            if value is not None:
                extra.setdefault(name, value)
        for key, name in _EXTRA_FLAGS.items():
            value = fields.flag_or_text(media.get(key), key)
            if value is not None:
                extra[name] = value
        paths = [
            fields.text(f.get("FilePath")) or fields.text(f.get("FileName"))
            for f in media.get("MediaFiles") or []
            if isinstance(f, dict)
        ]
        if any(paths):
            extra["files"] = [p for p in paths if p]
        entry.extra = extra
        return entry
