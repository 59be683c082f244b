"""Offline Tor exit and hosting-range lists: parsing, fast range lookup, weaker IP evidence."""

from __future__ import annotations

import csv
import hashlib
import ipaddress
import json
import random
from datetime import datetime, timezone

import pytest
from typer.testing import CliRunner

from haven.intel.anonymisers import (
    HOSTING_RANGE,
    TOR_EXIT,
    AnonymiserIndex,
    AnonymiserListError,
    load_index,
)
from haven.intel.attribute import Context, attribute_subject
from haven.intel.cli import intel_app
from haven.refer.operation import provenance

runner = CliRunner()

BULK = "# synthetic bulk exit list\n192.0.2.10\n192.0.2.11\n2001:db8::10\nnot-an-ip\n"
EXIT_ADDRESSES = (
    "ExitNode 0011BD2485AD45D984EC4159C88FC066E5E3300E\n"
    "Published 2024-05-01 10:00:00\n"
    "LastStatus 2024-05-01 11:00:00\n"
    "ExitAddress 198.51.100.20 2024-05-01 11:02:03\n"
    "ExitNode 0091174DE56EADB2A7E6F3A3E4B1A7A9E7E1A3C2\n"
    "Published 2024-05-01 09:00:00\n"
    "LastStatus 2024-05-01 10:00:00\n"
    "ExitAddress 198.51.100.21 2024-05-01 10:40:00\n"
)
HOSTING = ("# cidr name\n203.0.113.0/24 ExampleCloud\n203.0.113.128/25,ExampleVPN\n"
           "2001:db8:100::/48\tExampleCloud v6\n198.51.100.0/30\n300.1.1.0/24 broken\n")


def _write(tmp_path, name, text):
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    return f


def test_both_tor_formats_and_cidr_lists_are_read_with_provenance(tmp_path):
    index = AnonymiserIndex()
    bulk = index.add_file(_write(tmp_path, "bulk.txt", BULK), TOR_EXIT)
    exits = index.add_file(_write(tmp_path, "exit-addresses", EXIT_ADDRESSES), TOR_EXIT)
    host = index.add_file(_write(tmp_path, "hosting.txt", HOSTING), HOSTING_RANGE)
    assert (bulk.format, bulk.entries, bulk.lines, bulk.bad_lines, bulk.first_bad_lines) == (
        "tor-bulk-exit-list", 3, 5, 1, (5,))
    assert (exits.format, exits.entries) == ("tor-exit-addresses", 2)
    assert (host.format, host.entries, host.bad_lines, host.first_bad_lines) == (
        "cidr-list", 4, 1, (6,))
    assert host.sha256 == hashlib.sha256(HOSTING.encode()).hexdigest()
    hits = index.lookup(["192.0.2.10", "2001:db8::10", "198.51.100.21", "203.0.113.200",
                         "203.0.113.5", "2001:db8:100:ffff::1", "198.51.100.3",
                         "198.51.100.4", "192.0.2.12", "::ffff:192.0.2.11", "junk"])
    assert [h.kind for h in hits["192.0.2.10"]] == [TOR_EXIT]
    assert [h.file for h in hits["198.51.100.21"]] == ["exit-addresses"]
    assert sorted((h.entry, h.name) for h in hits["203.0.113.200"]) == [
        ("203.0.113.0/24", "ExampleCloud"), ("203.0.113.128/25", "ExampleVPN")]  # nested
    assert [(h.entry, h.name) for h in hits["203.0.113.5"]] == [("203.0.113.0/24",
                                                                 "ExampleCloud")]
    assert hits["2001:db8:100:ffff::1"][0].name == "ExampleCloud v6"
    assert hits["198.51.100.3"][0].entry == "198.51.100.0/30"   # last address of the range
    assert "198.51.100.4" not in hits and "192.0.2.12" not in hits and "junk" not in hits
    assert hits["::ffff:192.0.2.11"][0].kind == TOR_EXIT          # v4-mapped v6


def test_a_list_with_no_address_is_refused(tmp_path):
    with pytest.raises(AnonymiserListError, match="no IP address"):
        load_index(tor_exits=[_write(tmp_path, "empty.txt", "# nothing\n\nhello\n")])


