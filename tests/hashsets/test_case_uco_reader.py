"""CASE/UCO JSON-LD exports import as hash sets: every node with UCO Hash objects is one entry."""

from __future__ import annotations

import hashlib
import json

from typer.testing import CliRunner

from haven.cli import app
from haven.hashsets.formats import detect, read_hashset

UCO = "https://ontology.unifiedcyberontology.org/uco/"
SHA512 = hashlib.sha512(b"benign a").hexdigest()
PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
MD5 = "360ebe8964fab73553a60189969cc478"


def _file(name, hashes, iri=False):
    key = (lambda k: f"{UCO}types/{k}") if iri else (lambda k: f"uco-types:{k}")
    return {"@id": f"kb:file-{name}", "@type": "uco-observable:File", "uco-core:hasFacet": [
        {"@type": "uco-observable:FileFacet", "uco-observable:fileName": name},
        {"@type": "uco-observable:ContentDataFacet", "uco-observable:hash": [
            {"@type": "uco-types:Hash", key("hashMethod"): {"@type": "uco-vocabulary:HashNameVocab",
                                                            "@value": m},
             key("hashValue"): {"@type": "xsd:hexBinary", "@value": v}} for m, v in hashes]}]}


def test_the_shared_reference_export_is_detected_and_read(formats_dir):
    path = formats_dir / "case" / "haven_hash_match_example.jsonld"
    assert detect(path).name == "caseuco"
    result = read_hashset(path)
    assert [(e.md5, e.sha1, e.extra["file_name"]) for e in result.entries] == [
        ("0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef01234567",
         "IMG_0001.jpg")]
    assert result.malformed == []


def test_sha512_pdq_iri_keys_and_bad_records(tmp_path):
    doc = {"@context": {"uco-types": f"{UCO}types/"}, "@graph": [
        _file("a.jpg", [("SHA-512", SHA512.upper()), ("pdq", PDQ)]),
        _file("b.jpg", [("MD5", MD5)], iri=True),
        _file("c.jpg", [("SSDEEP", "3:abc:def")]),
        _file("d.jpg", [("SHA256", "zz")]),
    ]}
    path = tmp_path / "partner.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(doc, indent=1).replace("\n", "\r\n").encode())
    result = read_hashset(path)
    assert result.format == "caseuco"
    assert [(e.sha512, e.pdq, e.md5, e.line) for e in result.entries] == [
        (SHA512, PDQ, None, 1), (None, None, MD5, 2)]
    assert [(m.line, m.reason) for m in result.malformed][0] == (
        3, "no MD5, SHA1, SHA256, SHA512 or PDQ hash (SSDEEP only)")
    assert result.malformed[1].line == 4


def test_haven_hashsets_import_takes_a_case_uco_export(tmp_path, formats_dir):
    res = CliRunner().invoke(app, [
        "hashsets", "import", str(formats_dir / "case" / "haven_hash_match_example.jsonld"),
        "--name", "partner", "--case", str(tmp_path / "case")])
    assert res.exit_code == 0, res.output
    assert "Imported 1 entries" in res.output and "format caseuco" in res.output


def test_a_utf16_export_from_windows_is_detected_too(tmp_path, formats_dir):
    text = (formats_dir / "case" / "haven_hash_match_example.jsonld").read_text()
    path = tmp_path / "export.jsonld"
    path.write_text(text, encoding="utf-16")
    assert detect(path).name == "caseuco"
    assert [e.md5 for e in read_hashset(path).entries] == ["0123456789abcdef0123456789abcdef"]
