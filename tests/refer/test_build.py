"""Building packages: isolation per country, shared and coordinator subjects, manifest,
formats, formula escaping, language, reproducibility."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import zipfile

import openpyxl

from haven.refer.build import BuildOptions, build_packages
from haven.refer.formats.pdf_summary import pdf_available
from refer_fixtures import MARKERS, package_text, routed_subjects

EXPECTED = {
    "FR": {"S-fr0000000001", "S-es0000000001"},
    "DE": {"S-de0000000001"},
    "ES": {"S-es0000000001"},
    "US": {"S-us0000000001"},
    "XX": {"S-rv0000000001", "S-un0000000001", "S-jm0000000001"},
}


def test_each_package_holds_exactly_its_subjects(built):
    _, out = built
    packages = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert packages == sorted(EXPECTED)          # no JM, IT or PT package
    for code, sids in EXPECTED.items():
        assert routed_subjects(out / code) == sids, code


def test_no_package_contains_another_subjects_names_emails_or_rows(built):
    _, out = built
    for code, sids in EXPECTED.items():
        texts = package_text(out / code)
        for sid, markers in MARKERS.items():
            for name, text in texts.items():
                if sid in sids:
                    continue
                assert sid not in text, (code, name, sid)
                for m in markers:
                    assert m not in text and m.casefold() not in text, (code, name, m)
        # Records belong to the package's subjects only.
        with (out / code / "records.csv").open(encoding="utf-8-sig") as fh:
            assert {r["subject_id"] for r in csv.DictReader(fh)} == sids


def test_shared_subject_is_marked_in_both_countries(built):
    _, out = built
    for code, other in (("ES", "FR"), ("FR", "ES")):
        doc = json.loads((out / code / "subjects.json").read_text(encoding="utf-8"))
        s = next(s for s in doc["subjects"] if s["subject_id"] == "S-es0000000001")
        assert s["shared_with"] == [other] and s["shared"]
    with (out / "FR" / "subjects.csv").open(encoding="utf-8-sig") as fh:
        rows = {r["subject_id"]: r for r in csv.DictReader(fh)}
    assert rows["S-es0000000001"]["shared_with"] == "ES"
    assert rows["S-fr0000000001"]["shared_with"] == ""


def test_coordinator_package_says_why_it_holds_each_subject(built):
    _, out = built
    doc = json.loads((out / "XX" / "subjects.json").read_text(encoding="utf-8"))
    notes = {s["subject_id"]: s["routing_note"] for s in doc["subjects"]}
    assert notes["S-rv0000000001"].startswith("review") and "IT, PT" in notes["S-rv0000000001"]
    assert notes["S-un0000000001"].startswith("unattributed")
    assert "no legislation flag: JM" in notes["S-jm0000000001"]
    index = json.loads((out / "build.json").read_text())
    assert index["kept_aside"] == {"JM": 1}


def test_manifest_lists_every_file_with_its_sha256_and_provenance(built):
    op, out = built
    for code in EXPECTED:
        manifest = json.loads((out / code / "manifest.json").read_text(encoding="utf-8"))
        listed = {f["path"]: f for f in manifest["files"]}
        present = {p.name for p in (out / code).iterdir()} - {"manifest.json", "manifest.sig"}
        assert set(listed) == present
        for name, entry in listed.items():
            data = (out / code / name).read_bytes()
            assert entry["sha256"] == hashlib.sha256(data).hexdigest()
            assert entry["size"] == len(data)
        prov = manifest["provenance"]
        assert prov["inputs"][0]["sha256"] == "ab" * 32
        assert prov["ip_database"]["version"] == "0.0-test"
        assert prov["model"]["sha256"] == hashlib.sha256(b"{}").hexdigest()
        assert prov["built_at"] == "2026-01-10T09:00:00Z" and prov["haven_version"]
        assert "/evidence/" not in json.dumps(manifest)     # no analyst paths travel
    assert {"subjects.csv", "subjects.xlsx", "subjects.json", "subjects.jsonld",
            "summary.html"} <= {p.name for p in (out / "FR").iterdir()}
    if pdf_available()[0]:
        assert (out / "FR" / "summary.pdf").read_bytes().startswith(b"%PDF")


def test_signing_key_is_made_once_in_the_operation_and_kept_private(built):
    op, out = built
    key = op / "keys" / "signing-ed25519.pem"
    assert key.is_file() and (key.stat().st_mode & 0o077) == 0
    index = json.loads((out / "build.json").read_text())
    sig = json.loads((out / "FR" / "manifest.sig").read_text())
    assert sig["key_id"] == index["signer_key_id"]


def test_formula_cells_are_escaped_in_csv_and_inert_in_xlsx(built):
    _, out = built
    with (out / "DE" / "records.csv").open(encoding="utf-8-sig") as fh:
        row = next(csv.DictReader(fh))
    assert row["full_name"] == "'=HYPERLINK(\"http://x.test\",\"klick\")"
    assert row["phone"] == "'-49301234567" and row["street"] == "'@SUM(1+1)"
    with (out / "FR" / "records.csv").open(encoding="utf-8-sig") as fh:
        by_row = {r["row"]: r for r in csv.DictReader(fh)}
    assert by_row["1"]["phone"] == "'+33612345678"
    wb = openpyxl.load_workbook(out / "DE" / "subjects.xlsx")
    ws = wb["source records"]
    header = [c.value for c in ws[1]]
    cell = ws.cell(row=2, column=header.index("full_name") + 1)
    assert cell.value == "=HYPERLINK(\"http://x.test\",\"klick\")"
    assert cell.data_type == "s" and cell.quotePrefix
    assert [ws.title for ws in wb] == ["subjects", "source records", "evidence", "indicators"]
    with zipfile.ZipFile(out / "DE" / "subjects.xlsx") as z:
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/")]
        assert not any("<f>" in z.read(n).decode() for n in sheets)


def test_summary_is_in_the_countrys_language_with_english_default(built):
    _, out = built
    assert "Dossier de signalement" in (out / "FR" / "summary.html").read_text("utf-8")
    assert "Übermittlungspaket" in (out / "DE" / "summary.html").read_text("utf-8")
    assert "Paquete de remisión" in (out / "ES" / "summary.html").read_text("utf-8")
    assert "Referral package" in (out / "US" / "summary.html").read_text("utf-8")
    assert "Coordinator package" in (out / "XX" / "summary.html").read_text("utf-8")
    html = (out / "DE" / "summary.html").read_text("utf-8")
    assert "<script" not in html and "http" not in html.replace("http://x.test", "")


def test_caseuco_export_models_people_observables_and_attribution(built):
    _, out = built
    doc = json.loads((out / "US" / "subjects.jsonld").read_text(encoding="utf-8"))
    by_type: dict[str, list] = {}
    for node in doc["@graph"]:
        by_type.setdefault(node["@type"], []).append(node)
    assert len(by_type["case-investigation:Investigation"]) == 1
    assert len(by_type["uco-identity:Person"]) == 1
    assert len(by_type["uco-observable:DigitalAccount"]) == 2
    assert by_type["uco-observable:EmailAddress"][0]["uco-core:hasFacet"][0][
        "uco-observable:addressValue"] == "john.carterfield@mailinator.com"
    assert "uco-observable:IPv6Address" in by_type
    action = by_type["case-investigation:InvestigativeAction"][0]
    assert "disposable_email" in action["uco-core:description"]
    ids = {n["@id"] for n in doc["@graph"]}
    for ref in action["uco-action:object"] + action["uco-action:result"]:
        assert ref["@id"] in ids
    assert "uco-observable:File" in by_type     # the input list, with its SHA-256


def test_building_twice_gives_identical_files(operation, tmp_path):
    os.environ.pop("SOURCE_DATE_EPOCH", None)
    a, b = tmp_path / "a", tmp_path / "b"
    build_packages(operation, a)
    build_packages(operation, b, BuildOptions(workers=2))
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    # Built from the operation's own time, not the clock.
    manifest = json.loads((a / "FR" / "manifest.json").read_text())
    mtime = int((operation / "subjects.jsonl").stat().st_mtime)
    from datetime import datetime, timezone
    assert manifest["provenance"]["built_at"] == datetime.fromtimestamp(
        mtime, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_rebuild_removes_packages_no_longer_produced(operation, tmp_path):
    out = tmp_path / "out"
    build_packages(operation, out)
    assert (out / "JM").is_dir()
    build_packages(operation, out, BuildOptions(no_legislation=frozenset({"JM"})))
    assert not (out / "JM").exists() and (out / "XX").is_dir()


def _recipient_keys(tmp_path, *codes):
    import pyrage

    keys = tmp_path / "keys"
    keys.mkdir(exist_ok=True)
    for code in codes:
        (keys / f"{code}.age.pub").write_text(f"{pyrage.x25519.Identity.generate().to_public()}\n")
    return keys


def test_with_keys_a_country_without_one_is_withheld_not_written_in_clear(operation, tmp_path):
    keys = _recipient_keys(tmp_path, "FR", "XX")
    out = tmp_path / "out"
    summary = build_packages(operation, out, BuildOptions(keys_dir=keys))
    assert {p.code: p.delivery for p in summary.packages} == {"FR": "sealed", "XX": "sealed"}
    assert summary.withheld == {"DE": 1, "ES": 1, "JM": 1, "US": 1}
    for code in ("DE", "ES", "JM", "US"):          # no folder, no archive: nothing in clear
        assert not (out / code).exists() and not (out / f"{code}.tar.age").exists()
    assert "hans.weberling" not in "".join(p.read_text(errors="ignore")
                                      for p in out.rglob("*") if p.is_file()
                                      and not p.name.endswith(".age"))
    index = json.loads((out / "build.json").read_text())
    assert index["withheld"] == {"DE": 1, "ES": 1, "JM": 1, "US": 1}
    assert {p["code"]: p["delivery"] for p in index["packages"]} == {"FR": "sealed",
                                                                      "XX": "sealed"}


def test_allow_plaintext_writes_the_named_countries_in_clear_and_says_so(operation, tmp_path):
    keys = _recipient_keys(tmp_path, "FR")
    out = tmp_path / "out"
    summary = build_packages(operation, out, BuildOptions(
        keys_dir=keys, allow_plaintext=frozenset({"DE", "XX", "FR", "NO"})))
    assert {p.code: p.delivery for p in summary.packages} == {
        "FR": "sealed", "DE": "plaintext-allowed", "XX": "plaintext-allowed"}
    assert summary.withheld == {"ES": 1, "JM": 1, "US": 1}
    assert (out / "DE" / "manifest.json").is_file() and not (out / "ES").exists()
    assert any("NO: no subjects" in n for n in summary.notes)
    assert any("FR has a key and was sealed" in n for n in summary.notes)


def test_a_rebuild_with_keys_removes_the_plain_folder_of_a_now_withheld_country(operation,
                                                                                 tmp_path):
    out = tmp_path / "out"
    build_packages(operation, out)          # no keys at all: every package plain, as before
    assert (out / "DE").is_dir() and (out / "US").is_dir()
    build_packages(operation, out, BuildOptions(keys_dir=_recipient_keys(tmp_path, "FR")))
    assert not (out / "DE").exists() and not (out / "US").exists()
    assert (out / "FR.tar.age").is_file()


def test_allow_plaintext_without_keys_is_refused(operation, tmp_path):
    from haven.refer.errors import ReferError
    import pytest

    with pytest.raises(ReferError, match="without --countries-keys"):
        build_packages(operation, tmp_path / "out", BuildOptions(allow_plaintext=frozenset({"FR"})))


def test_build_table_says_which_packages_are_sealed_plain_or_withheld(operation, tmp_path):
    from typer.testing import CliRunner

    from haven.refer.cli import refer_app

    keys = _recipient_keys(tmp_path, "FR")
    res = CliRunner().invoke(refer_app, [
        "build", "--op", str(operation), "--out", str(tmp_path / "out"), "--countries-keys",
        str(keys), "--allow-plaintext", "de,XX"])
    assert res.exit_code == 0, res.output
    # off a terminal the table is plain tab-separated text (one row per line)
    rows = {line.split("\t")[0]: line for line in res.output.splitlines()
            if line.count("\t") > 3}
    assert "sealed" in rows["FR"] and "folder" in rows["FR"]
    assert "plain (allowed)" in rows["DE"] and "plain (allowed)" in rows["XX"]
    assert "WITHHELD" in rows["ES"] and "WITHHELD" in rows["US"]
    assert "withheld:" in res.output and "ES, JM, US" in " ".join(res.output.split())
    bad = CliRunner().invoke(refer_app, [
        "build", "--op", str(operation), "--out", str(tmp_path / "out2"), "--countries-keys",
        str(keys), "--allow-plaintext", "France"])
    assert bad.exit_code == 2 and "two-letter" in bad.output and "Traceback" not in bad.output
