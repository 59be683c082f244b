"""The whole path on a generated list: intel load → resolve → attribute → refer build (CLI),
then every package checked against every other subject's e-mails and names."""

from __future__ import annotations

import csv
import json
from collections import defaultdict

import pytest
from typer.testing import CliRunner

from haven.intel.attribute import attribute_operation
from haven.intel.load import load_files
from haven.intel.resolve import resolve_operation
from haven.intel.synth import generate, write_list
from haven.refer.cli import refer_app
from haven.refer.routing import route
from haven.refer.verify import verify_package
from refer_fixtures import package_text

runner = CliRunner()


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    work = tmp_path_factory.mktemp("pipeline")
    synth = generate(300, seed=11, countries=["FR", "DE", "ES", "US", "JM", "BR", "PL"])
    write_list(synth, work / "list.csv", work / "truth.csv")
    op = work / "op"
    load_files([work / "list.csv"], op)
    resolve_operation(op)
    attribute_operation(op)
    (op / "no_legislation.txt").write_text("JM\n")
    out = work / "packages"
    res = runner.invoke(refer_app, ["build", "--op", str(op), "--out", str(out)])
    assert res.exit_code == 0, res.output
    return op, out, work


def test_every_generated_subject_lands_where_routing_says_and_nowhere_else(generated):
    op, out, work = generated
    subjects = [json.loads(line) for line in (op / "subjects.jsonl").open(encoding="utf-8")]
    rows = list(csv.DictReader((work / "list.csv").open(encoding="utf-8")))
    expected: dict[str, set[str]] = defaultdict(set)
    for s in subjects:
        for d in route(s, frozenset({"JM"})):
            expected[d.package].add(s["subject_id"])
    assert "JM" not in expected
    packages = {p.name for p in out.iterdir() if p.is_dir()}
    assert packages == set(expected)
    # Each subject's own e-mails as written in the list (the package shows them verbatim).
    emails = {s["subject_id"]: {rows[r["row"] - 1]["E-mail"] for r in s["records"]} - {""}
              for s in subjects}
    for code in packages:
        text = "\n".join(package_text(out / code).values())
        inside = set().union(*(emails[sid] for sid in expected[code]))
        for s in subjects:
            if s["subject_id"] in expected[code]:
                assert s["subject_id"] in text
                continue
            assert s["subject_id"] not in text, (code, s["subject_id"])
            for e in emails[s["subject_id"]] - inside:   # family members may share one
                assert e not in text, (code, e)
        assert verify_package(out / code).ok


def test_cli_build_reports_kept_aside_and_the_signing_key(generated, tmp_path):
    op, _, _ = generated
    res = runner.invoke(refer_app, ["build", "--op", str(op), "--out", str(tmp_path / "p"),
                                    "--no-legislation-country", "PL"])
    assert res.exit_code == 0, res.output
    flat = " ".join(res.output.split())
    assert "kept aside (no legislation flag): JM" in flat and "PL:" in flat
    assert "signed by key" in flat and not (tmp_path / "p" / "PL").exists()


def test_help_has_an_example_for_every_command():
    for cmd in ("build", "verify", "stats"):
        res = runner.invoke(refer_app, [cmd, "--help"])
        assert res.exit_code == 0 and f"Example: haven refer {cmd}" in res.output


def test_no_full_card_number_reaches_the_store_or_any_package(generated):
    """The generated list holds full PANs (Luhn-valid); they are kept only as keyed hashes."""
    import re

    import duckdb

    from haven.intel.payment import luhn_valid

    op, out, work = generated
    rows = list(csv.DictReader((work / "list.csv").open(encoding="utf-8")))
    pans = {r["Card number"] for r in rows if r["Card number"]}
    assert pans and all(luhn_valid(p) for p in pans)
    texts = {}
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            texts[str(path)] = data.decode("utf-8", "replace")
            if path.suffix == ".xlsx":
                texts[str(path)] += "\n".join(package_text(path.parent).values())
    for path in op.iterdir():
        if path.is_file() and path.suffix in (".jsonl", ".json", ".yaml"):
            texts[str(path)] = path.read_text(encoding="utf-8")
    con = duckdb.connect(str(op / "intel.duckdb"), read_only=True)
    for (table,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
        texts[f"store:{table}"] = "\n".join(
            "\t".join(str(v) for v in row) for row in con.execute(f"SELECT * FROM {table}").fetchall())
    con.close()
    for name, text in texts.items():
        flat = re.sub(r"[\s\-]", "", text)
        for pan in pans:
            assert pan not in flat, (name, "holds a full card number")
    # and the cards are still there, masked and comparable
    subjects = (op / "subjects.jsonl").read_text(encoding="utf-8")
    con = duckdb.connect(str(op / "intel.duckdb"), read_only=True)
    kinds = dict(con.execute("SELECT card_kind, count(*) FROM normalised GROUP BY 1").fetchall())
    con.close()
    assert kinds.get("pan", 0) > 0 and subjects