def test_range_lookup_agrees_with_a_brute_force_check_at_scale():
    rng = random.Random(7)
    index = AnonymiserIndex()
    nets = []
    lines = []
    for _ in range(3000):
        prefix = rng.choice((16, 20, 24, 28))
        net = ipaddress.ip_network((rng.getrandbits(32) >> (32 - prefix) << (32 - prefix),
                                    prefix))
        nets.append(net)
        lines.append(f"{net} r{len(lines)}")
    for _ in range(500):
        net = ipaddress.ip_network((0x20010DB8 << 96 | rng.getrandbits(64) << 32, 96))
        nets.append(net)
        lines.append(str(net))
    import tempfile
    from pathlib import Path
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "ranges.txt"
        f.write_text("\n".join(lines) + "\n")
        index.add_file(f, HOSTING_RANGE)
    probes = [str(ipaddress.IPv4Address(rng.getrandbits(32))) for _ in range(20000)]
    probes += [str(n.network_address + rng.randrange(n.num_addresses)) for n in nets[:2000]]
    probes += [str(n.network_address + rng.randrange(n.num_addresses)) for n in nets[-300:]]
    hits = index.lookup(probes)
    for p in probes[:3000] + probes[-2300:]:
        ip = ipaddress.ip_address(p)
        want = sorted(str(n) for n in nets if n.version == ip.version and ip in n)
        got = sorted(h.entry for h in hits.get(p, []))
        assert got == want, p


def _rec(row, **kw):
    return {"file": "list.csv", "row": row, "record_id": f"r{row}", "full_f": "ana luz"} | kw


def test_tor_exit_makes_ip_evidence_weak_lists_the_indicator_and_lowers_confidence(tmp_path):
    index = load_index(tor_exits=[_write(tmp_path, "bulk.txt", BULK)])
    r = _rec(1, country="DE", ip="192.0.2.10")   # treated as public here to weigh the IP
    plain = Context({"192.0.2.10": "FR"}, {}, {})
    tor = Context({"192.0.2.10": "FR"}, {}, {}, anonymised=index.lookup(["192.0.2.10"]))
    before = attribute_subject("S-1", [r], plain)
    after = attribute_subject("S-1", [r], tor)
    assert before.country is None and before.review      # DE 1.0 vs FR 0.6: split
    assert after.country == "DE" and not after.review    # FR IP counts a tenth
    assert after.scores["FR"] == pytest.approx(0.06)
    [ip_ev] = [e for e in after.evidence if e["kind"] == "ip"]
    assert ip_ev["weight"] == pytest.approx(0.06) and ip_ev["stance"] == "against"
    assert [(i["kind"], i["records"]) for i in after.indicators] == [
        ("tor_exit", [{"file": "list.csv", "row": 1}])]  # and no country_mismatch
    assert "bulk.txt" in after.indicators[0]["detail"]
    clean = attribute_subject("S-2", [_rec(1, country="DE")], plain)
    assert after.confidence < clean.confidence


def test_attribute_command_takes_lists_and_records_them_in_package_provenance(tmp_path):
    rows = [["Name", "E-mail", "Country", "IP"],
            ["Ana Luz", "ana.luz@example.org", "Deutschland", "192.0.2.10"],
            ["Bo Ek", "bo.ek@example.org", "Sverige", "203.0.113.77"],
            ["Cy Uhl", "cy.uhl@example.org", "France", "198.51.100.200"]]
    f = tmp_path / "list.csv"
    with f.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    tor = _write(tmp_path, "exits.txt", BULK)
    host = _write(tmp_path, "hosting.txt", HOSTING)
    op = tmp_path / "op"
    for args in (["load", str(f)], ["resolve"],
                 ["attribute", "--tor-exits", str(tor), "--hosting-ranges", str(host)]):
        res = runner.invoke(intel_app, [*args, "--op", str(op)])
        assert res.exit_code == 0, res.output
    assert "tor_exit list: exits.txt (3 entries, 1 unreadable lines)" in res.output
    subjects = {s["records"][0]["row"]: s for s in
                map(json.loads, (op / "subjects.jsonl").read_text().splitlines())}
    assert [i["kind"] for i in subjects[1]["indicators"]] == ["tor_exit"]
    assert [(i["kind"], i["detail"]) for i in subjects[2]["indicators"]] == [
        ("hosting_range", "IP 203.0.113.77 is in hosting/VPN range 203.0.113.0/24 "
                          "ExampleCloud (hosting.txt)")]
    assert subjects[3]["indicators"] == []
    meta = json.loads((op / "attribution.json").read_text())
    assert [(s["kind"], s["file"], s["lines"]) for s in meta["anonymiser_lists"]] == [
        ("tor_exit", "exits.txt", 5), ("hosting_range", "hosting.txt", 6)]
    assert meta["counts"]["with_tor_exit"] == 1 and meta["counts"]["with_hosting_range"] == 1
    prov = provenance(op, datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert prov["anonymiser_lists"][1]["sha256"] == hashlib.sha256(host.read_bytes()).hexdigest()
