"""Attributing subjects: each evidence kind, conflicts to review, indicators, subjects.jsonl."""

from __future__ import annotations

import csv
import json

from typer.testing import CliRunner

from haven.intel.attribute import Context, attribute_subject
from haven.intel.card_use import CardFlag
from haven.intel.cli import intel_app

runner = CliRunner()


def rec(row, **kw):
    base = {"file": "list.csv", "row": row, "record_id": f"r{row}", "full_f": "anna berg"}
    return base | kw


def ctx(**kw):
    base = {"ip_country": {"5.1.1.1": "DE", "8.8.8.8": "US", "2.2.2.2": "FR"},
            "card_flags": {}, "ip_subjects": {}}
    return Context(**(base | kw))


def kinds(att):
    return {(e["kind"], e["country"], e["stance"]) for e in att.evidence}


def test_every_evidence_kind_is_kept_with_its_source_row():
    r1 = rec(1, country="DE", phone_region="DE", phone_explicit=True, phone="+4930123456",
             ip="5.1.1.1", email_domain="web.de")
    r2 = rec(2, declared_country="DE", card_country="DE", phone_region="DE",
             phone_explicit=False, email_domain="example.de")
    att = attribute_subject("S-1", [r1, r2], ctx())
    assert att.country == "DE" and not att.review and not att.shared
    assert kinds(att) == {(k, "DE", "for") for k in (
        "address", "phone_cc", "ip", "email_provider", "declared", "card", "phone_national",
        "email_cctld")}
    assert {(e["file"], e["row"]) for e in att.evidence} == {("list.csv", 1), ("list.csv", 2)}
    assert 0.9 <= att.confidence <= 1.0


def test_vanity_tld_and_non_public_ip_are_not_evidence():
    att = attribute_subject("S-2", [rec(1, email_domain="me.io", ip="10.0.0.1",
                                        ip_nonpublic="private")], ctx())
    assert att.country is None and att.evidence == [] and att.confidence == 0.0


def test_split_evidence_goes_to_review_with_no_country():
    r = rec(1, country="DE", card_country="FR", ip="2.2.2.2", phone_region="DE",
            phone_explicit=True)
    att = attribute_subject("S-3", [r], ctx())
    # DE: address 1.0 + phone 0.9 = 1.9; FR: card 0.7 + IP 0.6 = 1.3 → not 2× apart.
    assert att.country is None and att.review
    assert att.countries == ["DE", "FR"] and att.shared
    assert {e["stance"] for e in att.evidence} == {"split"}
    assert any(i["kind"] == "country_mismatch" for i in att.indicators)


def test_clear_winner_with_a_secondary_country_is_shared():
    r = rec(1, country="DE", phone_region="DE", phone_explicit=True, ip="8.8.8.8")
    att = attribute_subject("S-4", [r], ctx())
    assert att.country == "DE" and not att.review
    assert att.countries == ["DE", "US"] and att.shared
    assert ("ip", "US", "against") in kinds(att)


def test_postcode_shape_breaks_a_tie():
    r = rec(1, country="NL", card_country="BE", postcode="1234AB")
    att = attribute_subject("S-5", [r], ctx())
    assert att.country == "NL" and att.shared and not att.review
    assert ("postcode", "NL", "for") in kinds(att)
    assert ("card", "BE", "against") in kinds(att)


def test_fraud_indicators_are_listed_and_lower_confidence():
    clean = attribute_subject("S-6", [rec(1, country="DE", email_domain="web.de")], ctx())
    r = rec(1, country="DE", email_domain="mailinator.com", card="4111", card_country="DE",
            ip="5.1.1.1")
    stolen = CardFlag("stolen_card", "card 411111******1111 used by 3 different people",
                      "411111******1111", 3)
    att = attribute_subject("S-7", [r], ctx(card_flags={"r1": stolen},
                                            ip_subjects={"5.1.1.1": 5}))
    assert {i["kind"] for i in att.indicators} == {"stolen_card", "disposable_email",
                                                   "shared_ip"}
    assert att.indicators[0]["records"] == [{"file": "list.csv", "row": 1}]
    assert att.country == "DE" and att.confidence < clean.confidence


def test_subjects_jsonl_keys_and_row_numbers_are_exact(tmp_path):
    rows = [
        ["Name", "E-mail", "Phone", "Country", "IP", "Card number", "Card country"],
        ["Anna Berg", "anna.berg@web.de", "+49 30 1234567", "Deutschland", "5.1.1.1", "", ""],
        ["Jean Dupont", "jean.dupont@orange.fr", "+33 6 12 34 56 78", "France", "", "", ""],
        ["Anna Berg", "ANNA.BERG@web.de", "030 1234567", "DE", "", "", ""],
        ["Mia Roe", "mia@mailinator.com", "", "", "", "4111111111111111", "US"],
    ]
    f = tmp_path / "list.csv"
    with f.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    op = tmp_path / "op"
    for args in (["load", str(f)], ["resolve"], ["attribute"], ["attribute"]):
        res = runner.invoke(intel_app, [*args, "--op", str(op)])
        assert res.exit_code == 0, res.output
    subjects = [json.loads(ln) for ln in (op / "subjects.jsonl").read_text().splitlines()]
    for s in subjects:
        assert {"subject_id", "records", "country", "confidence", "countries", "evidence",
                "indicators"} <= s.keys()
        assert 0.0 <= s["confidence"] <= 1.0
    by_rows = {tuple(r["row"] for r in s["records"]): s for s in subjects}
    assert set(by_rows) == {(1, 3), (2,), (4,)}
    assert by_rows[(1, 3)]["country"] == "DE"
    assert by_rows[(1, 3)]["records"] == [{"file": "list.csv", "row": 1},
                                          {"file": "list.csv", "row": 3}]
    assert by_rows[(1, 3)]["links"][0]["why"]["email"] > 0
    assert by_rows[(2,)]["country"] == "FR"
    assert by_rows[(4,)]["indicators"][0]["kind"] == "disposable_email"
    meta = json.loads((op / "attribution.json").read_text())
    assert meta["ip_database"]["package"] == "iptocc" and meta["ip_database"]["version"]


def test_attribute_before_resolve_says_what_to_run(tmp_path):
    f = tmp_path / "list.csv"
    f.write_text("Name\nA\n", encoding="utf-8")
    runner.invoke(intel_app, ["load", str(f), "--op", str(tmp_path / "op")])
    res = runner.invoke(intel_app, ["attribute", "--op", str(tmp_path / "op")])
    assert res.exit_code == 2 and "resolve" in res.output
