"""subjects.jsonld: the package as CASE/UCO JSON-LD (modelled on shared/ref/formats/case).

Per subject: a Person, per source record a DigitalAccount at the seized service, its
EmailAddress, PhoneAccount and IP address observables, a Location for the postal address, and
the country attribution as an InvestigativeAction (instrument haven, objects the person and
the input files) whose results are an AnalyticResult (country + confidence) and a
ProvenanceRecord naming the source rows. Input files are File observables with SHA-256.

Identifiers are UUID v5 of stable keys, so the same subject has the same @id in every
package that holds it and every rebuild gives the same bytes.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import uuid
from collections import defaultdict
from pathlib import Path

from haven.refer.package import Package
from haven.refer.formats.registry import register

_NS = uuid.UUID("5b0c3f52-2f2a-4c1e-9d3e-6a7b8c9d0e1f")

CONTEXT = {
    "kb": "http://example.org/kb/",
    "case-investigation": "https://ontology.caseontology.org/case/investigation/",
    "uco-action": "https://ontology.unifiedcyberontology.org/uco/action/",
    "uco-analysis": "https://ontology.unifiedcyberontology.org/uco/analysis/",
    "uco-core": "https://ontology.unifiedcyberontology.org/uco/core/",
    "uco-identity": "https://ontology.unifiedcyberontology.org/uco/identity/",
    "uco-location": "https://ontology.unifiedcyberontology.org/uco/location/",
    "uco-observable": "https://ontology.unifiedcyberontology.org/uco/observable/",
    "uco-tool": "https://ontology.unifiedcyberontology.org/uco/tool/",
    "uco-types": "https://ontology.unifiedcyberontology.org/uco/types/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}


_NS_SHA1 = hashlib.sha1(_NS.bytes, usedforsecurity=False)
_ENCODER = json.JSONEncoder(ensure_ascii=False)   # one encoder: json.dumps builds one a call
_KEY_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True)


def uuid5_text(name: str) -> str:
    """str(uuid.uuid5(_NS, name)), three times faster (a package makes ~20 ids a subject)."""
    h = _NS_SHA1.copy()
    h.update(name.encode("utf-8"))
    n = int.from_bytes(h.digest()[:16], "big")
    n = (n & ~(0xF000 << 64) | (5 << 76)) & ~(0xC000 << 48) | (0x8000 << 48)
    x = f"{n:032x}"
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def _id(kind: str, *key: object) -> str:
    return f"kb:{kind}-{uuid5_text(kind + '|' + '|'.join(map(str, key)))}"


def _ref(node_id: str) -> dict:
    return {"@id": node_id}


def _time(ts: str) -> dict:
    return {"@type": "xsd:dateTime", "@value": ts}


class _Graph:
    """Nodes by @id, each added once (shared observables appear once per package)."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict] = {}

    def add(self, node: dict) -> str:
        self.nodes.setdefault(node["@id"], node)
        return node["@id"]

    def relation(self, kind: str, source: str, target: str, description: str | None = None,
                 observable: bool = False) -> None:
        node = {"@id": _id("relationship", kind, source, target),
                "@type": "uco-observable:ObservableRelationship" if observable
                else "uco-core:Relationship",
                "uco-core:source": _ref(source),
                "uco-core:target": _ref(target) if observable else [_ref(target)],
                "uco-core:kindOfRelationship": kind,
                "uco-core:isDirectional": True}
        if description:
            node["uco-core:description"] = description
        self.add(node)


def _ip_node(ip: str) -> dict | None:
    try:
        version = ipaddress.ip_address(ip.strip().strip("[]")).version
    except ValueError:
        return None
    kind = "IPv4Address" if version == 4 else "IPv6Address"
    return {"@id": _id("ip", ip), "@type": f"uco-observable:{kind}",
            "uco-core:hasFacet": [{"@id": _id("ip-facet", ip),
                                   "@type": f"uco-observable:{kind}Facet",
                                   "uco-observable:addressValue": ip}]}


