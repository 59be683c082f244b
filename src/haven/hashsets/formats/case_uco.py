"""CASE/UCO JSON-LD (caseontology.org): the file hashes of a partner's CASE export.

Every node holding UCO `Hash` objects (in CASE 1.x a `ContentDataFacet`'s `hash` list;
read wherever it sits in the graph) becomes one entry: its MD5, SHA1, SHA256 and SHA512
(`hashMethod` names of UCO's HashNameVocab, any case, `SHA-256` spelled either way) and PDQ
when a producer names it so. A node whose hashes are all of other methods (SSDEEP, SHA224, …)
or whose value is not valid hex is a malformed record; the rest imports. The file name of the
owning `File` (its `FileFacet`'s `fileName`) and the node's `@id` are kept in `extra`. A
record's "line" is its number among the hash-holding nodes (as VICS counts Media records).

Prefixes are not resolved: keys are matched by their local name after the last `:`, `/` or
`#`, so `uco-types:hashMethod`, `types:hashMethod` and the full IRI read alike. The whole
document is loaded with `json.loads` (as VICS is). Nothing here says the files are known
abuse: importing a CASE export as a known set is the user's decision (`--name`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from haven.errors import HashSetFormatError
from haven.hashsets.formats import fields
from haven.hashsets.formats.registry import register
from haven.hashsets.model import HashEntry, ImportResult, Malformed

SCHEME = "caseuco"
#: what the head of a CASE/UCO document names (its @context's ontology IRIs)
ONTOLOGY_IRIS = ("unifiedcyberontology.org", "caseontology.org")
#: hashMethod (upper-case, without '-' or '_') -> HashEntry field
METHODS = {"MD5": "md5", "SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512", "PDQ": "pdq"}


def _local(key: str) -> str:
    """`uco-types:hashMethod`, `…/types/hashMethod` -> `hashMethod`."""
    return re.split(r"[:/#]", key)[-1]


def _value(node: object) -> object:
    """A JSON-LD literal's value (`{"@value": …}` or the bare value)."""
    return node.get("@value") if isinstance(node, dict) else node


def _get(node: dict, name: str) -> object:
    return next((v for k, v in node.items() if _local(k) == name), None)


def _as_list(value: object) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def _file_name(node: dict) -> str | None:
    """The `fileName` of a File node's FileFacet (or of the node itself)."""
    for facet in [node, *_as_list(_get(node, "hasFacet"))]:
        if isinstance(facet, dict) and isinstance(_value(_get(facet, "fileName")), str):
            return _value(_get(facet, "fileName"))
    return None


def _hash_nodes(node: object, name: str | None = None) -> Iterator[tuple[dict, str | None]]:
    """(node holding a `hash` list, the owning file's name) in document order."""
    if isinstance(node, list):
        for child in node:
            yield from _hash_nodes(child, name)
        return
    if not isinstance(node, dict):
        return
    name = _file_name(node) or name
    if _get(node, "hash") is not None:
        yield node, name
    for key, child in node.items():
        if _local(key) not in ("hash", "@context") and isinstance(child, (dict, list)):
            yield from _hash_nodes(child, name)


def _entry(node: dict, name: str | None) -> HashEntry:
    entry = HashEntry(scheme=SCHEME)
    other = []
    for item in _as_list(_get(node, "hash")):
        if not isinstance(item, dict):
            raise ValueError("a hash that is not a JSON object")
        method = str(_value(_get(item, "hashMethod")) or "").strip()
        value = _value(_get(item, "hashValue"))
        target = METHODS.get(method.upper().replace("-", "").replace("_", ""))
        if target is None:
            other.append(method or "no hashMethod")
            continue
        digest = fields.hex_digest(value, target)
        if digest is None:
            raise ValueError(f"{method} hash without a value")
        setattr(entry, target, digest)
    if not entry.signal_values():
        raise ValueError("no MD5, SHA1, SHA256, SHA512 or PDQ hash"
                         + (f" ({', '.join(sorted(set(other)))} only)" if other else ""))
    if name:
        entry.extra["file_name"] = name
    if isinstance(node.get("@id"), str):
        entry.extra["id"] = node["@id"]
    return entry


@register
class CaseUcoReader:
    name = "caseuco"
    priority = 12  # JSON naming the CASE/UCO ontologies: unmistakable, ahead of the text readers

    def sniff(self, path: Path, head: bytes) -> bool:
        text = fields.head_text(head).lstrip()  # BOM gone, UTF-16 decoded
        return text[:1] in ("{", "[") and any(iri in text for iri in ONTOLOGY_IRIS)

    def read(self, path: Path, *, scheme: str | None = None) -> ImportResult:
        try:
            document = json.loads(path.read_bytes())  # bytes: json detects UTF-8/16 and a BOM
        except json.JSONDecodeError as exc:
            raise HashSetFormatError(f"{path.name}: not valid JSON ({exc.msg} at line "
                                     f"{exc.lineno}, column {exc.colno})") from exc
        except UnicodeDecodeError as exc:
            raise HashSetFormatError(f"{path.name}: not valid JSON text ({exc.reason})") from exc
        result = ImportResult(format=self.name, scheme=scheme or SCHEME)
        for number, (node, name) in enumerate(_hash_nodes(document), start=1):
            try:
                entry = _entry(node, name)
            except ValueError as exc:
                result.malformed.append(Malformed(number, str(exc)))
                continue
            entry.line = number
            if scheme:
                entry.scheme = scheme
            result.entries.append(entry)
        return result