def build_graph(package: Package) -> dict:
    """The package's JSON-LD document (pure)."""
    prov = package.provenance
    op = prov.get("operation") or "operation"
    ts = package.timestamp
    g = _Graph()
    tool = g.add({"@id": _id("tool", "haven", prov.get("haven_version")),
                  "@type": "uco-tool:AnalyticTool", "uco-core:name": "haven",
                  "uco-tool:version": str(prov.get("haven_version"))})
    service = g.add({"@id": _id("service", op), "@type": "uco-identity:Organization",
                     "uco-core:name": f"Seized service of operation {op}"})
    inputs = []
    for inp in prov.get("inputs") or []:
        fid = g.add({
            "@id": _id("file", inp["sha256"]), "@type": "uco-observable:File",
            "uco-core:hasFacet": [
                {"@id": _id("file-facet", inp["sha256"]), "@type": "uco-observable:FileFacet",
                 "uco-observable:fileName": inp["file"]},
                {"@id": _id("content-facet", inp["sha256"]),
                 "@type": "uco-observable:ContentDataFacet",
                 "uco-observable:hash": [{
                     "@id": _id("hash", inp["sha256"]), "@type": "uco-types:Hash",
                     "uco-types:hashMethod": "SHA256",
                     "uco-types:hashValue": {"@type": "xsd:hexBinary",
                                             "@value": inp["sha256"]}}]}]})
        g.add({"@id": _id("provenance-input", op, inp["sha256"]),
               "@type": "case-investigation:ProvenanceRecord",
               "uco-core:description": f"Seized list {inp['file']} ({inp.get('records')} records)",
               "case-investigation:exhibitNumber": f"{op}/{inp['file']}",
               "uco-core:object": [_ref(fid)]})
        inputs.append(fid)

    records: dict[str, list[dict]] = defaultdict(list)
    for r in package.records:
        records[r["subject_id"]].append(r)
    focus: list[str] = []
    for s in package.subjects:
        sid = s["subject_id"]
        names = s.get("names") or []
        person_node = {"@id": _id("person", sid), "@type": "uco-identity:Person",
                       "uco-core:name": names[0] if names else sid,
                       "uco-core:description": f"haven subject {sid}"
                       + (f"; name variants: {', '.join(names)}" if len(names) > 1 else "")}
        person = g.add(person_node)
        focus.append(person)
        members = [person]
        for rec in records.get(sid, []):
            where = f"{rec['file']}:{rec['row']}"
            acct_key = rec.get("account_id") or rec.get("username") or where
            facets: list[dict] = [{
                "@id": _id("account-facet", op, acct_key), "@type": "uco-observable:AccountFacet",
                "uco-observable:accountIdentifier": str(acct_key),
                "uco-observable:accountIssuer": _ref(service)}]
            dfacet = {"@id": _id("digital-account-facet", op, acct_key),
                      "@type": "uco-observable:DigitalAccountFacet"}
            if rec.get("username"):
                dfacet["uco-observable:accountLogin"] = rec["username"]
            if rec.get("full_name"):
                dfacet["uco-observable:displayName"] = rec["full_name"]
            if len(dfacet) > 2:
                facets.append(dfacet)
            account = g.add({"@id": _id("account", op, acct_key),
                             "@type": "uco-observable:DigitalAccount",
                             "uco-core:hasFacet": facets})
            members.append(account)
            g.relation("Has_Account", person, account)
            if rec.get("email"):
                email = g.add({"@id": _id("email", rec["email"]),
                               "@type": "uco-observable:EmailAddress",
                               "uco-core:hasFacet": [{
                                   "@id": _id("email-facet", rec["email"]),
                                   "@type": "uco-observable:EmailAddressFacet",
                                   "uco-observable:addressValue": rec["email"]}]})
                members.append(email)
                g.relation("Related_To", account, email, f"E-mail in seized row {where}",
                           observable=True)
            if rec.get("phone"):
                phone = g.add({"@id": _id("phone", rec["phone"]),
                               "@type": "uco-observable:PhoneAccount",
                               "uco-core:hasFacet": [{
                                   "@id": _id("phone-facet", rec["phone"]),
                                   "@type": "uco-observable:PhoneAccountFacet",
                                   "uco-observable:phoneNumber": rec["phone"]}]})
                members.append(phone)
                g.relation("Has_Account", person, phone)
            ip_node = _ip_node(rec["ip"]) if rec.get("ip") else None
            if ip_node:
                ip = g.add(ip_node)
                members.append(ip)
                g.relation("Connected_To", account, ip, f"IP in seized row {where}"
                           + (f" at {rec['ip_time']}" if rec.get("ip_time") else ""),
                           observable=True)
            address = {k: rec.get(f) for k, f in (("street", "street"), ("locality", "city"),
                                                   ("postalCode", "postcode"),
                                                   ("country", "country")) if rec.get(f)}
            if address:
                key = _KEY_ENCODER.encode(address)
                loc = g.add({"@id": _id("location", key), "@type": "uco-location:Location",
                             "uco-core:description": f"Postal address in seized row {where}",
                             "uco-core:hasFacet": [{
                                 "@id": _id("address-facet", key),
                                 "@type": "uco-location:SimpleAddressFacet",
                                 **{f"uco-location:{k}": v for k, v in address.items()}}]})
                g.relation("Located_At", person, loc)
        refs = "; ".join(f"{r['file']}:{r['row']}" for r in s.get("records") or [])
        result = g.add({
            "@id": _id("analytic-result", sid), "@type": "uco-analysis:AnalyticResult",
            "uco-core:hasFacet": [{
                "@id": _id("classification-facet", sid),
                "@type": "uco-analysis:ArtifactClassificationResultFacet",
                "uco-analysis:classification": [{
                    "@id": _id("classification", sid, cc),
                    "@type": "uco-analysis:ArtifactClassification",
                    "uco-analysis:class": f"country:{cc}",
                    "uco-analysis:classificationConfidence": {
                        "@type": "xsd:decimal",
                        "@value": str(s.get("confidence") if cc == s.get("country")
                                      else 0.0)}}
                    for cc in (s.get("countries") or ["unattributed"])]}]})
        record = g.add({"@id": _id("provenance-subject", sid),
                        "@type": "case-investigation:ProvenanceRecord",
                        "uco-core:description": f"Subject {sid} resolved from seized rows {refs}",
                        "case-investigation:exhibitNumber": f"{op}/{sid}",
                        "uco-core:object": [_ref(m) for m in members]})
        evidence = "; ".join(f"{e['kind']} {e['country']} ({e['stance']}, {e['file']}:{e['row']})"
                             for e in s.get("evidence") or [])
        indicators = "; ".join(f"{i['kind']}: {i['detail']}" for i in s.get("indicators") or [])
        desc = (f"Country {s.get('country') or 'not decided (review)'}, confidence "
                f"{s.get('confidence')}. Evidence: {evidence or 'none'}."
                + (f" Indicators: {indicators}." if indicators else ""))
        action = g.add({
            "@id": _id("attribution", sid), "@type": "case-investigation:InvestigativeAction",
            "uco-core:name": "country attribution", "uco-core:description": desc,
            "uco-action:endTime": _time(ts), "uco-action:instrument": _ref(tool),
            "uco-action:object": [_ref(person)] + [_ref(f) for f in inputs],
            "uco-action:result": [_ref(result), _ref(record)]})
        focus.append(action)
    title = ("coordinator package" if package.coordinator
             else f"referral package for {package.name} ({package.code})")
    investigation = {
        "@id": _id("investigation", op, package.code),
        "@type": "case-investigation:Investigation",
        "uco-core:name": f"{op} {package.code}",
        "uco-core:description": f"Operation {op}: {title}, built {ts} by haven "
                                f"{prov.get('haven_version')}.",
        "case-investigation:focus": ["Referral of subjects from seized customer records"],
        "uco-core:object": [_ref(i) for i in focus],
    }
    return {"@context": CONTEXT, "@graph": [investigation, *g.nodes.values()]}


@register
class CaseUcoFormat:
    name = "caseuco"
    order = 40
    on_request = False

    def write(self, package: Package, out_dir: Path) -> list[str]:
        name = "subjects.jsonld"
        doc = build_graph(package)
        # One node a line, written with the C encoder (see json_file).
        with (out_dir / name).open("w", encoding="utf-8") as fh:
            fh.write('{"@context": ' + json.dumps(doc["@context"], indent=1) + ',\n"@graph": [')
            for n, node in enumerate(doc["@graph"]):
                fh.write(",\n" if n else "\n")
                fh.write(_ENCODER.encode(node))
            fh.write("\n]}\n")
        return [name]
